import CoDEOneDNN
import Testing

@Suite struct OneDNNTests {
    /// bfloat16 is the top 16 bits of a Float, rounded to nearest, ties to even (IEEE 754).
    @Test func bf16RoundsToNearestEven() {
        #expect(bf16Bits(1) == 0x3F80)
        #expect(bf16Bits(-2) == 0xC000)
        let ulp = Float.ulpOfOne * 65_536  // 2^-7, bf16's spacing at 1
        #expect(bf16Bits(1 + ulp / 2) == 0x3F80, "a tie goes to the even 1.0")
        #expect(bf16Bits(1 + 3 * ulp / 2) == 0x3F82, "a tie goes to the even 1 + 2 ulp")
        #expect(bf16Bits((1 + ulp / 2).nextUp) == 0x3F81, "just above the tie rounds up")
        #expect(bf16Bits(.infinity) == 0x7F80)
        #expect(bf16Bits(.nan) & 0x7FC0 == 0x7FC0, "NaN stays a quiet NaN")
    }

    /// Inputs that bf16 holds exactly (multiples of 1/8 up to 4 in size), so with fp32
    /// accumulation the products and their sums (at most 19 terms, multiples of 1/64 below 2^10)
    /// are exact: the result must equal the Double reference exactly.
    @Test func bf16MatmulIsExactOnRepresentableInputs() throws {
        let m = 37, n = 21, k = 19
        let x = (0..<(m * k)).map { Float(($0 * 7) % 65 - 32) / 8 }
        let w = (0..<(n * k)).map { Float(($0 * 11) % 61 - 30) / 8 }  // [n, k], PyTorch Linear layout
        let mm = try BF16Matmul(m: m, n: n, k: k, weights: w)
        var y = [Float](repeating: .nan, count: m * n)
        let xb = x.map(bf16Bits)
        try xb.withUnsafeBufferPointer { s in try y.withUnsafeMutableBufferPointer { try mm.run(s.baseAddress!, $0.baseAddress!) } }
        for i in 0..<m {
            for j in 0..<n {
                let ref = (0..<k).reduce(0.0) { $0 + Double(x[i * k + $1]) * Double(w[j * k + $1]) }
                #expect(Double(y[i * n + j]) == ref, "y[\(i), \(j)]")
            }
        }
        #expect(!mm.implementation.isEmpty)
    }
}

/// The training GEMMs (``BF16TrainingGEMM``): every transpose combination, overwriting and
/// accumulating, exact on bf16-representable inputs against a Double reference.
@Suite struct BF16TrainingGEMMTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func gemmIsExactOnRepresentableInputs(transA: Bool, transB: Bool) throws {
        let m = 45, n = 23, k = 31
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 5
        let a = (0..<((transA ? k : m) * lda)).map { Float(($0 * 7) % 65 - 32) / 8 }
        let b = (0..<((transB ? n : k) * ldb)).map { Float(($0 * 11) % 61 - 30) / 8 }
        let c0 = (0..<(m * ldc)).map { Float(($0 * 5) % 33 - 16) / 4 }
        func A(_ i: Int, _ p: Int) -> Double { Double(transA ? a[p * lda + i] : a[i * lda + p]) }
        func B(_ p: Int, _ j: Int) -> Double { Double(transB ? b[j * ldb + p] : b[p * ldb + j]) }
        var ab = [UInt16](repeating: 0, count: a.count), bb = [UInt16](repeating: 0, count: b.count)
        a.withUnsafeBufferPointer { s in ab.withUnsafeMutableBufferPointer { bf16Convert(s.baseAddress!, $0.baseAddress!, count: a.count) } }
        b.withUnsafeBufferPointer { s in bb.withUnsafeMutableBufferPointer { bf16Convert(s.baseAddress!, $0.baseAddress!, count: b.count) } }
        #expect(ab == a.map(bf16Bits))
        let g = try BF16TrainingGEMM()
        for accumulate in [false, true] {
            var c = c0
            try c.withUnsafeMutableBufferPointer { cp in
                try g.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: ab, lda: lda, b: bb, ldb: ldb,
                           accumulate: accumulate, c: cp.baseAddress!, ldc: ldc)
            }
            for i in 0..<m {
                for j in 0..<ldc {
                    guard j < n else { #expect(c[i * ldc + j] == c0[i * ldc + j], "padding untouched"); continue }
                    let ref = (0..<k).reduce(accumulate ? Double(c0[i * ldc + j]) : 0) { $0 + A(i, $1) * B($1, j) }
                    #expect(Double(c[i * ldc + j]) == ref, "C[\(i), \(j)] transA \(transA) transB \(transB) accumulate \(accumulate)")
                }
            }
        }
        print("BF16TrainingGEMM transA \(transA) transB \(transB):", g.implementations)
    }

    /// The vector conversion agrees with the scalar one on every kind of value.
    @Test func convertMatchesScalar() {
        var x: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, -.nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-40]
        x += (0..<1000).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0 &* 2_654_435_761)) }
        var y = [UInt16](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { s in y.withUnsafeMutableBufferPointer { bf16Convert(s.baseAddress!, $0.baseAddress!, count: x.count) } }
        #expect(y == x.map(bf16Bits))
    }

    @Test func probeNamesAnImplementation() {
        let p = BF16TrainingGEMM.probe()
        print("bf16 training probe:", p)
        #expect(!p.implementation.isEmpty)
    }
}
