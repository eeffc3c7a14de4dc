/// The answer a classifier gives about one image: a real photograph or an AI-generated one.
public enum Verdict: String, Sendable, Equatable, CaseIterable, CustomStringConvertible, Codable {
    case real
    case fake

    public var description: String { rawValue }

    /// Parses `"real"` / `"fake"` (the labels of the embeddings JSONL); `nil` for anything else.
    public init?(label: String) { self.init(rawValue: label) }
}

/// One classified embedding: the classifier's decision value and its verdict.
///
/// The decision is in the classifier's own units (see each classifier's `decisions`); the verdict
/// is what the classifier concludes from it (for k-NN, from the neighbours' labels).
public struct Prediction: Sendable, Equatable {
    public let decision: Double
    public let verdict: Verdict
    public init(decision: Double, verdict: Verdict) {
        self.decision = decision
        self.verdict = verdict
    }
}
