import CoDECore

/// Layer normalisation over the last dimension, biased variance:
/// `y = (x - mean) * rstd * gamma + beta`, `rstd = 1 / sqrt(var + eps)`.
/// Shapes: `x`, `y` `[rows, dim]` (row stride `dim`); `gamma`, `beta` `[dim]`; `mean`, `rstd` `[rows]`.
enum LayerNorm {
    /// Forward pass. `mean` and `rstd` are written when given (training caches them for backward).
    static func forward(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?,
        rows: Int, dim: Int, eps: Float
    ) {
        Threading.parallelRanges(rows, minChunk: 16) { range in
            let r0 = range.lowerBound
            VectorMath.layerNormForwardRows(x + r0 * dim, y + r0 * dim, gamma: gamma, beta: beta,
                                            mean: mean.map { $0 + r0 }, rstd: rstd.map { $0 + r0 },
                                            rows: range.count, dim: dim, eps: eps)
        }
    }

    /// Backward pass; accumulates: `dx += ...`, `dgamma += Σ dy * xhat`, `dbeta += Σ dy`.
    /// `dx[r] += rstd * (g - mean(g) - xhat * mean(g * xhat))` with `g = dy * gamma`.
    static func backward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
        rows: Int, dim: Int
    ) {
        let parts = max(1, min(Threading.count, rows / 16))
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: parts * 2 * dim)
        partial.initialize(repeating: 0, count: parts * 2 * dim)
        defer { partial.deallocate() }
        Threading.parallelFor(parts) { p in
            let dg = partial + p * 2 * dim, db = dg + dim
            let r0 = rows * p / parts, r1 = rows * (p + 1) / parts
            VectorMath.layerNormBackwardRows(dy + r0 * dim, x + r0 * dim, mean: mean + r0, rstd: rstd + r0, gamma: gamma,
                                             dx: dx + r0 * dim, dgamma: dg, dbeta: db, rows: r1 - r0, dim: dim)
        }
        for p in 0..<parts {
            let dg = partial + p * 2 * dim, db = dg + dim
            for j in 0..<dim { dgamma[j] += dg[j]; dbeta[j] += db[j] }
        }
    }
}
