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

    /// One row: two-pass mean and variance with 8-lane partial sums, then the affine map.
    @inline(__always)
    static func forwardRow(_ xr: UnsafePointer<Float>, _ yr: UnsafeMutablePointer<Float>,
                           gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, dim: Int, eps: Float) -> (Float, Float) {
        let v8 = dim & ~7
        var acc = Float8(repeating: 0)
        var j = 0
        while j < v8 { acc += VectorMath.load(xr + j); j += 8 }
        var s = acc.sum()
        while j < dim { s += xr[j]; j += 1 }
        let m = s / Float(dim)
        let mv = Float8(repeating: m)
        acc = Float8(repeating: 0)
        j = 0
        while j < v8 { let d = VectorMath.load(xr + j) - mv; acc += d * d; j += 8 }
        var v = acc.sum()
        while j < dim { let d = xr[j] - m; v += d * d; j += 1 }
        let rs = 1 / (v / Float(dim) + eps).squareRoot()
        let rv = Float8(repeating: rs)
        j = 0
        while j < v8 {
            VectorMath.store((VectorMath.load(xr + j) - mv) * rv * VectorMath.load(gamma + j) + VectorMath.load(beta + j), yr + j)
            j += 8
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

    /// One row of ``backward``: 8 lanes at a time, scalar tail.
    @inline(__always)
    static func backwardRow(_ dyr: UnsafePointer<Float>, _ xr: UnsafePointer<Float>, mean m: Float, rstd rs: Float,
                            gamma: UnsafePointer<Float>, dx dxr: UnsafeMutablePointer<Float>,
                            dgamma dg: UnsafeMutablePointer<Float>, dbeta db: UnsafeMutablePointer<Float>, dim: Int) {
        let v8 = dim & ~7
        let mv = Float8(repeating: m), rv = Float8(repeating: rs)
        var sG = Float8(repeating: 0), sGX = Float8(repeating: 0)
        var j = 0
        while j < v8 {
            let xh = (VectorMath.load(xr + j) - mv) * rv
            let d = VectorMath.load(dyr + j)
            let g = d * VectorMath.load(gamma + j)
            sG += g
            sGX += g * xh
            VectorMath.store(VectorMath.load(dg + j) + d * xh, dg + j)
            VectorMath.store(VectorMath.load(db + j) + d, db + j)
            j += 8
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
        let mgv = Float8(repeating: mg), mgxv = Float8(repeating: mgx)
        j = 0
        while j < v8 {
            let xh = (VectorMath.load(xr + j) - mv) * rv
            let g = VectorMath.load(dyr + j) * VectorMath.load(gamma + j)
            VectorMath.store(VectorMath.load(dxr + j) + rv * (g - mgv - xh * mgxv), dxr + j)
            j += 8
        }
        while j < dim {
            let xh = (xr[j] - m) * rs
            dxr[j] += rs * (dyr[j] * gamma[j] - mg - xh * mgx)
            j += 1
        }
    }
}
