import CoDECore
import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

/// What boundedPrefetch observes: jobs started, items taken, and any job started too early.
final class PrefetchWindow: @unchecked Sendable {
    private let cond = NSCondition()
    private var taken = 0, count = 0
    private(set) var violations: [Int] = []
    func started(_ job: Int, limit: Int) {
        cond.lock(); defer { cond.unlock() }
        if job >= taken + 1 + limit { violations.append(job) }
        count += 1
        cond.broadcast()
    }
    func took() { cond.lock(); taken += 1; cond.unlock() }
    var startedCount: Int { cond.lock(); defer { cond.unlock() }; return count }
    func waitUntilStarted(_ n: Int, timeout: TimeInterval) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock(); defer { cond.unlock() }
        while count < n { if !cond.wait(until: deadline) { return false } }
        return true
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

@Suite("ImageLoader")
struct LoaderTests {
    static let shard = Fixtures.url("images/tar/d3_pax.tar")

    @Test("inference loader: job order, bad member skipped and counted, tensors as computed directly")
    func inference() throws {
        let ds = try ImageDataset.webDataset(shards: [Self.shard])
        let loader = ImageLoader.inference(dataset: ds, size: 16, workers: 2, prefetch: 3)
        var jobs: [Int] = []
        let reader = SampleReader()
        while let loaded = loader.next() {
            jobs.append(loaded.job)
            var expected = [Float](repeating: 0, count: 3 * 16 * 16)
            let img = try reader.image(ds.samples[loaded.job])
            expected.withUnsafeMutableBufferPointer { Preprocess.inferenceTensor(img, size: 16, into: $0.baseAddress!) }
            #expect(loaded.item == expected)
        }
        let bad = try #require(ds.samples.firstIndex { $0.location.name.hasSuffix("rec_a.gen_2.jpg") })
        #expect(jobs == ds.samples.indices.filter { $0 != bad })
        #expect(loader.skipped == 1)
        #expect(loader.failures.first?.contains("rec_a.gen_2.jpg") == true, "\(loader.failures)")
    }

    @Test("per-job generators make results independent of the number of workers")
    func determinism() throws {
        let ds = try ImageDataset.webDataset(shards: [Self.shard])
        let pairs = PairSampler(dataset: ds, seed: 3).pairs(epoch: 0).map { [$0.real, $0.fake] }
        func run(_ workers: Int) -> [[UInt64]] {
            let loader = ImageLoader(dataset: ds, jobs: pairs + pairs, workers: workers, prefetch: 2, seed: 99) { images, job, rng in
                [UInt64(job), rng.next(), UInt64(images[0].pixels.reduce(0) { $0 &+ Int($1) }), UInt64(images[1].width)]
            }
            return Array(loader.map(\.item))
        }
        let serial = run(0)
        let bad = try #require(ds.samples.firstIndex { $0.location.name.hasSuffix("rec_a.gen_2.jpg") })
        #expect(serial.count == 2 * pairs.filter { !$0.contains(bad) }.count)
        #expect(run(2) == serial && run(1) == serial)
    }

    @Test("prefetch bounds how far workers run ahead of the consumer")
    func boundedPrefetch() throws {
        // No sleeps: the consumer waits until the workers have filled the window, then takes one
        // item. Every job a worker starts is checked against how many items the consumer had
        // received (`taken`, advanced after next() returns, so it trails the loader's own count
        // by at most one): job j may start only once j < taken + 1 + prefetch.
        let ds = try ImageDataset.webDataset(shards: [Self.shard])
        let prefetch = 3, jobs = 20
        let window = PrefetchWindow()
        let loader = ImageLoader(dataset: ds, jobs: (0..<jobs).map { _ in [0] }, workers: 2, prefetch: prefetch) { images, job, _ in
            window.started(job, limit: prefetch)
            return images[0].width
        }
        var received = 0
        while received < jobs {
            let target = Swift.min(jobs, received + prefetch)
            #expect(window.waitUntilStarted(target, timeout: 30), "workers stopped at \(window.startedCount) of \(target) jobs")
            guard loader.next() != nil else { break }
            received += 1
            window.took()
        }
        #expect(received == jobs)
        #expect(window.violations.isEmpty, "jobs started beyond the window: \(window.violations)")
        loader.close()
        #expect(loader.next() == nil)
    }

    @Test("a throwing transform is a skipped job, not a crash")
    func throwingTransform() throws {
        struct Boom: Error {}
        let ds = try ImageDataset.webDataset(shards: [Self.shard])
        let loader = ImageLoader(dataset: ds, jobs: [[0], [0], [0]], workers: 1, prefetch: 2) { _, job, _ in
            if job == 1 { throw Boom() }
            return job
        }
        #expect(Array(loader.map(\.item)) == [0, 2])
        #expect(loader.skipped == 1)
    }
}
