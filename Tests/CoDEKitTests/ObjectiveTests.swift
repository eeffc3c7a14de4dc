import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// `--objective global | global-real | bce` against PyTorch autograd on the tiny ViT
/// (Tests/Fixtures/model/objective-gradients.safetensors from make_objective_fixtures.py, same
/// weights and views as TrainingTests).
@Suite struct ObjectiveTests {
    static let config = TrainingTests.config
    static let B = TrainingTests.B

    func trainer(_ objective: TrainingObjective, microBatch: Int, keepActivations: Bool = false, lr: Double = 2e-3) throws -> Trainer {
        let m = try ViT.load(from: Fixtures.url("model/tiny-timm.safetensors"), configuration: Self.config)
        // Constant learning rate (no warm-up, minimum = base) as the fixture's torch.optim.AdamW.
        let schedule = CosineSchedule(baseLR: lr, totalSteps: 10, warmupSteps: 0, minLR: lr)
        let cfg = TrainerConfiguration(microBatch: microBatch, schedule: schedule, adamW: AdamWConfiguration(weightDecay: 0.05), clipNorm: 1.0,
                                       keepActivations: keepActivations, objective: objective)
        let t = Trainer(model: m, configuration: cfg, seed: 1)
        if objective == .bce {
            // The fixture's head: fixture_uniform(900, D + 1) / 4.
            let v = fixtureUniform(seed: 900, count: Self.config.width + 1)
            for i in 0..<v.count { t.head![i] = v[i] / 4 }
        }
        return t
    }

    /// Every parameter gradient within 1e-4 relative per tensor (the target) and the loss
    /// within 1e-6, through the gradient cache (micro-batches 3, 1) and with activations kept.
    @Test(arguments: [TrainingObjective.global, .globalReal, .bce], [(3, false), (1, false), (3, true)])
    func gradientsMatchAutograd(objective: TrainingObjective, batching: (Int, Bool)) throws {
        let ref = try Fixtures.open("model/objective-gradients.safetensors")
        let key = objective.rawValue
        let t = try trainer(objective, microBatch: batching.0, keepActivations: batching.1)
        var asked: Set<CoDEView> = []
        let groups = TrainingTests.groups(step: 0), n = Self.config.imageFloats
        let r = try t.computeGradients(batch: Self.B) { v, range, dst in
            asked.insert(v)
            dst.update(from: groups[v.rawValue].pointer + range.lowerBound * n, count: range.count * n)
        }
        #expect(asked == Set(objective.views), "the trainer asked only for the views the objective reads")
        let loss = try ref.doubles(key + ".loss")[0]
        #expect(abs(r.total - loss) / loss < 1e-6, "\(key) loss \(r.total) vs \(loss)")
        var worst = 0.0
        for s in t.model.layout.specs {
            let d = TensorDiff(t.gradients.array(s.range), try ref.floats("\(key).grad.\(s.name)"))
            worst = max(worst, d.relative)
            if s.name.hasSuffix("attn.qkv.bias") { continue }  // key-bias part is rounding noise (TrainingTests)
            #expect(d.relative < 1e-4, "\(key) \(s.name): \(d)")
        }
        #expect(worst > 0)
        if objective == .bce {
            let D = Self.config.width
            let dw = TensorDiff(t.headGradients!.array(0..<D), try ref.floats("bce.grad.head.weight"))
            let db = TensorDiff(t.headGradients!.array(D..<(D + 1)), try ref.floats("bce.grad.head.bias"))
            #expect(dw.relative < 1e-4, "head.weight: \(dw)")
            #expect(db.relative < 1e-4, "head.bias: \(db)")
        }
    }

    /// The query and value parts of the key/query/value bias (the key part is rounding noise on
    /// both sides; see TrainingTests.keyBiasGradientIsRoundingNoise).
    @Test(arguments: [TrainingObjective.global, .globalReal, .bce])
    func qkvBiasQueryAndValueParts(objective: TrainingObjective) throws {
        let ref = try Fixtures.open("model/objective-gradients.safetensors")
        let t = try trainer(objective, microBatch: 3)
        _ = try t.computeGradients(batch: Self.B, views: TrainingTests.source(TrainingTests.groups(step: 0)))
        let D = Self.config.width
        for l in 0..<Self.config.depth {
            let name = "blocks.\(l).attn.qkv.bias"
            var mine = t.gradients.array(t.model.layout[name].range), theirs = try ref.floats("\(objective.rawValue).grad.\(name)")
            mine.removeSubrange(D..<(2 * D))
            theirs.removeSubrange(D..<(2 * D))
            let d = TensorDiff(mine, theirs)
            #expect(d.relative < 1e-4, "\(name): \(d)")
        }
    }

    /// The head's hand-written backward against central differences in Double.
    @Test func headBackwardMatchesCentralDifferences() throws {
        let n = 5, d = 7
        let e = fixtureUniform(seed: 41, count: n * d).map { Double($0) * 3 }
        let w = fixtureUniform(seed: 42, count: d).map { Double($0) }
        let targets: [Double] = [0, 1, 1, 0, 1]
        let diffs = try GradCheck.check(inputs: [e, w, [0.3]]) { x in
            [try BinaryCrossEntropyHead.lossAndGradients(embeddings: x[0], rows: n, targets: targets, weight: x[1], bias: x[2][0]).loss]
        } backward: { x, r in
            let g = try BinaryCrossEntropyHead.lossAndGradients(embeddings: x[0], rows: n, targets: targets, weight: x[1], bias: x[2][0])
            return [g.dEmbeddings.map { $0 * r[0] }, g.dWeight.map { $0 * r[0] }, [g.dBias * r[0]]]
        }
        for (name, diff) in zip(["embeddings", "weight", "bias"], diffs) {
            #expect(diff.relative < 1e-7, "\(name): \(diff)")
            #expect(diff.maxRef > 0)
        }
    }

    /// Large logits of either sign stay finite (softplus and sigmoid without overflow).
    @Test func headLossIsStableForLargeLogits() throws {
        let r = try BinaryCrossEntropyHead.lossAndGradients(embeddings: [Float(1e4), -1e4], rows: 2, targets: [0, 1], weight: [1], bias: 0)
        #expect(r.loss.isFinite && abs(r.loss - 1e4) < 1e-6)
        let finite = r.dEmbeddings.allSatisfy { $0.isFinite }
        #expect(finite)
        #expect(throws: ContrastiveError.self) {
            try BinaryCrossEntropyHead.lossAndGradients(embeddings: [Float.nan], rows: 1, targets: [0], weight: [1], bias: 0)
        }
    }

    /// Three AdamW steps of the bce objective (one clip over encoder and head) against torch:
    /// loss and pre-clip norm per step within 1e-4, parameters (head included) within 1e-3.
    @Test func bceTrajectoryMatchesTorch() throws {
        let ref = try Fixtures.open("model/objective-gradients.safetensors")
        let t = try trainer(.bce, microBatch: 2)
        let losses = try ref.doubles("bce.trajectory.loss"), norms = try ref.doubles("bce.trajectory.preClipNorm")
        for step in 0..<3 {
            let report = try t.step(batch: Self.B, views: TrainingTests.source(TrainingTests.groups(step: step)))
            #expect(abs(report.loss - losses[step]) / losses[step] < 1e-4, "step \(step): loss \(report.loss) vs \(losses[step])")
            #expect(abs(report.gradientNorm - norms[step]) / norms[step] < 1e-4, "step \(step): norm \(report.gradientNorm) vs \(norms[step])")
        }
        let D = Self.config.width
        for s in t.model.layout.specs {
            var mine = t.model.parameters.array(s.range), theirs = try ref.floats("bce.trajectory.param." + s.name)
            if s.name.hasSuffix("attn.qkv.bias") {
                mine.removeSubrange(D..<(2 * D))
                theirs.removeSubrange(D..<(2 * D))
            }
            let d = TensorDiff(mine, theirs)
            #expect(d.relative < 1e-3, "\(s.name): \(d)")
        }
        let w = TensorDiff(t.head!.array(0..<D), try ref.floats("bce.trajectory.param.head.weight"))
        let b = TensorDiff(t.head!.array(D..<(D + 1)), try ref.floats("bce.trajectory.param.head.bias"))
        #expect(w.relative < 1e-3, "head.weight: \(w)")
        #expect(b.relative < 1e-3, "head.bias: \(b)")
    }

    /// A bce run saved and resumed continues bit for bit, head and its moments included; a
    /// checkpoint of another objective is refused by name.
    @Test func bceResumeIsBitExactAndObjectiveIsChecked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-bce-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try trainer(.bce, microBatch: 3)
        for s in 0..<2 { _ = try a.step(batch: Self.B, views: TrainingTests.source(TrainingTests.groups(step: s))) }
        try a.save(to: dir)
        for s in 2..<4 { _ = try a.step(batch: Self.B, views: TrainingTests.source(TrainingTests.groups(step: s))) }
        let b = try trainer(.bce, microBatch: 3)
        try b.restore(from: dir)
        #expect(b.step == 2)
        for s in 2..<4 { _ = try b.step(batch: Self.B, views: TrainingTests.source(TrainingTests.groups(step: s))) }
        #expect(a.model.parameters.array() == b.model.parameters.array())
        #expect(a.head!.array() == b.head!.array())
        #expect(a.headOptimizer!.v.array() == b.headOptimizer!.v.array())
        for other in [TrainingObjective.code, .global] {
            let c = try trainer(other, microBatch: 3)
            #expect(throws: TrainerError.self) { try c.restore(from: dir) }
        }
    }
}
