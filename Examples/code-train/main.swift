// code-train: train a CoDE encoder from scratch on a dataset of real and generated images.
import ArgumentParser
import CoDEKit
import CoDEMPI
import Foundation

/// Set by SIGINT/SIGTERM; the loop saves a checkpoint and exits after the current step.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

struct CodeTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-train",
        abstract: "Train a CoDE encoder (ViT, contrastive global + multi-scale InfoNCE) from scratch.",
        discussion: """
        DATASET: a folder with real/ and fake/, a CSV manifest (FILE.csv or FILE.csv#SPLIT), or WebDataset
        .tar shards (a file or a folder of them); several joined with commas.
        OUTPUT gets checkpoint/ (encoder in transformers layout + optimizer state; resumable), model/
        (the final encoder) and train-log.jsonl. Ctrl-C saves a checkpoint and exits; --resume continues
        bit for bit.
        Under mpirun (or srun), the ranks share every logical batch: each decodes, augments, embeds and
        back-propagates its part, the InfoNCE negatives span all ranks, and rank 0 alone writes OUTPUT.
        The result does not depend on the number of ranks (docs/distributed.md).
        """,
        version: CoDEKitVersion.description)

    // Optional to the parser, required by requireOptions() (run after the parse, which reports
    // an unknown option first, as such, rather than as a missing --data).
    @Option(name: .customLong("data"), help: "Training data (see DATASET).") var dataOption: String?
    @Option(name: .customLong("output"), help: "Output folder.") var outputOption: String?
    var data: String { dataOption ?? "" }
    var output: String { outputOption ?? "" }
    @Option(help: "Encoder shape: tiny (224x224, CoDE's ViT-Tiny), tiny32 (32x32 inputs, patch 4, for CIFAKE), or the path of a transformers ViTConfig config.json.")
    var config: String = "tiny"
    @Option(help: "Epochs (one epoch = min(#real, #fake) pairs).") var epochs: Int = 10
    @Option(help: "(real, fake) pairs per logical batch: the InfoNCE negatives.") var pairsPerBatch: Int = 32
    @Option(help: "Images per forward/backward pass (bounds memory, not the result).") var microBatch: Int = 32
    // `.unconditional`: a negative value (`--lr -1`) reaches validate() and gets its own error.
    @Option(parsing: .unconditional, help: "Peak learning rate, a finite number >= 0 (default: the authors' 2e-3 at 256, scaled linearly to the batch of pairs).")
    var lr: Double?
    @Option(parsing: .unconditional, help: "Linear warm-up, in epochs (per-step schedule), a finite number >= 0.") var warmupEpochs: Double = 1
    @Option(parsing: .unconditional, help: "AdamW weight decay (timm's default), a finite number >= 0.") var weightDecay: Float = 2e-5
    @Option(parsing: .unconditional, help: "Global gradient-norm clipping, a finite number >= 0 (0: none).") var clipNorm: Float = 1.0
    @Option(help: "Largest number of heavy-augmentation operations per view (the authors' k).") var maxOps: Int = 2
    @Flag(help: "Roll the augmented views within the batch (the authors' roll_index).") var roll = false
    @Option(help: "Seed for initialisation, pairing, views and rolls.") var seed: UInt64 = 0
    @Option(help: "Save a checkpoint every N steps (and at the end).") var checkpointEvery: Int = 50
    @Option(help: "Linear-probe accuracy on this dataset after each epoch.") var val: String?
    @Option(help: "Stop after this many optimizer steps in this invocation (for chunked runs; resume later).")
    var maxSteps: Int?
    @Flag(help: "Continue from OUTPUT/checkpoint.") var resume = false
    @Option(help: "Start from this encoder (transformers folder) instead of a random initialisation; the optimizer and schedule start afresh.")
    var initFrom: String?
    @Option(help: "Worker threads (default: all cores, divided among the ranks on this machine under mpirun).") var threads: Int?
    @Option(help: ArgumentHelp("How every view reaches the encoder's size after augmentation: resize-crop (the authors': resize the short side to size/0.9, centre crop) or center-crop (no resize, as at inference: native pixels).", valueName: "resize-crop|center-crop"))
    var finalView = "resize-crop"
    @Flag(help: "When --pairs-per-batch <= --micro-batch, keep all eight view groups' activations and skip the gradient cache's second forward (about 25% less compute; memory: 8 caches of --pairs-per-batch images, about 8.9 GB at 32 pairs of 224x224).")
    var keepActivations = false
    @Option(help: ArgumentHelp("What to train: code (the CoDE objective), global (the two global InfoNCE terms only), global-real (real anchors only), bce (supervised baseline: a linear head with binary cross-entropy on single augmented views). See docs/training-objective.md.", valueName: "code|global|global-real|bce"))
    var objective = "code"
    @Option(help: ArgumentHelp("What the encoder's linear-layer GEMMs compute in: fp32, or bf16 mixed precision (bf16 operands on oneDNN, fp32 accumulation, fp32 master weights, LayerNorm, attention, loss and AdamW; falls back to fp32, saying so, on a CPU without native bf16). See docs/performance.md.", valueName: "fp32|bf16"))
    var precision = "fp32"

    func validate() throws {
        if !["tiny", "tiny32"].contains(config) && !config.hasSuffix(".json") {
            throw ValidationError("--config must be tiny, tiny32 or a config.json file, not '\(config)'")
        }
        if !["resize-crop", "center-crop"].contains(finalView) { throw ValidationError("--final-view must be resize-crop or center-crop") }
        if TrainingPrecision(rawValue: precision) == nil {
            throw ValidationError("--precision must be fp32 or bf16, not '\(precision)'")
        }
        if TrainingObjective(rawValue: objective) == nil {
            throw ValidationError("--objective must be one of \(TrainingObjective.allCases.map(\.rawValue).joined(separator: ", ")), not '\(objective)'")
        }
        if epochs < 1 || pairsPerBatch < 2 || microBatch < 1 || checkpointEvery < 1 {
            throw ValidationError("--epochs, --micro-batch and --checkpoint-every must be at least 1, --pairs-per-batch at least 2")
        }
        if let lr, !(lr >= 0 && lr.isFinite) { throw ValidationError("--lr must be a finite number >= 0 (got \(lr))") }
        if !(warmupEpochs >= 0 && warmupEpochs.isFinite) { throw ValidationError("--warmup-epochs must be a finite number >= 0 (got \(warmupEpochs))") }
        if !(clipNorm >= 0 && clipNorm.isFinite) { throw ValidationError("--clip-norm must be a finite number >= 0 (got \(clipNorm))") }
        if let p = AdamWConfiguration.problem(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay) {
            throw ValidationError("--weight-decay must be a finite number >= 0 (got \(p.value))")
        }
        if let m = maxSteps, m < 1 { throw ValidationError("--max-steps must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func requireOptions() throws {
        if dataOption == nil { throw ValidationError("missing --data DATASET") }
        if outputOption == nil { throw ValidationError("missing --output FOLDER") }
    }

    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("code-train: \(message)\n".utf8))
        return ExitCode(2)
    }

    func run() throws {
        // bf16 runs its GEMMs on oneDNN, whose OpenMP threads must not spin (OpenMPWaitPolicy).
        if precision == "bf16" { OpenMPWaitPolicy.ensurePassive() }
        let comm: Communicator
        do { comm = try MPICommunicator.world() } catch { throw fail("cannot join the MPI job: \(error)") }
        if let t = threads { Threading.count = t } else if comm.size > 1 { Threading.count = MPICommunicator.threadsPerLocalRank }
        let root = comm.isRoot
        let outDir = URL(fileURLWithPath: output)
        let ckpt = outDir.appendingPathComponent("checkpoint")
        let vit: ViTConfiguration
        switch config {
        case "tiny": vit = .tiny
        case "tiny32": vit = .tiny32
        default:
            do { vit = try ViT.readTransformersConfig(URL(fileURLWithPath: config)) } catch { throw fail("--config: \(error)") }
        }
        let dataset: ImageDataset, valSet: ImageDataset?
        do {
            dataset = try DatasetSpec.open(data)
            valSet = try val.map { try DatasetSpec.open($0) }
        } catch { throw fail("\(error)") }

        let augmentation = try HeavyAugmentation(maxOps: maxOps, jpegCodec: TurboJPEGCodec())
        let views = try ViewSampler(size: vit.imageSize, augmentation: augmentation,
                                    final: finalView == "center-crop" ? .centerCrop : .resizeCenterCrop(cropPct: 0.9))
        let trainingObjective = TrainingObjective(rawValue: objective)!
        let trainingData: TrainingData
        do {
            // Each skipped pair is named at once (the message names the unreadable file).
            trainingData = try TrainingData(dataset: dataset, views: views, pairsPerBatch: pairsPerBatch, seed: seed, groups: trainingObjective.views,
                                            onSkip: { message in
                                                progressDone()
                                                FileHandle.standardError.write(Data("code-train: skipped a (real, fake) pair: \(message)\n".utf8))
                                            })
        } catch { throw fail("\(error)") }
        let perEpoch = trainingData.batchesPerEpoch
        let totalSteps = epochs * perEpoch
        let peak = lr ?? CosineSchedule.linearlyScaled(2e-3, batchSize: pairsPerBatch)
        let schedule: CosineSchedule, adamW: AdamWConfiguration
        do {
            schedule = try CosineSchedule.validated(baseLR: peak, totalSteps: totalSteps, warmupSteps: Int((warmupEpochs * Double(perEpoch)).rounded()))
            adamW = try AdamWConfiguration.validated(weightDecay: weightDecay)
        } catch { throw fail("\(error)") }
        let trainerConfig = TrainerConfiguration(microBatch: microBatch, schedule: schedule, adamW: adamW,
                                                 clipNorm: clipNorm > 0 ? clipNorm : nil, rollAugmentedViews: roll,
                                                 keepActivations: keepActivations, objective: trainingObjective,
                                                 precision: TrainingPrecision(rawValue: precision)!)
        let trainer = Trainer(model: ViT(configuration: vit, seed: seed), configuration: trainerConfig, seed: seed, communicator: comm)
        if let note = trainer.precisionNote, root { FileHandle.standardError.write(Data("code-train: \(note)\n".utf8)) }
        if let initFrom, !resume {
            do {
                let start = try ViT.load(from: URL(fileURLWithPath: initFrom))
                guard start.configuration == vit else { throw fail("--init-from \(initFrom): its shape is not --config \(config)") }
                trainer.model.parameters.copy(from: start.parameters)
            } catch let e as ExitCode { throw e } catch { throw fail("--init-from: \(error)") }
        }
        if resume {
            do { try trainer.restore(from: ckpt) } catch { throw fail("--resume: \(error)") }
        } else if FileManager.default.fileExists(atPath: ckpt.path) {
            throw fail("\(ckpt.path) exists: pass --resume to continue it, or choose another --output")
        }
        if comm.size > 1 {
            // Every rank loaded its state itself (seed, --init-from, --resume): they must agree.
            do { try trainer.checkSynchronized() } catch { throw fail("\(error)") }
        }
        if root { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) }
        let log = try JSONLLog(url: root ? outDir.appendingPathComponent("train-log.jsonl") : nil)
        if trainer.step == 0 {
            log.write(["event": "start", "data": data, "images": dataset.count, "real": dataset.realCount, "fake": dataset.fakeCount,
                       "config": config, "final_view": finalView, "keep_activations": keepActivations, "epochs": epochs, "pairs_per_batch": pairsPerBatch, "micro_batch": microBatch,
                       "steps_per_epoch": perEpoch, "total_steps": totalSteps, "peak_lr": peak, "warmup_steps": schedule.warmupSteps,
                       "weight_decay": Double(weightDecay), "clip_norm": Double(clipNorm), "max_ops": maxOps, "roll": roll, "seed": Double(seed),
                       "threads": Threading.count, "ranks": comm.size, "kernel": BLAS.kernelSelection, "kernel_advice": BLAS.kernelAdvice ?? "", "init_from": initFrom ?? "random (seed)",
                       "precision": trainer.precision.rawValue]
                      .merging(trainer.precisionNote.map { ["precision_note": $0] } ?? [:]) { a, _ in a }
                      // The default objective's log keeps its old fields only.
                      .merging(trainingObjective == .code ? [:] : ["objective": objective]) { a, _ in a })
        } else {
            // The precision may change between resumed chunks; the log says when it does.
            var entry: [String: Any] = ["event": "resume", "step": trainer.step, "precision": trainer.precision.rawValue]
            if let note = trainer.precisionNote { entry["precision_note"] = note }
            if let before = trainer.restoredPrecision, before != trainer.precision {
                entry["precision_before"] = before.rawValue
                if root { FileHandle.standardError.write(Data("code-train: the checkpoint was trained in \(before.rawValue); continuing in \(trainer.precision.rawValue)\n".utf8)) }
            }
            log.write(entry)
        }
        if comm.size > 1 && root { FileHandle.standardError.write(Data("code-train: \(comm.size) ranks (\(comm.description)), \(Threading.count) threads each\n".utf8)) }
        if let advice = BLAS.kernelAdvice, root { FileHandle.standardError.write(Data("code-train: note: \(advice)\n".utf8)) }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGTERM) { _ in stopRequested = 1 }

        let start = Date()
        let startStep = trainer.step
        var stepsThisRun = 0
        var savedStep = -1
        func save(_ why: String) throws {
            // Rank 0 writes (atomically: a job killed mid-write keeps the previous checkpoint).
            if root { try trainer.save(to: ckpt, metadata: ["codetrain.data": data, "codetrain.config": config]) }
            savedStep = trainer.step
            log.write(["event": "checkpoint", "step": trainer.step, "reason": why])
        }
        outer: for epoch in (trainer.step / perEpoch)..<epochs {
            let first = epoch == trainer.step / perEpoch ? trainer.step % perEpoch : 0
            // One process: batches refilled past unreadable pairs. Several ranks: each its share of
            // the batch, unreadable pairs dropped from the step (TrainingData.shardedBatches).
            let batches = comm.size == 1 ? trainingData.batches(epoch: epoch, from: first).lazy.map { TrainingBatch.whole($0) }.makeIterator().asAny()
                : trainingData.shardedBatches(epoch: epoch, from: first, communicator: comm).lazy.map { TrainingBatch.shard($0) }.makeIterator().asAny()
            var batchIndex = first
            while let batch = batches.next() {
                let report: StepReport
                do {
                    switch batch {
                    case let .whole(groups): report = try trainer.step(groups: groups, batch: pairsPerBatch)
                    case let .shard(result): report = try trainer.step(shard: try result.get(), batch: pairsPerBatch)
                    }
                } catch {
                    log.write(["event": "error", "step": trainer.step, "message": "\(error)"])
                    throw fail("\(error)")
                }
                stepsThisRun += 1
                batchIndex += 1
                let elapsed = Date().timeIntervalSince(start)
                let rate = Double(trainer.step - startStep) / elapsed
                let eta = Double(totalSteps - trainer.step) / max(rate, 1e-9)
                var entry: [String: Any] = ["event": "step", "step": report.step, "epoch": epoch, "loss": report.loss, "lr": Double(report.learningRate),
                                            "grad_norm": report.gradientNorm, "seconds": report.seconds, "images_per_second": report.imagesPerSecond,
                                            "skipped_pairs": trainingData.skipped]
                // Only the parts the objective has (all of them for `code`, as before).
                let parts = ["l_real_global": report.lRealGlobal, "l_real_local": report.lRealLocal,
                             "l_fake_global": report.lFakeGlobal, "l_fake_local": report.lFakeLocal]
                for name in trainingObjective.parts { entry[name] = parts[name] }
                if trainingObjective == .code || trainingObjective == .global { entry["l_real"] = report.lReal; entry["l_fake"] = report.lFake }
                log.write(entry)
                let detail = trainingObjective == .bce || trainingObjective == .globalReal ? ""
                    : String(format: " (real %.4f, fake %.4f)", report.lReal, report.lFake)
                if root { progress(String(format: "step %d/%d epoch %d | loss %.4f%@ | lr %.2e | |g| %.3f | %.1f img/s | ETA %@",
                                report.step, totalSteps, epoch + 1, report.loss, detail, report.learningRate,
                                report.gradientNorm, report.imagesPerSecond, duration(eta))) }
                // Every rank stops at the same step if any was asked to.
                let stop = comm.size == 1 ? stopRequested != 0 : (try comm.allReduceSum(stopRequested != 0 ? 1 : 0)) > 0
                if stop {
                    try save("interrupted")
                    if root { progressDone(); print("code-train: interrupted; checkpoint saved at step \(trainer.step)") }
                    throw ExitCode(130)
                }
                if trainer.step % checkpointEvery == 0 { try save("every \(checkpointEvery) steps") }
                if let m = maxSteps, stepsThisRun >= m { try save("--max-steps"); break outer }
            }
            if batchIndex < perEpoch { continue }  // epoch ended early only if pairs were skipped
            if let valSet, root {
                let (acc, n) = try linearProbeAccuracy(model: trainer.model, dataset: valSet)
                log.write(["event": "val", "epoch": epoch + 1, "step": trainer.step, "linear_probe_accuracy": acc, "images": n])
                progressDone()
                // On standard error, the stream of the progress line, so the two appear in order.
                FileHandle.standardError.write(Data(String(format: "code-train: epoch %d linear-probe accuracy on --val: %.2f%% (%d images, 2-fold)\n", epoch + 1, 100 * acc, n).utf8))
            }
        }
        progressDone()
        if stepsThisRun == 0 && trainer.step < totalSteps {
            // Nothing changes on a rerun or --resume: the pairing is seeded, the same pairs are
            // skipped again. No checkpoint is written (a fresh run leaves none behind).
            log.write(["event": "error", "step": trainer.step, "message": "no training step could be made", "skipped_pairs": trainingData.skipped])
            FileHandle.standardError.write(Data(("code-train: no training step could be made (at step \(trainer.step) of \(totalSteps)): "
                + "\(trainingData.skipped) (real, fake) pairs were skipped (unreadable files, named above), leaving fewer than "
                + "--pairs-per-batch \(pairsPerBatch) readable pairs for a batch; remove or fix those files, or lower --pairs-per-batch\n").utf8))
            throw ExitCode(1)
        }
        if savedStep != trainer.step { try save("end") }
        if !root {
            // Only rank 0 writes the model and reports.
        } else if trainer.step >= totalSteps {
            try trainer.model.save(to: outDir.appendingPathComponent("model"), metadata: ["codekit.step": String(trainer.step), "codetrain.data": data])
            if let head = trainer.head {
                // The bce baseline's head, a classifier of the model folder: --classifier head.
                let D = vit.width
                let h = LinearHead(coefficients: head.array(0..<D).map(Double.init), intercept: Double(head[D]))
                try h.save(to: outDir.appendingPathComponent("model/head.safetensors"), metadata: ["crops": "center"])
            }
            log.write(["event": "done", "step": trainer.step, "seconds": Date().timeIntervalSince(start)])
            print("code-train: done, \(trainer.step) steps; encoder in \(outDir.appendingPathComponent("model").path)")
        } else {
            print("code-train: stopped at step \(trainer.step) of \(totalSteps); continue with --resume")
        }
        let skipped = comm.size == 1 ? Double(trainingData.skipped) : try comm.allReduceSum(Double(trainingData.skipped))
        if skipped > 0 && root { print("code-train: \(Int(skipped)) pairs skipped (unreadable files, named on standard error)") }
    }
}

func duration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s)
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%dm%02ds", t / 60, t % 60)
}

let isTTY = isatty(2) != 0
nonisolated(unsafe) var lastProgress = Date.distantPast
func progress(_ line: String) {
    if isTTY {
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    } else if Date().timeIntervalSince(lastProgress) >= 30 {
        lastProgress = Date()
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
func progressDone() { if isTTY { FileHandle.standardError.write(Data("\n".utf8)) } }

/// A step's input: the whole logical batch (one process) or this rank's shard of it.
enum TrainingBatch {
    case whole([FloatBuffer])
    case shard(Result<TrainingData.Shard, Error>)
}

extension IteratorProtocol {
    func asAny() -> AnyIterator<Element> { var it = self; return AnyIterator { it.next() } }
}

/// Appends one JSON object per line, flushed at once (the log survives a crash). Without a URL
/// (ranks other than 0) it writes nothing.
final class JSONLLog {
    let handle: FileHandle?
    init(url: URL?) throws {
        guard let url else { handle = nil; return }
        // A failed create surfaces as the FileHandle error below, which names the path.
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        handle = try FileHandle(forWritingTo: url)
        try handle?.seekToEnd()
    }
    func write(_ object: [String: Any]) {
        var o = object
        o["time"] = ISO8601DateFormatter().string(from: Date())
        guard let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else { return }
        handle?.write(d + Data("\n".utf8))
    }
}

// Usage errors exit 2 (as the other tools), not ArgumentParser's 64; ExitCode keeps its code.
do {
    let command = try CodeTrain.parse()
    try command.requireOptions()
    try command.run()
} catch let e as ExitCode {
    exit(e.rawValue)
} catch {
    if CodeTrain.exitCode(for: error) == .success { CodeTrain.exit(withError: error) }
    FileHandle.standardError.write(Data((CodeTrain.fullMessage(for: error) + "\n").utf8))
    exit(2)
}
