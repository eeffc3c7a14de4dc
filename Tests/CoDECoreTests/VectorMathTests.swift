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
/// SSE2 without FMA on x86-64) against libm in Double, at the tolerances of the tests above.
@Suite struct KernelVariantTests {
    @Test func dispatcherSelectsTheBestSupportedVariant() {
        let variants = VectorMath.kernelVariants
        #expect(!variants.isEmpty)
        #expect(variants.last?.supported == true, "the baseline variant always runs")
        // Unless CODEKIT_KERNELS forces a lower one, the first supported variant is selected.
        if ProcessInfo.processInfo.environment["CODEKIT_KERNELS"] == nil {
            #expect(VectorMath.kernelVariant == variants.first { $0.supported }?.name)
        }
        #expect(VectorMath.evaluate(.exp, variant: "no-such-variant", [0]) == nil)
    }

    @Test(arguments: ["avx512", "avx2-fma", "sse2", "portable"])
    func variantMatchesLibm(_ variant: String) {
        // 20,001 points plus a tail (n not a multiple of 16).
        let expX = (0...20_000).map { Float(-87.0 + Double($0) * (175.0 / 20_000)) }
        guard let e = VectorMath.evaluate(.exp, variant: variant, expX) else {
            #expect(!VectorMath.kernelVariants.contains { $0.name == variant && $0.supported })
            return
        }
        var worst = 0.0
        for (x, y) in zip(expX, e) { let r = Foundation.exp(Double(x)); worst = max(worst, abs(Double(y) - r) / r) }
        #expect(worst < 4e-7, "\(variant) exp worst relative error \(worst)")

        let erfX = (0...20_000).map { Float(-6.0 + Double($0) * (12.0 / 20_000)) }
        let erfY = VectorMath.evaluate(.erf, variant: variant, erfX)!
        worst = zip(erfX, erfY).map { abs(Double($1) - Foundation.erf(Double($0))) }.max()!
        #expect(worst < 5e-7, "\(variant) erf worst absolute error \(worst)")

        func gelu(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())) }
        let gx = stride(from: -5.0, through: 5.0, by: 0.37).map { Float($0) }
        let g = VectorMath.evaluate(.gelu, variant: variant, gx)!
        let d = VectorMath.evaluate(.geluDerivative, variant: variant, gx)!
        for i in gx.indices {
            let x = Double(gx[i])
            let fd = (gelu(x + 1e-5) - gelu(x - 1e-5)) / 2e-5
            #expect(abs(Double(d[i]) - fd) < 2e-6, "\(variant) gelu'(\(x))")
            #expect(abs(Double(g[i]) - gelu(x)) < 1e-6, "\(variant) gelu(\(x))")
        }
    }
}
