// Vectorised element-wise math for the hot paths. The transcendental kernels (exp, erf, GELU,
// softmax) and LayerNorm run on 16 lanes (`FloatV`); the memory-bound passes (bias rows,
// reductions, sums) on 8 (`Float8`). The compiler maps SIMD types onto vector registers in
// release builds.

public typealias Float8 = SIMD8<Float>
/// The transcendental kernels' vector: 16 lanes, one AVX-512 register (`-target-cpu native` on
/// this project's machines), where `addingProduct` becomes a fused multiply-add.
public typealias FloatV = SIMD16<Float>

public enum VectorMath {
    /// e^x for 16 lanes. Range reduction x = n ln2 + r (|r| <= ln2/2, ln2 split hi/lo as Cody and
    /// Waite do), then `e^r = 1 + r + r^2 P(r)` with Cephes' degree-5 `expf` polynomial (error
    /// about 1 ulp), 2^n built from the exponent bits. Inputs are clamped to [-87.3, 88.7], so
    /// results stay finite and normal.
    ///
    /// Rounding uses the 1.5 * 2^23 trick (adding it leaves round-to-nearest(n) in the low mantissa
    /// bits), so everything is plain vector arithmetic: Swift's generic `rounded()` and
    /// float-to-int conversions on SIMD types run lane by lane.
    @inlinable @inline(__always)
    public static func exp(_ x: FloatV) -> FloatV {
        var x = x
        x.replace(with: -87.3, where: x .< -87.3)
        x.replace(with: 88.7, where: x .> 88.7)
        let magic: Float = 12_582_912  // 1.5 * 2^23
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        let r = x.addingProduct(n, FloatV(repeating: -0.693_359_375)).addingProduct(n, FloatV(repeating: 2.121_944_4e-4))
        var p = FloatV(repeating: 1.987_569_15e-4)
        p = FloatV(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
        p = FloatV(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
        p = FloatV(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
        p = FloatV(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
        p = FloatV(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
        let e = (r + 1).addingProduct(r * r, p)
        // Low bits of t hold n + 2^22 (two's complement within the mantissa).
        let nBits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(FloatV(repeating: magic), to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: FloatV.self)
        return e * scale
    }

    /// erf(x) for 16 lanes: Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 absolute.
    @inlinable @inline(__always)
    public static func erf(_ x: FloatV) -> FloatV { erfWithGaussian(x).erf }

    /// erf(x) and the `exp(-x^2)` its approximation computes on the way (A&S 7.1.26:
    /// `erf |x| = 1 - t P(t) exp(-x^2)`, `t = 1 / (1 + 0.3275911 |x|)`).
    @inlinable @inline(__always)
    public static func erfWithGaussian(_ x: FloatV) -> (erf: FloatV, gaussian: FloatV) {
        let bits = unsafeBitCast(x, to: SIMD16<UInt32>.self)
        let a = unsafeBitCast(bits & 0x7FFF_FFFF, to: FloatV.self)
        let t = 1 / FloatV(repeating: 1).addingProduct(a, FloatV(repeating: 0.327_591_1))
        var p = FloatV(repeating: 1.061_405_429)
        p = FloatV(repeating: -1.453_152_027).addingProduct(p, t)
        p = FloatV(repeating: 1.421_413_741).addingProduct(p, t)
        p = FloatV(repeating: -0.284_496_736).addingProduct(p, t)
        p = FloatV(repeating: 0.254_829_592).addingProduct(p, t)
        p = p * t
        let e = exp(-(a * a))
        let y = FloatV(repeating: 1).addingProduct(-p, e)
        // copysign: erf is odd.
        return (unsafeBitCast(unsafeBitCast(y, to: SIMD16<UInt32>.self) | (bits & 0x8000_0000), to: FloatV.self), e)
    }

    /// Exact (erf) GELU: 0.5 x (1 + erf(x / sqrt 2)).
    @inlinable @inline(__always)
    public static func gelu(_ x: FloatV) -> FloatV {
        geluWithDerivative(x).value
    }

    /// d GELU / dx = 0.5 (1 + erf(x / sqrt 2)) + x * exp(-x^2 / 2) / sqrt(2 pi).
    @inlinable @inline(__always)
    public static func geluDerivative(_ x: FloatV) -> FloatV {
        geluWithDerivative(x).derivative
    }

    /// GELU and its derivative together: the erf approximation and the Gaussian density share
    /// one `exp(-x^2 / 2)`, so both cost about as much as one.
    @inlinable @inline(__always)
    public static func geluWithDerivative(_ x: FloatV) -> (value: FloatV, derivative: FloatV) {
        // exp(-(x / sqrt 2)^2) = exp(-x^2 / 2): the Gaussian density's exponential.
        let (erfz, e) = erfWithGaussian(x * 0.707_106_781_186_547_5)
        let cdf = 0.5 * (1 + erfz)
        return (x * cdf, cdf.addingProduct(x * e, FloatV(repeating: 0.398_942_280_401_432_7)))
    }

    @inlinable @inline(__always) public static func loadV(_ p: UnsafePointer<Float>) -> FloatV {
        UnsafeRawPointer(p).loadUnaligned(as: FloatV.self)
    }

    @inlinable @inline(__always) public static func storeV(_ v: FloatV, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatV.self)
    }

    /// The first `n` (< 16) floats at `p` in a vector, the other lanes `fill`.
    @inlinable @inline(__always) public static func loadPartial(_ p: UnsafePointer<Float>, _ n: Int, fill: Float = 0) -> FloatV {
        var v = FloatV(repeating: fill)
        for j in 0..<n { v[j] = p[j] }
        return v
    }

    /// Stores the first `n` (< 16) lanes of `v` at `p`.
    @inlinable @inline(__always) public static func storePartial(_ v: FloatV, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for j in 0..<n { p[j] = v[j] }
    }

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> Float8 {
        UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
    }

    @inlinable @inline(__always) public static func store(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
    }

    /// `dst[i] = gelu(src[i])` for `n` floats (`dst` may alias `src`), 16 lanes at a time and the
    /// tail padded into one more vector. (A plain loop: passed as a closure to a generic `map`,
    /// the 16-lane kernel compiled to a much slower loop.)
    public static func gelu(_ n: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 16 <= n {
            storeV(gelu(loadV(src + i)), dst + i)
            i += 16
        }
        if i < n { storePartial(gelu(loadPartial(src + i, n - i)), dst + i, n - i) }
    }

    /// Scalar e^x through the vector kernel (for tests).
    public static func exp(_ x: Float) -> Float { exp(FloatV(repeating: x))[0] }
    /// Scalar erf through the vector kernel.
    public static func erf(_ x: Float) -> Float { erf(FloatV(repeating: x))[0] }
    /// Scalar GELU through the vector kernel.
    public static func gelu(_ x: Float) -> Float { gelu(FloatV(repeating: x))[0] }
    /// Scalar GELU derivative through the vector kernel.
    public static func geluDerivative(_ x: Float) -> Float { geluDerivative(FloatV(repeating: x))[0] }

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
        let full = n & ~15, tail = n - full
        for r in 0..<rows {
            let row = s + r * ld
            var mv = FloatV(repeating: -.infinity)
            var j = 0
            while j < full {
                // Compare-and-select: the generic pointwiseMax runs lane by lane.
                let v = loadV(row + j)
                mv.replace(with: v, where: v .> mv)
                j += 16
            }
            if tail > 0 {
                let v = loadPartial(row + full, tail, fill: -.infinity)
                mv.replace(with: v, where: v .> mv)
            }
            let mb = FloatV(repeating: mv.max())
            var acc = FloatV(repeating: 0)
            j = 0
            while j < full {
                let e = exp(loadV(row + j) - mb)
                storeV(e, row + j)
                acc += e
                j += 16
            }
            var sum = acc.sum()
            if tail > 0 {
                let e = exp(loadPartial(row + full, tail) - mb)
                storePartial(e, row + full, tail)
                for k in 0..<tail { sum += e[k] }
            }
            let inv = 1 / sum
            if let inverseSums { inverseSums[r] = inv; continue }
            let iv = FloatV(repeating: inv)
            j = 0
            while j < full { storeV(loadV(row + j) * iv, row + j); j += 16 }
            for k in full..<n { row[k] *= inv }
        }
    }
}
