import CoDEClassifiers
import Foundation

/// Why embeddings and a classifier (or a classifier and an encoder) do not belong together.
public enum ProvenanceError: Error, CustomStringConvertible, Equatable {
    /// The classifier was fitted on embeddings made with other crops.
    case cropsMismatch(classifier: String, classifierCrops: String, embeddings: String, embeddingsCrops: String)
    /// The classifier was fitted on embeddings of another encoder (SHA-256 of its `model.safetensors`).
    case encoderMismatch(classifier: String, classifierSHA256: String, encoder: String, encoderSHA256: String)
    /// The rows of one embeddings file disagree about how they were made.
    case mixed(source: String, field: String, values: [String])

    public var description: String {
        switch self {
        case let .cropsMismatch(c, cc, e, ec):
            "crop layouts differ: classifier \(c) was fitted on '\(cc)' embeddings, but \(e) holds '\(ec)' embeddings "
                + "(embed with code-embed --crops \(cc), or fit a classifier with --crops \(ec))"
        case let .encoderMismatch(c, cs, e, es):
            "encoders differ: classifier \(c) was fitted on embeddings of the encoder with SHA-256 \(cs), but \(e) comes from "
                + "the encoder with SHA-256 \(es) (use the classifier's own model, or fit one for this encoder with code-fit)"
        case let .mixed(s, f, v) where f == Provenance.precisionKey:
            "\(s): rows disagree on \"precision\" (\(v.joined(separator: ", "))): embeddings made at different precisions cannot be used together "
                + "(embed every image with the same code-embed --precision)"
        case let .mixed(s, f, v):
            "\(s): rows disagree on \"\(f)\" (\(v.joined(separator: ", "))): embeddings of different runs cannot be used together"
        }
    }
}

/// How embeddings were made: the crop layout and the encoder (SHA-256 of its weights file).
/// nil fields are unknown (files from earlier versions).
public struct Provenance: Sendable, Equatable {
    public var crops: String?
    public var encoderSHA256: String?
    /// The precision of the encoder's linear layers (``InferencePrecision`` raw value).
    public var precision: String?

    public init(crops: String?, encoderSHA256: String?, precision: String? = nil) {
        self.crops = crops
        self.encoderSHA256 = encoderSHA256
        self.precision = precision
    }

    /// The JSONL and classifier-metadata key of ``precision``.
    public static let precisionKey = "precision"

    /// The classifier-file metadata key of ``encoderSHA256`` (``crops`` is ``CropLayout/metadataKey``).
    public static let encoderKey = "encoder_sha256"

    /// The classifier-file metadata entries recording this provenance (known fields only; the
    /// precision when it is not fp32).
    public var classifierMetadata: [String: String] {
        var m: [String: String] = [:]
        if let crops { m[CropLayout.metadataKey] = crops }
        if let encoderSHA256 { m[Self.encoderKey] = encoderSHA256 }
        // Only a reduced precision is recorded: fp32 classifier files stay as they were.
        if let precision, precision != InferencePrecision.fp32.rawValue { m[Self.precisionKey] = precision }
        return m
    }

    /// The provenance of embeddings JSONL rows; throws ``ProvenanceError/mixed(source:field:values:)``
    /// when rows disagree (a row without a field and one with it count as disagreeing, except
    /// `precision`: rows without it come from versions that only had fp32).
    public static func of(records: [EmbeddingRecord], source: String) throws -> Provenance {
        func one(_ field: String, _ values: [String?]) throws -> String? {
            let distinct = Set(values.map { $0 ?? "(none)" })
            guard distinct.count <= 1 else { throw ProvenanceError.mixed(source: source, field: field, values: distinct.sorted()) }
            return values.first ?? nil
        }
        return Provenance(crops: try one("crops", records.map(\.crops)), encoderSHA256: try one(encoderKey, records.map(\.encoderSHA256)),
                          precision: try one(precisionKey, records.map { $0.precision ?? "fp32" }).flatMap { _ in records.first?.precision })
    }

    /// What a classifier file records. A bundled-model classifier without `encoder_sha256` (they
    /// predate the field) is taken to be fitted on the bundled encoder, whose digest it gets.
    public static func of(classifierAt url: URL, metadata meta: ClassifierMetadata) throws -> Provenance {
        var p = Provenance(crops: meta.values[CropLayout.metadataKey], encoderSHA256: meta.values[encoderKey], precision: meta.values[precisionKey])
        if p.encoderSHA256 == nil, let bundled = bundledModel(containing: url) {
            p.encoderSHA256 = try EncoderIdentity.sha256(modelAt: bundled)
        }
        return p
    }

    /// The bundled model folder `url` lies in, if any.
    static func bundledModel(containing url: URL) -> URL? {
        let folder = FitOutput.canonical(url.deletingLastPathComponent())
        return FitOutput.bundledDirectories.first { FitOutput.canonical($0) == folder }
    }

    /// Compares a classifier with the embeddings it is applied to: throws on a known mismatch of
    /// crops or encoder, and returns a warning for each field one side does not record.
    public static func check(classifier c: Provenance, classifierName: String, embeddings e: Provenance, embeddingsName: String) throws -> [String] {
        var warnings: [String] = []
        if let cc = c.crops, let ec = e.crops, cc != ec {
            throw ProvenanceError.cropsMismatch(classifier: classifierName, classifierCrops: cc, embeddings: embeddingsName, embeddingsCrops: ec)
        }
        if let cs = c.encoderSHA256, let es = e.encoderSHA256, cs != es {
            throw ProvenanceError.encoderMismatch(classifier: classifierName, classifierSHA256: cs, encoder: embeddingsName, encoderSHA256: es)
        }
        if c.crops == nil || e.crops == nil {
            warnings.append("warning: \(c.crops == nil ? classifierName : embeddingsName) records no crop layout (made by an earlier version?); "
                + "cannot check that the classifier sees embeddings made with the crops it was fitted on")
        }
        if c.encoderSHA256 == nil || e.encoderSHA256 == nil {
            warnings.append("warning: \(c.encoderSHA256 == nil ? classifierName : embeddingsName) records no encoder SHA-256 (made by an earlier version?); "
                + "cannot check that the classifier was fitted on this encoder's embeddings")
        }
        return warnings
    }
}

/// The identity of an encoder: the SHA-256 of its weights file.
public enum EncoderIdentity {
    /// The weights file of a model: `DIR/model.safetensors` for a folder, the file itself otherwise.
    public static func weightsFile(_ url: URL) -> URL {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            return url.appendingPathComponent("model.safetensors")
        }
        return url
    }

    nonisolated(unsafe) private static var cache: [String: String] = [:]
    private static let lock = NSLock()

    /// Lower-case hex SHA-256 of ``weightsFile(_:)`` (computed once per file and process).
    public static func sha256(modelAt url: URL) throws -> String {
        let file = FitOutput.canonical(weightsFile(url))
        if let d = lock.withLock({ cache[file] }) { return d }
        let d = try SHA256.hex(ofFile: URL(fileURLWithPath: file))
        lock.withLock { cache[file] = d }
        return d
    }
}
