import CoDECore
import Foundation

/// The validated common metadata of a CoDEKit classifier file.
public struct ClassifierMetadata: Sendable {
    public let kind: ClassifierKind
    public let dimension: Int
    /// All `__metadata__` entries (hyperparameters included), as strings.
    public let values: [String: String]
    /// The file's path (for error messages).
    public let source: String

    /// The metadata value `key`, or a ``ClassifierError/badFile(file:reason:)`` naming it.
    public func string(_ key: String) throws -> String {
        guard let v = values[key] else { throw ClassifierError.badFile(file: source, reason: "metadata '\(key)' is missing") }
        return v
    }

    /// A metadata value parsed as a finite Double.
    public func double(_ key: String) throws -> Double {
        let s = try string(key)
        guard let v = Double(s), v.isFinite else { throw ClassifierError.badFile(file: source, reason: "metadata '\(key)' = '\(s)' is not a finite number") }
        return v
    }

    /// A metadata value parsed as an integer.
    public func int(_ key: String) throws -> Int {
        let s = try string(key)
        guard let v = Int(s) else { throw ClassifierError.badFile(file: source, reason: "metadata '\(key)' = '\(s)' is not an integer") }
        return v
    }

    /// A tensor as Doubles with an exact expected shape, with errors naming the file.
    func doubles(_ file: SafeTensorsFile, _ name: String, shape: [Int]) throws -> [Double] {
        do { return try file.doubles(name, shape: shape) } catch let e as SafeTensorsError {
            throw ClassifierError.badFile(file: source, reason: e.description)
        }
    }

    /// The entry `name`, whose first dimension is free and whose remaining dimensions are `rest`.
    func leadingDimension(_ file: SafeTensorsFile, _ name: String, rest: [Int]) throws -> Int {
        guard let e = file.entry(name) else { throw ClassifierError.badFile(file: source, reason: "tensor '\(name)' is missing") }
        guard e.shape.count == rest.count + 1, Array(e.shape.dropFirst()) == rest else {
            throw ClassifierError.badFile(file: source, reason: "tensor '\(name)' has shape \(e.shape), expected [N\(rest.map { ", \($0)" }.joined())]")
        }
        return e.shape[0]
    }
}

/// The CoDEKit classifier file: one classifier per safetensors file.
///
/// `__metadata__` holds `format = "codekit-classifier"`, `version = "1"`, `kind`
/// (`linear` | `knn` | `svm` | `head`), `dimension` (embedding width) and the classifier's
/// hyperparameters as strings, and optionally `crops` (`center` | `five`: the windows whose mean
/// embedding the classifier was fitted on, see CoDEKit's `Detector`; absent means `center`); the
/// tensors hold its fitted arrays:
/// - linear: `coef` F64 `[D]`, `intercept` F64 `[1]`; decision `w·x + b`, p(fake) = σ(decision).
/// - knn: `bank` F32 or F64 `[N, D]` (raw vectors), `labels` I64 `[N]` (0 real, 1 fake); metadata `k`.
/// - svm: `support_vectors` F64 `[S, D]`, `dual_coef` F64 `[S]`, `rho` F64 `[1]`; metadata
///   `kernel`, `gamma` (the resolved number), `degree`, `coef0`, `nu`.
/// - head: as linear (``LinearHead``, written by `code-train --objective bce`).
/// Files come from ``EmbeddingClassifier/save(to:)`` or from `tools/export_sklearn.py`.
public enum ClassifierFile {
    public static let format = "codekit-classifier"
    public static let version = "1"

    static func commonMetadata(kind: ClassifierKind, dimension: Int) -> [String: String] {
        ["format": format, "version": version, "kind": kind.rawValue, "dimension": String(dimension)]
    }

    /// Opens and validates the safetensors container and the common metadata.
    public static func open(_ url: URL) throws -> (SafeTensorsFile, ClassifierMetadata) {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOf: url) } catch let e as SafeTensorsError {
            let d = e.description, prefix = url.path + ": "
            throw ClassifierError.badFile(file: url.path, reason: d.hasPrefix(prefix) ? String(d.dropFirst(prefix.count)) : d)
        }
        let m = file.metadata
        let src = url.path
        guard m["format"] == format else {
            throw ClassifierError.badFile(file: src, reason: "metadata 'format' is \(m["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)'")
        }
        guard m["version"] == version else {
            throw ClassifierError.badFile(file: src, reason: "unsupported version \(m["version"] ?? "(missing)"); this CoDEKit reads version \(version)")
        }
        guard let k = m["kind"], let kind = ClassifierKind(rawValue: k) else {
            throw ClassifierError.badFile(file: src, reason: "metadata 'kind' is \(m["kind"] ?? "missing"), expected \(ClassifierKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let ds = m["dimension"], let d = Int(ds), d > 0, d <= 1 << 20 else {
            throw ClassifierError.badFile(file: src, reason: "metadata 'dimension' is \(m["dimension"] ?? "missing"), expected a positive integer")
        }
        return (file, ClassifierMetadata(kind: kind, dimension: d, values: m, source: src))
    }
}

/// A loaded classifier of any kind, for tools that take a classifier file.
public enum AnyClassifier: Sendable {
    case linear(LogisticRegression)
    case knn(NearestNeighbors)
    case svm(OneClassSVM)
    case head(LinearHead)

    /// Loads any CoDEKit classifier file, dispatching on its `kind`.
    public static func load(from url: URL) throws -> AnyClassifier {
        let (file, meta) = try ClassifierFile.open(url)
        return try load(file, metadata: meta)
    }

    /// Builds the classifier of an opened, validated file (``ClassifierFile/open(_:)``).
    public static func load(_ file: SafeTensorsFile, metadata meta: ClassifierMetadata) throws -> AnyClassifier {
        switch meta.kind {
        case .linear: return .linear(try LogisticRegression(decoding: file, metadata: meta))
        case .knn: return .knn(try NearestNeighbors(decoding: file, metadata: meta))
        case .svm: return .svm(try OneClassSVM(decoding: file, metadata: meta))
        case .head: return .head(try LinearHead(decoding: file, metadata: meta))
        }
    }

    public var kind: ClassifierKind {
        switch self {
        case .linear: .linear
        case .knn: .knn
        case .svm: .svm
        case .head: .head
        }
    }

    public var dimension: Int {
        switch self {
        case let .linear(c): c.dimension
        case let .knn(c): c.dimension
        case let .svm(c): c.dimension
        case let .head(c): c.dimension
        }
    }

    public func predict(_ x: EmbeddingMatrix) throws -> [Prediction] {
        switch self {
        case let .linear(c): try c.predict(x)
        case let .knn(c): try c.predict(x)
        case let .svm(c): try c.predict(x)
        case let .head(c): try c.predict(x)
        }
    }

    /// Decision values oriented so that larger means more likely fake.
    public func fakeness(_ decision: Double) -> Double {
        switch self {
        case .linear: LogisticRegression.fakeness(decision)
        case .knn: NearestNeighbors.fakeness(decision)
        case .svm: OneClassSVM.fakeness(decision)
        case .head: LinearHead.fakeness(decision)
        }
    }

    /// Writes the classifier atomically (see ``EmbeddingClassifier/save(to:metadata:)``).
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        switch self {
        case let .linear(c): try c.save(to: url, metadata: metadata)
        case let .knn(c): try c.save(to: url, metadata: metadata)
        case let .svm(c): try c.save(to: url, metadata: metadata)
        case let .head(c): try c.save(to: url, metadata: metadata)
        }
    }
}
