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
            for r in range {
                let xr = x + r * dim, yr = y + r * dim
                var s: Float = 0
                for j in 0..<dim { s += xr[j] }
                let m = s / Float(dim)
                var v: Float = 0
                for j in 0..<dim { let d = xr[j] - m; v += d * d }
                let rs = 1 / (v / Float(dim) + eps).squareRoot()
                for j in 0..<dim { yr[j] = (xr[j] - m) * rs * gamma[j] + beta[j] }
                mean?[r] = m
                rstd?[r] = rs
            }
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
            for r in (rows * p / parts)..<(rows * (p + 1) / parts) {
                let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
                let m = mean[r], rs = rstd[r]
                var sumG: Float = 0, sumGX: Float = 0
                for j in 0..<dim {
                    let xh = (xr[j] - m) * rs
                    let g = dyr[j] * gamma[j]
                    sumG += g
                    sumGX += g * xh
                    dg[j] += dyr[j] * xh
                    db[j] += dyr[j]
                }
                let mg = sumG / Float(dim), mgx = sumGX / Float(dim)
                for j in 0..<dim {
                    let xh = (xr[j] - m) * rs
                    dxr[j] += rs * (dyr[j] * gamma[j] - mg - xh * mgx)
                }
            }
        }
        for p in 0..<parts {
            let dg = partial + p * 2 * dim, db = dg + dim
            for j in 0..<dim { dgamma[j] += dg[j]; dbeta[j] += db[j] }
        }
    }
}
