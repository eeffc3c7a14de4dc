/// A specific reason the contrastive loss rejected its input.
public enum ContrastiveError: Error, CustomStringConvertible, Equatable {
    /// `values.count` is not `rows × dim`, or a dimension is not positive.
    case badShape(item: String, reason: String)
    /// Two inputs that must agree in rows or width do not.
    case shapeMismatch(item: String, expected: [Int], found: [Int])
    /// An embedding holds NaN or ±∞ (a diverged forward pass).
    case nonFinite(item: String, row: Int, column: Int)
    /// A roll index that is not a permutation of `0..<B`.
    case badRollIndex(item: String, reason: String)
    /// No permutation of `n` items moves every item (n = 1).
    case noDerangement(count: Int)

    public var description: String {
        switch self {
        case let .badShape(i, r): "\(i): bad embedding shape: \(r)"
        case let .shapeMismatch(i, e, f): "\(i): shape \(f) does not match the expected \(e)"
        case let .nonFinite(i, r, c): "\(i): non-finite value at row \(r), column \(c) (the forward pass diverged?)"
        case let .badRollIndex(i, r): "\(i): roll index is not a permutation of the batch: \(r)"
        case let .noDerangement(n): "derangement: a batch of \(n) item(s) has no permutation without fixed points; use at least 2"
        }
    }
}
