/// A specific reason a classifier could not be fitted, loaded or applied.
public enum ClassifierError: Error, CustomStringConvertible, Equatable {
    /// Embeddings whose width differs from the classifier's (e.g. a 192-d model on 384-d rows).
    case dimensionMismatch(source: String, expected: Int, found: Int)
    /// Training data that cannot produce a model (no rows, one class only, NaN values...).
    case badTrainingData(String)
    /// A hyperparameter outside its valid range.
    case badHyperparameter(name: String, value: String, reason: String)
    /// A classifier file that is not a valid CoDEKit classifier.
    case badFile(file: String, reason: String)
    /// Embeddings with non-finite values.
    case nonFinite(source: String, row: Int)
    /// A decision threshold that is NaN, infinite, or outside the classifier's score range.
    case badThreshold(kind: ClassifierKind, value: Double, reason: String)

    public var description: String {
        switch self {
        case let .dimensionMismatch(s, e, f): "\(s): embeddings have \(f) dimensions but the classifier expects \(e)"
        case let .badTrainingData(r): "cannot fit: \(r)"
        case let .badHyperparameter(n, v, r): "invalid \(n) = \(v): \(r)"
        case let .badFile(f, r): "\(f): not a valid CoDEKit classifier file: \(r)"
        case let .nonFinite(s, r): "\(s): row \(r) has a NaN or infinite value"
        case let .badThreshold(k, v, r): "--threshold \(v) is not usable with the \(k.rawValue) classifier: \(r)"
        }
    }
}
