import CoDEContrastive
import Foundation

/// Hyperparameters of CoDE training with ``Trainer``.
public struct TrainerConfiguration: Sendable, Equatable {
    /// Images per forward/backward pass (bounds memory); the logical batch is what `step` gets.
    public var microBatch: Int
    /// Learning rate as a function of the optimizer step.
    public var schedule: CosineSchedule
    public var adamW: AdamWConfiguration
    /// Global gradient-norm clipping (nil: none, as the authors' default).
    public var clipNorm: Float?
    /// InfoNCE temperature (SPEC: 0.1).
    public var temperature: Double
    /// Roll the augmented views within the batch (the authors' `roll_index`, a derangement) so a
    /// positive is a different image of the same class. Needs at least 2 pairs per batch.
    public var rollAugmentedViews: Bool
    /// When a step's batch fits in one micro-batch (pairs <= ``microBatch``), keep the training
    /// activations of all eight view groups (eight ``TrainingCache``s) and skip the second
    /// forward pass of the gradient cache: about 25% less compute per step for 8x the cache
    /// memory (about 8.9 GB at 32 pairs of 224x224 images). Larger batches fall back to the
    /// gradient cache. The gradient is the same either way.
    public var keepActivations: Bool
    /// What is trained: the CoDE objective (default) or one of the paper's comparisons. Only the
    /// objective's ``TrainingObjective/views`` are embedded and back-propagated; `bce` adds a
    /// linear head (``Trainer/head``) trained with the encoder.
    public var objective: TrainingObjective

    public init(microBatch: Int = 32, schedule: CosineSchedule, adamW: AdamWConfiguration = AdamWConfiguration(),
                clipNorm: Float? = nil, temperature: Double = 0.1, rollAugmentedViews: Bool = false,
                keepActivations: Bool = false, objective: TrainingObjective = .code) {
        self.objective = objective
        self.microBatch = microBatch
        self.schedule = schedule
        self.adamW = adamW
        self.clipNorm = clipNorm
        self.temperature = temperature
        self.rollAugmentedViews = rollAugmentedViews
        self.keepActivations = keepActivations
    }
}

/// What one optimizer step did.
public struct StepReport: Sendable {
    /// Optimizer step number after this step (1 for the first).
    public let step: Int
    public let objective: TrainingObjective
    public let loss: Double
    /// The InfoNCE parts (0 where ``objective`` has no such term, and for `bce`).
    public let lRealGlobal, lRealLocal, lFakeGlobal, lFakeLocal: Double
    public var lReal: Double { objective == .code ? (lRealGlobal + lRealLocal) / 2 : lRealGlobal }
    public var lFake: Double { objective == .code ? (lFakeGlobal + lFakeLocal) / 2 : lFakeGlobal }
    public let learningRate: Float
    /// Global gradient norm before clipping.
    public let gradientNorm: Double
    public let seconds: Double
    /// Images through the encoder per second (``TrainingObjective/views`` per pair).
    public let imagesPerSecond: Double
}

public enum TrainerError: Error, CustomStringConvertible {
    case nonFinite(String)
    case badBatch(String)
    case badCheckpoint(path: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFinite(s): "training stopped, parameters untouched: \(s)"
        case let .badBatch(s): "bad training batch: \(s)"
        case let .badCheckpoint(p, r): "\(p): cannot resume: \(r)"
        }
    }
}

/// CoDE training: the global + multi-scale InfoNCE objective over eight view groups, AdamW, and a
/// logical batch (the InfoNCE negatives) decoupled from the micro-batch (memory).
///
/// One step, with B pairs and micro-batch m ("gradient cache", SPEC section 3):
/// 1. embed all 8B views with the inference path, m at a time;
/// 2. evaluate the objective on the `[8, B, D]` embeddings: loss and dLoss/dEmbedding;
/// 3. for each chunk of m views: forward with caches, backward with its rows of dLoss/dEmbedding,
///    accumulating parameter gradients — equal to the whole-batch gradient;
/// 4. check the loss and gradient norm are finite (else throw, parameters untouched), clip,
///    AdamW with the scheduled learning rate.
/// Peak memory is the ``TrainingCache`` for m images plus `8 B D` floats, whatever B is, when the
/// views come from a ``ViewSource`` that produces them on demand. With
/// ``TrainerConfiguration/keepActivations`` and B <= m, step 1 runs the training forward into
/// eight caches and step 3 is backward only (no second forward).
public final class Trainer {
    public let model: ViT
    public let optimizer: AdamW
    public let configuration: TrainerConfiguration
    /// Generator for roll indices (and whatever the caller draws from it); saved with the state.
    public var rng: Xoshiro256
    public let gradients: FloatBuffer
    /// The micro-batch cache of the gradient-cache path, allocated on first use (steps that keep
    /// all activations never need it).
    lazy var cache = TrainingCache(configuration: model.configuration, capacity: configuration.microBatch)
    /// One cache per view group for `B` images, allocated on the first step that uses
    /// ``TrainerConfiguration/keepActivations`` (and again if a later step has more pairs).
    var groupCaches: [TrainingCache] = []
    let objective: CoDEObjective?
    /// The `bce` objective's linear head, `[D + 1]`: weight `[D]` then bias (layout ``Trainer/headLayout``);
    /// nil for the contrastive objectives.
    public let head: FloatBuffer?
    /// Gradients of ``head`` (nil without a head).
    public let headGradients: FloatBuffer?
    /// AdamW over the head (same configuration and learning rate as the encoder's).
    public let headOptimizer: AdamW?

    /// The head's tensors: `head.weight` `[1, D]` (weight decay) and `head.bias` `[1]` (none).
    public static func headLayout(width: Int) -> ParameterLayout {
        ParameterLayout([(name: "head.weight", shape: [1, width], decay: true), (name: "head.bias", shape: [1], decay: false)])
    }

    /// Fills `into` with the images `range` of `view` (planar `[range.count, C, S, S]`, normalised).
    /// Must give the same images when called twice with the same arguments within one step.
    public typealias ViewSource = (_ view: CoDEView, _ range: Range<Int>, _ into: UnsafeMutablePointer<Float>) throws -> Void

    public init(model: ViT, configuration: TrainerConfiguration, seed: UInt64) {
        precondition(configuration.microBatch >= 1, "Trainer: micro-batch must be at least 1")
        self.model = model
        self.configuration = configuration
        optimizer = AdamW(layout: model.layout, configuration: configuration.adamW)
        rng = Xoshiro256(seed: seed)
        gradients = model.layout.makeBuffer()
        let o = configuration.objective
        objective = o.isContrastive ? CoDEObjective(temperature: configuration.temperature, variant: o) : nil
        if o == .bce {
            let layout = Self.headLayout(width: model.configuration.width)
            let h = layout.makeBuffer()
            // nn.Linear's default initialisation: U(−1/√D, 1/√D) for weight and bias, from a
            // generator of its own so the roll generator's stream is unchanged.
            var headRNG = Xoshiro256(seed: seed ^ 0x8EAD_5EED)
            let bound = 1 / Float(model.configuration.width).squareRoot()
            for i in 0..<h.count { h[i] = Float.random(in: -bound..<bound, using: &headRNG) }
            head = h
            headGradients = layout.makeBuffer()
            headOptimizer = AdamW(layout: layout, configuration: configuration.adamW)
        } else {
            head = nil
            headGradients = nil
            headOptimizer = nil
        }
    }

    /// Optimizer steps taken so far.
    public var step: Int { optimizer.stepCount }

    /// Steps 1-3: zeroes ``gradients`` and fills them with dLoss/dParameters for a logical batch
    /// of `batch` pairs; returns the loss and its parts. Parameters are not changed.
    public func computeGradients(batch B: Int, views: ViewSource, rollReal: [Int]? = nil, rollFake: [Int]? = nil) throws -> CoDELossResult<Float> {
        guard B >= 1 else { throw TrainerError.badBatch("a step needs at least one (real, fake) pair") }
        let c = model.configuration
        let n = c.imageFloats, D = c.width, mb = configuration.microBatch
        let input = FloatBuffer(count: mb * n)
        let single = configuration.keepActivations && B <= mb
        let used = configuration.objective.views
        // One cache per view group the objective uses, indexed by position in `used`.
        if single && (groupCaches.count != used.count || (groupCaches.first?.capacity ?? 0) < B) {
            groupCaches = []  // release the smaller caches first
            groupCaches = used.map { _ in TrainingCache(configuration: c, capacity: B) }
        }
        // 1. Embeddings of the whole logical batch: the inference path, or (one micro-batch,
        //    activations kept) the training forward whose caches step 3 then uses directly.
        var groups = [Embeddings<Float>](repeating: Embeddings(zerosRows: B, dim: D), count: CoDEView.allCases.count)
        for (u, v) in used.enumerated() {
            var e = Embeddings<Float>(zerosRows: B, dim: D)
            try e.values.withUnsafeMutableBufferPointer { out in
                for start in stride(from: 0, to: B, by: mb) {
                    let r = start..<min(B, start + mb)
                    try views(v, r, input.pointer)
                    if single {
                        model.forward(input.pointer, batch: r.count, cache: groupCaches[u], into: out.baseAddress! + start * D)
                    } else {
                        model.embed(input.pointer, batch: r.count, into: out.baseAddress! + start * D)
                    }
                }
            }
            groups[v.rawValue] = e
        }
        // 2. Objective and dLoss/dEmbedding.
        let result: CoDELossResult<Float>
        do {
            if let objective {
                result = try objective(try CoDEViewEmbeddings(groups), rollReal: rollReal, rollFake: rollFake)
            } else {
                result = try headLoss(groups, batch: B)
            }
        } catch let e as ContrastiveError {
            if case .nonFinite = e { throw TrainerError.nonFinite("\(e)") }
            throw TrainerError.badBatch("\(e)")
        }
        guard result.total.isFinite else { throw TrainerError.nonFinite("loss is \(result.total)") }
        // 3. Forward with caches and backward, micro-batch by micro-batch.
        gradients.zero()
        if single {
            for (u, v) in used.enumerated() {
                result.gradients[v].values.withUnsafeBufferPointer { dE in
                    model.backward(dE.baseAddress!, cache: groupCaches[u], gradients: gradients)
                }
            }
            return result
        }
        let out = FloatBuffer(count: mb * D)
        for v in used {
            try result.gradients[v].values.withUnsafeBufferPointer { dE in
                for start in stride(from: 0, to: B, by: mb) {
                    let r = start..<min(B, start + mb)
                    try views(v, r, input.pointer)
                    model.forward(input.pointer, batch: r.count, cache: cache, into: out.pointer)
                    model.backward(dE.baseAddress! + start * D, cache: cache, gradients: gradients)
                }
            }
        }
        return result
    }

    /// The `bce` objective: the head on aug(real) (target 0) and aug(fake) (target 1); fills
    /// ``headGradients`` and returns dLoss/dEmbedding for the two groups.
    func headLoss(_ groups: [Embeddings<Float>], batch B: Int) throws -> CoDELossResult<Float> {
        guard let head, let headGradients else { preconditionFailure("Trainer: bce objective without a head") }
        let D = model.configuration.width
        let rows = groups[CoDEView.augmentedReal.rawValue].values + groups[CoDEView.augmentedFake.rawValue].values
        let targets = [Float](repeating: 0, count: B) + [Float](repeating: 1, count: B)
        let r = try BinaryCrossEntropyHead.lossAndGradients(embeddings: rows, rows: 2 * B, targets: targets,
                                                            weight: head.array(0..<D), bias: head[D])
        for c in 0..<D { headGradients[c] = r.dWeight[c] }
        headGradients[D] = r.dBias
        var g = CoDEViewEmbeddings<Float>(zerosRows: B, dim: D)
        g[.augmentedReal] = try Embeddings(rows: B, dim: D, values: Array(r.dEmbeddings[0..<(B * D)]))
        g[.augmentedFake] = try Embeddings(rows: B, dim: D, values: Array(r.dEmbeddings[(B * D)...]))
        return CoDELossResult(objective: .bce, total: r.loss, gradients: g)
    }

    /// One optimizer step on a logical batch of `batch` pairs whose views come from `views`.
    public func step(batch B: Int, views: ViewSource) throws -> StepReport {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var rollReal: [Int]?, rollFake: [Int]?
        if configuration.rollAugmentedViews {
            guard B >= 2 else { throw TrainerError.badBatch("rolling the augmented views needs at least 2 pairs") }
            rollReal = try derangement(B, using: &rng)
            rollFake = try derangement(B, using: &rng)
        }
        let r = try computeGradients(batch: B, views: views, rollReal: rollReal, rollFake: rollFake)
        let lr = configuration.schedule.learningRate(at: step)
        let norm: Double
        if let head, let headGradients, let headOptimizer {
            // One global norm over encoder and head, as clip_grad_norm_ over all parameters.
            let a = globalNorm(gradients), h = globalNorm(headGradients)
            norm = (a * a + h * h).squareRoot()
            guard norm.isFinite else { throw TrainerError.nonFinite("gradient norm is \(norm) at step \(step + 1)") }
            if let maxNorm = configuration.clipNorm {
                let coef = Double(maxNorm) / (norm + 1e-6)
                if coef < 1 {
                    for buffer in [gradients, headGradients] {
                        let g = buffer.pointer, c = Float(coef)
                        for i in 0..<buffer.count { g[i] *= c }
                    }
                }
            }
            optimizer.step(parameters: model.parameters, gradients: gradients, learningRate: lr)
            headOptimizer.step(parameters: head, gradients: headGradients, learningRate: lr)
        } else {
            norm = globalNorm(gradients)
            guard norm.isFinite else { throw TrainerError.nonFinite("gradient norm is \(norm) at step \(step + 1)") }
            if let maxNorm = configuration.clipNorm { _ = clipGlobalNorm(gradients, maxNorm: maxNorm) }
            optimizer.step(parameters: model.parameters, gradients: gradients, learningRate: lr)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        return StepReport(step: step, objective: configuration.objective, loss: r.total, lRealGlobal: r.lRealGlobal, lRealLocal: r.lRealLocal,
                          lFakeGlobal: r.lFakeGlobal, lFakeLocal: r.lFakeLocal, learningRate: lr, gradientNorm: norm,
                          seconds: seconds, imagesPerSecond: Double(configuration.objective.views.count * B) / seconds)
    }

    /// One optimizer step on materialised views (eight `[B, C, S, S]` buffers in ``CoDEView`` order).
    public func step(groups: [FloatBuffer], batch B: Int) throws -> StepReport {
        let n = model.configuration.imageFloats
        guard groups.count == 8, groups.allSatisfy({ $0.count == B * n }) else {
            throw TrainerError.badBatch("need 8 groups of \(B) x \(n) floats")
        }
        return try step(batch: B) { v, r, dst in dst.update(from: groups[v.rawValue].pointer + r.lowerBound * n, count: r.count * n) }
    }

    // MARK: Checkpoints

    static let stateFile = "trainer-state.safetensors"

    /// Saves the complete training state — encoder (transformers layout), AdamW moments, step,
    /// generator state — as the folder `folder`, replacing it atomically: everything is written to
    /// a temporary sibling folder first, then swapped in by rename.
    public func save(to folder: URL, metadata: [String: String] = [:]) throws {
        let fm = FileManager.default
        let parent = folder.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let tmp = parent.appendingPathComponent(".\(folder.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        let stepString = String(step)
        try model.save(to: tmp, metadata: ["codekit.step": stepString])
        var w = SafeTensorsWriter(metadata: metadata.merging([
            "codekit.step": stepString,
            "codekit.rng": rng.s.map(String.init).joined(separator: ","),
        ]) { a, _ in a })
        optimizer.save(into: &w)
        if let head, let headOptimizer {
            // Only non-default objectives record themselves, so `code` checkpoints stay as they were.
            w.metadata["codekit.objective"] = configuration.objective.rawValue
            let D = model.configuration.width
            w.add("head.weight", shape: [1, D], floats: UnsafeBufferPointer(start: head.pointer, count: D))
            w.add("head.bias", shape: [1], floats: UnsafeBufferPointer(start: head.pointer + D, count: 1))
            headOptimizer.save(into: &w, prefix: "head_adamw.")
        } else if configuration.objective != .code {
            w.metadata["codekit.objective"] = configuration.objective.rawValue
        }
        try w.write(to: tmp.appendingPathComponent(Self.stateFile))
        if fm.fileExists(atPath: folder.path) {
            let old = parent.appendingPathComponent(".\(folder.lastPathComponent).old-\(getpid())")
            try? fm.removeItem(at: old)
            guard rename(folder.path, old.path) == 0, rename(tmp.path, folder.path) == 0 else {
                throw FileWriteError(path: folder.path, reason: "rename failed: \(String(cString: strerror(errno)))")
            }
            try? fm.removeItem(at: old)
        } else if rename(tmp.path, folder.path) != 0 {
            throw FileWriteError(path: folder.path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Restores a state written by ``save(to:metadata:)`` into this trainer (same model shape).
    /// Continuing from it reproduces the uninterrupted run exactly.
    public func restore(from folder: URL) throws {
        let loaded = try ViT.load(from: folder)
        guard loaded.configuration == model.configuration else {
            throw TrainerError.badCheckpoint(path: folder.path, reason: "encoder shape differs from the trainer's")
        }
        let stateURL = folder.appendingPathComponent(Self.stateFile)
        let state: SafeTensorsFile
        do { state = try SafeTensorsFile(contentsOf: stateURL) } catch {
            throw TrainerError.badCheckpoint(path: stateURL.path, reason: "\(error)")
        }
        let words = (state.metadata["codekit.rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw TrainerError.badCheckpoint(path: stateURL.path, reason: "missing or bad generator state")
        }
        guard state.metadata["codekit.step"] != nil, state.metadata["codekit.step"] == loaded.savedStep else {
            throw TrainerError.badCheckpoint(path: folder.path, reason: "model and optimizer state are from different steps")
        }
        let savedObjective = state.metadata["codekit.objective"] ?? TrainingObjective.code.rawValue
        guard savedObjective == configuration.objective.rawValue else {
            throw TrainerError.badCheckpoint(path: stateURL.path, reason: "it was trained with --objective \(savedObjective), not \(configuration.objective.rawValue)")
        }
        if let head, let headOptimizer {
            let D = model.configuration.width
            let newHead = Self.headLayout(width: D).makeBuffer()
            do {
                try state.copy(state.require("head.weight", shape: [1, D]), into: newHead.pointer)
                try state.copy(state.require("head.bias", shape: [1]), into: newHead.pointer + D)
                try headOptimizer.restore(from: state, prefix: "head_adamw.")
            } catch { throw TrainerError.badCheckpoint(path: stateURL.path, reason: "\(error)") }
            guard newHead.array().allSatisfy(\.isFinite) else {
                throw TrainerError.badCheckpoint(path: stateURL.path, reason: "the head's weights are not finite")
            }
            head.copy(from: newHead)
        }
        try optimizer.restore(from: state)
        model.parameters.copy(from: loaded.parameters)
        rng = Xoshiro256(state: words)
    }
}

extension ViT {
    /// The `codekit.step` recorded in the weights file this model was loaded from, if any.
    var savedStep: String? { metadata["codekit.step"] }
}
