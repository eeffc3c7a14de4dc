// code-bench: throughput of CoDEKit's encoder against the sgemm-bound ceiling.
//
// Measures sgemm GFLOP/s at every GEMM shape of the ViT-Tiny forward (called exactly as the
// model calls them), derives the sgemm-bound ceiling (images/s if every GEMM ran at its measured
// rate and everything else took no time), then the encoder's forward images/s at batch 1 and 32
// and the time per layer kind. Each repeat measures the GEMMs and the forward back to back; the
// fraction of the ceiling is the median of the per-repeat ratios, the rates the medians over
// repeats, after a warm-up. Prints a table and writes JSON.
import ArgumentParser
import CoDEKit
import CoDEOneDNN
import Foundation

struct GemmShape {
    let name: String
    let m, n, k: Int
    let transB: Bool
    /// How many such GEMMs one forward of the batch performs (independent ones run in parallel).
    let perBatch: Int
    let parallelSmall: Bool
    var transA = false
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

    /// The shape as written to the JSON report, with its measured rate (what
    /// `Benchmarks/peers/gemm_peer.py` reads to time the same GEMMs in another BLAS).
    func json(gflops: Double) -> [String: Any] {
        ["name": name, "m": m, "n": n, "k": k, "trans_a": transA, "trans_b": transB,
         "per_batch": perBatch, "parallel_small": parallelSmall, "gflops": gflops]
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func time(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
}

struct CodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "code-bench", abstract: "Benchmark the CoDEKit encoder.")

    @Option(help: "Threads (CoDEKit's one threading knob).") var threads = 2
    @Option(help: "Timed repetitions per measurement (median reported).") var repeats = 9
    @Option(help: "Batch sizes for the forward benchmark.") var batches: [Int] = [1, 32]
    @Option(help: "Write the results as JSON to this file.") var output = "bench-results/encoder.json"
    @Flag(help: "Also measure training: forward + backward + AdamW at micro-batch 32.") var training = false
    @Flag(help: "Instead of the benchmark, time the training step (forward + backward + AdamW at the micro-batch) in fp32 and in bf16 mixed precision, alternating rounds, and report the medians and their ratio.")
    var bf16Training = false
    @Option(help: ArgumentHelp("Precision of --profile-steps and --serve-training steps.", valueName: "fp32|bf16")) var precision = "fp32"
    @Option(help: "Instead of the benchmark, run this many training steps (forward + backward + AdamW at the micro-batch) and nothing else, for profilers.")
    var profileSteps: Int?
    @Option(help: "Instead of the benchmark, run this many batch-32 forwards (ViT.embed) and nothing else, for profilers.")
    var profileForwards: Int?
    @Option(help: "Instead of the benchmark, run one CoDE step with this many (real, fake) pairs and report peak memory.")
    var stepMemory: Int?
    @Option(help: "Micro-batch for --step-memory and --training.") var microBatch = 32
    @Option(help: "Instead of the benchmark, embed every image in this folder (decode + centre crop + forward, batch 32) and compare with the batch-32 forward rate.")
    var embedDir: String?
    @Option(help: "Crops for --embed-dir: center or five (five windows per image, their embeddings averaged).")
    var crops: String = "center"
    @Flag(help: "Instead of the benchmark, compare the forward at --precisions fp32, bf16 and int8 (docs/precision.md): images/s at each of --batches, in alternating rounds; medians and per-round ratios to fp32.")
    var precisions = false
    @Flag(help: "Instead of the benchmark, serve training steps to a driver (Benchmarks/peers/interleaved.py): print \"ready\" after set-up, then for each line N on standard input run N steps and print their times in seconds on one line.")
    var serveTraining = false

    /// The forward's GEMMs (`ViT.embed` and the training forward run the same ones): the last
    /// block works on the CLS rows only after its qkv projection (attention for one query per
    /// image and head, then projection and MLP on B rows).
    func shapes(batch B: Int, config c: ViTConfiguration) -> [GemmShape] {
        let T = c.tokens, D = c.width, F = c.mlpWidth, H = c.heads, hd = c.headDim, L = c.depth
        let full = L - 1
        return [
            GemmShape(name: "patch embed", m: B * c.patchCount, n: D, k: c.patchInputs, transB: true, perBatch: 1, parallelSmall: false),
            GemmShape(name: "qkv", m: B * T, n: 3 * D, k: D, transB: true, perBatch: L, parallelSmall: false),
            GemmShape(name: "attn QK^T", m: T, n: T, k: hd, transB: true, perBatch: full * B * H, parallelSmall: true),
            GemmShape(name: "attn PV", m: T, n: hd, k: T, transB: false, perBatch: full * B * H, parallelSmall: true),
            GemmShape(name: "proj", m: B * T, n: D, k: D, transB: true, perBatch: full, parallelSmall: false),
            GemmShape(name: "fc1", m: B * T, n: F, k: D, transB: true, perBatch: full, parallelSmall: false),
            GemmShape(name: "fc2", m: B * T, n: D, k: F, transB: true, perBatch: full, parallelSmall: false),
            GemmShape(name: "CLS qK^T", m: 1, n: T, k: hd, transB: true, perBatch: B * H, parallelSmall: true),
            GemmShape(name: "CLS pV", m: 1, n: hd, k: T, transB: false, perBatch: B * H, parallelSmall: true),
            GemmShape(name: "CLS proj", m: B, n: D, k: D, transB: true, perBatch: 1, parallelSmall: false),
            GemmShape(name: "CLS fc1", m: B, n: F, k: D, transB: true, perBatch: 1, parallelSmall: false),
            GemmShape(name: "CLS fc2", m: B, n: D, k: F, transB: true, perBatch: 1, parallelSmall: false),
        ]
    }

    /// One GEMM shape, run the way the model runs it: big GEMMs through BLAS.matmul (partitioned
    /// over threads), the per-head attention GEMMs as B*H independent single-threaded calls
    /// spread over the threads. Buffers are allocated once; `sample()` times enough calls for
    /// ~50 ms and returns GFLOP/s.
    final class GemmProbe {
        let shape: GemmShape
        let count: Int
        let a, b, c: FloatBuffer
        var inner = 1

        init(_ s: GemmShape, batch: Int, heads: Int) {
            shape = s
            count = s.parallelSmall ? batch * heads : 1
            a = FloatBuffer(fixtureUniform(seed: 1, count: count * s.m * s.k))
            b = FloatBuffer(fixtureUniform(seed: 2, count: count * s.k * s.n))
            c = FloatBuffer(count: count * s.m * s.n)
            for _ in 0..<2 { run() }
            inner = max(1, Int(0.05 / max(time(run), 1e-6)))
        }

        func run() {
            let s = shape, a = a, b = b, c = c
            if s.parallelSmall {
                Threading.parallelFor(count) { i in
                    BLAS.sgemm(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, alpha: 1,
                               a: a.pointer + i * s.m * s.k, lda: s.transA ? s.m : s.k, b: b.pointer + i * s.k * s.n, ldb: s.transB ? s.k : s.n,
                               beta: 0, c: c.pointer + i * s.m * s.n, ldc: s.n)
                }
            } else {
                BLAS.matmul(a.pointer, b.pointer, c.pointer, m: s.m, n: s.n, k: s.k, transA: s.transA, transB: s.transB)
            }
        }

        func sample() -> Double {
            let t = time { for _ in 0..<inner { run() } } / Double(inner)
            return shape.flops * Double(count) / t / 1e9
        }
    }

    /// The paired protocol: per repeat, one sample of every GEMM probe (the sgemm-bound ceiling
    /// for that moment), then one timed run of the workload (`run` returns seconds per batch of
    /// `batch` images). Returns the per-repeat rates per probe, ceilings, images/s and their ratios.
    func paired(_ probes: [GemmProbe], batch B: Int, _ run: () -> Double)
        -> (rates: [[Double]], ceilings: [Double], speeds: [Double], ratios: [Double]) {
        var rates = probes.map { _ in [Double]() }
        var ceilings: [Double] = [], speeds: [Double] = [], ratios: [Double] = []
        for _ in 0..<repeats {
            var ceilingTime = 0.0
            for (i, p) in probes.enumerated() {
                let rate = p.sample()
                rates[i].append(rate)
                ceilingTime += p.shape.flops * Double(p.shape.perBatch) / Double(B) / (rate * 1e9)
            }
            let t = run()
            ceilings.append(1 / ceilingTime)
            speeds.append(Double(B) / t)
            ratios.append(Double(B) / t * ceilingTime)
        }
        return (rates, ceilings, speeds, ratios)
    }

    /// Backward GEMMs, as the model issues them: dX = dY W, dW = dY^T X per linear layer, and the
    /// four per-head attention products; the last block's after its qkv projection on the CLS
    /// rows only (as its forward).
    func backwardShapes(batch B: Int, config c: ViTConfiguration) -> [GemmShape] {
        let T = c.tokens, D = c.width, F = c.mlpWidth, H = c.heads, hd = c.headDim, L = c.depth, M = B * T
        var out: [GemmShape] = []
        for (name, inF, outF) in [("qkv", D, 3 * D), ("proj", D, D), ("fc1", D, F), ("fc2", F, D)] {
            let full = name == "qkv" ? L : L - 1
            out.append(GemmShape(name: "d\(name) dX", m: M, n: inF, k: outF, transB: false, perBatch: full, parallelSmall: false))
            out.append(GemmShape(name: "d\(name) dW", m: outF, n: inF, k: M, transB: false, perBatch: full, parallelSmall: false, transA: true))
            if name != "qkv" {
                out.append(GemmShape(name: "CLS d\(name) dX", m: B, n: inF, k: outF, transB: false, perBatch: 1, parallelSmall: false))
                out.append(GemmShape(name: "CLS d\(name) dW", m: outF, n: inF, k: B, transB: false, perBatch: 1, parallelSmall: false, transA: true))
            }
        }
        out.append(GemmShape(name: "dpatch dW", m: D, n: c.patchInputs, k: B * c.patchCount, transB: false, perBatch: 1, parallelSmall: false, transA: true))
        out.append(GemmShape(name: "attn dP", m: T, n: T, k: hd, transB: true, perBatch: (L - 1) * B * H, parallelSmall: true))
        out.append(GemmShape(name: "attn dV,dK", m: T, n: hd, k: T, transB: false, perBatch: 2 * (L - 1) * B * H, parallelSmall: true, transA: true))
        out.append(GemmShape(name: "attn dQ", m: T, n: hd, k: T, transB: false, perBatch: (L - 1) * B * H, parallelSmall: true))
        out.append(GemmShape(name: "CLS dp", m: 1, n: T, k: hd, transB: true, perBatch: B * H, parallelSmall: true))
        out.append(GemmShape(name: "CLS dV,dK", m: T, n: hd, k: 1, transB: false, perBatch: 2 * B * H, parallelSmall: true, transA: true))
        out.append(GemmShape(name: "CLS dq", m: 1, n: hd, k: T, transB: false, perBatch: B * H, parallelSmall: true))
        return out
    }

    /// Peak resident memory of this process, from getrusage (kilobytes on Linux).
    func peakRSS() -> Double {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_maxrss) * 1024
    }

    /// One CoDE step with `pairs` pairs whose views are produced on demand (never all in memory).
    func runStepMemory(_ pairs: Int) throws {
        let c = ViTConfiguration.tiny
        let model = ViT(configuration: c, seed: 0)
        let trainer = Trainer(model: model, configuration: TrainerConfiguration(
            microBatch: microBatch, schedule: CosineSchedule(baseLR: 1e-4, totalSteps: 10)), seed: 0)
        let n = c.imageFloats
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try trainer.step(batch: pairs) { v, range, dst in
            for (k, i) in range.enumerated() {
                var g = SplitMix64(seed: UInt64(v.rawValue * 1_000_003 + i))
                for j in 0..<n { dst[k * n + j] = Float(g.next() >> 40) / 8_388_608 - 1 }
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let rss = peakRSS()
        print(String(format: "CoDE step: %d pairs (%d images), micro-batch %d: loss %.4f, %.1f s, %.1f images/s, peak RSS %.2f GiB",
                     pairs, 8 * pairs, microBatch, r.loss, seconds, r.imagesPerSecond, rss / 1073741824))
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let json: [String: Any] = ["pairs": pairs, "images": 8 * pairs, "micro_batch": microBatch, "seconds": seconds,
                                   "peak_rss_bytes": rss, "images_per_second": r.imagesPerSecond, "threads": threads]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: url)
    }

    /// Files → embeddings through `Embedder` (what code-embed and code-detect run), against the
    /// encoder's own batch-32 forward rate measured in the same process.
    func runEmbedFiles(_ dir: String) throws {
        let c = ViTConfiguration.tiny
        let model = ViT(configuration: c, seed: 0)
        let files = try InputFiles.expand([dir])
        let input = FloatBuffer(fixtureUniform(seed: 3, count: 32 * c.imageFloats))
        let out = FloatBuffer(count: 32 * c.width)
        for _ in 0..<2 { model.embed(input.pointer, batch: 32, into: out.pointer) }
        let forward = 32 / median((0..<repeats).map { _ in time { model.embed(input.pointer, batch: 32, into: out.pointer) } })
        guard let layout = CropLayout(rawValue: crops) else { throw ValidationError("--crops must be center or five") }
        let embedder = Embedder(model: model, crops: layout)
        var errors = 0
        let seconds = time { embedder.embed(files: files, batchSize: 32) { r in if r.error != nil { errors += 1 } } }
        let ips = Double(files.count) / seconds, wps = ips * Double(layout.count)
        print(String(format: "embed %d files from %@ (%@ crops): %.1f images/s = %.1f encoder windows/s (%d errors); encoder forward at batch 32: %.1f images/s; windows/s over forward %.1f%%",
                     files.count, dir as NSString, layout.rawValue, ips, wps, errors, forward, 100 * wps / forward))
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let json: [String: Any] = ["files": files.count, "errors": errors, "crops": layout.rawValue, "images_per_second": ips,
                                   "windows_per_second": wps, "forward_batch32_images_per_second": forward, "ratio": wps / forward,
                                   "threads": threads]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: url)
    }

    /// One training step (forward with caches + backward + AdamW) on fixed inputs at the
    /// micro-batch, with everything it needs allocated once.
    func makeTrainingStep(_ model: ViT, precision: TrainingPrecision = .fp32, cache cacheOut: UnsafeMutablePointer<TrainingCache?>? = nil) -> () -> Void {
        let c = model.configuration, B = microBatch
        let cache = TrainingCache(configuration: c, capacity: B, precision: precision)
        cacheOut?.pointee = cache
        let grads = model.layout.makeBuffer()
        let adam = AdamW(layout: model.layout)
        let input = FloatBuffer(fixtureUniform(seed: 5, count: B * c.imageFloats))
        let out = FloatBuffer(count: B * c.width)
        let dE = FloatBuffer(fixtureUniform(seed: 6, count: B * c.width).map { 1e-3 * $0 })
        return {
            grads.zero()
            model.forward(input.pointer, batch: B, cache: cache, into: out.pointer)
            model.backward(dE.pointer, cache: cache, gradients: grads)
            adam.step(parameters: model.parameters, gradients: grads, learningRate: 1e-6)
        }
    }

    /// `n` bare training steps at the micro-batch (for `perf record`), with their median time.
    func runTrainingSteps(_ n: Int) {
        let B = microBatch
        let stepOnce = makeTrainingStep(ViT(configuration: .tiny, seed: 0), precision: TrainingPrecision(rawValue: precision) ?? .fp32)
        let times = (0..<n).map { _ in time(stepOnce) }
        print(String(format: "%d training steps at micro-batch %d: median %.3f s = %.1f images/s (element-wise kernels: %@)", n, B, median(times), Double(B) / median(times), VectorMath.kernelVariant as NSString))
    }

    /// Training steps on request, for a driver that alternates them with another framework's in
    /// short bursts so both see the same machine state. Idle between requests (blocked on a read).
    func serveTrainingSteps() {
        let stepOnce = makeTrainingStep(ViT(configuration: .tiny, seed: 0), precision: TrainingPrecision(rawValue: precision) ?? .fp32)
        stepOnce(); stepOnce()
        // Unbuffered writes: the driver waits for each line on a pipe.
        func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        say("ready")
        while let line = readLine() {
            guard let n = Int(line.trimmingCharacters(in: .whitespaces)), n > 0 else {
                FileHandle.standardError.write(Data("code-bench --serve-training: expected a positive step count, got '\(line)'\n".utf8))
                Foundation.exit(2)
            }
            let times = (0..<n).map { _ in time(stepOnce) }
            say(times.map { String(format: "%.6f", $0) }.joined(separator: " "))
        }
    }

    /// fp32, bf16 and int8 forwards of ViT-Tiny (the same weights) at each batch size: per round
    /// one timed forward of each (batch 1: the mean of 8), the order rotating each round so no
    /// precision always runs first; medians over the rounds, and the median of the per-round
    /// ratios to fp32.
    func runPrecisions() throws {
        let c = ViTConfiguration.tiny
        let env = ProcessInfo.processInfo.environment
        print("CoDEKit reduced-precision forward — ViT-Tiny, \(threads) threads, \(repeats) alternating rounds")
        print("OMP_WAIT_POLICY=\(env["OMP_WAIT_POLICY"] ?? "(unset)"), OMP_NUM_THREADS=\(env["OMP_NUM_THREADS"] ?? "(unset)"); \(ViT.reducedPrecisionRuntime)")
        let kinds = InferencePrecision.allCases
        var models: [ViT] = []
        var choices: [String: String] = [:]
        for p in kinds {
            let m = ViT(configuration: c, seed: 0)
            let choice = m.setPrecision(p)
            if let w = choice.fallbackWarning { print(w) }
            choices[p.rawValue] = choice.description
            print("  \(p.rawValue): \(choice)")
            models.append(m)
        }
        var results: [[String: Any]] = []
        for B in batches {
            let input = FloatBuffer(fixtureUniform(seed: 3, count: B * c.imageFloats))
            let outs = kinds.map { _ in FloatBuffer(count: B * c.width) }
            for (i, m) in models.enumerated() { for _ in 0..<2 { m.embed(input.pointer, batch: B, into: outs[i].pointer) } }
            let inner = B == 1 ? 8 : 1
            var speeds = kinds.map { _ in [Double]() }
            for r in 0..<repeats {
                for j in 0..<kinds.count {
                    let i = (j + r) % kinds.count
                    let t = time { for _ in 0..<inner { models[i].embed(input.pointer, batch: B, into: outs[i].pointer) } } / Double(inner)
                    speeds[i].append(Double(B) / t)
                }
            }
            let ref = outs[0].pointer
            var row: [String: Any] = ["batch": B]
            var line = String(format: "batch %2d:", B)
            for (i, p) in kinds.enumerated() {
                let ratios = zip(speeds[i], speeds[0]).map { $0 / $1 }
                var maxDiff: Float = 0, maxRef: Float = 0
                for k in 0..<(B * c.width) { maxDiff = max(maxDiff, abs(outs[i].pointer[k] - ref[k])); maxRef = max(maxRef, abs(ref[k])) }
                line += String(format: "  %@ %.1f img/s (x%.2f)", p.rawValue as NSString, median(speeds[i]), median(ratios))
                row[p.rawValue] = ["images_per_second": median(speeds[i]), "per_round": speeds[i], "ratio_to_fp32": median(ratios),
                                   "embedding_relative_error": Double(maxDiff / maxRef)]
            }
            print(line)
            // Where the time goes: one profiled forward per precision.
            var parts: [String] = []
            for (i, m) in models.enumerated() {
                let profile = LayerProfile()
                m.profile = profile
                m.embed(input.pointer, batch: B, into: outs[i].pointer)
                m.profile = nil
                parts.append(kinds[i].rawValue + " " + LayerProfile.Kind.allCases.compactMap { k in
                    profile.seconds[k].map { String(format: "%@ %.1f", k.rawValue as NSString, 1000 * $0) }
                }.joined(separator: ", "))
            }
            print("  ms per layer kind: " + parts.joined(separator: "; "))
            // The bf16 ceiling, measured like the fp32 sgemm-bound one: the forward's GEMMs alone,
            // each timed the way the bf16 model runs it (the linear layers as InferenceLinear bf16
            // matmuls, input conversion included, no post-op; the patch embedding and attention
            // GEMMs stay fp32 sgemm, as in the model), summed over one forward.
            let ceiling = try bf16Ceiling(batch: B, config: c)
            row["bf16_ceiling_images_per_second"] = ceiling
            row["fp32_ceiling_images_per_second"] = try fp32Ceiling(batch: B, config: c)
            print(String(format: "  ceilings: fp32 sgemm-bound %.1f img/s, bf16 %.1f img/s; bf16 forward at %.1f%% of its ceiling",
                         row["fp32_ceiling_images_per_second"] as! Double, ceiling, 100 * median(speeds[1]) / ceiling))
            results.append(row)
        }
        let json: [String: Any] = ["threads": threads, "repeats": repeats, "precisions": choices, "forward": results,
                                   "omp_wait_policy": env["OMP_WAIT_POLICY"] ?? "", "runtime": ViT.reducedPrecisionRuntime]
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: url)
        print("wrote \(output)")
    }

    /// Seconds per forward of batch `B` if it did nothing but its GEMMs, each shape timed alone
    /// (one ~50 ms sample each), with `bf16` the linear layers through oneDNN.
    func gemmSeconds(batch B: Int, config c: ViTConfiguration, bf16: Bool) throws -> Double {
        let linear: Set<String> = ["qkv", "proj", "fc1", "fc2", "CLS proj", "CLS fc1", "CLS fc2"]
        var seconds = 0.0
        let context = bf16 ? try OneDNNContext() : nil
        for s in shapes(batch: B, config: c) {
            if let context, linear.contains(s.name) {
                let w = FloatBuffer(fixtureUniform(seed: 2, count: s.n * s.k)), x = FloatBuffer(fixtureUniform(seed: 1, count: s.m * s.k))
                let y = FloatBuffer(count: s.m * s.n)
                let layer = try InferenceLinear(context: context, weights: w.pointer, bias: nil, outF: s.n, inF: s.k, operands: .bf16, probeRows: s.m)
                for _ in 0..<2 { try layer.run(x.pointer, rows: s.m, y.pointer) }
                var err: (any Error)?
                let once = time { do { try layer.run(x.pointer, rows: s.m, y.pointer) } catch { err = error } }
                let inner = max(1, Int(0.05 / max(once, 1e-6)))
                let t = time { for _ in 0..<inner { do { try layer.run(x.pointer, rows: s.m, y.pointer) } catch { err = error } } } / Double(inner)
                if let err { throw err }
                seconds += t * Double(s.perBatch)
            } else {
                let probe = GemmProbe(s, batch: B, heads: c.heads)
                seconds += s.flops * Double(s.perBatch) / (probe.sample() * 1e9)  // as paired() counts the fp32 ceiling
            }
        }
        return seconds
    }

    func bf16Ceiling(batch B: Int, config c: ViTConfiguration) throws -> Double { Double(B) / (try gemmSeconds(batch: B, config: c, bf16: true)) }
    func fp32Ceiling(batch B: Int, config c: ViTConfiguration) throws -> Double { Double(B) / (try gemmSeconds(batch: B, config: c, bf16: false)) }

    /// The fp32 and the bf16 training step of ViT-Tiny at the micro-batch, in alternating rounds
    /// (which one goes first alternates too) so both see the same machine state; the ratio is the
    /// median of the per-round ratios.
    func runBF16Training() throws {
        OpenMPWaitPolicy.ensurePassive()
        let support = TrainingPrecision.bf16Support
        let passive = ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "(unset)"
        print("bf16 training step vs fp32 — ViT-Tiny, micro-batch \(microBatch), \(threads) threads, \(repeats) alternating rounds")
        print("oneDNN bf16 GEMM: \(support.implementation)\(support.native ? "" : " (not native: bf16 would fall back to fp32 in code-train)"); OMP_WAIT_POLICY=\(passive); \(BLAS.kernelSelection)")
        let model = ViT(configuration: .tiny, seed: 0)
        var bf16Cache: TrainingCache?
        let steps: [TrainingPrecision: () -> Void] = [.fp32: makeTrainingStep(model, precision: .fp32),
                                                      .bf16: makeTrainingStep(model, precision: .bf16, cache: &bf16Cache)]
        for _ in 0..<2 { steps[.fp32]!(); steps[.bf16]!() }
        let impls = bf16Cache!.bf16Implementations
        print("oneDNN implementations of the step's \(impls.count) bf16 GEMM shapes: " +
              Dictionary(grouping: impls, by: { $0 }).map { "\($0.key) x\($0.value.count)" }.sorted().joined(separator: ", "))
        var times: [TrainingPrecision: [Double]] = [.fp32: [], .bf16: []]
        var ratios: [Double] = []
        for r in 0..<repeats {
            let order: [TrainingPrecision] = r % 2 == 0 ? [.fp32, .bf16] : [.bf16, .fp32]
            for p in order { times[p]!.append(time(steps[p]!)) }
            ratios.append(times[.fp32]!.last! / times[.bf16]!.last!)
            print(String(format: "  round %d: fp32 %.3f s, bf16 %.3f s, x%.2f", r + 1, times[.fp32]!.last!, times[.bf16]!.last!, ratios.last!))
        }
        let t32 = median(times[.fp32]!), t16 = median(times[.bf16]!), ratio = median(ratios)
        print(String(format: "median step: fp32 %.3f s (%.1f images/s), bf16 %.3f s (%.1f images/s); bf16 speed-up x%.2f (median of per-round ratios, range x%.2f-x%.2f)",
                     t32, Double(microBatch) / t32, t16, Double(microBatch) / t16, ratio, ratios.min()!, ratios.max()!))
        let json: [String: Any] = ["micro_batch": microBatch, "threads": threads, "repeats": repeats, "implementation": support.implementation,
                                   "native": support.native, "omp_wait_policy": passive,
                                   "fp32_seconds": times[.fp32]!, "bf16_seconds": times[.bf16]!, "ratios": ratios,
                                   "fp32_median_seconds": t32, "bf16_median_seconds": t16, "speedup": ratio]
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: url)
        print("wrote \(output)")
    }

    func runForwards(_ n: Int) {
        let model = ViT(configuration: .tiny, seed: 0), B = 32
        let input = FloatBuffer(fixtureUniform(seed: 3, count: B * model.configuration.imageFloats))
        let out = FloatBuffer(count: B * model.embeddingWidth)
        model.embed(input.pointer, batch: B, into: out.pointer)
        let times = (0..<n).map { _ in time { model.embed(input.pointer, batch: B, into: out.pointer) } }
        print(String(format: "%d forwards at batch %d: median %.3f s = %.1f images/s", n, B, median(times), Double(B) / median(times)))
    }

    /// Forward + backward + AdamW images/s at the micro-batch, and the training sgemm ceiling.
    func trainingBenchmark(_ model: ViT) -> [String: Any] {
        let c = model.configuration
        let B = microBatch
        print("training, micro-batch \(B): forward + backward + AdamW")
        let probes = (shapes(batch: B, config: c) + backwardShapes(batch: B, config: c)).map { GemmProbe($0, batch: B, heads: c.heads) }
        let stepOnce = makeTrainingStep(model)
        stepOnce()
        // Paired protocol as for the forward: every GEMM shape, then one step, per repeat.
        let (rates, ceilings, speeds, ratios) = paired(probes, batch: B) { time(stepOnce) }
        var gemms: [[String: Any]] = []
        for (i, p) in probes.enumerated() {
            let s = p.shape
            print(String(format: "  %-14@ %5dx%4dx%5d %9.1f GFLOP/s", s.name as NSString, s.m, s.n, s.k, median(rates[i])))
            gemms.append(s.json(gflops: median(rates[i])))
        }
        let ips = median(speeds), ceiling = median(ceilings), fraction = median(ratios)
        let t = Double(B) / ips
        // The GEMMs one step runs (the input images get no gradient), per image.
        let trainFlops = probes.reduce(0) { $0 + $1.shape.flops * Double($1.shape.perBatch) } / Double(B)
        print(String(format: "  sgemm-bound ceiling %.1f images/s; training %.1f images/s; fraction of ceiling %.1f%% (range %.1f-%.1f%%) (%.1f GFLOP/s)\n",
                     ceiling, ips, 100 * fraction, 100 * ratios.min()!, 100 * ratios.max()!, ips * trainFlops / 1e9))
        return ["micro_batch": B, "images_per_second": ips, "seconds_per_step": t, "ceiling_images_per_second": ceiling,
                "fraction_of_ceiling": fraction, "fraction_per_repeat": ratios, "gflop_per_image": trainFlops / 1e9,
                "gemms": gemms]
    }

    func run() throws {
        Threading.count = threads
        if let pairs = stepMemory { return try runStepMemory(pairs) }
        if let dir = embedDir { return try runEmbedFiles(dir) }
        if let n = profileSteps { return runTrainingSteps(n) }
        if let n = profileForwards { return runForwards(n) }
        if serveTraining { return serveTrainingSteps() }
        if precisions { return try runPrecisions() }
        if bf16Training { return try runBF16Training() }
        let c = ViTConfiguration.tiny
        print("CoDEKit encoder benchmark — ViT-Tiny \(c.imageSize)x\(c.imageSize), \(threads) threads, median of \(repeats)")
        print("\(BLAS.kernelSelection); element-wise kernels: \(VectorMath.kernelVariant); \(ProcessInfo.processInfo.activeProcessorCount) cores visible")
        if let advice = BLAS.kernelAdvice { print("note: \(advice)") }
        print("")
        let model = ViT(configuration: c, seed: 0)
        var json: [String: Any] = [
            "threads": threads, "repeats": repeats, "openblas_core": BLAS.coreName, "heads": c.heads,
            "forward_gflop_per_image": c.forwardFLOPs / 1e9, "embedding_gflop_per_image": c.embeddingFLOPs / 1e9,
        ]
        var forward: [[String: Any]] = []
        for B in batches {
            print("batch \(B)")
            print("  GEMM shape                    count/img   GFLOP/s")
            // Paired protocol: each repeat times every GEMM shape (~50 ms each) and then the
            // forward, back to back, so the ceiling and the forward see the same machine state;
            // the fraction is the median of the per-repeat ratios. (This VM's GEMM speed drifts
            // by tens of percent over minutes; separate medians would mix two states.)
            let probes = shapes(batch: B, config: c).map { GemmProbe($0, batch: B, heads: c.heads) }
            let input = FloatBuffer(fixtureUniform(seed: 3, count: B * c.imageFloats))
            let out = FloatBuffer(count: B * c.width)
            for _ in 0..<2 { model.embed(input.pointer, batch: B, into: out.pointer) }
            let inner = B == 1 ? 8 : 1
            let (rates, ceilings, speeds, ratios) = paired(probes, batch: B) {
                time { for _ in 0..<inner { model.embed(input.pointer, batch: B, into: out.pointer) } } / Double(inner)
            }
            var gemms: [[String: Any]] = []
            for (i, p) in probes.enumerated() {
                let s = p.shape, rate = median(rates[i])
                print(String(format: "  %-12@ %5dx%4dx%4d %9.1f %9.1f", s.name as NSString, s.m, s.n, s.k, Double(s.perBatch) / Double(B), rate))
                gemms.append(s.json(gflops: rate))
            }
            let ceiling = median(ceilings), ips = median(speeds), fraction = median(ratios)
            let t = Double(B) / ips
            // Per layer kind, one profiled pass per repeat.
            let profile = LayerProfile()
            model.profile = profile
            for _ in 0..<repeats { model.embed(input.pointer, batch: B, into: out.pointer) }
            model.profile = nil
            let total = profile.seconds.values.reduce(0, +)
            print(String(format: "  sgemm-bound ceiling %.1f images/s; forward %.1f images/s; fraction of ceiling %.1f%% (median of per-repeat ratios, range %.1f-%.1f%%) (%.1f GFLOP/s)",
                         ceiling, ips, 100 * fraction, 100 * ratios.min()!, 100 * ratios.max()!, ips * c.embeddingFLOPs / 1e9))
            print("  time per layer kind (share of a profiled forward):")
            var layers: [String: Double] = [:]
            for k in LayerProfile.Kind.allCases {
                guard let s = profile.seconds[k] else { continue }
                layers[k.rawValue] = s / Double(repeats)
                print(String(format: "    %-16@ %8.2f ms  %5.1f%%", k.rawValue as NSString, 1000 * s / Double(repeats), 100 * s / total))
            }
            print("")
            forward.append(["batch": B, "images_per_second": ips, "seconds_per_batch": t, "ceiling_images_per_second": ceiling,
                            "fraction_of_ceiling": fraction, "fraction_per_repeat": ratios, "gemms": gemms, "layer_seconds": layers])
        }
        json["forward"] = forward
        json["kernel"] = BLAS.kernelSelection
        json["elementwise_kernels"] = VectorMath.kernelVariant
        if let advice = BLAS.kernelAdvice { json["kernel_advice"] = advice }
        if training { json["training"] = trainingBenchmark(model) }
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: url)
        print("wrote \(output)")
    }
}

CodeBench.main()
