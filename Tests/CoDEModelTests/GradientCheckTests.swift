@testable import CoDEModel
import CoDECore
import Testing
import _CoDETestSupport

/// Central-difference checks of every layer's backward against its own forward.
///
/// The model's kernels are float32 only (they exist to drive sgemm), so unlike the contrastive
/// ops these run in Float: step h = 1e-2, loss Σ y ⊙ r accumulated in Double. Truncation error
/// O(h²) ≈ 1e-4 and rounding error ≈ 6e-8 |L| / h ≈ 1e-4 bound the agreement, hence 5e-3 relative.
@Suite struct ModelGradientCheckTests {
    static let tolerance = 5e-3

    func f(_ x: [Double]) -> [Float] { x.map(Float.init) }
    func d(_ x: [Float]) -> [Double] { x.map(Double.init) }
    func u(_ seed: UInt64, _ n: Int, _ scale: Double = 1) -> [Double] { fixtureUniform(seed: seed, count: n).map { Double($0) * scale } }

    func expectClose(_ diffs: [TensorDiff], _ what: String) {
        for (i, d) in diffs.enumerated() { #expect(d.relative < Self.tolerance, "\(what) input \(i): \(d)") }
    }

    @Test func layerNorm() {
        let (rows, dim) = (3, 12)
        let diffs = GradCheck.check(inputs: [u(1, rows * dim, 2), u(2, dim, 0.5).map { $0 + 1 }, u(3, dim)], step: 1e-2) { x in
            var y = [Float](repeating: 0, count: rows * dim)
            LayerNorm.forward(f(x[0]), &y, gamma: f(x[1]), beta: f(x[2]), mean: nil, rstd: nil, rows: rows, dim: dim, eps: 1e-6)
            return d(y)
        } backward: { x, r in
            var y = [Float](repeating: 0, count: rows * dim), mean = [Float](repeating: 0, count: rows), rstd = mean
            LayerNorm.forward(f(x[0]), &y, gamma: f(x[1]), beta: f(x[2]), mean: &mean, rstd: &rstd, rows: rows, dim: dim, eps: 1e-6)
            var dx = [Float](repeating: 0, count: rows * dim), dg = [Float](repeating: 0, count: dim), db = dg
            LayerNorm.backward(f(r), f(x[0]), mean: mean, rstd: rstd, gamma: f(x[1]), dx: &dx, dgamma: &dg, dbeta: &db, rows: rows, dim: dim)
            return [d(dx), d(dg), d(db)]
        }
        expectClose(diffs, "LayerNorm")
    }

    @Test func linear() {
        let (rows, inF, outF) = (5, 7, 6)
        let diffs = GradCheck.check(inputs: [u(4, rows * inF), u(5, outF * inF), u(6, outF)], step: 1e-2) { x in
            var y = [Float](repeating: 0, count: rows * outF)
            Linear.forward(f(x[0]), weight: f(x[1]), bias: f(x[2]), &y, rows: rows, inF: inF, outF: outF)
            return d(y)
        } backward: { x, r in
            var dx = [Float](repeating: 0, count: rows * inF), dw = [Float](repeating: 0, count: outF * inF), db = [Float](repeating: 0, count: outF)
            Linear.backward(f(r), f(x[0]), weight: f(x[1]), dx: &dx, dweight: &dw, dbias: &db, rows: rows, inF: inF, outF: outF)
            return [d(dx), d(dw), d(db)]
        }
        expectClose(diffs, "Linear")
    }

    @Test func gelu() {
        let n = 40
        let diffs = GradCheck.check(inputs: [u(7, n, 4)], step: 1e-2) { x in
            var y = [Float](repeating: 0, count: n)
            GELU.forward(f(x[0]), &y, count: n)
            return d(y)
        } backward: { x, r in
            // As training runs it: the forward's epilogue keeps gelu', the backward multiplies.
            var g = f(x[0]), derivative = [Float](repeating: 0, count: n), dx = [Float](repeating: 0, count: n)
            GELU.forwardWithDerivative(&g, derivative: &derivative, count: n)
            // Two rows of 20 (a 16-lane body and a tail); the bias gradient is the column sums.
            var bias = [Float](repeating: 0.5, count: n / 2)
            GELU.backward(f(r), derivative: derivative, dx: &dx, rows: 2, cols: n / 2, biasGradient: &bias)
            for j in 0..<(n / 2) {
                #expect(abs(Double(bias[j]) - (0.5 + Double(dx[j]) + Double(dx[n / 2 + j]))) < 1e-6, "bias gradient column \(j)")
            }
            return [d(dx)]
        }
        expectClose(diffs, "GELU")
    }

    @Test func attentionCore() {
        let (B, T, D, H) = (2, 5, 8, 2)
        let diffs = GradCheck.check(inputs: [u(8, B * T * 3 * D, 1.5)], step: 1e-2) { x in
            var o = [Float](repeating: 0, count: B * T * D)
            Attention.forward(qkv: f(x[0]), out: &o, probs: nil, batch: B, tokens: T, width: D, heads: H)
            return d(o)
        } backward: { x, r in
            var o = [Float](repeating: 0, count: B * T * D), p = [Float](repeating: 0, count: B * H * T * T)
            Attention.forward(qkv: f(x[0]), out: &o, probs: &p, batch: B, tokens: T, width: D, heads: H)
            var dq = [Float](repeating: 0, count: B * T * 3 * D)
            Attention.backward(dout: f(r), qkv: f(x[0]), probs: p, dqkv: &dq, batch: B, tokens: T, width: D, heads: H)
            return [d(dq)]
        }
        expectClose(diffs, "Attention")
    }

    /// The whole encoder: gradient of Σ embedding ⊙ r with respect to a few parameters of every
    /// kind (perturbing each of them through the inference path).
    @Test func wholeModel() throws {
        let c = ViTConfiguration(imageSize: 16, patchSize: 8, width: 16, depth: 2, heads: 2, mlpWidth: 32)
        let model = ViT(configuration: c, seed: 3)
        // Larger-than-init weights so every path carries signal.
        let noise = fixtureUniform(seed: 9, count: model.parameters.count)
        for i in 0..<model.parameters.count where model.parameters[i] != 1 { model.parameters[i] += noise[i] * 0.2 }
        let B = 2
        let images = fixtureUniform(seed: 10, count: B * c.imageFloats)
        let r = fixtureUniform(seed: 11, count: B * c.width)
        func loss() -> Double { zip(model.embed(images, batch: B), r).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let cache = TrainingCache(configuration: c, capacity: B)
        var out = [Float](repeating: 0, count: B * c.width)
        model.forward(images, batch: B, cache: cache, into: &out)
        let grads = model.layout.makeBuffer()
        r.withUnsafeBufferPointer { model.backward($0.baseAddress!, cache: cache, gradients: grads) }
        var checked = 0
        for s in model.layout.specs {
            for k in [0, s.count / 2, s.count - 1] {
                let i = s.offset + k, h: Float = 1e-2
                let saved = model.parameters[i]
                model.parameters[i] = saved + h; let lp = loss()
                model.parameters[i] = saved - h; let lm = loss()
                model.parameters[i] = saved
                let fd = (lp - lm) / Double(2 * h), an = Double(grads[i])
                #expect(abs(fd - an) <= 5e-3 * max(1, abs(fd)), "\(s.name)[\(k)]: analytic \(an), numeric \(fd)")
                checked += 1
            }
        }
        #expect(checked == 3 * model.layout.specs.count)
    }
}
