import CoDEContrastive
import CoDEDistributed
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
    /// What the encoder's linear-layer GEMMs compute in: fp32 (default) or bf16 mixed precision
    /// (``TrainingPrecision/bf16``: bf16 operands, fp32 accumulation, fp32 master weights and
    /// AdamW). On a CPU without native bf16 the trainer falls back to fp32
    /// (``Trainer/precision``, ``Trainer/precisionNote``).
    public var precision: TrainingPrecision

    public init(microBatch: Int = 32, schedule: CosineSchedule, adamW: AdamWConfiguration = AdamWConfiguration(),
                clipNorm: Float? = nil, temperature: Double = 0.1, rollAugmentedViews: Bool = false,
                keepActivations: Bool = false, objective: TrainingObjective = .code, precision: TrainingPrecision = .fp32) {
        self.objective = objective
        self.precision = precision
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
    /// What the GEMMs actually compute in: ``TrainerConfiguration/precision``, except that bf16
    /// falls back to fp32 on a CPU without native bf16 (then ``precisionNote`` says so).
    public let precision: TrainingPrecision
    /// One line saying why bf16 was asked for but fp32 is used (nil otherwise).
    public let precisionNote: String?
    /// The micro-batch cache of the gradient-cache path, allocated on first use (steps that keep
    /// all activations never need it).
    lazy var cache = TrainingCache(configuration: model.configuration, capacity: configuration.microBatch, precision: precision)
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
    /// The processes this trainer shares its steps with (``SingleProcess`` by default). With
    /// more than one rank, each rank embeds and back-propagates only its share
    /// (``Communicator/share(of:)``) of the logical batch, the embeddings are all-gathered so
    /// every rank evaluates the objective over the whole batch (the negatives of all ranks),
    /// and the encoder gradients are all-reduced before the (identical) AdamW step.
    public let communicator: Communicator
    /// Seconds and bytes spent in collectives during the last step (0 on one process).
    public private(set) var lastCommunication: (seconds: Double, bytes: Int) = (0, 0)

    /// The head's tensors: `head.weight` `[1, D]` (weight decay) and `head.bias` `[1]` (none).
    public static func headLayout(width: Int) -> ParameterLayout {
        ParameterLayout([(name: "head.weight", shape: [1, width], decay: true), (name: "head.bias", shape: [1], decay: false)])
    }

    /// Fills `into` with the images `range` of `view` (planar `[range.count, C, S, S]`, normalised).
    /// Must give the same images when called twice with the same arguments within one step.
    public typealias ViewSource = (_ view: CoDEView, _ range: Range<Int>, _ into: UnsafeMutablePointer<Float>) throws -> Void

    public init(model: ViT, configuration: TrainerConfiguration, seed: UInt64, communicator: Communicator = SingleProcess()) {
        precondition(configuration.microBatch >= 1, "Trainer: micro-batch must be at least 1")
        self.model = model
        self.communicator = communicator
        self.configuration = configuration
        if configuration.precision == .bf16 && !TrainingPrecision.bf16Support.native {
            precision = .fp32
            precisionNote = "bf16 training needs native bf16 GEMMs, which oneDNN does not offer on this CPU (its bf16 matmul: \(TrainingPrecision.bf16Support.implementation)): training in fp32 instead"
        } else {
            precision = configuration.precision
            precisionNote = nil
        }
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
    ///
    /// `views` is asked only for the pairs of this rank's share (``Communicator/share(of:)``),
    /// by their index in the logical batch. `valid` (B flags, the same on every rank) drops the
    /// pairs whose files could not be read from the objective: their rows are still embedded
    /// (from whatever `views` wrote, e.g. zeros) but get a zero gradient, which contributes
    /// exactly nothing. Rolls index the valid pairs.
    public func computeGradients(batch B: Int, views: ViewSource, rollReal: [Int]? = nil, rollFake: [Int]? = nil,
                                 valid: [Bool]? = nil) throws -> CoDELossResult<Float> {
        guard B >= 1 else { throw TrainerError.badBatch("a step needs at least one (real, fake) pair") }
        if let valid, valid.count != B { throw TrainerError.badBatch("\(valid.count) validity flags for \(B) pairs") }
        let kept = valid.map { v in v.indices.filter { v[$0] } } ?? Array(0..<B)
        guard !kept.isEmpty else { throw TrainerError.badBatch("no readable pair in the batch") }
        let c = model.configuration
        let n = c.imageFloats, D = c.width, mb = configuration.microBatch
        let comm = communicator
        let mine = comm.share(of: B), local = mine.count
        let counts = (0..<comm.size).map { dataParallelShare(of: B, rank: $0, size: comm.size).count * D }
        var commSeconds = 0.0, commBytes = 0
        let input = FloatBuffer(count: mb * n)
        let single = configuration.keepActivations && local <= mb
        let used = configuration.objective.views
        // One cache per view group the objective uses, indexed by position in `used`.
        if single && local > 0 && (groupCaches.count != used.count || (groupCaches.first?.capacity ?? 0) < local) {
            groupCaches = []  // release the smaller caches first
            groupCaches = used.map { _ in TrainingCache(configuration: c, capacity: local, precision: precision) }
        }
        // 1. Embeddings of this rank's rows: the inference path, or (one micro-batch, activations
        //    kept) the training forward whose caches step 3 then uses directly. Then the rows of
        //    every rank, so each rank holds the whole logical batch. In bf16 the loss must come
        //    from the same bf16 arithmetic as the gradients, so the gradient cache's first pass
        //    is the (bf16) training forward too.
        var groups = [Embeddings<Float>](repeating: Embeddings(zerosRows: B, dim: D), count: CoDEView.allCases.count)
        let own = FloatBuffer(count: max(1, local * D))
        for (u, v) in used.enumerated() {
            for start in stride(from: 0, to: local, by: mb) {
                let r = (mine.lowerBound + start)..<(mine.lowerBound + min(local, start + mb))
                try views(v, r, input.pointer)
                if single {
                    model.forward(input.pointer, batch: r.count, cache: groupCaches[u], into: own.pointer + start * D)
                } else if precision == .bf16 {
                    model.forward(input.pointer, batch: r.count, cache: cache, into: own.pointer + start * D)
                } else {
                    model.embed(input.pointer, batch: r.count, into: own.pointer + start * D)
                }
            }
            var e = Embeddings<Float>(zerosRows: B, dim: D)
            let t0 = DispatchTime.now().uptimeNanoseconds
            try e.values.withUnsafeMutableBufferPointer { out in
                try comm.allGather(own.pointer, counts: counts, into: out.baseAddress!)
            }
            if comm.size > 1 {
                commSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                commBytes += 4 * B * D
            }
            groups[v.rawValue] = e
        }
        // 2. Objective and dLoss/dEmbedding, over the valid pairs; every rank computes the same.
        var result: CoDELossResult<Float>
        do {
            let compact = kept.count == B ? groups : try groups.map { try $0.rows(kept) }
            if let objective {
                result = try objective(try CoDEViewEmbeddings(compact), rollReal: rollReal, rollFake: rollFake)
            } else {
                result = try headLoss(compact, batch: kept.count)
            }
            if kept.count != B { result = try result.expanded(rows: kept, to: B) }
        } catch let e as ContrastiveError {
            if case .nonFinite = e { throw TrainerError.nonFinite("\(e)") }
            throw TrainerError.badBatch("\(e)")
        }
        guard result.total.isFinite else { throw TrainerError.nonFinite("loss is \(result.total)") }
        // 3. Forward with caches and backward over this rank's rows, micro-batch by micro-batch;
        //    then the sum of every rank's gradients.
        gradients.zero()
        if single {
            if local > 0 {
                for (u, v) in used.enumerated() {
                    result.gradients[v].values.withUnsafeBufferPointer { dE in
                        model.backward(dE.baseAddress! + mine.lowerBound * D, cache: groupCaches[u], gradients: gradients)
                    }
                }
            }
        } else {
            let out = FloatBuffer(count: mb * D)
            for v in used {
                try result.gradients[v].values.withUnsafeBufferPointer { dE in
                    for start in stride(from: 0, to: local, by: mb) {
                        let r = (mine.lowerBound + start)..<(mine.lowerBound + min(local, start + mb))
                        try views(v, r, input.pointer)
                        model.forward(input.pointer, batch: r.count, cache: cache, into: out.pointer)
                        model.backward(dE.baseAddress! + r.lowerBound * D, cache: cache, gradients: gradients)
                    }
                }
            }
        }
        if comm.size > 1 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try comm.allReduceSum(gradients.pointer, count: gradients.count)
            commSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            commBytes += 4 * gradients.count
        }
        lastCommunication = (commSeconds, commBytes)
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

    /// One optimizer step on a logical batch of `batch` pairs whose views come from `views`
    /// (asked only for this rank's share of the pairs); `valid` drops unreadable pairs (see
    /// ``computeGradients(batch:views:rollReal:rollFake:valid:)``).
    public func step(batch B: Int, views: ViewSource, valid: [Bool]? = nil) throws -> StepReport {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var rollReal: [Int]?, rollFake: [Int]?
        let kept = valid?.filter { $0 }.count ?? B
        if configuration.rollAugmentedViews {
            guard kept >= 2 else { throw TrainerError.badBatch("rolling the augmented views needs at least 2 pairs") }
            rollReal = try derangement(kept, using: &rng)
            rollFake = try derangement(kept, using: &rng)
        }
        let r = try computeGradients(batch: B, views: views, rollReal: rollReal, rollFake: rollFake, valid: valid)
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
                          seconds: seconds, imagesPerSecond: Double(configuration.objective.views.count * kept) / seconds)
    }

    /// One optimizer step on materialised views (eight `[B, C, S, S]` buffers in ``CoDEView`` order).
    public func step(groups: [FloatBuffer], batch B: Int) throws -> StepReport {
        let n = model.configuration.imageFloats
        guard groups.count == 8, groups.allSatisfy({ $0.count == B * n }) else {
            throw TrainerError.badBatch("need 8 groups of \(B) x \(n) floats")
        }
        return try step(batch: B) { v, r, dst in dst.update(from: groups[v.rawValue].pointer + r.lowerBound * n, count: r.count * n) }
    }

    /// One optimizer step on this rank's part of a logical batch of `batch` pairs, as
    /// ``TrainingData/shardedBatches(epoch:from:communicator:)`` gives it.
    public func step(shard: TrainingData.Shard, batch B: Int) throws -> StepReport {
        let n = model.configuration.imageFloats
        guard shard.groups.count == 8, shard.valid.count == B, shard.rows == communicator.share(of: B),
              shard.groups.allSatisfy({ $0.count >= shard.rows.count * n }) else {
            throw TrainerError.badBatch("a shard of rows \(shard.rows) with \(shard.valid.count) flags does not fit a batch of \(B) pairs on rank \(communicator.rank) of \(communicator.size)")
        }
        let base = shard.rows.lowerBound
        return try step(batch: B, views: { v, r, dst in
            dst.update(from: shard.groups[v.rawValue].pointer + (r.lowerBound - base) * n, count: r.count * n)
        }, valid: shard.valid.allSatisfy { $0 } ? nil : shard.valid)
    }

    /// Checks that every rank holds the same training state (step, parameters, AdamW moments,
    /// generator): after a start, `--init-from` or `--resume`, each rank loaded its state itself,
    /// and a rank that read another file would silently train something else. Compares 64-bit
    /// fingerprints of the bit patterns over all ranks; throws naming the first rank that differs.
    public func checkSynchronized() throws {
        let comm = communicator
        guard comm.size > 1 else { return }
        func fingerprint(_ b: FloatBuffer?) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            guard let b else { return h }
            for i in 0..<b.count { h = (h ^ UInt64(b[i].bitPattern)) &* 0x100_0000_01b3 }
            return h
        }
        var rngHash: UInt64 = 0
        for x in rng.s { rngHash = (rngHash ^ x) &* 0x100_0000_01b3 }
        let mine = [UInt64(step), fingerprint(model.parameters), fingerprint(optimizer.m), fingerprint(optimizer.v), fingerprint(head), rngHash]
        // Each rank writes its values (as exact 32-bit halves) into its own slots; the sum gathers them.
        let width = 2 * mine.count
        var slots = [Double](repeating: 0, count: width * comm.size)
        for (j, x) in mine.enumerated() {
            slots[comm.rank * width + 2 * j] = Double(x >> 32)
            slots[comm.rank * width + 2 * j + 1] = Double(x & 0xFFFF_FFFF)
        }
        let all = try comm.allReduceSum(slots)
        let names = ["step", "parameters", "AdamW first moments", "AdamW second moments", "head", "generator"]
        for r in 1..<comm.size {
            for j in 0..<mine.count where all[r * width + 2 * j] != all[2 * j] || all[r * width + 2 * j + 1] != all[2 * j + 1] {
                throw TrainerError.badBatch("rank \(r) does not hold rank 0's training state (\(names[j]) differ): every rank must start from the same seed, --init-from and checkpoint")
            }
        }
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
        w.metadata["codekit.precision"] = precision.rawValue
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

    /// The precision the state restored by ``restore(from:)`` was trained in (nil before a
    /// restore; fp32 for checkpoints written before precisions were recorded). Resuming in
    /// another precision is allowed.
    public private(set) var restoredPrecision: TrainingPrecision?

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
        let savedPrecision = state.metadata["codekit.precision"] ?? TrainingPrecision.fp32.rawValue
        guard let p = TrainingPrecision(rawValue: savedPrecision) else {
            throw TrainerError.badCheckpoint(path: stateURL.path, reason: "unknown training precision '\(savedPrecision)'")
        }
        try optimizer.restore(from: state)
        model.parameters.copy(from: loaded.parameters)
        rng = Xoshiro256(state: words)
        restoredPrecision = p
    }
}

extension ViT {
    /// The `codekit.step` recorded in the weights file this model was loaded from, if any.
    var savedStep: String? { metadata["codekit.step"] }
}

// MARK: Dropping unreadable pairs

extension Embeddings where T == Float {
    /// The rows `kept` (in order).
    func rows(_ kept: [Int]) throws -> Embeddings<Float> {
        var v = [Float](); v.reserveCapacity(kept.count * dim)
        for i in kept { v += values[(i * dim)..<((i + 1) * dim)] }
        return try Embeddings(rows: kept.count, dim: dim, values: v)
    }

    /// `batch` rows, row `kept[j]` being row j of `self` and the others zero.
    func expanded(rows kept: [Int], to batch: Int) throws -> Embeddings<Float> {
        var v = [Float](repeating: 0, count: batch * dim)
        for (j, i) in kept.enumerated() { v[(i * dim)..<((i + 1) * dim)] = values[(j * dim)..<((j + 1) * dim)] }
        return try Embeddings(rows: batch, dim: dim, values: v)
    }
}

extension CoDELossResult where T == Float {
    /// The same loss with its gradients spread back to a batch of `batch` rows (zero rows for
    /// the pairs that were dropped).
    func expanded(rows kept: [Int], to batch: Int) throws -> CoDELossResult<Float> {
        let g = try CoDEViewEmbeddings(gradients.views.map { try $0.expanded(rows: kept, to: batch) })
        return CoDELossResult(objective: objective, total: total, lRealGlobal: lRealGlobal, lRealLocal: lRealLocal,
                              lFakeGlobal: lFakeGlobal, lFakeLocal: lFakeLocal, gradients: g)
    }
}
