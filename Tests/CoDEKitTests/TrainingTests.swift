import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// Training against PyTorch autograd and torch.optim.AdamW on the tiny ViT
/// (Tests/Fixtures/model/training-*.safetensors from make_model_fixtures.py).
@Suite struct TrainingTests {
    static let config = ViTConfiguration(imageSize: 32, patchSize: 8, width: 32, depth: 2, heads: 2, mlpWidth: 64, layerNormEps: 1e-6)
    static let B = 3

    func model() throws -> ViT { try ViT.load(from: Fixtures.url("model/tiny-timm.safetensors"), configuration: Self.config) }

    /// Step `step`'s eight view groups, as the fixture script builds them.
    static func groups(step: Int) -> [FloatBuffer] {
        let n = B * config.imageFloats
        return (0..<8).map { g in FloatBuffer(fixtureUniform(seed: UInt64(1000 + 8 * step + g), count: n).map { 2 * $0 }) }
    }

    static func source(_ groups: [FloatBuffer]) -> Trainer.ViewSource {
        let n = config.imageFloats
        return { v, r, dst in dst.update(from: groups[v.rawValue].pointer + r.lowerBound * n, count: r.count * n) }
    }

    func trainer(_ m: ViT, microBatch: Int, keepActivations: Bool = false) -> Trainer {
        let schedule = CosineSchedule(baseLR: 2e-3, totalSteps: 10, warmupSteps: 3, warmupStartLR: 1e-5, minLR: 1e-5)
        let cfg = TrainerConfiguration(microBatch: microBatch, schedule: schedule, adamW: AdamWConfiguration(weightDecay: 0.05), clipNorm: 1.0,
                                       keepActivations: keepActivations)
        return Trainer(model: m, configuration: cfg, seed: 1)
    }

    /// Loss parts and every parameter gradient by name. Tolerance 1e-4 relative per tensor (the
    /// issue's target); measured values are far smaller (float32 vs float32 autograd).
    /// Micro-batches 3, 2, 1 take the gradient cache; (3, kept) keeps all eight groups'
    /// activations and skips the second forward; (2, kept) has too small a micro-batch for that
    /// and falls back to the gradient cache.
    @Test(arguments: [(3, false), (2, false), (1, false), (3, true), (2, true)])
    func gradientsMatchAutograd(microBatch: Int, keepActivations: Bool) throws {
        let ref = try Fixtures.open("model/training-gradients.safetensors")
        let m = try model()
        let t = trainer(m, microBatch: microBatch, keepActivations: keepActivations)
        let r = try t.computeGradients(batch: Self.B, views: Self.source(Self.groups(step: 0)))
        let loss = try ref.doubles("loss")
        for (i, v) in [r.total, r.lRealGlobal, r.lRealLocal, r.lFakeGlobal, r.lFakeLocal].enumerated() {
            #expect(abs(v - loss[i]) / abs(loss[i]) < 1e-6, "loss part \(i): \(v) vs \(loss[i])")
        }
        var worst = 0.0
        for s in m.layout.specs {
            let d = TensorDiff(t.gradients.array(s.range), try ref.floats("grad." + s.name))
            worst = max(worst, d.relative)
            #expect(d.relative < 1e-4, "\(s.name): \(d)")
        }
        #expect(worst > 0)  // the comparison saw real, non-identical numbers
    }

    /// The gradient-cache step equals the gradient of the whole batch in one forward/backward:
    /// all 24 views in one training forward, the objective, one backward.
    @Test func gradientCacheEqualsWholeBatch() throws {
        let groups = Self.groups(step: 0)
        let n = Self.config.imageFloats, D = Self.config.width, B = Self.B
        let m = try model()
        let cache = TrainingCache(configuration: Self.config, capacity: 8 * B)
        let all = FloatBuffer(count: 8 * B * n)
        for g in 0..<8 { (all.pointer + g * B * n).update(from: groups[g].pointer, count: B * n) }
        let e = FloatBuffer(count: 8 * B * D)
        m.forward(all.pointer, batch: 8 * B, cache: cache, into: e.pointer)
        let views = try CoDEViewEmbeddings((0..<8).map { g in try Embeddings(rows: B, dim: D, values: e.array((g * B * D)..<((g + 1) * B * D))) })
        let result = try CoDEObjective()(views)
        let dE = FloatBuffer(CoDEView.allCases.flatMap { result.gradients[$0].values })
        let whole = m.layout.makeBuffer()
        m.backward(dE.pointer, cache: cache, gradients: whole)
        let t = trainer(try model(), microBatch: 2)
        _ = try t.computeGradients(batch: B, views: Self.source(groups))
        // Same arithmetic per image; only BLAS blocking over a different number of rows differs.
        let d = TensorDiff(t.gradients.array(), whole.array())
        #expect(d.relative < 1e-5, "\(d)")
    }

    /// Ten AdamW steps (clipping 1.0, warm-up + cosine, decay 0.05 on timm's groups) against
    /// torch.optim.AdamW: loss per step within 1e-4 relative (the target), final
    /// parameters within 1e-3 relative per tensor (ten steps of float32 drift through Adam's
    /// division by sqrt(v), where tiny gradients amplify rounding).
    @Test func tenStepTrajectoryMatchesTorch() throws {
        let ref = try Fixtures.open("model/training-trajectory.safetensors")
        let m = try model()
        let t = trainer(m, microBatch: 2)
        let losses = try ref.doubles("loss"), norms = try ref.doubles("preClipNorm"), lrs = try ref.doubles("lr")
        for step in 0..<10 {
            let report = try t.step(batch: Self.B, views: Self.source(Self.groups(step: step)))
            #expect(abs(report.loss - losses[step]) / losses[step] < 1e-4, "step \(step): loss \(report.loss) vs \(losses[step])")
            #expect(abs(report.gradientNorm - norms[step]) / norms[step] < 1e-4, "step \(step): norm \(report.gradientNorm) vs \(norms[step])")
            #expect(abs(Double(report.learningRate) - lrs[step]) / lrs[step] < 1e-6, "step \(step): lr")
        }
        let D = Self.config.width
        for s in m.layout.specs {
            var mine = m.parameters.array(s.range), theirs = try ref.floats("param." + s.name)
            if s.name.hasSuffix("attn.qkv.bias") {
                // The key bias adds q·b_k to every logit of a softmax row, so its exact gradient
                // is zero and both sides see only rounding noise, which AdamW's m/sqrt(v) turns
                // into steps of either sign. Bound it by the largest possible AdamW move (sum of
                // the learning rates) and compare the query and value biases normally.
                let keyMine = Array(mine[D..<(2 * D)]), keyTheirs = Array(theirs[D..<(2 * D)])
                let moveBound = lrs.reduce(0, +) * 1.01
                #expect(TensorDiff(keyMine, keyTheirs).maxAbs < moveBound, "\(s.name) key part")
                mine.removeSubrange(D..<(2 * D))
                theirs.removeSubrange(D..<(2 * D))
            }
            let d = TensorDiff(mine, theirs)
            #expect(d.relative < 1e-3, "\(s.name): \(d)")
        }
    }

    /// The key-bias gradient is zero up to rounding (softmax shift invariance), on both sides.
    @Test func keyBiasGradientIsRoundingNoise() throws {
        let ref = try Fixtures.open("model/training-gradients.safetensors")
        let m = try model()
        let t = trainer(m, microBatch: 3)
        _ = try t.computeGradients(batch: Self.B, views: Self.source(Self.groups(step: 0)))
        let D = Self.config.width
        for l in 0..<Self.config.depth {
            let name = "blocks.\(l).attn.qkv.bias"
            let mine = t.gradients.array(m.layout[name].range), theirs = try ref.floats("grad." + name)
            let scale = Double(theirs.map { abs($0) }.max()!)
            #expect(Double(mine[D..<(2 * D)].map { abs($0) }.max()!) < 1e-5 * scale)
            #expect(Double(theirs[D..<(2 * D)].map { abs($0) }.max()!) < 1e-5 * scale)
        }
    }

    @Test func nonFiniteStopsWithParametersUntouched() throws {
        let m = try model()
        m.parameters[m.layout["blocks.1.mlp.fc2.bias"].offset] = .nan
        let before = m.parameters.array()
        let t = trainer(m, microBatch: 3)
        #expect(throws: TrainerError.self) { try t.step(batch: Self.B, views: Self.source(Self.groups(step: 0))) }
        let after = m.parameters.array()
        #expect(zip(before, after).allSatisfy { $0.bitPattern == $1.bitPattern })
        #expect(t.step == 0)
    }

    /// Save after 2 steps, continue 2 more; a new trainer restored from the save and run for the
    /// same 2 steps ends bit-for-bit equal.
    @Test func resumeIsBitExact() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var cfg = trainer(try model(), microBatch: 2).configuration
        cfg.rollAugmentedViews = true  // exercises the saved generator state
        let a = Trainer(model: try model(), configuration: cfg, seed: 9)
        for s in 0..<2 { _ = try a.step(batch: Self.B, views: Self.source(Self.groups(step: s))) }
        try a.save(to: dir)
        try a.save(to: dir)  // replacing an existing checkpoint works too
        for s in 2..<4 { _ = try a.step(batch: Self.B, views: Self.source(Self.groups(step: s))) }
        let b = Trainer(model: ViT(configuration: Self.config), configuration: cfg, seed: 12345)
        try b.restore(from: dir)
        #expect(b.step == 2)
        for s in 2..<4 { _ = try b.step(batch: Self.B, views: Self.source(Self.groups(step: s))) }
        #expect(a.model.parameters.array() == b.model.parameters.array())
        #expect(a.optimizer.v.array() == b.optimizer.v.array())
        #expect(a.rng == b.rng)
    }
}
