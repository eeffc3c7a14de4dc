import Foundation

/// Principal component analysis of embeddings, for the report's 2-D projection.
public enum PCA {
    /// The projection of `rows` (`n` vectors of width `d`) onto their top principal axes.
    public struct Projection: Sendable {
        /// `[n][components]`: `(x_i − mean) · axis_j`.
        public let coordinates: [[Double]]
        /// Unit principal axes `[components][d]`, each signed so its largest-magnitude entry is positive.
        public let axes: [[Double]]
        /// Variance along each axis (eigenvalues of the sample covariance, `/(n − 1)`), descending.
        public let variances: [Double]
    }

    /// Sample covariance `C = Xcᵀ Xc / (n − 1)` (Xc centred; DGEMM) and its eigen-decomposition
    /// (LAPACK dsyev); the axes are the eigenvectors of the `components` largest eigenvalues.
    /// Needs `n ≥ 2` rows of equal width `d ≥ components`.
    public static func project(_ rows: [[Float]], components: Int = 2) -> Projection {
        let n = rows.count, d = rows.first?.count ?? 0
        precondition(n >= 2 && d >= components && components >= 1, "PCA: need at least 2 rows of width >= \(components)")
        var x = [Double](repeating: 0, count: n * d), mean = [Double](repeating: 0, count: d)
        for (i, r) in rows.enumerated() {
            precondition(r.count == d, "PCA: row \(i) has width \(r.count), expected \(d)")
            for j in 0..<d { x[i * d + j] = Double(r[j]); mean[j] += Double(r[j]) / Double(n) }
        }
        for i in 0..<n { for j in 0..<d { x[i * d + j] -= mean[j] } }
        var c = [Double](repeating: 0, count: d * d), w = [Double](repeating: 0, count: d)
        BLAS.dgemm(transA: true, transB: false, m: d, n: d, k: n, alpha: 1 / Double(n - 1), a: x, lda: d, b: x, ldb: d, beta: 0, c: &c, ldc: d)
        let ok = BLAS.dsyev(n: d, a: &c, w: &w)
        precondition(ok, "PCA: dsyev did not converge")
        let order = (0..<components).map { d - 1 - $0 }
        let axes = order.map { col -> [Double] in
            var v = (0..<d).map { c[$0 * d + col] }
            let big = v.indices.max { abs(v[$0]) < abs(v[$1]) }!
            if v[big] < 0 { v = v.map { -$0 } }
            return v
        }
        let coords = (0..<n).map { i in axes.map { a in (0..<d).reduce(0.0) { $0 + x[i * d + $1] * a[$1] } } }
        return Projection(coordinates: coords, axes: axes, variances: order.map { max(0, w[$0]) })
    }
}
