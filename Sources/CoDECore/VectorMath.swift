// Vectorised element-wise math for the hot paths (softmax, GELU). 8 lanes of Float per step;
// the compiler maps SIMD8<Float> onto AVX registers in release builds.

public typealias Float8 = SIMD8<Float>

public enum VectorMath {
    /// e^x for 8 lanes. Range reduction x = n ln2 + r (|r| <= ln2/2, ln2 split hi/lo), degree-6
    /// Taylor polynomial for e^r (truncation error < 1.3e-7 relative), 2^n built from the exponent
    /// bits. Inputs are clamped to [-87.3, 88.7], so results stay finite and normal.
    ///
    /// Rounding uses the 1.5 * 2^23 trick (adding it leaves round-to-nearest(n) in the low mantissa
    /// bits), so everything is plain vector arithmetic: Swift's generic `rounded()` and
    /// float-to-int conversions on SIMD types run lane by lane.
    @inlinable @inline(__always)
    public static func exp(_ x: Float8) -> Float8 {
        var x = x
        x.replace(with: -87.3, where: x .< -87.3)
        x.replace(with: 88.7, where: x .> 88.7)
        let magic: Float = 12_582_912  // 1.5 * 2^23
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p = Float8(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // Low bits of t hold n + 2^22 (two's complement within the mantissa).
        let nBits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(Float8(repeating: magic), to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: Float8.self)
        return p * scale
    }

    /// erf(x) for 8 lanes: Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 absolute.
    @inlinable @inline(__always)
    public static func erf(_ x: Float8) -> Float8 { erfWithGaussian(x).erf }

    /// erf(x) and the `exp(-x^2)` its approximation computes on the way (A&S 7.1.26:
    /// `erf |x| = 1 - t P(t) exp(-x^2)`, `t = 1 / (1 + 0.3275911 |x|)`).
    @inlinable @inline(__always)
    public static func erfWithGaussian(_ x: Float8) -> (erf: Float8, gaussian: Float8) {
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let a = unsafeBitCast(bits & 0x7FFF_FFFF, to: Float8.self)
        let t = 1 / (1 + 0.327_591_1 * a)
        var p = Float8(repeating: 1.061_405_429)
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        p = p * t
        let e = exp(-(a * a))
        let y = 1 - p * e
        // copysign: erf is odd.
        return (unsafeBitCast(unsafeBitCast(y, to: SIMD8<UInt32>.self) | (bits & 0x8000_0000), to: Float8.self), e)
    }

    /// Exact (erf) GELU: 0.5 x (1 + erf(x / sqrt 2)).
    @inlinable @inline(__always)
    public static func gelu(_ x: Float8) -> Float8 {
        0.5 * x * (1 + erf(x * 0.707_106_781_186_547_5))
    }

    /// d GELU / dx = 0.5 (1 + erf(x / sqrt 2)) + x * exp(-x^2 / 2) / sqrt(2 pi).
    @inlinable @inline(__always)
    public static func geluDerivative(_ x: Float8) -> Float8 {
        0.5 * (1 + erf(x * 0.707_106_781_186_547_5)) + x * exp(-0.5 * x * x) * 0.398_942_280_401_432_7
    }

    /// GELU and its derivative together: the erf approximation and the Gaussian density share
    /// one `exp(-x^2 / 2)`, so both cost about as much as one. Same arithmetic as ``gelu(_:)`` and
    /// ``geluDerivative(_:)``.
    @inlinable @inline(__always)
    public static func geluWithDerivative(_ x: Float8) -> (value: Float8, derivative: Float8) {
        // exp(-(x / sqrt 2)^2) = exp(-x^2 / 2): the Gaussian density's exponential.
        let (erfz, e) = erfWithGaussian(x * 0.707_106_781_186_547_5)
        let cdf = 0.5 * (1 + erfz)
        return (x * cdf, cdf + x * e * 0.398_942_280_401_432_7)
    }

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> Float8 {
        UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
    }

    @inlinable @inline(__always) public static func store(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
    }

    /// Applies an 8-lane function to `n` floats from `src` into `dst` (which may alias `src`);
    /// the tail is padded into a temporary vector.
    @inlinable @inline(__always)
    public static func map(_ n: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ f: (Float8) -> Float8) {
        var i = 0
        while i + 8 <= n {
            store(f(load(src + i)), dst + i)
            i += 8
        }
        if i < n {
            var v = Float8(repeating: 0)
            for j in 0..<(n - i) { v[j] = src[i + j] }
            let r = f(v)
            for j in 0..<(n - i) { dst[i + j] = r[j] }
        }
    }

    /// Scalar e^x through the vector kernel (for tails and tests).
    public static func exp(_ x: Float) -> Float { exp(Float8(repeating: x))[0] }
    /// Scalar erf through the vector kernel.
    public static func erf(_ x: Float) -> Float { erf(Float8(repeating: x))[0] }

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
        let v8 = n & ~7
        for r in 0..<rows {
            let row = s + r * ld
            var mv = Float8(repeating: -.infinity)
            var j = 0
            while j < v8 {
                // Compare-and-select: the generic pointwiseMax runs lane by lane.
                let v = load(row + j)
                mv.replace(with: v, where: v .> mv)
                j += 8
            }
            var m = mv.max()
            while j < n { m = max(m, row[j]); j += 1 }
            var acc = Float8(repeating: 0)
            let mb = Float8(repeating: m)
            j = 0
            while j < v8 {
                let e = exp(load(row + j) - mb)
                store(e, row + j)
                acc += e
                j += 8
            }
            var sum = acc.sum()
            while j < n {
                let e = exp(Float8(repeating: row[j] - m))[0]
                row[j] = e
                sum += e
                j += 1
            }
            let inv = 1 / sum
            if let inverseSums { inverseSums[r] = inv; continue }
            let iv = Float8(repeating: inv)
            j = 0
            while j < v8 { store(load(row + j) * iv, row + j); j += 8 }
            while j < n { row[j] *= inv; j += 1 }
        }
    }
}
