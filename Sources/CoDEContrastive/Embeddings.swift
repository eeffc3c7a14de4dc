/// A row-major `[rows, dim]` matrix of embeddings (one row per image).
public struct Embeddings<T: ContrastiveScalar>: Equatable, Sendable {
    public let rows: Int
    public let dim: Int
    /// `rows × dim` values, row-major.
    public var values: [T]

    /// Wraps `values` as `[rows, dim]`; throws ``ContrastiveError/badShape(item:reason:)`` unless
    /// `rows ≥ 1`, `dim ≥ 1` and `values.count == rows × dim`.
    @inlinable
    public init(rows: Int, dim: Int, values: [T], name: String = "embeddings") throws {
        guard rows >= 1, dim >= 1 else { throw ContrastiveError.badShape(item: name, reason: "rows \(rows) and dim \(dim) must be positive") }
        let (count, overflow) = rows.multipliedReportingOverflow(by: dim)
        guard !overflow, values.count == count else {
            throw ContrastiveError.badShape(item: name, reason: "\(values.count) values for [\(rows), \(dim)]")
        }
        self.rows = rows
        self.dim = dim
        self.values = values
    }

    /// A `[rows, dim]` matrix of zeros.
    @inlinable
    public init(zerosRows rows: Int, dim: Int) {
        precondition(rows >= 0 && dim >= 0, "Embeddings: negative shape")
        self.rows = rows
        self.dim = dim
        values = [T](repeating: 0, count: rows * dim)
    }

    @inlinable public var shape: [Int] { [rows, dim] }

    /// Throws ``ContrastiveError/nonFinite(item:row:column:)`` at the first NaN or infinity.
    @inlinable
    public func checkFinite(name: String) throws {
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw ContrastiveError.nonFinite(item: name, row: i / dim, column: i % dim)
        }
    }

    /// The rows reordered by `index`: row i of the result is row `index[i]` of `self`.
    @inlinable
    public func gathered(_ index: [Int]) -> Embeddings {
        var out = Embeddings(zerosRows: index.count, dim: dim)
        for (i, r) in index.enumerated() {
            for c in 0..<dim { out.values[i * dim + c] = values[r * dim + c] }
        }
        return out
    }

    /// Adds the rows of `rolled` back to where ``gathered(_:)`` took them: self[index[i]] += rolled[i].
    @inlinable
    public mutating func scatterAdd(_ rolled: Embeddings, _ index: [Int]) {
        precondition(rolled.rows == index.count && rolled.dim == dim, "Embeddings.scatterAdd: shape mismatch")
        for (i, r) in index.enumerated() {
            for c in 0..<dim { values[r * dim + c] += rolled.values[i * dim + c] }
        }
    }
}
