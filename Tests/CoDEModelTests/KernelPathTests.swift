@testable import CoDEModel
import CoDECore
import Foundation
import Testing
import _CoDETestSupport

/// The training kernels' fast paths at sizes that take them (the layer fixtures are too small to):
/// the row-split weight gradient (rows >= 512 with two or more threads), the fused
/// residual + bias row initialisation, and GELU with its derivative from one exp. References are
/// plain Double loops over the same Float inputs, so the tolerances are float32 summation error.
@Suite struct KernelPathTests {
    func u(_ seed: UInt64, _ n: Int) -> [Float] { fixtureUniform(seed: seed, count: n) }

    @Test func weightGradientSplitOverRows() {
        let (rows, inF, outF) = (1_000, 24, 40)
        let dy = u(11, rows * outF), x = u(12, rows * inF)
        var dw = u(13, outF * inF), db = u(14, outF)
        var refW = dw.map(Double.init), refB = db.map(Double.init)
        for r in 0..<rows {
            for o in 0..<outF {
                refB[o] += Double(dy[r * outF + o])
                for i in 0..<inF { refW[o * inF + i] += Double(dy[r * outF + o]) * Double(x[r * inF + i]) }
            }
        }
        Linear.weightGradient(dy, x, dweight: &dw, dbias: &db, rows: rows, inF: inF, outF: outF)
        // 1,000-term sums of products of values in [-1, 1): float32 accumulation, ~1e-6 relative.
        #expect(TensorDiff(dw, refW).relative < 1e-5, "\(TensorDiff(dw, refW))")
        #expect(TensorDiff(db, refB).relative < 1e-5, "\(TensorDiff(db, refB))")
    }

    @Test func forwardWithSeparateResidual() {
        let (rows, inF, outF) = (300, 20, 36)
        let x = u(21, rows * inF), w = u(22, outF * inF), b = u(23, outF), res = u(24, rows * outF)
        var y = [Float](repeating: .nan, count: rows * outF)
        Linear.forward(x, weight: w, bias: b, &y, rows: rows, inF: inF, outF: outF, residual: res)
        var inPlace = res
        Linear.forward(x, weight: w, bias: b, &inPlace, rows: rows, inF: inF, outF: outF, accumulate: true)
        var ref = [Double](repeating: 0, count: rows * outF)
        for r in 0..<rows {
            for o in 0..<outF {
                var s = Double(res[r * outF + o]) + Double(b[o])
                for i in 0..<inF { s += Double(x[r * inF + i]) * Double(w[o * inF + i]) }
                ref[r * outF + o] = s
            }
        }
        #expect(TensorDiff(y, ref).relative < 1e-6, "\(TensorDiff(y, ref))")
        #expect(y == inPlace, "a separate residual and the in-place residual give the same floats")
    }

    @Test func geluWithDerivativeMatchesSeparateKernels() {
        // -8...8 in steps of 1/64, plus the 16-lane tail (n not a multiple of 16).
        let xs = (0...1_028).map { Float($0 - 514) / 64 }
        var g = xs, d = [Float](repeating: 0, count: xs.count)
        GELU.forwardWithDerivative(&g, derivative: &d, count: xs.count)
        for (i, x) in xs.enumerated() {
            // The vector body and the padded tail give the scalar kernel's floats exactly.
            #expect(g[i] == VectorMath.gelu(x), "gelu(\(x))")
            #expect(d[i] == VectorMath.geluDerivative(x), "gelu'(\(x))")
        }
        // Against Double: erf from Foundation, 1.5e-7 A&S error times |x| plus rounding.
        for (i, x) in xs.enumerated() {
            let xd = Double(x)
            let cdf: Double = 0.5 * (1 + Foundation.erf(xd / 2.0.squareRoot()))
            let pdf: Double = Foundation.exp(-0.5 * xd * xd) / (2 * Double.pi).squareRoot()
            let refG = xd * cdf, refD = cdf + xd * pdf
            #expect(abs(Double(g[i]) - refG) < 2e-6 * max(1, abs(xd)), "gelu(\(x)) vs Double")
            #expect(abs(Double(d[i]) - refD) < 2e-6 * max(1, abs(xd)), "gelu'(\(x)) vs Double")
        }
    }
}
