import CoDECore
import Foundation

/// The k nearest bank rows of one query, plus the nearest of each class.
public struct NeighborResult: Sendable, Equatable {
    /// Bank indices of the k nearest, nearest first (ties: lowest index first).
    public var indices: [Int]
    /// Their cosine distances.
    public var distances: [Float]
    /// Distance to the nearest real and the nearest fake bank row.
    public var nearestReal: Float
    public var nearestFake: Float
}

extension NearestNeighbors {
    /// Queries per sgemm batch: keeps the `[batch, bank]` similarity block near 32 MB.
    func batchSize() -> Int { max(1, min(1024, (8 << 20) / max(1, bank.rows))) }

    /// The k nearest neighbours of every row of `x` (`[rows, dimension]`).
    public func neighbors(_ x: EmbeddingMatrix) throws -> [NeighborResult] {
        try x.validate(dimension: dimension, source: "k-NN input")
        let n = bank.rows, d = dimension
        var out = [NeighborResult](repeating: NeighborResult(indices: [], distances: [], nearestReal: 2, nearestFake: 2), count: x.rows)
        let isFake = labels.map { $0 == .fake }
        let bs = batchSize()
        let q = FloatBuffer(count: bs * d)      // (bs, D) unit queries
        let sims = FloatBuffer(count: bs * n)   // (bs, N) cosine similarities
        x.values.withUnsafeBufferPointer { xv in
            out.withUnsafeMutableBufferPointer { res in
                isFake.withUnsafeBufferPointer { fk in
                    var start = 0
                    while start < x.rows {
                        let m = min(bs, x.rows - start)
                        Self.normalizeRows(xv.baseAddress! + start * d, into: q.pointer, rows: m, dimension: d)
                        BLAS.matmul(q.pointer, unitBank.pointer, sims.pointer, m: m, n: n, k: d, transB: true)
                        let base = start
                        Threading.parallelRanges(m, minChunk: 8) { r in
                            for i in r { res[base + i] = scan(sims.pointer + i * n, count: n, isFake: fk.baseAddress!) }
                        }
                        start += m
                    }
                }
            }
        }
        return out
    }

    /// One pass over a row of similarities: the k smallest distances (stable on ties) and the
    /// nearest of each class.
    func scan(_ s: UnsafePointer<Float>, count n: Int, isFake: UnsafePointer<Bool>) -> NeighborResult {
        var idx = [Int](repeating: -1, count: k)
        var dist = [Float](repeating: .infinity, count: k)
        var nr: Float = .infinity, nf: Float = .infinity
        for j in 0..<n {
            let dj = min(max(1 - s[j], 0), 2)
            if isFake[j] { if dj < nf { nf = dj } } else if dj < nr { nr = dj }
            if dj < dist[k - 1] {   // strict: an equal later index never displaces an earlier one
                var p = k - 1
                while p > 0 && dist[p - 1] > dj { dist[p] = dist[p - 1]; idx[p] = idx[p - 1]; p -= 1 }
                dist[p] = dj; idx[p] = j
            }
        }
        return NeighborResult(indices: idx, distances: dist, nearestReal: nr, nearestFake: nf)
    }

    /// Decision `dist(nearest real) − dist(nearest fake)` and the k-neighbour majority verdict.
    public func predict(_ x: EmbeddingMatrix) throws -> [Prediction] {
        try neighbors(x).map { r in
            let fakes = r.indices.reduce(0) { $0 + (labels[$1] == .fake ? 1 : 0) }
            return Prediction(decision: Double(r.nearestReal) - Double(r.nearestFake),
                              verdict: 2 * fakes > k ? .fake : .real)
        }
    }
}
