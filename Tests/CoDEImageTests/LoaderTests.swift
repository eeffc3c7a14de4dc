import CoDECore
import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

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
        let ds = try ImageDataset.webDataset(shards: [Self.shard])
        let started = Counter()
        let loader = ImageLoader(dataset: ds, jobs: Array(repeating: [0], count: 20), workers: 2, prefetch: 3) { images, _, _ in
            started.add()
            return images[0].width
        }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(started.value == 3, "workers ran \(started.value) jobs ahead with prefetch 3")
        _ = loader.next()
        Thread.sleep(forTimeInterval: 0.2)
        #expect(started.value == 4)
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
