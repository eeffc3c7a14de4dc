import CoDECore
import Foundation
import Testing
import _CoDETestSupport

/// AdamW, clipping and the cosine schedule against `Tests/Fixtures/contrastive/{adamw,schedule}.safetensors`
/// (torch.optim.AdamW + clip_grad_norm_ + timm CosineLRScheduler, see make_contrastive_fixtures.py).
@Suite struct OptimizerTests {
    /// Mirrors ADAM_LAYOUT in the fixture script: (name, shape, decay, fixtureUniform seed).
    static let tensors: [(String, [Int], Bool, UInt64)] = [("w", [4, 5], true, 11), ("b", [5], false, 12), ("pos", [1, 3, 4], false, 13)]
    static let layout = ParameterLayout(tensors.map { (name: $0.0, shape: $0.1, decay: $0.2) })

    /// Flat buffer of fixtureUniform(seed + seedOffset) per tensor, mapped by `f`.
    func flat(_ seedOffset: UInt64, _ f: (Float) -> Float = { $0 }) -> FloatBuffer {
        FloatBuffer(Self.tensors.flatMap { t in fixtureUniform(seed: t.3 + seedOffset, count: t.1.reduce(1, *)).map(f) })
    }

    @Test func adamwTrajectoryMatchesTorch() throws {
        let ref = try Fixtures.open("contrastive/adamw.safetensors")
        let params = flat(0), target = flat(100), scale = flat(200) { 1 + 0.5 * $0 }
        let grads = Self.layout.makeBuffer()
        let opt = AdamW(layout: Self.layout, configuration: AdamWConfiguration(weightDecay: 0.1))
        let schedule = CosineSchedule(baseLR: 0.05, totalSteps: 10, warmupSteps: 3, warmupStartLR: 1e-3, minLR: 1e-4)
        var losses: [Double] = [], norms: [Float] = [], lrs: [Double] = []
        for t in 0..<10 {
            // loss = Σ ½ a (θ − c)², gradient a (θ − c): the same fixed function as the script.
            var loss = 0.0
            for i in 0..<params.count {
                let r = params[i] - target[i]
                loss += 0.5 * Double(scale[i]) * Double(r) * Double(r)
                grads[i] = scale[i] * r
            }
            losses.append(loss)
            norms.append(clipGlobalNorm(grads, maxNorm: 2.0))
            lrs.append(schedule.rate(at: t))
            opt.step(parameters: params, gradients: grads, learningRate: schedule.learningRate(at: t))
        }
        // Float32 on both sides through 10 steps; differences come only from summation order and
        // rounding (~1e-6), so 1e-4 relative (the target) leaves a wide margin yet fails
        // on any semantic difference (bias correction, decay placement, clipping, schedule).
        let lossDiff = TensorDiff(losses, try ref.doubles("loss"))
        #expect(lossDiff.relative < 1e-4, "loss: \(lossDiff)")
        let normDiff = TensorDiff(norms, try ref.doubles("preClipNorm"))
        #expect(normDiff.relative < 1e-5, "pre-clip norm: \(normDiff)")
        // The schedule is pure Double arithmetic with the same formula: agreement to rounding.
        let lrDiff = TensorDiff(lrs, try ref.doubles("lr"))
        #expect(lrDiff.relative < 1e-12, "lr: \(lrDiff)")
        for s in Self.layout.specs {
            for (label, buf) in [("final", params), ("m", opt.m), ("v", opt.v)] {
                let d = TensorDiff(buf.array(s.range), try ref.floats("\(label).\(s.name)", shape: s.shape))
                #expect(d.relative < 1e-4, "\(label).\(s.name): \(d)")
            }
        }
        #expect(opt.stepCount == 10)
    }

    @Test(arguments: [
        ("authors", CosineSchedule(baseLR: 2e-3, totalSteps: 150, warmupSteps: 5, warmupStartLR: 1e-6, minLR: 0)),
        ("prefix", CosineSchedule(baseLR: 0.5, totalSteps: 40, warmupSteps: 7, warmupStartLR: 0.01, minLR: 0.02, warmupPrefix: true)),
    ])
    func scheduleMatchesTimm(name: String, schedule: CosineSchedule) throws {
        let ref = try Fixtures.open("contrastive/schedule.safetensors").doubles("\(name).lr")
        let mine = (0..<ref.count).map { schedule.rate(at: $0) }
        // Same Double formula as timm's _get_lr; only libm cos rounding can differ.
        let d = TensorDiff(mine, ref)
        #expect(d.relative < 1e-12, "\(name): \(d)")
    }

    @Test func decayAppliesOnlyToFlaggedTensors() {
        // With zero gradients the moments stay 0, so the update is exactly θ ← θ (1 − η λ) where
        // decay is flagged and θ unchanged elsewhere (stated AdamW property; exact in Float).
        let params = flat(0), before = params.array()
        let opt = AdamW(layout: Self.layout, configuration: AdamWConfiguration(weightDecay: 0.25))
        opt.step(parameters: params, gradients: Self.layout.makeBuffer(), learningRate: 0.5)
        let factor = Float(1 - 0.5 * Double(Float(0.25)))
        for s in Self.layout.specs {
            let expected = before[s.range].map { s.decay ? $0 * factor : $0 }
            #expect(params.array(s.range) == Array(expected), "\(s.name)")
        }
    }

    @Test func saveAndRestoreContinueIdentically() throws {
        let a = AdamW(layout: Self.layout), pa = flat(0), g = flat(300)
        for _ in 0..<3 { a.step(parameters: pa, gradients: g, learningRate: 0.01) }
        var w = SafeTensorsWriter()
        a.save(into: &w)
        let b = AdamW(layout: Self.layout), pb = FloatBuffer(pa.array())
        try b.restore(from: SafeTensorsFile(data: w.serialized()))
        #expect(b.stepCount == 3)
        a.step(parameters: pa, gradients: g, learningRate: 0.01)
        b.step(parameters: pb, gradients: g, learningRate: 0.01)
        // Same state, same inputs, same code: bit-identical.
        #expect(pa.array() == pb.array() && a.m.array() == b.m.array() && a.v.array() == b.v.array())
    }

    @Test func restoreRejectsIncompleteState() throws {
        var w = SafeTensorsWriter()
        AdamW(layout: Self.layout).save(into: &w)
        var noStep = w
        noStep.metadata = [:]
        #expect(throws: OptimizerStateError.self) { try AdamW(layout: Self.layout).restore(from: SafeTensorsFile(data: noStep.serialized())) }
        let other = ParameterLayout([(name: "w", shape: [4, 5], decay: true), (name: "extra", shape: [2], decay: false)])
        let opt = AdamW(layout: other)
        #expect(throws: SafeTensorsError.missingTensor(file: "<memory>", tensor: "adamw.m.extra")) {
            try opt.restore(from: SafeTensorsFile(data: w.serialized()))
        }
        let wrongShape = ParameterLayout([(name: "w", shape: [5, 4], decay: true)])
        #expect(throws: SafeTensorsError.wrongShape(file: "<memory>", tensor: "adamw.m.w", expected: [5, 4], found: [4, 5])) {
            try AdamW(layout: wrongShape).restore(from: SafeTensorsFile(data: w.serialized()))
        }
    }

    @Test func clippingScalesToMaxNormOnlyWhenAbove() {
        let g = FloatBuffer(fixtureUniform(seed: 5, count: 300_000))
        let ref = g.array().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let n = clipGlobalNorm(g, maxNorm: 10)
        // Double accumulation on both sides (different order): agreement far below Float rounding.
        #expect(abs(Double(n) - ref) / ref < 1e-6)
        // After clipping the norm is maxNorm · n / (n + 1e-6), up to Float rounding of the scale.
        #expect(abs(globalNorm(g) - 10) < 1e-4)
        let small = g.array()
        #expect(clipGlobalNorm(g, maxNorm: 100) <= 100 && g.array() == small, "below the limit nothing changes")
        g[7] = .nan
        let before = g.array()
        #expect(clipGlobalNorm(g, maxNorm: 1).isNaN, "a NaN gradient gives a NaN norm")
        #expect(zip(g.array(), before).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "and leaves the gradients untouched")
    }

    @Test("negative, NaN or infinite hyperparameters are errors naming the value, not traps")
    func validatedHyperparameters() throws {
        #expect(throws: HyperparameterError(name: "learning rate", value: "-0.001", reason: "must be a finite number >= 0")) {
            try CosineSchedule.validated(baseLR: -1e-3, totalSteps: 10)
        }
        #expect(throws: HyperparameterError(name: "learning rate", value: "nan", reason: "must be a finite number >= 0")) {
            try CosineSchedule.validated(baseLR: .nan, totalSteps: 10)
        }
        #expect(throws: HyperparameterError(name: "warm-up steps", value: "-3", reason: "must be >= 0")) {
            try CosineSchedule.validated(baseLR: 1e-3, totalSteps: 10, warmupSteps: -3)
        }
        #expect(throws: HyperparameterError(name: "total steps", value: "0", reason: "must be at least 1")) {
            try CosineSchedule.validated(baseLR: 1e-3, totalSteps: 0)
        }
        #expect(throws: HyperparameterError(name: "weight decay", value: "-1e-05", reason: "must be a finite number >= 0")) {
            try AdamWConfiguration.validated(weightDecay: -1e-5)
        }
        #expect(throws: HyperparameterError(name: "weight decay", value: "inf", reason: "must be a finite number >= 0")) {
            try AdamWConfiguration.validated(weightDecay: .infinity)
        }
        #expect(throws: HyperparameterError(name: "beta2", value: "1.0", reason: "must be in [0, 1)")) {
            try AdamWConfiguration.validated(beta2: 1)
        }
        // Valid values give what the initialiser gives.
        #expect(try CosineSchedule.validated(baseLR: 2e-3, totalSteps: 100, warmupSteps: 5) == CosineSchedule(baseLR: 2e-3, totalSteps: 100, warmupSteps: 5))
        #expect(try AdamWConfiguration.validated(weightDecay: 0) == AdamWConfiguration(weightDecay: 0))
    }

    @Test("restoring a state whose moments hold NaN throws, naming the tensor, and changes nothing")
    func restoreRejectsNonFiniteMoments() throws {
        let opt = AdamW(layout: Self.layout)
        let p = flat(0), g = flat(1)
        opt.step(parameters: p, gradients: g, learningRate: 1e-2)
        var w = SafeTensorsWriter()
        opt.save(into: &w)
        let good = try SafeTensorsFile(data: w.serialized())
        var bad = SafeTensorsWriter(metadata: good.metadata)
        for n in good.names {
            var v = try good.floats(n)
            if n == "adamw.v.b" { v[2] = .nan }
            bad.add(n, shape: good.entry(n)!.shape, floats: v)
        }
        let fresh = AdamW(layout: Self.layout)
        #expect(throws: OptimizerStateError.nonFinite(source: "<memory>", tensor: "adamw.v.b", index: 2)) {
            try fresh.restore(from: SafeTensorsFile(data: bad.serialized()))
        }
        #expect(fresh.stepCount == 0 && fresh.v.array().allSatisfy { $0 == 0 })
        try fresh.restore(from: good)
        #expect(fresh.stepCount == 1 && fresh.v.array() == opt.v.array())
    }

    @Test func timmWeightDecayRule() {
        // timm param_groups_weight_decay: ndim <= 1, '.bias', or no_weight_decay() names are excluded.
        #expect(timmAppliesWeightDecay(name: "blocks.0.attn.qkv.weight", shape: [576, 192]))
        #expect(timmAppliesWeightDecay(name: "patch_embed.proj.weight", shape: [192, 3, 16, 16]))
        #expect(!timmAppliesWeightDecay(name: "blocks.0.attn.qkv.bias", shape: [576]))
        #expect(!timmAppliesWeightDecay(name: "blocks.0.norm1.weight", shape: [192]))
        #expect(!timmAppliesWeightDecay(name: "pos_embed", shape: [1, 197, 192]))
        #expect(!timmAppliesWeightDecay(name: "cls_token", shape: [1, 1, 192]))
    }
}
