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
