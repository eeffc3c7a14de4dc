import CoDECore

/// Fully connected layer against a PyTorch-layout weight: `y = x W^T + b`.
/// Shapes: `x` `[rows, inF]`, `W` `[outF, inF]`, `b` `[outF]`, `y` `[rows, outF]` (row strides as given).
enum Linear {
    /// `y = x W^T + b`, or `y += x W^T + b` when `accumulate` (residual connections).
    static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        _ y: UnsafeMutablePointer<Float>, rows: Int, inF: Int, outF: Int, accumulate: Bool = false
    ) {
        Threading.parallelRanges(rows, minChunk: 64) { range in
            for r in range {
                let yr = y + r * outF
                switch (accumulate, bias) {
                case (false, nil): yr.update(repeating: 0, count: outF)
                case (false, let b?): yr.update(from: b, count: outF)
                case (true, let b?): for j in 0..<outF { yr[j] += b[j] }
                case (true, nil): break
                }
            }
        }
        BLAS.matmul(x, weight, y, m: rows, n: outF, k: inF, beta: 1, transB: true)
    }

    /// Backward; accumulates `dx += dy W`, `dW += dy^T x`, `db += Σ_rows dy`. `dx` may be nil
    /// (first layer).
    static func backward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
        rows: Int, inF: Int, outF: Int
    ) {
        if let dx { BLAS.matmul(dy, weight, dx, m: rows, n: inF, k: outF, beta: 1) }
        BLAS.matmul(dy, x, dweight, m: outF, n: inF, k: rows, beta: 1, transA: true)
        if let dbias { Reductions.addColumnSums(dy, rows: rows, cols: outF, ld: outF, into: dbias) }
    }
}

/// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, element-wise.
enum GELU {
    /// `y = gelu(x)` over `n` floats (`y` may alias `x`).
    static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        Threading.parallelRanges(n, minChunk: 4096) { r in
            VectorMath.map(r.count, x + r.lowerBound, y + r.lowerBound, VectorMath.gelu)
        }
    }

    /// `dx = dy * gelu'(x)` (overwrites `dx`, which may alias `dy`); `x` is the stored pre-activation.
    static func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count n: Int) {
        Threading.parallelRanges(n, minChunk: 4096) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let g = VectorMath.geluDerivative(UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self))
                let d = UnsafeRawPointer(dy + i).loadUnaligned(as: Float8.self)
                UnsafeMutableRawPointer(dx + i).storeBytes(of: g * d, as: Float8.self)
                i += 8
            }
            while i < r.upperBound {
                dx[i] = dy[i] * VectorMath.geluDerivative(Float8(repeating: x[i]))[0]
                i += 1
            }
        }
    }
}
