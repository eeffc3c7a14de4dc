import CoDEClassifiers
import Foundation

/// Real-or-fake detection of image files: a CoDE encoder and one fitted classifier.
///
/// Each file is decoded, cropped and embedded by ``Embedder`` (batched, in input order;
/// unreadable files become error rows), then classified. The crops are the ones the classifier
/// was fitted with (its file's `crops` metadata, ``CropLayout/recorded(in:)``): the authors'
/// single centre crop, or the mean embedding of five crops. The row's `score` is the classifier's
/// decision value, in its own scale:
/// - `linear`: p(fake) = σ(w·x + b) ∈ [0, 1]; fake when `score > threshold`, default 0.5.
/// - `knn`: dist(nearest real) − dist(nearest fake) (cosine distances) ∈ [−2, 2]; by default the
///   verdict is the k-neighbour majority; with a threshold, fake when `score > threshold`.
/// - `svm`: the one-class SVM decision f(x) (larger = more like the real training photos); real
///   when `score > threshold`, default 0.
public final class Detector: @unchecked Sendable {
    public let embedder: Embedder
    public let classifier: AnyClassifier
    /// How the classifier was named (`linear`, or a file path), for the `classifier` column.
    public let classifierName: String
    /// Decision threshold in the classifier's score scale; nil keeps the classifier's own verdict.
    /// ``init(model:classifier:threshold:crops:)`` sets the threshold a classifier file records
    /// (``ThresholdCalibration``, written by `code-calibrate`) when none is given.
    public var threshold: Double?
    /// What could not be checked when the model and classifier were paired (a classifier file
    /// from an earlier version records no encoder or crops), crops overridden by the caller, and
    /// a calibrated threshold taken from the file, one line each, for the tools to print on
    /// standard error.
    public internal(set) var warnings: [String] = []

    /// Pairs an encoder with a classifier; throws ``ModelDirectoryError/dimensionMismatch`` if the
    /// classifier does not take the encoder's embedding width, and
    /// ``ClassifierError/badThreshold(kind:value:reason:)`` for a threshold outside the classifier's
    /// score range (``ClassifierKind/validateThreshold(_:)``).
    public init(embedder: Embedder, classifier: AnyClassifier, classifierName: String, encoderName: String = "encoder",
                threshold: Double? = nil) throws {
        if let threshold { try classifier.kind.validateThreshold(threshold) }
        guard classifier.dimension == embedder.width else {
            throw ModelDirectoryError.dimensionMismatch(classifier: classifierName, classifierDimension: classifier.dimension,
                                                        encoder: encoderName, encoderDimension: embedder.width)
        }
        self.embedder = embedder
        self.classifier = classifier
        self.classifierName = classifierName
        self.threshold = threshold
    }

    /// Loads the encoder of `model` and the classifier `classifier` names (`linear` | `knn` |
    /// `svm` in the model directory, or a classifier file path; see ``ModelDirectory/classifierURL(_:)``).
    /// The embedder crops as the classifier file records (`crops` overrides it, with a warning
    /// when it differs). A classifier that records its encoder's SHA-256 (`encoder_sha256`, written
    /// by code-fit) must have been fitted on this model's encoder, else
    /// ``ProvenanceError/encoderMismatch(classifier:classifierSHA256:encoder:encoderSHA256:)``; one
    /// that does not is used with a ``warnings`` entry, except the bundled classifiers with the
    /// bundled encoder (fitted together).
    public convenience init(model: ModelDirectory, classifier: String = "linear", threshold: Double? = nil, crops: CropLayout? = nil) throws {
        let url = try model.classifierURL(classifier)
        let (file, meta) = try ClassifierFile.open(url)
        let c = try AnyClassifier.load(file, metadata: meta)
        var warnings: [String] = []
        let classifierBundled = Provenance.bundledModel(containing: url) != nil
        if !(classifierBundled && model.isBundled) {
            let recorded = try Provenance.of(classifierAt: url, metadata: meta)
            if let cs = recorded.encoderSHA256 {
                let es = try EncoderIdentity.sha256(modelAt: model.url)
                if cs != es {
                    throw ProvenanceError.encoderMismatch(classifier: url.path, classifierSHA256: cs, encoder: model.url.path, encoderSHA256: es)
                }
            } else {
                warnings.append("warning: classifier \(url.path) records no encoder SHA-256 (made by an earlier version?); "
                    + "cannot check that it was fitted on embeddings of \(model.url.path)")
            }
        }
        let recordedCrops = try CropLayout.recorded(in: meta)
        if meta.values[CropLayout.metadataKey] == nil && crops == nil {
            warnings.append("warning: classifier \(url.path) records no crop layout (made by an earlier version?); embedding with the centre crop")
        }
        if let crops, crops != recordedCrops {
            warnings.append("warning: --crops \(crops) overrides the '\(recordedCrops)' crops classifier \(url.path) was fitted with; its scores are not calibrated for them")
        }
        let embedder = try Embedder(modelAt: model.url)
        embedder.crops = crops ?? recordedCrops
        // A threshold calibrated by code-calibrate, unless one is given.
        let recordedThreshold = try ThresholdCalibration.recordedThreshold(in: meta)
        try self.init(embedder: embedder, classifier: c, classifierName: classifier, encoderName: model.url.path,
                      threshold: threshold ?? recordedThreshold)
        if threshold == nil, let t = recordedThreshold {
            let fpr = meta.values[ThresholdCalibration.achievedKey].map { ", false-positive rate \($0)" } ?? ""
            let n = meta.values[ThresholdCalibration.realImagesKey].map { " on \($0) real images" } ?? ""
            warnings.append("note: using the calibrated threshold \(t) recorded in \(url.path) (code-calibrate\(fpr)\(n))")
        }
        self.warnings = warnings
    }

    /// One row per file, in input order: verdict and score, or status `error` with the reason
    /// (``detect(files:batchSize:_:)`` collected into an array).
    public func detect(files: [URL], batchSize: Int = 32) throws -> [DetectionRow] {
        var rows: [DetectionRow] = []
        rows.reserveCapacity(files.count)
        try detect(files: files, batchSize: batchSize) { rows.append($0) }
        return rows
    }

    /// Streams the rows of `files`: `body` is called once per file, in input order, as soon as
    /// the encoder batch holding it (``Embedder/imagesPerBatch(batchSize:)`` images) is embedded
    /// and classified; then `batchDone` is called. Memory does not grow with the number of files.
    public func detect(files: [URL], batchSize: Int = 32, batchDone: () throws -> Void = {}, _ body: (DetectionRow) throws -> Void) throws {
        let perBatch = embedder.imagesPerBatch(batchSize: batchSize)
        var batch: [EmbeddingResult] = []
        batch.reserveCapacity(perBatch)
        func flush() throws {
            guard !batch.isEmpty else { return }
            let ok = batch.compactMap(\.embedding)
            let preds = ok.isEmpty ? [] : try classify(EmbeddingMatrix(ok, dimension: embedder.width))
            var k = 0
            for r in batch {
                if r.embedding != nil {
                    try body(.ok(path: r.path, prediction: preds[k]))
                    k += 1
                } else {
                    try body(.failed(path: r.path, error: r.error ?? "embedding failed"))
                }
            }
            batch.removeAll(keepingCapacity: true)
            try batchDone()
        }
        try embedder.embed(files: files, batchSize: batchSize) { r in
            batch.append(r)
            if batch.count == perBatch { try flush() }
        }
        try flush()
    }

    /// Classifies embeddings `[rows, D]`, applying ``threshold`` when set.
    public func classify(_ x: EmbeddingMatrix) throws -> [Prediction] {
        let preds = try classifier.predict(x)
        guard let t = threshold else { return preds }
        return preds.map { Prediction(decision: $0.decision, verdict: Self.verdict(score: $0.decision, threshold: t, kind: classifier.kind)) }
    }

    /// The threshold of the verdicts on the fakeness scale (larger = more fake): ``threshold``
    /// when set, else the classifier's own (p(fake) 0.5 for linear and head, decision 0 for the
    /// SVM); nil for k-NN's neighbour vote.
    public var fakenessThreshold: Double? {
        if let t = threshold { return classifier.fakeness(t) }
        switch classifier.kind {
        case .linear, .head: return classifier.fakeness(0.5)
        case .svm: return classifier.fakeness(0)
        case .knn: return nil
        }
    }

    /// The verdict of `score` at threshold `t`: fake if `score > t` (linear, knn, head); real if
    /// `score > t` (svm).
    public static func verdict(score: Double, threshold t: Double, kind: ClassifierKind) -> Verdict {
        switch kind {
        case .linear, .knn, .head: score > t ? .fake : .real
        case .svm: score > t ? .real : .fake
        }
    }
}

/// Counts of a detection run, for the summary line: verdicts, and the error rows by reason.
public struct DetectionSummary: Sendable, Equatable, CustomStringConvertible {
    public var real = 0, fake = 0, errors = 0
    /// Error rows per reason (``ErrorReasons/reason(of:path:)``).
    public var reasons = ErrorReasons()

    public init() {}

    public init(_ rows: [DetectionRow]) {
        for r in rows { add(r) }
    }

    public mutating func add(_ r: DetectionRow) {
        switch r.verdict {
        case .real?: real += 1
        case .fake?: fake += 1
        case nil:
            errors += 1
            reasons.add(r.error ?? "error", path: r.path)
        }
    }

    public var description: String {
        "\(real + fake + errors) images: \(real) real, \(fake) fake, \(errors) errors" + (errors > 0 ? " (\(reasons))" : "")
    }
}

/// Error messages counted by reason, for the tools' summaries: "2 truncated JPEG file, 1
/// unsupported format".
public struct ErrorReasons: Sendable, Equatable, CustomStringConvertible {
    public private(set) var counts: [String: Int] = [:]

    public init() {}

    /// The reason of an error message: the message without its leading `path: ` (the file it
    /// names), up to the first `:` or ` (` (the details): `a.jpg: truncated JPEG file (…)` is
    /// `truncated JPEG file`, `a.png: corrupt PNG data: crc` is `corrupt PNG data`; words holding
    /// digits are left out (`image 60000x60000 exceeds the pixel limit 89478485` is `image exceeds
    /// the pixel limit`).
    public static func reason(of message: String, path: String) -> String {
        var m = Substring(message)
        if m.hasPrefix(path + ": ") { m = m.dropFirst(path.count + 2) }
        else if let abs = Optional(URL(fileURLWithPath: path).path), m.hasPrefix(abs + ": ") { m = m.dropFirst(abs.count + 2) }
        if let r = m.range(of: " (") { m = m[..<r.lowerBound] }
        if let c = m.firstIndex(of: ":") { m = m[..<c] }
        // Words with digits are the instance's numbers ("image 60000x60000 exceeds the pixel limit 89478485").
        let s = m.split(separator: " ").filter { !$0.contains(where: \.isNumber) }.joined(separator: " ")
        return s.isEmpty ? "error" : s
    }

    public mutating func add(_ message: String, path: String) { counts[Self.reason(of: message, path: path), default: 0] += 1 }

    /// Most frequent first (ties by name).
    public var description: String {
        counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }
}

/// Aligned text columns (two spaces apart).
enum TextTable {
    static func render(header: [String], rows: [[String]], lastColumnFree: Bool = true) -> String {
        var widths = header.map(\.count)
        for r in rows { for i in r.indices { widths[i] = max(widths[i], r[i].count) } }
        func line(_ c: [String]) -> String {
            let cells = c.indices.map { i in
                (lastColumnFree && i == c.count - 1) ? c[i] : c[i].padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            return cells.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}

/// Inputs of `code-detect`: image files, folders (see ``InputFiles``), and `.csv` path lists.
public enum DetectorInputs {
    public struct BadList: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Expands inputs in order. A `.csv` file is a list of images: a header row whose first
    /// column is `path` (other columns ignored, so a dataset manifest works), paths relative to
    /// the CSV's folder or absolute.
    public static func expand(_ inputs: [String]) throws -> [URL] {
        var warnings: [String] = []
        return try expand(inputs, warnings: &warnings)
    }

    /// As ``expand(_:)``, collecting the warnings of ``InputFiles/expand(_:warnings:)`` (and an
    /// empty CSV list).
    public static func expand(_ inputs: [String], warnings: inout [String]) throws -> [URL] {
        var out: [URL] = []
        for input in inputs {
            var isDir: ObjCBool = false
            if input.lowercased().hasSuffix(".csv"), FileManager.default.fileExists(atPath: input, isDirectory: &isDir), !isDir.boolValue {
                let l = try list(URL(fileURLWithPath: input))
                if l.isEmpty { warnings.append("warning: \(input) lists no images") }
                out += l
            } else {
                var w: [String] = []
                out += try InputFiles.expand([input], warnings: &w)
                warnings += w.filter { $0 != "warning: no images found in the inputs" }
            }
        }
        if out.isEmpty && !inputs.isEmpty { warnings.append("warning: no images found in the inputs") }
        return out
    }

    /// The paths of a CSV list (see ``expand(_:)``).
    public static func list(_ url: URL) throws -> [URL] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw BadList(path: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        let rows: [[String]]
        do { rows = try CSV.parse(text, source: url.path).map(\.fields).filter { !($0.count == 1 && $0[0].isEmpty) } } catch let e as CSVError {
            throw BadList(path: url.path, reason: "line \(e.line): \(e.reason)")
        }
        guard let header = rows.first, header.first?.trimmingCharacters(in: .whitespaces).lowercased() == "path" else {
            throw BadList(path: url.path, reason: "the first column of the header must be 'path'")
        }
        let base = url.deletingLastPathComponent()
        return try rows.dropFirst().enumerated().map { k, r in
            guard let p = r.first, !p.isEmpty else { throw BadList(path: url.path, reason: "row \(k + 2): empty path") }
            return p.hasPrefix("/") ? URL(fileURLWithPath: p) : base.appendingPathComponent(p)
        }
    }
}

extension CropLayout {
    /// The classifier-file metadata key that records the crops of the embeddings a classifier
    /// was fitted on.
    public static let metadataKey = "crops"

    /// The layout a CoDEKit classifier file records (`center` when it records none, as in files
    /// from earlier versions and `tools/export_sklearn.py`). Throws
    /// ``ClassifierError/badFile(file:reason:)`` for an unknown value.
    public static func recorded(in url: URL) throws -> CropLayout {
        try recorded(in: ClassifierFile.open(url).1)
    }

    /// The layout the metadata of an opened classifier file records (as for the file form).
    public static func recorded(in meta: ClassifierMetadata) throws -> CropLayout {
        guard let v = meta.values[metadataKey] else { return .center }
        guard let layout = CropLayout(rawValue: v) else {
            throw ClassifierError.badFile(file: meta.source, reason: "metadata '\(metadataKey)' = '\(v)', expected center or five")
        }
        return layout
    }

    /// The metadata entry to save with a classifier fitted on embeddings made with this layout.
    public var classifierMetadata: [String: String] { [Self.metadataKey: rawValue] }
}
