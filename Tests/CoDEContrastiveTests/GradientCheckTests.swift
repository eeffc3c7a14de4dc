import CoDECore
import CoDEContrastive
import Testing
import _CoDETestSupport

/// Central-difference checks, in Double on tiny shapes, of every op's backward (the same generic
/// code that runs in Float for training). A correct backward agrees to ~1e-8; the bound 1e-6
/// relative (max |diff| / max |gradient|) leaves room for the h² and rounding terms only.
@Suite struct GradientCheckTests {
    static let tolerance = 1e-6

    func random(_ count: Int, seed: UInt64, scale: Double = 1) -> [Double] {
        fixtureUniform(seed: seed, count: count).map { Double($0) * scale }
    }

    func emb(_ v: [Double], _ rows: Int, _ dim: Int) -> Embeddings<Double> {
        try! Embeddings(rows: rows, dim: dim, values: v)
    }

    func expectClose(_ diffs: [TensorDiff], _ label: String) {
        for (i, d) in diffs.enumerated() { #expect(d.relative < Self.tolerance, "\(label) input \(i): \(d)") }
    }

    @Test func l2Normalization() {
        let (r, d) = (4, 5)
        let diffs = GradCheck.check(inputs: [random(r * d, seed: 1, scale: 3)]) { x in
            L2Normalization.forward(emb(x[0], r, d)).y.values
        } backward: { x, dy in
            let (y, n) = L2Normalization.forward(emb(x[0], r, d))
            var dx = Embeddings<Double>(zerosRows: r, dim: d)
            L2Normalization.backward(dy: emb(dy, r, d), y: y, norms: n, dx: &dx)
            return [dx.values]
        }
        expectClose(diffs, "L2Normalization")
    }

    @Test func l2NormalizationClampedRow() {
        // Below ε = 1e-12 the norm is clamped, y = x / ε is linear, so dx = dy / ε exactly.
        let x = emb([1e-14, -2e-14, 0], 1, 3)
        let (y, n) = L2Normalization.forward(x)
        #expect(y.values == [1e-14 / 1e-12, -2e-14 / 1e-12, 0])
        var dx = Embeddings<Double>(zerosRows: 1, dim: 3)
        L2Normalization.backward(dy: emb([1, 2, 3], 1, 3), y: y, norms: n, dx: &dx)
        #expect(dx.values == [1e12, 2e12, 3e12])
    }

    @Test(arguments: [(3, 5, 4), (5, 2, 3)])
    func infoNCEOnUnitRows(shape: (Int, Int, Int)) {
        let (n, m, d) = shape
        let nce = InfoNCE(temperature: 0.1)
        // Unit rows as the forward expects; perturbing off the sphere is fine since the formula
        // (and its gradient) is defined for any rows.
        let inputs = [random(n * d, seed: 2), random(n * d, seed: 3), random(m * d, seed: 4)]
            .enumerated().map { i, v in L2Normalization.forward(emb(v, [n, n, m][i], d)).y.values }
        let diffs = GradCheck.check(inputs: inputs) { x in
            [nce.forward(query: emb(x[0], n, d), positive: emb(x[1], n, d), negatives: emb(x[2], m, d)).loss]
        } backward: { x, dl in
            let (q, p, k) = (emb(x[0], n, d), emb(x[1], n, d), emb(x[2], m, d))
            let cache = nce.forward(query: q, positive: p, negatives: k).cache
            var dq = Embeddings<Double>(zerosRows: n, dim: d), dp = dq, dk = Embeddings<Double>(zerosRows: m, dim: d)
            nce.backward(cache, query: q, positive: p, negatives: k, scale: dl[0], dQuery: &dq, dPositive: &dp, dNegatives: &dk)
            return [dq.values, dp.values, dk.values]
        }
        expectClose(diffs, "InfoNCE \(shape)")
    }

    @Test func infoNCEOnRawRows() throws {
        let (n, m, d) = (4, 6, 3)
        let nce = InfoNCE(temperature: 0.1)
        let inputs = [random(n * d, seed: 5, scale: 2), random(n * d, seed: 6, scale: 2), random(m * d, seed: 7, scale: 2)]
        let diffs = try GradCheck.check(inputs: inputs) { x in
            [try nce.lossAndGradients(query: emb(x[0], n, d), positive: emb(x[1], n, d), negatives: emb(x[2], m, d)).loss]
        } backward: { x, dl in
            let r = try nce.lossAndGradients(query: emb(x[0], n, d), positive: emb(x[1], n, d), negatives: emb(x[2], m, d))
            return [r.dQuery, r.dPositive, r.dNegatives].map { $0.values.map { $0 * dl[0] } }
        }
        expectClose(diffs, "InfoNCE raw")
    }

    @Test(arguments: [false, true])
    func codeObjective(rolled: Bool) throws {
        let (b, d) = (3, 4)
        let objective = CoDEObjective(temperature: 0.1)
        let inputs = (0..<8).map { random(b * d, seed: 20 + UInt64($0), scale: 2) }
        let (rr, rf): ([Int]?, [Int]?) = rolled ? ([2, 0, 1], [1, 2, 0]) : (nil, nil)
        func views(_ x: [[Double]]) throws -> CoDEViewEmbeddings<Double> { try CoDEViewEmbeddings(x.map { emb($0, b, d) }) }
        let diffs = try GradCheck.check(inputs: inputs) { x in
            let r = try objective(views(x), rollReal: rr, rollFake: rf)
            // Check the parts too: y = (total, lRealGlobal, …) would need per-part gradients, so the
            // scalar output is the total, whose gradient the objective returns.
            return [r.total]
        } backward: { x, dl in
            try objective(views(x), rollReal: rr, rollFake: rf).gradients.views.map { $0.values.map { $0 * dl[0] } }
        }
        expectClose(diffs, "CoDEObjective rolled=\(rolled)")
    }
}
