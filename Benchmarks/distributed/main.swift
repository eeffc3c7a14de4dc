// code-bench-distributed: the communicator's self-test and data-parallel training steps, run
// alone or under `mpirun -np N`. Used by make test (Tests/CoDEKitTests/DistributedTests.swift)
// and make bench-distributed.
import ArgumentParser
import CoDEDistributed
import CoDEKit
import CoDEMPI
import Foundation

@main
struct BenchDistributed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-bench-distributed",
        abstract: "Self-test of the MPI communicator, and data-parallel CoDE steps (alone or under mpirun).",
        discussion: """
        --self-test checks every collective against its definition on the ranks it runs on and \
        exits 1 on a mismatch. --steps N trains N CoDE steps on synthetic views (keyed by step, \
        view and pair, never by rank) and writes rank 0's parameters to --output, so runs with \
        different rank counts can be compared. --bench times full-size steps and reports images/s \
        and the time spent in communication.
        """)

    @Flag(help: "Check the collectives against their definitions.") var selfTest = false
    @Option(help: "Train this many steps on synthetic views.") var steps: Int?
    @Option(help: "Pairs per logical batch.") var batch = 8
    @Option(help: "Micro-batch (images per forward/backward).") var microBatch = 4
    @Option(help: "Model: tiny-test (depth 2, 16 px), tiny32 or tiny.") var config = "tiny-test"
    @Option(help: "Threads per rank.") var threads: Int?
    @Flag(help: "Keep the activations (one forward per step).") var keepActivations = false
    @Option(help: "safetensors file for rank 0's parameters after --steps, or JSON report for --bench.") var output: String?
    @Option(help: "With --bench: steps to time after one warm-up step.") var benchSteps = 3
    @Flag(help: "Time full steps (use --config tiny for ViT-Tiny at 224 px).") var bench = false
    @Option(help: "Abort the job from this rank at --abort-at-step (tests a dying rank).") var abortRank: Int?
    @Option(help: "Step at which --abort-rank exits.") var abortAtStep = 1
    @Option(help: "Summarise the --bench reports in this folder (one-<round>.json, two-<round>.json): medians and the per-round ratio.") var summarise: String?

    func run() throws {
        if let summarise { try summariseRounds(summarise); return }
        if let threads { Threading.count = threads }
        let comm = try MPICommunicator.world()
        if selfTest { try runSelfTest(comm) }
        if let steps { try train(comm, steps: steps) }
        if bench { try runBench(comm) }
    }

    func log(_ comm: Communicator, _ s: String) {
        FileHandle.standardError.write(Data("[rank \(comm.rank)/\(comm.size)] \(s)\n".utf8))
    }

    func runSelfTest(_ comm: Communicator) throws {
        let r = comm.rank, n = comm.size
        var failures: [String] = []
        // all-reduce: element i of rank r is (r + 1) * (i + 1) + 0.25; the sum is known exactly.
        let count = 1000
        var x = (0..<count).map { Float((r + 1) * ($0 + 1)) + 0.25 }
        try x.withUnsafeMutableBufferPointer { try comm.allReduceSum($0.baseAddress!, count: count) }
        for i in 0..<count {
            let want = Float(n * (n + 1) / 2 * (i + 1)) + 0.25 * Float(n)
            if x[i] != want { failures.append("allReduceSum[\(i)] = \(x[i]), want \(want)"); break }
        }
        let d = try comm.allReduceSum([Double(r), 1e15 + 1])
        if d != [Double(n * (n - 1) / 2), Double(n) * (1e15 + 1)] { failures.append("allReduceSum(Double) = \(d)") }
        // all-gather with uneven counts: rank r sends r + 1 values 100 r + j.
        let counts = (0..<n).map { $0 + 1 }
        let g = try comm.allGather((0...r).map { Float(100 * r + $0) }, counts: counts)
        let want = (0..<n).flatMap { q in (0...q).map { Float(100 * q + $0) } }
        if g != want { failures.append("allGather = \(g), want \(want)") }
        // an empty share is legal (a rank with no pairs).
        let e = try comm.allGather(r == 0 ? [] : [Float(r)], counts: (0..<n).map { $0 == 0 ? 0 : 1 })
        if e != (1..<max(1, n)).map(Float.init) { failures.append("allGather with an empty share = \(e)") }
        // broadcast from the last rank.
        let root = n - 1
        let b = try comm.broadcast(Data("from rank \(r)".utf8), root: root)
        if String(decoding: b, as: UTF8.self) != "from rank \(root)" { failures.append("broadcast got \(String(decoding: b, as: UTF8.self))") }
        // integer broadcast from the last rank (negative values included).
        if try comm.broadcast(r == n - 1 ? -7 * n : r, root: n - 1) != -7 * n { failures.append("broadcast(Int) did not deliver the root's value") }
        // byte all-gather: rank r sends r bytes of value r (rank 0 sends none).
        let bytes = try comm.allGather(Data(repeating: UInt8(r), count: r))
        if bytes != (0..<n).map({ Data(repeating: UInt8($0), count: $0) }) { failures.append("allGather(Data) = \(bytes.map { [UInt8]($0) })") }
        // ordered rounds: 23 items in rounds of 3 per rank come back in item order, once each,
        // and this rank worked on its own shares only.
        var seen: [Int] = [], worked: [Int] = []
        try comm.orderedRounds(count: 23, perRank: 3, work: { range -> [Int] in worked += range; return range.map { $0 * $0 } },
                               deliver: { range, squares in
                                   if squares != range.map({ $0 * $0 }) { failures.append("orderedRounds delivered \(squares) for \(range)") }
                                   seen += range })
        if seen != Array(0..<23) { failures.append("orderedRounds covered \(seen)") }
        let workedTotal = try comm.allReduceSum(Double(worked.count))
        if workedTotal != 23 { failures.append("orderedRounds: the ranks worked on \(workedTotal) items, want 23") }
        // invalid arguments are errors, not crashes.
        do {
            _ = try comm.allGather([1, 2], counts: (0..<n).map { _ in 1 })
            failures.append("allGather accepted counts that do not match")
        } catch CommunicatorError.invalidArgument {}
        try comm.barrier()
        // shares cover 0..<B in rank order for a few B, including B < ranks.
        for B in [1, 2, 7, 32] {
            let all = (0..<n).map { dataParallelShare(of: B, rank: $0, size: n) }
            if all.map(\.count).reduce(0, +) != B || all.first?.lowerBound != 0 || zip(all, all.dropFirst()).contains(where: { $0.upperBound != $1.lowerBound }) {
                failures.append("shares of \(B): \(all)")
            }
        }
        let mine = try comm.allReduceSum(Double(failures.count))
        if failures.isEmpty { log(comm, "self-test passed (\(comm.description))") } else { log(comm, "self-test FAILED: " + failures.joined(separator: "; ")) }
        if mine > 0 { throw ExitCode(1) }
        if comm.isRoot { print("self-test passed on \(n) rank(s)") }
    }

    var vit: ViTConfiguration {
        switch config {
        case "tiny": .tiny
        case "tiny32": .tiny32
        default: ViTConfiguration(imageSize: 16, patchSize: 4, width: 32, depth: 2, heads: 2, mlpWidth: 64)
        }
    }

    func makeTrainer(_ comm: Communicator, totalSteps: Int) -> Trainer {
        let cfg = TrainerConfiguration(microBatch: microBatch, schedule: CosineSchedule(baseLR: 2e-3, totalSteps: max(1, totalSteps), warmupSteps: 1),
                                       adamW: AdamWConfiguration(weightDecay: 0.05), clipNorm: 1.0, rollAugmentedViews: true,
                                       keepActivations: keepActivations)
        return Trainer(model: ViT(configuration: vit, seed: 7), configuration: cfg, seed: 11, communicator: comm)
    }

    /// Synthetic views: image k of view v at step s is fixtureUniform keyed by (s, v, k).
    func views(step: Int, n: Int) -> Trainer.ViewSource {
        { v, range, dst in
            for (j, k) in range.enumerated() {
                let values = fixtureUniform(seed: UInt64(1_000_003 * step + 1009 * v.rawValue + k), count: n)
                values.withUnsafeBufferPointer { (dst + j * n).update(from: $0.baseAddress!, count: n) }
            }
        }
    }

    func train(_ comm: Communicator, steps: Int) throws {
        let trainer = makeTrainer(comm, totalSteps: steps)
        try trainer.checkSynchronized()
        let n = vit.imageFloats
        for s in 0..<steps {
            if let abortRank, comm.rank == abortRank, s == abortAtStep {
                log(comm, "exiting on purpose at step \(s) (--abort-rank)")
                _exit(3)  // as a crash would: no atexit handlers, no MPI_Finalize
            }
            let rep = try trainer.step(batch: batch, views: views(step: s, n: n))
            if comm.isRoot { print(String(format: "step %d loss %.6f |g| %.6f comm %.4fs %d bytes", rep.step, rep.loss, rep.gradientNorm,
                                          trainer.lastCommunication.seconds, trainer.lastCommunication.bytes)) }
        }
        try trainer.checkSynchronized()
        if comm.isRoot, let output {
            var w = SafeTensorsWriter()
            w.metadata = ["ranks": String(comm.size), "steps": String(steps)]
            w.add("parameters", shape: [trainer.model.parameters.count],
                  floats: UnsafeBufferPointer(start: trainer.model.parameters.pointer, count: trainer.model.parameters.count))
            try w.write(to: URL(fileURLWithPath: output))
        }
    }

    func runBench(_ comm: Communicator) throws {
        let trainer = makeTrainer(comm, totalSteps: 1000)
        let n = vit.imageFloats
        _ = try trainer.step(batch: batch, views: views(step: 0, n: n))  // warm-up
        var seconds: [Double] = [], commSeconds: [Double] = []
        for s in 1...benchSteps {
            try comm.barrier()
            let t0 = Date()
            _ = try trainer.step(batch: batch, views: views(step: s, n: n))
            try comm.barrier()
            seconds.append(Date().timeIntervalSince(t0))
            commSeconds.append(trainer.lastCommunication.seconds)
        }
        func median(_ x: [Double]) -> Double { let s = x.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        let step = median(seconds), images = Double(trainer.configuration.objective.views.count * batch)
        // The slowest rank's communication time is what the step waited for.
        let commTimes = try comm.allGather([Float(median(commSeconds))], counts: (0..<comm.size).map { _ in 1 })
        let report: [String: Any] = [
            "ranks": comm.size, "threads_per_rank": Threading.count, "config": config, "pairs_per_batch": batch, "micro_batch": microBatch,
            "keep_activations": keepActivations, "step_seconds_median": step, "images_per_second": images / step,
            "communication_seconds_median_per_rank": commTimes.map(Double.init), "bytes_per_step_per_rank": trainer.lastCommunication.bytes,
            "steps": seconds,
        ]
        if comm.isRoot {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            if let output { try data.write(to: URL(fileURLWithPath: output), options: .atomic) }
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// Medians over rounds of 1-rank and 2-rank throughput, and of the ratio within each round
    /// (both figures of a round share one machine state).
    func summariseRounds(_ dir: String) throws {
        func load(_ name: String) throws -> [String: Any] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir).appendingPathComponent(name))
            guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ValidationError("\(name) is not a JSON object") }
            return obj
        }
        func median(_ x: [Double]) -> Double { let s = x.sorted(); return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        var one: [Double] = [], two: [Double] = [], ratio: [Double] = [], comm: [Double] = [], step2: [Double] = []
        var bytes = 0
        var round = 1
        while FileManager.default.fileExists(atPath: dir + "/one-\(round).json") && FileManager.default.fileExists(atPath: dir + "/two-\(round).json") {
            let a = try load("one-\(round).json"), b = try load("two-\(round).json")
            guard let ia = a["images_per_second"] as? Double, let ib = b["images_per_second"] as? Double,
                  let cb = b["communication_seconds_median_per_rank"] as? [Double], let sb = b["step_seconds_median"] as? Double else {
                throw ValidationError("round \(round): missing fields")
            }
            one.append(ia); two.append(ib); ratio.append(ib / ia); comm.append(cb.max() ?? 0); step2.append(sb)
            bytes = b["bytes_per_step_per_rank"] as? Int ?? bytes
            round += 1
        }
        guard !one.isEmpty else { throw ValidationError("no rounds (one-1.json, two-1.json) in \(dir)") }
        let report: [String: Any] = [
            "rounds": one.count, "one_rank_images_per_second": one, "two_ranks_images_per_second": two, "ratio_two_over_one": ratio,
            "median_one_rank_images_per_second": median(one), "median_two_ranks_images_per_second": median(two),
            "median_ratio": median(ratio), "median_communication_seconds_per_step": median(comm),
            "median_two_rank_step_seconds": median(step2), "bytes_per_step_per_rank": bytes,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        if let output { try data.write(to: URL(fileURLWithPath: output), options: .atomic) }
        print(String(decoding: data, as: UTF8.self))
        print(String(format: "2 ranks x 1 thread / 1 rank x 2 threads: %.3f (median of %d rounds); communication %.3f s of a %.2f s step; %d bytes per rank per step",
                     median(ratio), one.count, median(comm), median(step2), bytes))
    }
}
