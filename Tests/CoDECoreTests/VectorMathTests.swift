import CKernels
import CoDECore
import Foundation
import Testing

@Suite struct VectorMathTests {
    /// The polynomial exp against libm's over the softmax/GELU input range.
    /// Tolerance 4e-7 relative: Cephes' polynomial (about 1 ulp) plus a few Float roundings.
    @Test func expMatchesLibm() {
        var worst = 0.0
        for i in 0...20_000 {
            let x = -87.0 + Double(i) * (175.0 / 20_000)
            let got = Double(VectorMath.exp(Float(x)))
            let ref = Foundation.exp(Double(Float(x)))
            worst = max(worst, abs(got - ref) / ref)
        }
        #expect(worst < 4e-7, "worst relative error \(worst)")
    }

    /// erf within the A&S 7.1.26 bound (1.5e-7) plus Float rounding: 5e-7 absolute.
    @Test func erfMatchesLibm() {
        var worst = 0.0
        for i in 0...20_000 {
            let x = -6.0 + Double(i) * (12.0 / 20_000)
            worst = max(worst, abs(Double(VectorMath.erf(Float(x))) - Foundation.erf(Double(Float(x)))))
        }
        #expect(worst < 5e-7, "worst absolute error \(worst)")
    }

    /// GELU' against a central difference of GELU in Double.
    @Test func geluDerivativeMatchesDifference() {
        func gelu(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())) }
        for x in stride(from: -5.0, through: 5.0, by: 0.37) {
            let fd = (gelu(x + 1e-5) - gelu(x - 1e-5)) / 2e-5
            let got = Double(VectorMath.geluDerivative(Float(x)))
            #expect(abs(got - fd) < 2e-6, "x=\(x): \(got) vs \(fd)")
            let g = Double(VectorMath.gelu(Float(x)))
            #expect(abs(g - gelu(Double(Float(x)))) < 1e-6)
        }
    }

    @Test func softmaxRowsSumToOneAndMatchDirectFormula() {
        let n = 13
        var s = (0..<(2 * n)).map { Float($0 % 7) * 3.1 - 9 }
        let ref: [Double] = (0..<2).flatMap { r -> [Double] in
            let row = s[(r * n)..<(r * n + n)].map(Double.init)
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let z = e.reduce(0, +)
            return e.map { $0 / z }
        }
        s.withUnsafeMutableBufferPointer { VectorMath.softmaxRows($0.baseAddress!, rows: 2, n: n, ld: n) }
        for i in 0..<(2 * n) { #expect(abs(Double(s[i]) - ref[i]) < 1e-6) }
    }
}

/// Every instruction-set variant of the C kernels this CPU can run (AVX-512, AVX2+FMA, baseline
/// SSE2 without FMA on x86-64; one portable variant elsewhere), each called directly (not through
/// the dispatcher) and compared with a Double reference computed here. Tolerances: exp 4e-7
/// relative (Cephes' polynomial, about 1 ulp, plus a few Float roundings), erf 5e-7 absolute
/// (A&S 7.1.26's 1.5e-7 plus rounding), GELU 1e-6 and GELU' 2e-6 absolute (a central difference
/// of the Double GELU), the row kernels 2e-6 relative to the row's largest magnitude (Float
/// accumulation over at most 200 terms), AdamW 3e-7 of the magnitude of each update's terms (a
/// few Float roundings).
@Suite struct KernelVariantTests {
    static let variants = VectorMath.kernelVariants.filter(\.supported).map(\.name)

    @Test func dispatcherSelectsTheBestSupportedVariant() {
        let variants = VectorMath.kernelVariants
        #expect(!variants.isEmpty)
        #expect(variants.last?.supported == true, "the baseline variant always runs")
        // Unless CODEKIT_KERNELS selects another one, the first supported variant is selected.
        if ProcessInfo.processInfo.environment["CODEKIT_KERNELS"] == nil {
            #expect(VectorMath.kernelVariant == variants.first { $0.supported }?.name)
        }
        #expect(VectorMath.kernels(variant: "no-such-variant") == nil)
        #expect(!VectorMath.selectKernelVariant("no-such-variant"))
        #if arch(x86_64)
        #expect(variants.map(\.name) == ["avx512", "avx2-fma", "sse2"])
        #else
        #expect(variants.map(\.name) == ["portable"])
        #endif
    }

    /// Runs a C kernel on Swift arrays.
    static func run(_ n: Int, _ xs: [Float], _ f: (Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        xs.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { f(n, src.baseAddress, $0.baseAddress) } }
        return out
    }

    @Test(arguments: variants)
    func elementwiseMatchesDoubleReference(_ variant: String) throws {
        let k = try #require(VectorMath.kernels(variant: variant)).pointee
        // 20,001 points: not a multiple of 16, so the padded tail runs too.
        let expX = (0...20_000).map { Float(-87.0 + Double($0) * (175.0 / 20_000)) }
        let e = Self.run(expX.count, expX, k.exp)
        var worst = 0.0
        for (x, y) in zip(expX, e) { let r = Foundation.exp(Double(x)); worst = max(worst, abs(Double(y) - r) / r) }
        #expect(worst < 4e-7, "\(variant) exp worst relative error \(worst)")

        let erfX = (0...20_000).map { Float(-6.0 + Double($0) * (12.0 / 20_000)) }
        let erfY = Self.run(erfX.count, erfX, k.erf)
        worst = zip(erfX, erfY).map { abs(Double($1) - Foundation.erf(Double($0))) }.max()!
        #expect(worst < 5e-7, "\(variant) erf worst absolute error \(worst)")

        func gelu(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())) }
        let gx = stride(from: -5.0, through: 5.0, by: 0.037).map { Float($0) }
        let g = Self.run(gx.count, gx, k.gelu)
        let d = Self.run(gx.count, gx, k.gelu_derivative)
        var both = gx, both_d = [Float](repeating: 0, count: gx.count)
        both.withUnsafeMutableBufferPointer { x in both_d.withUnsafeMutableBufferPointer { k.gelu_with_derivative(gx.count, x.baseAddress, $0.baseAddress) } }
        for i in gx.indices {
            let x = Double(gx[i])
            let fd = (gelu(x + 1e-5) - gelu(x - 1e-5)) / 2e-5
            #expect(abs(Double(d[i]) - fd) < 2e-6, "\(variant) gelu'(\(x))")
            #expect(abs(Double(g[i]) - gelu(x)) < 1e-6, "\(variant) gelu(\(x))")
            #expect(both[i] == g[i] && both_d[i] == d[i], "\(variant) gelu_with_derivative at \(x)")
        }
    }

    /// Deterministic inputs in [-scale, scale).
    static func inputs(_ n: Int, seed: UInt64, scale: Float) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    static func close(_ got: [Float], _ ref: [Double], tol: Double, _ what: String) {
        let peak = max(ref.map(abs).max() ?? 0, 1e-30)
        let worst = zip(got, ref).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst / peak < tol, "\(what): worst error \(worst) relative to peak \(peak)")
    }

    @Test(arguments: variants)
    func rowKernelsMatchDoubleReference(_ variant: String) throws {
        let k = try #require(VectorMath.kernels(variant: variant)).pointee
        // 197 tokens (ViT-Tiny's row length), rows of 192 and 197 (a 5-float tail); a row stride larger than n.
        let rows = 3, n = 197, ld = 200
        let s0 = Self.inputs(rows * ld, seed: 1, scale: 12)
        var ref = [Double](repeating: 0, count: rows * n), refInv = [Double](repeating: 0, count: rows)
        for r in 0..<rows {
            let row = (0..<n).map { Double(s0[r * ld + $0]) }
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let z = e.reduce(0, +)
            for j in 0..<n { ref[r * n + j] = e[j] / z }
            refInv[r] = 1 / z
        }
        var s = s0
        s.withUnsafeMutableBufferPointer { k.exp_rows($0.baseAddress, rows, n, ld, nil) }
        Self.close((0..<rows).flatMap { r in s[(r * ld)..<(r * ld + n)] }, ref, tol: 2e-6, "\(variant) softmax rows")
        s = s0
        var inv = [Float](repeating: 0, count: rows)
        s.withUnsafeMutableBufferPointer { p in inv.withUnsafeMutableBufferPointer { k.exp_rows(p.baseAddress, rows, n, ld, $0.baseAddress) } }
        let unnormalised = (0..<rows).flatMap { r in (0..<n).map { ref[r * n + $0] / refInv[r] } }
        Self.close((0..<rows).flatMap { r in s[(r * ld)..<(r * ld + n)] }, unnormalised, tol: 2e-6, "\(variant) exp rows")
        for r in 0..<rows { #expect(abs(Double(inv[r]) - refInv[r]) / refInv[r] < 2e-6, "\(variant) inverse sum \(r)") }

        // Softmax backward: d <- p (d - sum p d) scale, on the probabilities above.
        let p = ref.map(Float.init), d0 = Self.inputs(rows * n, seed: 2, scale: 1)
        var d = d0
        p.withUnsafeBufferPointer { pp in d.withUnsafeMutableBufferPointer { k.softmax_backward_rows(pp.baseAddress, $0.baseAddress, rows, n, 0.125) } }
        var dref = [Double](repeating: 0, count: rows * n)
        for r in 0..<rows {
            let dot = (0..<n).reduce(0.0) { $0 + Double(p[r * n + $1]) * Double(d0[r * n + $1]) }
            for j in 0..<n { dref[r * n + j] = Double(p[r * n + j]) * (Double(d0[r * n + j]) - dot) * 0.125 }
        }
        Self.close(d, dref, tol: 2e-6, "\(variant) softmax backward")
    }

    @Test(arguments: variants)
    func layerNormAndGeluBackwardMatchDoubleReference(_ variant: String) throws {
        let k = try #require(VectorMath.kernels(variant: variant)).pointee
        for dim in [192, 197] {
            let rows = 5
            let x = Self.inputs(rows * dim, seed: 3, scale: 3).enumerated().map { $1 + Float($0 / dim) }  // per-row offsets
            let gamma = Self.inputs(dim, seed: 4, scale: 1).map { $0 + 1 }, beta = Self.inputs(dim, seed: 5, scale: 0.5)
            let dy = Self.inputs(rows * dim, seed: 6, scale: 1)
            var y = [Float](repeating: 0, count: rows * dim), mean = [Float](repeating: 0, count: rows), rstd = mean
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in mean.withUnsafeMutableBufferPointer { mp in
                rstd.withUnsafeMutableBufferPointer { k.layernorm_forward_rows(xp.baseAddress, yp.baseAddress, gamma, beta, mp.baseAddress, $0.baseAddress, rows, dim, 1e-6) }
            } } }
            var yref = [Double](repeating: 0, count: rows * dim)
            var dxref = yref, dgref = [Double](repeating: 0, count: dim), dbref = dgref
            for r in 0..<rows {
                let xr = (0..<dim).map { Double(x[r * dim + $0]) }
                let m = xr.reduce(0, +) / Double(dim)
                let v = xr.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(dim)
                let rs = 1 / (v + 1e-6).squareRoot()
                #expect(abs(Double(mean[r]) - m) < 1e-6 * max(1, abs(m)) && abs(Double(rstd[r]) - rs) / rs < 2e-6, "\(variant) mean/rstd row \(r)")
                let xh = xr.map { ($0 - m) * rs }
                let g = (0..<dim).map { Double(dy[r * dim + $0]) * Double(gamma[$0]) }
                let mg = g.reduce(0, +) / Double(dim)
                let mgx = zip(g, xh).reduce(0) { $0 + $1.0 * $1.1 } / Double(dim)
                for j in 0..<dim {
                    yref[r * dim + j] = xh[j] * Double(gamma[j]) + Double(beta[j])
                    dxref[r * dim + j] = 1 + rs * (g[j] - mg - xh[j] * mgx)  // dx starts at 1 (accumulating)
                    dgref[j] += Double(dy[r * dim + j]) * xh[j]
                    dbref[j] += Double(dy[r * dim + j])
                }
            }
            Self.close(y, yref, tol: 2e-6, "\(variant) layernorm forward dim \(dim)")
            var dx = [Float](repeating: 1, count: rows * dim), dg = [Float](repeating: 0, count: dim), db = dg
            dy.withUnsafeBufferPointer { dyp in x.withUnsafeBufferPointer { xp in dx.withUnsafeMutableBufferPointer { dxp in
                dg.withUnsafeMutableBufferPointer { dgp in db.withUnsafeMutableBufferPointer {
                    k.layernorm_backward_rows(dyp.baseAddress, xp.baseAddress, mean, rstd, gamma, dxp.baseAddress, dgp.baseAddress, $0.baseAddress, rows, dim)
                } }
            } } }
            Self.close(dx, dxref, tol: 2e-6, "\(variant) layernorm dx dim \(dim)")
            Self.close(dg, dgref, tol: 2e-6, "\(variant) layernorm dgamma dim \(dim)")
            Self.close(db, dbref, tol: 2e-6, "\(variant) layernorm dbeta dim \(dim)")

            // GELU backward with the bias-gradient accumulation.
            let der = Self.inputs(rows * dim, seed: 7, scale: 1.2)
            var gdx = [Float](repeating: 0, count: rows * dim), acc = [Float](repeating: 0.5, count: dim)
            dy.withUnsafeBufferPointer { dyp in gdx.withUnsafeMutableBufferPointer { gp in acc.withUnsafeMutableBufferPointer {
                k.gelu_backward_rows(dyp.baseAddress, der, gp.baseAddress, rows, dim, $0.baseAddress)
            } } }
            let gref = (0..<(rows * dim)).map { Double(dy[$0]) * Double(der[$0]) }
            let accRef = (0..<dim).map { j in 0.5 + (0..<rows).reduce(0.0) { $0 + gref[$1 * dim + j] } }
            Self.close(gdx, gref, tol: 1e-7, "\(variant) gelu backward dx dim \(dim)")
            Self.close(acc, accRef, tol: 2e-6, "\(variant) gelu backward bias dim \(dim)")
        }
    }

    @Test(arguments: variants)
    func adamWMatchesDoubleReference(_ variant: String) throws {
        let k = try #require(VectorMath.kernels(variant: variant)).pointee
        let n = 1_003
        var p = Self.inputs(n, seed: 8, scale: 0.1), m = Self.inputs(n, seed: 9, scale: 0.01)
        var v = Self.inputs(n, seed: 10, scale: 1e-4).map(abs)
        let g = Self.inputs(n, seed: 11, scale: 0.05)
        let (lr, wd, b1, b2, eps, t) = (1e-3, 0.05, 0.9, 0.999, 1e-8, 7.0)
        let stepSize = lr / (1 - pow(b1, t)), bc2 = (1 - pow(b2, t)).squareRoot()
        let (p0, m0, v0) = (p, m, v)
        p.withUnsafeMutableBufferPointer { pp in m.withUnsafeMutableBufferPointer { mp in v.withUnsafeMutableBufferPointer {
            k.adamw(pp.baseAddress, g, mp.baseAddress, $0.baseAddress, n, Float(1 - lr * wd), Float(1 - b1), Float(b2), Float(1 - b2),
                    Float(stepSize), Float(bc2), Float(eps))
        } } }
        for i in 0..<n {
            let mi = Double(m0[i]) + (1 - b1) * (Double(g[i]) - Double(m0[i]))
            let vi = b2 * Double(v0[i]) + (1 - b2) * Double(g[i]) * Double(g[i])
            let pi = Double(p0[i]) * (1 - lr * wd) - stepSize * mi / (vi.squareRoot() / bc2 + eps)
            // A few Float roundings of the terms (and of the Float constants): 3e-7 of their magnitude.
            let mScale = abs(Double(m0[i])) + (1 - b1) * abs(Double(g[i]) - Double(m0[i]))
            let vScale = b2 * Double(v0[i]) + (1 - b2) * Double(g[i]) * Double(g[i])
            let pScale = abs(Double(p0[i])) + abs(stepSize * mi / (vi.squareRoot() / bc2 + eps))
            #expect(abs(Double(m[i]) - mi) <= 3e-7 * mScale, "\(variant) m[\(i)]")
            #expect(abs(Double(v[i]) - vi) <= 3e-7 * vScale, "\(variant) v[\(i)]")
            #expect(abs(Double(p[i]) - pi) <= 3e-7 * pScale, "\(variant) p[\(i)]")
        }
    }
}
