// Element-wise math for the hot paths. The transcendental kernels (exp, erf, GELU, softmax) and
// the LayerNorm and GELU/softmax backward rows run in C (`CKernels`), compiled there for AVX-512,
// AVX2+FMA and baseline x86-64 and dispatched once at run time on the CPU's features, so a plain
// `swift build -c release` (which compiles Swift for baseline x86-64) runs them at full speed.
// The memory-bound passes (bias rows, reductions, sums) stay in Swift on 8 lanes (`Float8`).
import CKernels

public typealias Float8 = SIMD8<Float>

public enum VectorMath {
    /// The instruction-set variant the C kernels dispatch to on this CPU: "avx512", "avx2-fma",
    /// "sse2" (baseline x86-64) or "portable" (other architectures). The environment variable
    /// `CODEKIT_KERNELS` selects another variant this CPU supports (for benchmarks and tests); an
    /// unknown or unsupported name is reported on standard error and the best variant used.
    public static var kernelVariant: String { String(cString: ck_variant()) }

    /// Switches the C kernels to `variant` (a name as ``kernelVariant`` spells it) for the rest of
    /// the process; false when the name is unknown or this CPU cannot run it.
    @discardableResult
    public static func selectKernelVariant(_ variant: String) -> Bool { ck_select_variant(variant) == 0 }

    /// Every variant compiled into this binary, best first, and whether this CPU can run it.
    public static var kernelVariants: [(name: String, supported: Bool)] {
        var out: [(String, Bool)] = []
        var i: Int32 = 0, ok: Int32 = 0
        while let name = ck_variant_at(i, &ok) { out.append((String(cString: name), ok != 0)); i += 1 }
        return out
    }

    /// The kernels of one variant, bypassing the dispatcher (tests compare every variant with a
    /// reference); nil when the name is unknown or this CPU cannot run it.
    public static func kernels(variant: String) -> UnsafePointer<ck_kernels>? { ck_kernels_for(variant) }

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> Float8 {
        UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
    }

    @inlinable @inline(__always) public static func store(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
    }

    /// `dst[i] = gelu(src[i])` (exact, erf-based GELU; A&S 7.1.26 erf, |error| <= 1.5e-7) for
    /// `n` floats; `dst` may alias `src`.
    @inline(__always)
    public static func gelu(_ n: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        ck_gelu(n, src, dst)
    }

    /// In place `x[i] <- gelu(x[i])` and `derivative[i] <- gelu'(x[i])` (from the value before),
    /// sharing one `exp(-x^2 / 2)`; the same floats as ``gelu(_:_:_:)`` and ``geluDerivative(_:)``.
    @inline(__always)
    public static func geluWithDerivative(_ n: Int, _ x: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>) {
        ck_gelu_with_derivative(n, x, derivative)
    }

    /// `dx = dy * derivative` over `rows` contiguous rows of `cols` (`dx` may alias `dy`) and
    /// `acc[j] += Σ_rows dx[r, j]` (the GELU backward with the preceding bias gradient).
    @inline(__always)
    public static func geluBackwardRows(_ dy: UnsafePointer<Float>, derivative: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                        rows: Int, cols: Int, accumulating acc: UnsafeMutablePointer<Float>) {
        ck_gelu_backward_rows(dy, derivative, dx, rows, cols, acc)
    }

    /// e^x: Cody-Waite range reduction, Cephes' degree-5 `expf` polynomial (about 1 ulp), inputs
    /// clamped to [-87.3, 88.7] so results stay finite and normal.
    public static func exp(_ x: Float) -> Float { scalar(x, ck_exp) }
    /// erf(x): Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 absolute.
    public static func erf(_ x: Float) -> Float { scalar(x, ck_erf) }
    /// Exact (erf) GELU: 0.5 x (1 + erf(x / sqrt 2)), through the array kernel.
    public static func gelu(_ x: Float) -> Float { scalar(x, ck_gelu) }
    /// d GELU / dx = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi), through the array kernel.
    public static func geluDerivative(_ x: Float) -> Float { scalar(x, ck_gelu_derivative) }

    @inline(__always)
    static func scalar(_ x: Float, _ kernel: (Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void) -> Float {
        var x = x, y: Float = 0
        kernel(1, &x, &y)
        return y
    }

    /// In-place numerically stable softmax of each of `rows` rows of length `n` (row stride `ld`):
    /// `p_j = exp(s_j - max s) / Σ exp(s_k - max s)`, the sum accumulated in Float lanes.
    @inline(__always)
    public static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, n: Int, ld: Int) {
        expRows(s, rows: rows, n: n, ld: ld, inverseSums: nil)
    }

    /// The unnormalised half of ``softmaxRows(_:rows:n:ld:)``: `s_j ← exp(s_j - max s)`; writes
    /// `1 / Σ_j exp(s_j - max s)` per row into `inverseSums` and leaves the rows unnormalised
    /// (when `inverseSums` is nil, the rows are normalised in place instead). Attention at
    /// inference scales its `[T, hd]` output rows rather than the `[T, T]` probabilities.
    public static func expRows(_ s: UnsafeMutablePointer<Float>, rows: Int, n: Int, ld: Int, inverseSums: UnsafeMutablePointer<Float>?) {
        ck_exp_rows(s, rows, n, ld, inverseSums)
    }

    /// `d ← p ⊙ (d - Σ_j p_j d_j) * scale` per row of `n` (contiguous rows): the softmax backward.
    @inline(__always)
    public static func softmaxBackwardRows(_ p: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, rows: Int, n: Int, scale: Float) {
        ck_softmax_backward_rows(p, d, rows, n, scale)
    }

    /// LayerNorm forward over `rows` contiguous rows of `dim`: two-pass mean and biased variance
    /// (16-lane partial sums), `y = (x - mean) * rstd * gamma + beta`, `rstd = 1 / sqrt(var + eps)`;
    /// `mean` and `rstd` per row are written when given.
    @inline(__always)
    public static func layerNormForwardRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                            gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                            mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?,
                                            rows: Int, dim: Int, eps: Float) {
        ck_layernorm_forward_rows(x, y, gamma, beta, mean, rstd, rows, dim, eps)
    }

    /// LayerNorm backward over `rows` contiguous rows of `dim`, accumulating: `dx += rstd * (g -
    /// mean(g) - xhat * mean(g * xhat))` with `g = dy * gamma`, `dgamma += dy * xhat`, `dbeta += dy`.
    @inline(__always)
    public static func layerNormBackwardRows(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                             mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                                             dx: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>,
                                             dbeta: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
        ck_layernorm_backward_rows(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, dim)
    }
}
