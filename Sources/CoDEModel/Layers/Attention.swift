import CoDECore

/// Multi-head self-attention core on a fused qkv matrix (after the qkv projection, before the
/// output projection): per image b and head h,
/// `P = softmax(Q K^T / sqrt(hd))`, `O = P V`, with Q, K, V read in place from the qkv rows
/// (columns `h*hd`, `D + h*hd`, `2D + h*hd`, row stride 3D) and O written into `out` at column
/// `h*hd` (row stride D). Shapes: `qkv` `[B*T, 3D]`, `out` `[B*T, D]`, `probs` `[B, H, T, T]`.
enum Attention {
    /// Forward. With `probs` the attention probabilities are kept for backward; without, each
    /// thread reuses a `[T, T]` scratch (inference keeps nothing).
    static func forward(
        qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>?,
        batch B: Int, tokens T: Int, width D: Int, heads H: Int
    ) {
        let hd = D / H, ld = 3 * D
        let scale = 1 / Float(hd).squareRoot()
        // Split query rows when there are fewer (image, head) pairs than 2x the threads, so small
        // batches still use every core.
        let chunks = max(1, min(T / 16, (2 * Threading.count + B * H - 1) / (B * H)))
        let tasks = B * H * chunks
        let parts = min(Threading.count, tasks)
        let scratch = probs == nil ? UnsafeMutablePointer<Float>.allocate(capacity: parts * (T * T + T)) : nil
        defer { scratch?.deallocate() }
        Threading.parallelFor(parts) { p in
            for task in (tasks * p / parts)..<(tasks * (p + 1) / parts) {
                let bh = task / chunks, c = task % chunks
                let b = bh / H, h = bh % H
                let r0 = T * c / chunks, r1 = T * (c + 1) / chunks
                let base = qkv + b * T * ld + h * hd
                let s = probs.map { $0 + (bh * T + r0) * T } ?? scratch! + p * (T * T + T)
                // Inference: unnormalised exponentials, output rows scaled by 1/Σ afterwards.
                let inv: UnsafeMutablePointer<Float>? = probs == nil ? s + T * T : nil
                BLAS.sgemm(transA: false, transB: true, m: r1 - r0, n: T, k: hd, alpha: scale,
                           a: base + r0 * ld, lda: ld, b: base + D, ldb: ld, beta: 0, c: s, ldc: T)
                VectorMath.expRows(s, rows: r1 - r0, n: T, ld: T, inverseSums: inv)
                let o = out + (b * T + r0) * D + h * hd
                BLAS.sgemm(transA: false, transB: false, m: r1 - r0, n: hd, k: T, alpha: 1,
                           a: s, lda: T, b: base + 2 * D, ldb: ld, beta: 0, c: o, ldc: D)
                if let inv {
                    for i in 0..<(r1 - r0) {
                        let row = o + i * D, f = inv[i]
                        for j in 0..<hd { row[j] *= f }
                    }
                }
            }
        }
    }

    /// Attention for the first (CLS) query of each image only: `o_b = softmax(q_b K_b^T / sqrt(hd)) V_b`
    /// per head, from every token's keys and values in `qkv` `[B*T, 3D]`, into `out` `[B, D]`
    /// (row b is image b's CLS row). What the last block needs when only the CLS embedding is read.
    /// With `probs` (`[B, H, T]`) the probabilities are kept for ``backwardFirstQuery``.
    static func forwardFirstQuery(
        qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>? = nil,
        batch B: Int, tokens T: Int, width D: Int, heads H: Int
    ) {
        let hd = D / H, ld = 3 * D
        let scale = 1 / Float(hd).squareRoot()
        forEachHead(batch: B, heads: H, scratchCount: T) { task, scratch in
            let s = probs.map { $0 + task * T } ?? scratch
            let b = task / H, h = task % H
            let base = qkv + b * T * ld + h * hd
            BLAS.sgemm(transA: false, transB: true, m: 1, n: T, k: hd, alpha: scale,
                       a: base, lda: ld, b: base + D, ldb: ld, beta: 0, c: s, ldc: T)
            VectorMath.softmaxRows(s, rows: 1, n: T, ld: T)
            BLAS.sgemm(transA: false, transB: false, m: 1, n: hd, k: T, alpha: 1,
                       a: s, lda: T, b: base + 2 * D, ldb: ld, beta: 0, c: out + b * D + h * hd, ldc: D)
        }
    }

    /// Runs `body(task, scratch)` for every (image, head) pair, `task = b * H + h`, spread over
    /// the threads in contiguous runs; each thread's `scratch` holds `scratchCount` floats.
    static func forEachHead(batch B: Int, heads H: Int, scratchCount: Int,
                            _ body: (_ task: Int, _ scratch: UnsafeMutablePointer<Float>) -> Void) {
        let tasks = B * H
        let parts = min(Threading.count, tasks)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: parts * scratchCount)
        defer { scratch.deallocate() }
        Threading.parallelFor(parts) { p in
            for task in (tasks * p / parts)..<(tasks * (p + 1) / parts) { body(task, scratch + p * scratchCount) }
        }
    }

    /// Backward of ``forwardFirstQuery`` from `dout` `[B, D]` (the CLS rows' output gradient) and
    /// the kept `probs` `[B, H, T]`; overwrites `dqkv` `[B*T, 3D]` (every element written once):
    /// per image and head, `dp = V do`, `dV = p do^T` (outer product), `ds = p ⊙ (dp - p·dp) / sqrt(hd)`,
    /// `dq = K^T ds` on the CLS row and zero on the others, `dK = ds q^T`.
    static func backwardFirstQuery(
        dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        dqkv: UnsafeMutablePointer<Float>, batch B: Int, tokens T: Int, width D: Int, heads H: Int
    ) {
        let hd = D / H, ld = 3 * D
        let scale = 1 / Float(hd).squareRoot()
        forEachHead(batch: B, heads: H, scratchCount: T) { task, ds in
            let b = task / H, h = task % H
            let base = qkv + b * T * ld + h * hd
            let dbase = dqkv + b * T * ld + h * hd
            let dO = dout + b * D + h * hd
            let P = probs + task * T
            // dp = dO V^T (1 x T)
            BLAS.sgemm(transA: false, transB: true, m: 1, n: T, k: hd, alpha: 1,
                       a: dO, lda: hd, b: base + 2 * D, ldb: ld, beta: 0, c: ds, ldc: T)
            // dV = p^T dO (T x hd, rank one)
            BLAS.sgemm(transA: true, transB: false, m: T, n: hd, k: 1, alpha: 1,
                       a: P, lda: T, b: dO, ldb: hd, beta: 0, c: dbase + 2 * D, ldc: ld)
            softmaxBackwardRows(P, ds, rows: 1, n: T, scale: scale)
            // dq = ds K (1 x hd) on the CLS row; the other rows' queries reach nothing.
            BLAS.sgemm(transA: false, transB: false, m: 1, n: hd, k: T, alpha: 1,
                       a: ds, lda: T, b: base + D, ldb: ld, beta: 0, c: dbase, ldc: ld)
            for t in 1..<T { (dbase + t * ld).update(repeating: 0, count: hd) }
            // dK = ds^T q (T x hd, rank one)
            BLAS.sgemm(transA: true, transB: false, m: T, n: hd, k: 1, alpha: 1,
                       a: ds, lda: T, b: base, ldb: ld, beta: 0, c: dbase + D, ldc: ld)
        }
    }

    /// `d ← p ⊙ (d - Σ_j p_j d_j) * scale` per row (softmax backward, in the C kernels).
    @inline(__always)
    static func softmaxBackwardRows(_ P: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, rows: Int, n: Int, scale: Float) {
        VectorMath.softmaxBackwardRows(P, d, rows: rows, n: n, scale: scale)
    }

    /// Backward from the stored probabilities; overwrites `dqkv` `[B*T, 3D]` (every element is
    /// written exactly once): `dV = P^T dO`, `dP = dO V^T`,
    /// `dS = P ⊙ (dP - rowsum(P ⊙ dP)) / sqrt(hd)`, `dQ = dS K`, `dK = dS^T Q`.
    static func backward(
        dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        dqkv: UnsafeMutablePointer<Float>, batch B: Int, tokens T: Int, width D: Int, heads H: Int
    ) {
        let hd = D / H, ld = 3 * D
        let scale = 1 / Float(hd).squareRoot()
        forEachHead(batch: B, heads: H, scratchCount: T * T) { bh, dp in
            let b = bh / H, h = bh % H
            let base = qkv + b * T * ld + h * hd
            let dbase = dqkv + b * T * ld + h * hd
            let dO = dout + b * T * D + h * hd
            let P = probs + bh * T * T
            // dP = dO V^T
            BLAS.sgemm(transA: false, transB: true, m: T, n: T, k: hd, alpha: 1,
                       a: dO, lda: D, b: base + 2 * D, ldb: ld, beta: 0, c: dp, ldc: T)
            // dV = P^T dO
            BLAS.sgemm(transA: true, transB: false, m: T, n: hd, k: T, alpha: 1,
                       a: P, lda: T, b: dO, ldb: D, beta: 0, c: dbase + 2 * D, ldc: ld)
            // dS = P ⊙ (dP - rowsum(P ⊙ dP)) * scale, in place in dp
            softmaxBackwardRows(P, dp, rows: T, n: T, scale: scale)
            // dQ = dS K ; dK = dS^T Q
            BLAS.sgemm(transA: false, transB: false, m: T, n: hd, k: T, alpha: 1,
                       a: dp, lda: T, b: base + D, ldb: ld, beta: 0, c: dbase, ldc: ld)
            BLAS.sgemm(transA: true, transB: false, m: T, n: hd, k: T, alpha: 1,
                       a: dp, lda: T, b: base, ldb: ld, beta: 0, c: dbase + D, ldc: ld)
        }
    }
}
