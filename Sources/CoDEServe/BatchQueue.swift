import CoDEImage
import CoDEKit
import Foundation

/// How the batch queue groups images into encoder forwards and how many it admits.
public struct BatchPolicy: Sendable, Equatable {
    /// Encoder windows per forward pass, as `code-detect --batch-size`: a batch holds
    /// `max(1, maxBatch / crops)` images (32 centre-cropped images, or 6 five-crop images).
    public var maxBatch: Int
    /// Longest time the first image of a batch waits for more images to join it. The encoder
    /// waits only while admitted images are still being read or decoded: a lone request never waits.
    public var maxWait: Double
    /// Images admitted at once (reading, decoding, queued or in the encoder); beyond it requests
    /// get 503 `queue_full` with `Retry-After`.
    public var maxQueue: Int

    public init(maxBatch: Int = 32, maxWait: Double = 0.010, maxQueue: Int = 256) {
        self.maxBatch = maxBatch
        self.maxWait = maxWait
        self.maxQueue = maxQueue
    }
}

/// An embedding computed by the batch queue, with where its time went.
public struct QueuedEmbedding: Sendable {
    public var embedding: [Float]
    /// Images in the forward pass this one was part of.
    public var batchSize: Int
    public var queueSeconds: Double
    public var encodeSeconds: Double
}

/// Gathers concurrently submitted images into encoder forwards.
///
/// One dedicated thread runs the encoder, one batch at a time; callers submit images that are
/// already decoded and cropped (decoding runs elsewhere, on ``DecodePool``), so the encoder never
/// waits on codec work. A batch holds images of one crop layout, oldest first, up to
/// ``BatchPolicy/maxBatch`` windows. When the encoder is free and images are waiting, it starts
/// at once unless more admitted images are still on their way (being read or decoded), in which
/// case it waits for them up to ``BatchPolicy/maxWait`` after the oldest waiting image arrived.
///
/// Admission (``reserve(_:)``) bounds the images in flight to ``BatchPolicy/maxQueue``, which
/// bounds the memory the service holds for queued images.
public final class BatchQueue: @unchecked Sendable {
    struct Item {
        let id: UInt64
        let layout: CropLayout
        let image: RGBImage
        let enqueued: DispatchTime
    }

    public let policy: BatchPolicy
    let embedders: [CropLayout: Embedder]
    let metrics: ServiceMetrics?

    private let cond = NSCondition()
    private var pending: [Item] = []
    private var waiting: [UInt64: CheckedContinuation<QueuedEmbedding, any Error>] = [:]
    private var nextID: UInt64 = 0
    /// Admitted images not yet finished (reserved by ``reserve(_:)``, returned by ``release(_:)``).
    private var admitted = 0
    /// Images of ``admitted`` that have been submitted (queued or in the encoder).
    private var submitted = 0
    private var held = false
    private var stopping = false
    private var finished = false
    private var thread: Thread?

    /// Batches run and images embedded so far (for tests and logs).
    public private(set) var batchSizes: [Int] = []

    public init(embedders: [CropLayout: Embedder], policy: BatchPolicy, metrics: ServiceMetrics? = nil) {
        precondition(policy.maxBatch >= 1 && policy.maxQueue >= 1 && policy.maxWait >= 0, "BatchQueue: invalid policy")
        self.embedders = embedders
        self.policy = policy
        self.metrics = metrics
        let t = Thread { [unowned self] in self.encoderLoop() }
        t.name = "code-serve encoder"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Images per forward for a layout.
    public func imagesPerBatch(_ layout: CropLayout) -> Int { max(1, policy.maxBatch / layout.count) }

    // MARK: Admission

    /// Admits `n` more images or throws ``ServiceError`` `queue_full` (503) / `shutting_down`.
    public func reserve(_ n: Int) throws {
        cond.lock()
        defer { cond.unlock() }
        if stopping { throw ServiceError.shuttingDown() }
        guard admitted + n <= policy.maxQueue else {
            throw ServiceError.queueFull(limit: policy.maxQueue)
        }
        admitted += n
        metrics?.inFlight.record(admitted)
    }

    /// Returns `n` admitted images (each reservation is released once, when its request ends).
    public func release(_ n: Int) {
        cond.lock()
        admitted -= n
        metrics?.inFlight.record(admitted)
        cond.signal()
        cond.unlock()
    }

    /// Images waiting for the encoder now.
    public var depth: Int { cond.lock(); defer { cond.unlock() }; return pending.count }

    // MARK: Submission

    /// Embeds one decoded image (already cropped for `layout` as the embedder expects) in the next
    /// batch of its layout. The image must have been admitted. Cancellation removes it from the
    /// queue (or abandons its result if the encoder already has it) and throws `CancellationError`.
    public func embed(_ image: RGBImage, layout: CropLayout) async throws -> QueuedEmbedding {
        let id = newID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<QueuedEmbedding, any Error>) in
                cond.lock()
                defer { cond.unlock() }
                if Task.isCancelled { c.resume(throwing: CancellationError()); return }
                if finished { c.resume(throwing: ServiceError.shuttingDown()); return }
                guard embedders[layout] != nil else {
                    c.resume(throwing: ServiceError(500, "internal", "no embedder for crops \(layout)")); return
                }
                waiting[id] = c
                pending.append(Item(id: id, layout: layout, image: image, enqueued: .now()))
                submitted += 1
                metrics?.queueDepth.record(pending.count)
                cond.signal()
            }
        } onCancel: {
            cond.lock()
            defer { cond.unlock() }
            guard let c = waiting.removeValue(forKey: id) else { return }
            if let i = pending.firstIndex(where: { $0.id == id }) {
                pending.remove(at: i)
                submitted -= 1
                metrics?.queueDepth.record(pending.count)
            }
            c.resume(throwing: CancellationError())
        }
    }

    private func newID() -> UInt64 {
        cond.lock()
        defer { cond.unlock() }
        nextID += 1
        return nextID
    }

    // MARK: Test hooks

    /// Stops the encoder from starting batches (queued images wait) until ``resume()``.
    func hold() { cond.lock(); held = true; cond.unlock() }
    func resume() { cond.lock(); held = false; cond.broadcast(); cond.unlock() }

    // MARK: Shutdown

    /// Refuses new admissions; the encoder finishes what is queued, then its thread ends.
    public func shutdown() {
        cond.lock()
        stopping = true
        held = false
        cond.broadcast()
        cond.unlock()
    }

    // MARK: The encoder thread

    private func encoderLoop() {
        while true {
            cond.lock()
            while (pending.isEmpty || held) && !stopping { cond.wait() }
            if pending.isEmpty {  // stopping and drained
                finished = true
                cond.unlock()
                return
            }
            let layout = pending[0].layout
            let cap = imagesPerBatch(layout)
            let deadline = Date(timeIntervalSinceNow: max(0, policy.maxWait - Self.seconds(since: pending[0].enqueued)))
            // Wait for images still being read or decoded, but not past the oldest one's max wait.
            while !stopping, !held, pending.lazy.filter({ $0.layout == layout }).count < cap, admitted - submitted > 0,
                  Date() < deadline {
                _ = cond.wait(until: deadline)
            }
            var batch: [Item] = []
            var rest: [Item] = []
            for item in pending {
                if item.layout == layout && batch.count < cap { batch.append(item) } else { rest.append(item) }
            }
            pending = rest
            metrics?.queueDepth.record(pending.count)
            cond.unlock()

            let start = DispatchTime.now()
            let embeddings = embedders[layout]!.embed(batch.map(\.image))
            let encodeSeconds = Self.seconds(since: start)
            metrics?.batchSize.record(batch.count)
            metrics?.encoderSeconds.recordNanoseconds(Int64(encodeSeconds * 1e9))

            cond.lock()
            batchSizes.append(batch.count)
            submitted -= batch.count
            for (item, e) in zip(batch, embeddings) {
                guard let c = waiting.removeValue(forKey: item.id) else { continue }  // abandoned (cancelled)
                let queued = Double(start.uptimeNanoseconds - item.enqueued.uptimeNanoseconds) / 1e9
                c.resume(returning: QueuedEmbedding(embedding: e, batchSize: batch.count, queueSeconds: queued,
                                                    encodeSeconds: encodeSeconds))
            }
            cond.unlock()
        }
    }

    static func seconds(since t: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds &- t.uptimeNanoseconds) / 1e9
    }
}
