import CoDECore
import Testing
import _CoDETestSupport

@Suite struct BLASTests {
    /// Naive triple loop in Double: the reference for the partitioned GEMM.
    func reference(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * m + i] : a[i * k + p]
                let bv = transB ? b[j * k + p] : b[p * n + j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = s
        } }
        return c
    }

    @Test(arguments: [(1, 5, 3), (70, 130, 17), (197, 64, 197), (33, 200, 9)])
    func matmulMatchesNaive(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = fixtureUniform(seed: 1, count: m * k), b = fixtureUniform(seed: 2, count: k * n)
            var c = fixtureUniform(seed: 3, count: m * n)
            let c0 = c
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                BLAS.matmul(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!, m: m, n: n, k: k, alpha: 0.5, beta: 2, transA: ta, transB: tb)
            } } }
            let ref = zip(reference(a, b, m: m, n: n, k: k, transA: ta, transB: tb), c0).map { 0.5 * $0 + 2 * Double($1) }
            // float32 accumulation over k <= 197 terms of magnitude <= 1: error well under 1e-5 relative
            let d = TensorDiff(c, ref)
            #expect(d.relative < 1e-5, "\(m)x\(n)x\(k) tA=\(ta) tB=\(tb): \(d)")
        }
    }

    @Test func fixtureUniformIsStable() {
        // The first values of SplitMix64(0) are published (Vigna's reference implementation):
        // 0xe220a8397b1dcdaf -> (x >> 40) / 2^23 - 1.
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(fixtureUniform(seed: 0, count: 1)[0] == Float(UInt64(0xE220A8397B1DCDAF) >> 40) / 8_388_608 - 1)
    }
}
