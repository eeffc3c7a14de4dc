import CoDECore

/// Fully connected layer against a PyTorch-layout weight: `y = x W^T + b`.
/// Shapes: `x` `[rows, inF]`, `W` `[outF, inF]`, `b` `[outF]`, `y` `[rows, outF]` (row strides as given).
enum Linear {
    /// What to apply to each block of outputs right after its GEMM, while it is still in cache.
    enum Epilogue {
        case none
        /// `y = gelu(y)`.
        case gelu
        /// `y = gelu(y)` and `derivative = gelu'(y before)` (training keeps both: the output feeds
        /// fc2's weight gradient, the derivative the GELU backward, so backward needs no erf).
        case geluWithDerivative(into: UnsafeMutablePointer<Float>)
    }

    /// Rows per block: one block per thread. Smaller blocks keep each block's output in L2 for the
    /// bias and GELU passes but re-pack the weights per sgemm call; with the paired benchmark
    /// protocol (docs/performance.md) 384-row blocks measured the same as one block per thread
    /// (78.3% vs 78.1% of the sgemm-bound ceiling at batch 32, six alternating runs each).
    static let blockRows = 1 << 30

    /// `y = x W^T + b`, or `y += x W^T + b` when `accumulate` (residual connections), or
    /// `y = residual + x W^T + b` with a separate `residual` (training keeps both streams), then
    /// the epilogue. Blocks of rows are spread over the threads, one single-threaded sgemm each;
    /// each block's rows are first set to `residual + b` in one vectorised pass, and the GEMM
    /// accumulates onto them.
    static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        _ y: UnsafeMutablePointer<Float>, rows: Int, inF: Int, outF: Int, accumulate: Bool = false,
        residual: UnsafePointer<Float>? = nil, epilogue: Epilogue = .none
    ) {
        let res: UnsafePointer<Float>? = residual ?? (accumulate ? UnsafePointer(y) : nil)
        // At most blockRows rows per block, and a multiple of the thread count so every thread
        // gets the same number of equal blocks.
        let threads = min(Threading.count, rows)
        let blocks = (((rows + blockRows - 1) / blockRows + threads - 1) / threads) * threads
        Threading.parallelFor(blocks) { blk in
            let r0 = rows * blk / blocks, r1 = rows * (blk + 1) / blocks
            let yb = y + r0 * outF
            for r in 0..<(r1 - r0) {
                initializeRow(yb + r * outF, residual: res.map { $0 + (r0 + r) * outF }, bias: bias, count: outF)
            }
            BLAS.sgemm(transA: false, transB: true, m: r1 - r0, n: outF, k: inF, alpha: 1,
                       a: x + r0 * inF, lda: inF, b: weight, ldb: inF, beta: 1, c: yb, ldc: outF)
            let n = (r1 - r0) * outF
            switch epilogue {
            case .none: break
            case .gelu: VectorMath.gelu(n, yb, yb)
            case let .geluWithDerivative(dst): GELU.forwardWithDerivative(yb, derivative: dst + r0 * outF, count: n)
            }
        }
    }

    /// `y = residual + b` (either may be absent; `residual` may be `y` itself).
    @inline(__always)
    static func initializeRow(_ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, count n: Int) {
        switch (residual, bias) {
        case (nil, nil): y.update(repeating: 0, count: n)
        case let (nil, b?): y.update(from: b, count: n)
        case let (r?, nil): if r != UnsafePointer(y) { y.update(from: r, count: n) }
        case let (r?, b?):
            var j = 0
            while j + 8 <= n { VectorMath.store(VectorMath.load(r + j) + VectorMath.load(b + j), y + j); j += 8 }
            while j < n { y[j] = r[j] + b[j]; j += 1 }
        }
    }

    /// Backward: `dW += dy^T x`, `db += Σ_rows dy`, and `dx = dy W + dxBeta * dx` (`dxBeta` 1
    /// accumulates, 0 overwrites). `dx` may be nil (first layer).
    static func backward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, dxBeta: Float = 1, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
        rows: Int, inF: Int, outF: Int
    ) {
        if let dx { BLAS.matmul(dy, weight, dx, m: rows, n: inF, k: outF, beta: dxBeta) }
        weightGradient(dy, x, dweight: dweight, dbias: dbias, rows: rows, inF: inF, outF: outF)
    }

    /// `dW += dy^T x` and `db += Σ_rows dy`, split over the rows (the GEMM's K): each thread
    /// multiplies its own rows into a private `[outF, inF]` partial (the first thread straight
    /// into `dW`), so no thread packs the other's operands; the partials are then added.
    static func weightGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                               dbias: UnsafeMutablePointer<Float>?, rows: Int, inF: Int, outF: Int) {
        let parts = min(Threading.count, rows / 256)
        guard parts > 1 else {
            BLAS.matmul(dy, x, dweight, m: outF, n: inF, k: rows, beta: 1, transA: true)
            if let dbias { Reductions.addColumnSums(dy, rows: rows, cols: outF, ld: outF, into: dbias) }
            return
        }
        let size = outF * inF
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: (parts - 1) * size)
        defer { partial.deallocate() }
        Threading.parallelFor(parts) { p in
            let r0 = rows * p / parts, r1 = rows * (p + 1) / parts
            BLAS.sgemm(transA: true, transB: false, m: outF, n: inF, k: r1 - r0, alpha: 1,
                       a: dy + r0 * outF, lda: outF, b: x + r0 * inF, ldb: inF,
                       beta: p == 0 ? 1 : 0, c: p == 0 ? dweight : partial + (p - 1) * size, ldc: inF)
        }
        Threading.parallelRanges(size, minChunk: 4096) { r in
            for p in 0..<(parts - 1) {
                let src = partial + p * size
                var i = r.lowerBound
                while i + 8 <= r.upperBound {
                    VectorMath.store(VectorMath.load(dweight + i) + VectorMath.load(src + i), dweight + i)
                    i += 8
                }
                while i < r.upperBound { dweight[i] += src[i]; i += 1 }
            }
        }
        if let dbias { Reductions.addColumnSums(dy, rows: rows, cols: outF, ld: outF, into: dbias) }
    }
}

/// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, element-wise.
enum GELU {
    /// `y = gelu(x)` over `n` floats (`y` may alias `x`).
    static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        Threading.parallelRanges(n, minChunk: 4096) { r in
            VectorMath.gelu(r.count, x + r.lowerBound, y + r.lowerBound)
        }
    }

    /// In place `x ← gelu(x)`, and `derivative ← gelu'(x)` from the value before (single-threaded;
    /// the caller parallelises).
    static func forwardWithDerivative(_ x: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>, count n: Int) {
        VectorMath.geluWithDerivative(n, x, derivative: derivative)
    }

    /// `dx = dy * derivative` for `rows` rows of `cols` (`dx` may alias `dy`), and `bias += Σ_rows dx`:
    /// the GELU backward and the preceding layer's bias gradient (fc1's) in one pass over the rows,
    /// instead of a second pass that reads `dx` again.
    static func backward(_ dy: UnsafePointer<Float>, derivative: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                         rows: Int, cols: Int, biasGradient: UnsafeMutablePointer<Float>) {
        let parts = max(1, min(Threading.count, rows / 64))
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: parts * cols)
        partial.initialize(repeating: 0, count: parts * cols)
        defer { partial.deallocate() }
        Threading.parallelFor(parts) { p in
            let r0 = rows * p / parts, r1 = rows * (p + 1) / parts
            VectorMath.geluBackwardRows(dy + r0 * cols, derivative: derivative + r0 * cols, dx: dx + r0 * cols,
                                        rows: r1 - r0, cols: cols, accumulating: partial + p * cols)
        }
        for p in 0..<parts {
            let acc = partial + p * cols
            for j in 0..<cols { biasGradient[j] += acc[j] }
        }
    }
}
