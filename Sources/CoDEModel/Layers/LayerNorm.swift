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
                let (m, rs) = forwardRow(x + r * dim, y + r * dim, gamma: gamma, beta: beta, dim: dim, eps: eps)
                mean?[r] = m
                rstd?[r] = rs
            }
        }
    }

    /// One row: two-pass mean and variance with 16-lane partial sums, then the affine map.
    @inline(__always)
    static func forwardRow(_ xr: UnsafePointer<Float>, _ yr: UnsafeMutablePointer<Float>,
                           gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, dim: Int, eps: Float) -> (Float, Float) {
        let v16 = dim & ~15
        var acc = FloatV(repeating: 0)
        var j = 0
        while j < v16 { acc += VectorMath.loadV(xr + j); j += 16 }
        var s = acc.sum()
        while j < dim { s += xr[j]; j += 1 }
        let m = s / Float(dim)
        let mv = FloatV(repeating: m)
        acc = FloatV(repeating: 0)
        j = 0
        while j < v16 { let d = VectorMath.loadV(xr + j) - mv; acc += d * d; j += 16 }
        var v = acc.sum()
        while j < dim { let d = xr[j] - m; v += d * d; j += 1 }
        let rs = 1 / (v / Float(dim) + eps).squareRoot()
        let rv = FloatV(repeating: rs)
        j = 0
        while j < v16 {
            VectorMath.storeV((VectorMath.loadV(xr + j) - mv) * rv * VectorMath.loadV(gamma + j) + VectorMath.loadV(beta + j), yr + j)
            j += 16
        }
        while j < dim { yr[j] = (xr[j] - m) * rs * gamma[j] + beta[j]; j += 1 }
        return (m, rs)
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
                backwardRow(dy + r * dim, x + r * dim, mean: mean[r], rstd: rstd[r], gamma: gamma,
                            dx: dx + r * dim, dgamma: dg, dbeta: db, dim: dim)
            }
        }
        for p in 0..<parts {
            let dg = partial + p * 2 * dim, db = dg + dim
            for j in 0..<dim { dgamma[j] += dg[j]; dbeta[j] += db[j] }
        }
    }

    /// One row of ``backward``: 16 lanes at a time, scalar tail.
    @inline(__always)
    static func backwardRow(_ dyr: UnsafePointer<Float>, _ xr: UnsafePointer<Float>, mean m: Float, rstd rs: Float,
                            gamma: UnsafePointer<Float>, dx dxr: UnsafeMutablePointer<Float>,
                            dgamma dg: UnsafeMutablePointer<Float>, dbeta db: UnsafeMutablePointer<Float>, dim: Int) {
        let v16 = dim & ~15
        let mv = FloatV(repeating: m), rv = FloatV(repeating: rs)
        var sG = FloatV(repeating: 0), sGX = FloatV(repeating: 0)
        var j = 0
        while j < v16 {
            let xh = (VectorMath.loadV(xr + j) - mv) * rv
            let d = VectorMath.loadV(dyr + j)
            let g = d * VectorMath.loadV(gamma + j)
            sG += g
            sGX += g * xh
            VectorMath.storeV(VectorMath.loadV(dg + j) + d * xh, dg + j)
            VectorMath.storeV(VectorMath.loadV(db + j) + d, db + j)
            j += 16
        }
        var sumG = sG.sum(), sumGX = sGX.sum()
        while j < dim {
            let xh = (xr[j] - m) * rs
            let g = dyr[j] * gamma[j]
            sumG += g
            sumGX += g * xh
            dg[j] += dyr[j] * xh
            db[j] += dyr[j]
            j += 1
        }
        let mg = sumG / Float(dim), mgx = sumGX / Float(dim)
        let mgv = FloatV(repeating: mg), mgxv = FloatV(repeating: mgx)
        j = 0
        while j < v16 {
            let xh = (VectorMath.loadV(xr + j) - mv) * rv
            let g = VectorMath.loadV(dyr + j) * VectorMath.loadV(gamma + j)
            VectorMath.storeV(VectorMath.loadV(dxr + j) + rv * (g - mgv - xh * mgxv), dxr + j)
            j += 16
        }
        while j < dim {
            let xh = (xr[j] - m) * rs
            dxr[j] += rs * (dyr[j] * gamma[j] - mg - xh * mgx)
            j += 1
        }
    }
}
