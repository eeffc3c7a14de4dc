import CoDECore
import Foundation
import Logging

/// One loaded work item: the job's index in the job list and the transform's output.
public struct LoadedItem<Item: Sendable>: Sendable {
    public let job: Int
    public let item: Item
}

/// Decodes images on worker threads and hands transformed items to one consumer, in job order,
/// through a bounded prefetch window.
///
/// A job is a list of sample indices (one image for embedding, `[real, fake]` for a training pair).
/// Workers read and decode the job's samples, then call `transform(images, job, &rng)` with
/// `rng = Xoshiro256(seed: seed).fork(job)`, so results do not depend on thread timing. At most
/// `prefetch` jobs are in flight or waiting beyond the consumer, which bounds memory. A job whose
/// file is unreadable or corrupt, or whose transform throws, is logged (info), counted in
/// ``skipped`` and skipped; it never stops the loader.
public final class ImageLoader<Item: Sendable>: Sequence, IteratorProtocol, @unchecked Sendable {
    public typealias Transform = @Sendable (_ images: [RGBImage], _ job: Int, _ rng: inout Xoshiro256) throws -> Item

    private let state: LoaderState<Item>
    private var threads: [Thread] = []

    /// - Parameters:
    ///   - workers: decoding threads; 0 decodes on the consumer's thread inside `next()`.
    ///   - prefetch: jobs decoded ahead of the consumer (at least 1).
    ///   - decode: how a sample becomes an image (default: `reader.image(sample)`, the full decode).
    ///   - onSkip: called with the job and the error message (which names the file) of each skipped
    ///     job, on the consumer's thread inside `next()`, in job order; it must not call the loader.
    public init(dataset: ImageDataset, jobs: [[Int]], reader: SampleReader = SampleReader(), workers: Int = Threading.count,
                prefetch: Int = 16, seed: UInt64 = 0, logger: Logger? = nil,
                decode: (@Sendable (ImageSample) throws -> RGBImage)? = nil,
                onSkip: (@Sendable (_ job: Int, _ message: String) -> Void)? = nil, transform: @escaping Transform) {
        precondition(jobs.allSatisfy { $0.allSatisfy { dataset.samples.indices.contains($0) } }, "ImageLoader: job index outside the dataset")
        state = LoaderState(samples: dataset.samples, jobs: jobs, decode: decode ?? { try reader.image($0) },
                            prefetch: Swift.max(1, prefetch), seed: seed, logger: logger, transform: transform)
        state.onSkip = onSkip
        state.synchronous = workers <= 0
        for w in 0..<Swift.max(0, workers) {
            let s = state
            let t = Thread { s.workerLoop() }
            t.name = "ImageLoader-\(w)"
            t.stackSize = 4 << 20
            threads.append(t)
            t.start()
        }
    }

    deinit { state.close() }

    /// The next successfully loaded item in job order, or nil when all jobs are done.
    public func next() -> LoadedItem<Item>? { state.next() }

    /// Jobs skipped so far because a file failed to load or the transform threw.
    public var skipped: Int { state.withLock { state.skippedCount } }
    /// The messages of the first skipped jobs (at most 100).
    public var failures: [String] { state.withLock { state.failureMessages } }

    /// Stops the workers; `next()` then returns nil.
    public func close() { state.close() }
}

/// State shared by the consumer and the workers; every field below `cond` is guarded by it.
final class LoaderState<Item: Sendable>: @unchecked Sendable {
    let samples: [ImageSample]
    let jobs: [[Int]]
    let decode: @Sendable (ImageSample) throws -> RGBImage
    let prefetch: Int
    let seed: UInt64
    let logger: Logger?
    let transform: ImageLoader<Item>.Transform
    var synchronous = false
    var onSkip: (@Sendable (Int, String) -> Void)?

    let cond = NSCondition()
    var nextJob = 0, consumed = 0
    var results: [Int: Result<Item, LoadFailure>] = [:]
    var closed = false
    var skippedCount = 0
    var failureMessages: [String] = []

    struct LoadFailure: Error { let message: String }

    init(samples: [ImageSample], jobs: [[Int]], decode: @escaping @Sendable (ImageSample) throws -> RGBImage, prefetch: Int,
         seed: UInt64, logger: Logger?, transform: @escaping ImageLoader<Item>.Transform) {
        (self.samples, self.jobs, self.decode, self.prefetch, self.seed, self.logger, self.transform) =
            (samples, jobs, decode, prefetch, seed, logger, transform)
    }

    func withLock<T>(_ body: () -> T) -> T { cond.lock(); defer { cond.unlock() }; return body() }

    func work(_ j: Int) -> Result<Item, LoadFailure> {
        do {
            let images = try jobs[j].map { try decode(samples[$0]) }
            var rng = Xoshiro256(seed: seed).fork(UInt64(j))
            return .success(try transform(images, j, &rng))
        } catch {
            return .failure(LoadFailure(message: "\(error)"))
        }
    }

    func workerLoop() {
        while true {
            cond.lock()
            while !closed, nextJob < jobs.count, nextJob >= consumed + prefetch { cond.wait() }
            if closed || nextJob >= jobs.count { cond.unlock(); return }
            let j = nextJob
            nextJob += 1
            cond.unlock()
            let r = work(j)
            cond.lock()
            results[j] = r
            cond.broadcast()
            cond.unlock()
        }
    }

    func next() -> LoadedItem<Item>? {
        cond.lock()
        defer { cond.unlock() }
        while !closed, consumed < jobs.count {
            if synchronous, results[consumed] == nil {
                let j = consumed
                nextJob = Swift.max(nextJob, j + 1)
                cond.unlock()
                let r = work(j)
                cond.lock()
                results[j] = r
            }
            guard let r = results.removeValue(forKey: consumed) else { cond.wait(); continue }
            let j = consumed
            consumed += 1
            cond.broadcast()
            switch r {
            case let .success(item): return LoadedItem(job: j, item: item)
            case let .failure(f):
                skippedCount += 1
                if failureMessages.count < 100 { failureMessages.append(f.message) }
                logger?.info("skipped an image that failed to load", metadata: ["job": "\(j)", "error": "\(f.message)"])
                onSkip?(j, f.message)
            }
        }
        return nil
    }

    func close() {
        cond.lock()
        closed = true
        results.removeAll()
        cond.broadcast()
        cond.unlock()
    }
}

extension ImageLoader where Item == [Float] {
    /// The embedder's loader: each sample decoded, centre-cropped and normalised to
    /// `3 * size * size` planar floats, equal to ``Preprocess/inferenceTensor(_:size:into:)`` of
    /// the full decode (JPEGs decode only the crop region, ``Preprocess/decodeCenterCrop(data:source:size:limits:)``).
    public static func inference(dataset: ImageDataset, reader: SampleReader = SampleReader(), size: Int = 224,
                                 workers: Int = Threading.count, prefetch: Int = 16, logger: Logger? = nil) -> ImageLoader<[Float]> {
        ImageLoader(dataset: dataset, jobs: dataset.samples.indices.map { [$0] }, reader: reader, workers: workers,
                    prefetch: prefetch, logger: logger,
                    decode: { sample in
                        try Preprocess.decodeCenterCrop(data: reader.data(sample), source: sample.location.name, size: size, limits: reader.limits)
                    }) { images, _, _ in
            [Float](unsafeUninitializedCapacity: 3 * size * size) { buf, count in  // every element is written
                Preprocess.inferenceTensor(images[0], size: size, into: buf.baseAddress!)
                count = 3 * size * size
            }
        }
    }
}
