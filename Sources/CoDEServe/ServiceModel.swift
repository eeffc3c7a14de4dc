import CoDEClassifiers
import CoDEKit
import Foundation

/// What `code-serve` loads from a model directory: the encoder once, and every classifier file
/// it holds (`linear`, `knn`, `svm`, `head`), each paired with the encoder as a ``Detector`` that
/// embeds with the crops that classifier was fitted with and uses the threshold `code-calibrate`
/// recorded in it, if any, as `Detector(model:classifier:)` does for the tools. A classifier that
/// records the SHA-256 of a different encoder is refused (`ProvenanceError.encoderMismatch`).
public final class ServiceModel: @unchecked Sendable {
    public let directory: ModelDirectory
    /// The encoder shared by every detector (one ViT in memory).
    public let model: ViT
    /// Detectors by classifier name, in ``ClassifierKind`` order.
    public let detectors: [String: Detector]
    /// The classifier used when a request names none: `linear` if present, else the first one.
    public let defaultClassifier: String
    /// One ``Embedder`` per crop layout, sharing ``model`` (the batch queue runs each).
    public let embedders: [CropLayout: Embedder]
    public let info: ModelInfo
    /// What could not be checked (a classifier that records no encoder SHA-256 or no crops) and
    /// calibrated thresholds taken from the files, one line each, for `code-serve` to log.
    public let warnings: [String]

    /// Loads the encoder and all classifiers of `directory`. Throws if the encoder cannot be
    /// loaded, if the directory holds no classifier, or a classifier does not fit the encoder.
    public init(directory: ModelDirectory, limits: ImageLimits, precision: InferencePrecision = .fp32) throws {
        self.directory = directory
        let vit = try ViT.load(from: directory.url)
        model = vit
        let choice = vit.setPrecision(precision)
        var detectors: [String: Detector] = [:]
        // One embedder per layout (both, so /v1/embed can serve either), all sharing the encoder.
        var embedders: [CropLayout: Embedder] = [:]
        for layout in CropLayout.allCases { embedders[layout] = Embedder(model: vit, limits: limits, crops: layout) }
        var infos: [ModelInfo.ClassifierInfo] = []
        var warnings: [String] = choice.fallbackWarning.map { [$0] } ?? []
        // The encoder's identity as the tools compute and record it (code-embed, code-fit).
        let encoderSHA256 = try EncoderIdentity.sha256(modelAt: directory.url)
        for kind in ClassifierKind.allCases {
            let url = directory.url.appendingPathComponent("\(kind.rawValue).safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let (file, meta) = try ClassifierFile.open(url)
            let classifier = try AnyClassifier.load(file, metadata: meta)
            let recorded = try Provenance.of(classifierAt: url, metadata: meta)
            if let cs = recorded.encoderSHA256 {
                guard cs == encoderSHA256 else {
                    throw ProvenanceError.encoderMismatch(classifier: url.path, classifierSHA256: cs,
                                                          encoder: directory.url.path, encoderSHA256: encoderSHA256)
                }
            } else {
                warnings.append("warning: classifier \(url.path) records no encoder SHA-256 (made by an earlier version?); "
                    + "cannot check that it was fitted on embeddings of \(directory.url.path)")
            }
            if meta.values[CropLayout.metadataKey] == nil {
                warnings.append("warning: classifier \(url.path) records no crop layout (made by an earlier version?); embedding with the centre crop")
            }
            let crops = try CropLayout.recorded(in: meta)
            let embedder = embedders[crops]!
            let calibrated = try ThresholdCalibration.recordedThreshold(in: meta)
            if let t = calibrated {
                warnings.append("note: \(kind.rawValue) uses the calibrated threshold \(t) recorded in \(url.path) (code-calibrate)")
            }
            let detector = try Detector(embedder: embedder, classifier: classifier, classifierName: kind.rawValue,
                                        encoderName: directory.url.path, threshold: calibrated)
            detectors[kind.rawValue] = detector
            infos.append(.init(name: kind.rawValue, kind: kind.rawValue, crops: crops.rawValue,
                               defaultThreshold: calibrated ?? Self.defaultThreshold(kind),
                               calibrated: calibrated != nil, rule: Self.rule(kind)))
        }
        guard let first = infos.first else {
            throw ModelDirectoryError.notAModel(path: directory.url.path,
                                                reason: "no classifier (linear/knn/svm/head.safetensors); fit one with code-fit")
        }
        self.detectors = detectors
        self.embedders = embedders
        self.warnings = warnings
        defaultClassifier = detectors["linear"] != nil ? "linear" : first.name
        let card = ModelCard(url: directory.url.appendingPathComponent("MODEL_CARD.md"))
        let c = vit.configuration
        info = ModelInfo(
            encoder: .init(name: directory.url.lastPathComponent, path: directory.url.path, file: EncoderIdentity.weightsFile(directory.url).lastPathComponent,
                           sha256: encoderSHA256,
                           imageSize: c.imageSize, embeddingDimension: c.width,
                           precision: choice.used.rawValue, requestedPrecision: choice.requested.rawValue, precisionNote: choice.reason),
            classifiers: infos, defaultClassifier: defaultClassifier,
            summary: card.summary, limitations: card.limitations)
    }

    /// The threshold a classifier's own verdict uses when its file records no calibrated one
    /// (nil: k-NN's neighbour vote has none).
    static func defaultThreshold(_ kind: ClassifierKind) -> Double? {
        switch kind {
        case .linear, .head: 0.5
        case .svm: 0
        case .knn: nil
        }
    }

    static func rule(_ kind: ClassifierKind) -> String {
        switch kind {
        case .linear: "score = p(fake); fake when score > threshold"
        case .head: "score = p(fake) of the trained head; fake when score > threshold"
        case .knn: "score = dist(nearest real) - dist(nearest fake); default verdict: neighbour vote; with a threshold, fake when score > threshold"
        case .svm: "score = one-class SVM decision; real when score > threshold"
        }
    }
}

/// The model card's one-line summary (its title) and the bullets of its "What it can and cannot
/// detect" section, for `GET /v1/model` and the web page.
struct ModelCard {
    var summary: String?
    var limitations: [String] = []

    init(url: URL) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        let lines = text.components(separatedBy: "\n")
        summary = lines.first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)).trimmingCharacters(in: .whitespaces) }
        guard let start = lines.firstIndex(where: { $0.hasPrefix("## ") && $0.lowercased().contains("can and cannot") }) else { return }
        var current: String?
        for line in lines[(start + 1)...] {
            if line.hasPrefix("#") { break }
            if line.hasPrefix("- ") {
                if let c = current { limitations.append(c) }
                current = String(line.dropFirst(2))
            } else if let c = current, !line.trimmingCharacters(in: .whitespaces).isEmpty {
                current = c + " " + line.trimmingCharacters(in: .whitespaces)
            }
        }
        if let c = current { limitations.append(c) }
    }
}
