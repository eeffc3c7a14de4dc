import CoDECore
import Foundation

/// The classifiers CoDEKit puts on an embedding: the paper's three, and the supervised baseline's head.
public enum ClassifierKind: String, Sendable, CaseIterable {
    /// L2-regularised logistic regression (``LogisticRegression``).
    case linear
    /// k-nearest neighbours with cosine distance (``NearestNeighbors``).
    case knn
    /// One-class SVM fitted on real embeddings only (``OneClassSVM``).
    case svm
    /// The linear head of a `code-train --objective bce` encoder (``LinearHead``); trained, not fitted.
    case head
}

extension ClassifierKind {
    /// The range of the classifier's decision value (the `score` of a detection row), nil when
    /// every finite number can occur:
    /// - `linear`, `head`: p(fake) = σ(w·x + b), in [0, 1];
    /// - `knn`: dist(nearest real) − dist(nearest fake) with cosine distances in [0, 2], so [−2, 2];
    /// - `svm`: the one-class SVM decision Σ α K(sv, x) − ρ, unbounded.
    public var scoreRange: ClosedRange<Double>? {
        switch self {
        case .linear, .head: 0...1
        case .knn: -2...2
        case .svm: nil
        }
    }

    /// Throws ``ClassifierError/badThreshold(kind:value:reason:)`` for a threshold that is NaN,
    /// infinite or outside ``scoreRange`` (where every verdict would be the same).
    public func validateThreshold(_ t: Double) throws {
        guard t.isFinite else { throw ClassifierError.badThreshold(kind: self, value: t, reason: "it must be a finite number") }
        if let r = scoreRange, !r.contains(t) {
            let what = self == .knn ? "dist(nearest real) - dist(nearest fake)" : "p(fake)"
            throw ClassifierError.badThreshold(kind: self, value: t, reason: "its score, \(what), lies in [\(r.lowerBound), \(r.upperBound)]")
        }
    }
}

/// What the three classifiers have in common: fitting, decision values, verdicts, and the
/// CoDEKit classifier file format.
///
/// Embeddings are `[rows, dimension]` Float matrices (``EmbeddingMatrix``); decision values are
/// Double. Each conformer documents the meaning of its decision value and which way it points
/// (``fakeIsPositive``).
public protocol EmbeddingClassifier: Sendable {
    /// Fitting options (C, k, nu, kernel...).
    associatedtype Hyperparameters: Sendable

    static var kind: ClassifierKind { get }

    /// Width of the embeddings the classifier accepts.
    var dimension: Int { get }

    /// Fits on labelled embeddings (`labels.count == embeddings.rows`). A classifier that uses one
    /// class only (the SVM) ignores the other rows.
    static func fit(_ embeddings: EmbeddingMatrix, labels: [Verdict], hyperparameters: Hyperparameters) throws -> Self

    /// The decision value and verdict for each row. Throws ``ClassifierError/dimensionMismatch(source:expected:found:)``
    /// or ``ClassifierError/nonFinite(source:row:)`` for unusable rows.
    func predict(_ embeddings: EmbeddingMatrix) throws -> [Prediction]

    /// True if a larger decision value means "more likely fake" (linear, k-NN); false if it means
    /// "more likely real" (the SVM). Ranking metrics use ``fakeness(_:)``.
    static var fakeIsPositive: Bool { get }

    /// Tensors and hyperparameter metadata of the classifier file (see ``ClassifierFile``).
    func encode() -> (tensors: SafeTensorsWriter, metadata: [String: String])

    /// Rebuilds a classifier from a validated file whose `kind` is ``kind``.
    init(decoding file: SafeTensorsFile, metadata: ClassifierMetadata) throws
}

extension EmbeddingClassifier {
    /// The decision value oriented so that larger means more likely fake (for ROC AUC and AP).
    public static func fakeness(_ decision: Double) -> Double { fakeIsPositive ? decision : -decision }

    /// Decision values only.
    public func decisions(_ embeddings: EmbeddingMatrix) throws -> [Double] { try predict(embeddings).map(\.decision) }

    /// Verdicts only.
    public func verdicts(_ embeddings: EmbeddingMatrix) throws -> [Verdict] { try predict(embeddings).map(\.verdict) }

    /// Writes the classifier atomically as a CoDEKit classifier file; `metadata` adds entries
    /// (e.g. `crops`, how the embeddings it was fitted on were made) without overriding the
    /// classifier's own.
    public func save(to url: URL, metadata extra: [String: String] = [:]) throws {
        let (tensors, meta) = encode()
        var w = tensors
        w.metadata = extra.merging(meta) { _, own in own }
            .merging(ClassifierFile.commonMetadata(kind: Self.kind, dimension: dimension)) { _, common in common }
        try w.write(to: url)
    }

    /// Loads a file that must hold this kind of classifier.
    public static func load(from url: URL) throws -> Self {
        let (file, meta) = try ClassifierFile.open(url)
        guard meta.kind == kind else {
            throw ClassifierError.badFile(file: url.path, reason: "holds a '\(meta.kind.rawValue)' classifier, expected '\(kind.rawValue)'")
        }
        return try Self(decoding: file, metadata: meta)
    }
}
