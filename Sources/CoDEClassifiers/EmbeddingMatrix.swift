/// A batch of embeddings: `rows` vectors of `dimension` floats, row-major (`[rows, dimension]`).
public struct EmbeddingMatrix: Sendable, Equatable {
    public let rows: Int
    public let dimension: Int
    /// `rows * dimension` floats, row `i` at `values[i * dimension ..< (i + 1) * dimension]`.
    public let values: [Float]

    /// Wraps row-major values. `values.count` must equal `rows * dimension`.
    public init(rows: Int, dimension: Int, values: [Float]) {
        precondition(rows >= 0 && dimension > 0 && values.count == rows * dimension,
                     "EmbeddingMatrix: \(values.count) values for \(rows) x \(dimension)")
        self.rows = rows
        self.dimension = dimension
        self.values = values
    }

    /// Stacks equal-length vectors; `dimension` is used when `vectors` is empty.
    public init(_ vectors: [[Float]], dimension: Int? = nil) {
        let d = vectors.first?.count ?? dimension ?? 1
        precondition(vectors.allSatisfy { $0.count == d }, "EmbeddingMatrix: rows of different lengths")
        self.init(rows: vectors.count, dimension: d, values: vectors.flatMap { $0 })
    }

    /// Row `i` as an array.
    public func row(_ i: Int) -> [Float] { Array(values[(i * dimension)..<((i + 1) * dimension)]) }

    /// The rows at `indices`, in that order.
    public func select(_ indices: [Int]) -> EmbeddingMatrix {
        var out = [Float](); out.reserveCapacity(indices.count * dimension)
        for i in indices { out.append(contentsOf: values[(i * dimension)..<((i + 1) * dimension)]) }
        return EmbeddingMatrix(rows: indices.count, dimension: dimension, values: out)
    }

    /// Throws unless the width is `expected` and every value is finite. `source` names the data in errors.
    public func validate(dimension expected: Int, source: String) throws {
        guard dimension == expected else {
            throw ClassifierError.dimensionMismatch(source: source, expected: expected, found: dimension)
        }
        try validateFinite(source: source)
    }

    /// Throws if a value is NaN or infinite.
    public func validateFinite(source: String) throws {
        try values.withUnsafeBufferPointer { p in
            for i in 0..<p.count where !p[i].isFinite { throw ClassifierError.nonFinite(source: source, row: i / dimension) }
        }
    }

    /// The values widened to Double (`[rows, dimension]`).
    public func doubles() -> [Double] { values.map(Double.init) }
}
