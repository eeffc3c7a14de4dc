import CoDEClassifiers
import CoDECore
import CoDEImage
import CoDEKit
import Foundation

/// The limits of a `code-serve` instance (each is a flag of the executable).
public struct ServiceConfiguration: Sendable, Equatable {
    public var batch: BatchPolicy
    /// Largest request body, in bytes (413 beyond; a raw image or the whole multipart body).
    public var maxBodyBytes: Int
    /// Most images in one multipart request (413 beyond).
    public var maxImages: Int
    /// Largest `width * height` decoded (422 `pixel_limit` beyond), checked from the header before
    /// any pixel is allocated.
    public var maxPixels: Int
    /// Seconds a request may take, from admission to response (503 `timeout` beyond).
    public var timeout: Double
    /// Threads that decode images.
    public var decodeThreads: Int
    /// The number format of the encoder's linear layers (fp32 unless asked; a precision the CPU
    /// cannot run falls back to fp32, which `GET /v1/model` reports).
    public var precision: InferencePrecision

    public init(batch: BatchPolicy = .init(), maxBodyBytes: Int = 32 << 20, maxImages: Int = 32, maxPixels: Int = 50_000_000,
                timeout: Double = 30, decodeThreads: Int = Threading.count, precision: InferencePrecision = .fp32) {
        self.precision = precision
        self.batch = batch
        self.maxBodyBytes = maxBodyBytes
        self.maxImages = maxImages
        self.maxPixels = maxPixels
        self.timeout = timeout
        self.decodeThreads = decodeThreads
    }

    /// The decoder limits: ``maxPixels``, and the body limit as the file limit.
    public var imageLimits: ImageLimits { ImageLimits(maxPixels: maxPixels, maxFileBytes: maxBodyBytes) }
}

/// One image of a request: a name for the response and its undecoded bytes.
public struct ImageInput: Sendable {
    public var name: String
    public var data: Data
    public init(name: String, data: Data) {
        self.name = name
        self.data = data
    }
}

/// The reusable core of `code-serve`, free of HTTP: a loaded ``ServiceModel``, the
/// ``BatchQueue`` in front of its encoder, the ``DecodePool``, and the ``ServiceMetrics``.
///
/// Detection of an image is: decode on a worker thread (``ServiceDecode``, the same pixels
/// ``Embedder`` uses for a file), embed in the next encoder batch, classify with the requested
/// classifier, exactly as ``Detector`` does for a file of the same bytes.
public final class DetectionService: @unchecked Sendable {
    public enum State: Sendable {
        case loading
        case ready(ServiceModel, BatchQueue)
        case failed(String)
    }

    public let configuration: ServiceConfiguration
    public let metrics = ServiceMetrics()
    let decodePool: DecodePool
    private let lock = NSLock()
    private var _state: State = .loading

    public init(configuration: ServiceConfiguration = .init()) {
        self.configuration = configuration
        decodePool = DecodePool(threads: configuration.decodeThreads)
    }

    public var state: State { lock.withLock { _state } }

    /// Loads the model directory (encoder, classifiers, digest) and starts the batch queue. On
    /// failure the state becomes `failed` (readyz says why) and the error is rethrown.
    public func load(_ directory: ModelDirectory) throws {
        do {
            let model = try ServiceModel(directory: directory, limits: configuration.imageLimits, precision: configuration.precision)
            let queue = BatchQueue(embedders: model.embedders, policy: configuration.batch, metrics: metrics)
            lock.withLock { _state = .ready(model, queue) }
        } catch {
            lock.withLock { _state = .failed("\(error)") }
            throw error
        }
    }

    /// The loaded model and queue, or 503 `not_ready`.
    public func ready() throws -> (ServiceModel, BatchQueue) {
        switch state {
        case let .ready(m, q): return (m, q)
        case .loading: throw ServiceError.notReady("the model is still loading")
        case let .failed(why): throw ServiceError(503, "model_failed", "the model could not be loaded: \(why)")
        }
    }

    /// Stops intake; queued work is finished.
    public func shutdown() {
        if case let .ready(_, q) = state { q.shutdown() }
        decodePool.shutdown()
    }

    // MARK: Requests

    /// Which classifier and threshold a request asked for: 400 `bad_classifier` for an unknown
    /// name, 400 `bad_threshold` for a threshold that is not a number or that
    /// `ClassifierKind.validateThreshold` refuses (NaN, infinite, outside the score range), with
    /// the tools' message.
    public func resolve(classifier: String?, threshold: String?) throws -> (Detector, Double?) {
        let (model, _) = try ready()
        let name = classifier ?? model.defaultClassifier
        guard let d = model.detectors[name] else {
            throw ServiceError.badParameter("classifier", "unknown classifier '\(name)': this model has \(model.detectors.keys.sorted().joined(separator: ", "))")
        }
        var t: Double?
        if let threshold {
            guard let v = Double(threshold) else {
                throw ServiceError.badParameter("threshold", "threshold must be a number, got '\(threshold)'")
            }
            // The tools' validation and message (NaN, infinite, outside the classifier's score range).
            do { try d.classifier.kind.validateThreshold(v) } catch let e as ClassifierError {
                throw ServiceError.badParameter("threshold", e.description)
            }
            t = v
        }
        return (d, t)
    }

    struct Embedded {
        var embedding: [Float]
        var batchSize: Int
        var timings: ImageTimings
    }

    /// Decodes and embeds one admitted image for `layout`.
    func embed(_ input: ImageInput, layout: CropLayout, queue: BatchQueue, size: Int) async throws -> Embedded {
        let t0 = DispatchTime.now()
        let limits = configuration.imageLimits
        let image: RGBImage
        do {
            image = try await decodePool.run { try ServiceDecode.decode(input.data, name: input.name, layout: layout, size: size, limits: limits) }
        } catch let e as ImageError {
            throw ServiceError.image(e)
        }
        let decoded = BatchQueue.seconds(since: t0)
        metrics.decodeSeconds.recordNanoseconds(Int64(decoded * 1e9))
        let q = try await queue.embed(image, layout: layout)
        let total = BatchQueue.seconds(since: t0)
        return Embedded(embedding: q.embedding, batchSize: q.batchSize,
                        timings: ImageTimings(decodeMs: decoded * 1e3, queueMs: q.queueSeconds * 1e3, encodeMs: q.encodeSeconds * 1e3,
                                              totalMs: total * 1e3))
    }

    /// Runs `body(i)` for every input concurrently; results in input order.
    func each<T: Sendable>(_ n: Int, _ body: @escaping @Sendable (Int) async -> T) async -> [T] {
        await withTaskGroup(of: (Int, T).self) { group in
            for i in 0..<n { group.addTask { (i, await body(i)) } }
            var out = [T?](repeating: nil, count: n)
            for await (i, r) in group { out[i] = r }
            return out.map { $0! }
        }
    }

    /// Verdicts for admitted images: one result per input, in order; an image that cannot be
    /// decoded is a result with status `error` (the decoder's reason), never a failure of the others.
    public func detect(_ inputs: [ImageInput], classifier: Detector, threshold: Double?) async -> [ImageDetection] {
        guard case let .ready(model, queue) = state else { return [] }
        let layout = classifier.embedder.crops
        let kind = classifier.classifier.kind
        // The request's threshold, else the calibrated one the classifier file records, else the classifier's own.
        let applied = threshold ?? classifier.threshold
        let effective = applied ?? ServiceModel.defaultThreshold(kind)
        let size = model.model.configuration.imageSize
        let name = classifier.classifierName
        return await each(inputs.count) { i in
            let input = inputs[i]
            var row = ImageDetection(name: input.name, status: "ok", classifier: name, threshold: effective, crops: layout.rawValue)
            do {
                let e = try await self.embed(input, layout: layout, queue: queue, size: size)
                try Task.checkCancellation()
                var p = try classifier.classifier.predict(EmbeddingMatrix([e.embedding], dimension: classifier.embedder.width))[0]
                if let t = applied { p = Prediction(decision: p.decision, verdict: Detector.verdict(score: p.decision, threshold: t, kind: kind)) }
                row.verdict = p.verdict.rawValue
                row.score = p.decision
                row.batchSize = e.batchSize
                row.timings = e.timings
                self.metrics.verdict(classifier: name, verdict: p.verdict.rawValue)
            } catch {
                row.status = "error"
                row.error = Self.serviceError(error).body
            }
            return row
        }
    }

    /// Embeddings for admitted images, as ``detect(_:classifier:threshold:)`` (same per-image errors).
    public func embed(_ inputs: [ImageInput], crops layout: CropLayout) async -> [ImageEmbedding] {
        guard case let .ready(model, queue) = state else { return [] }
        let size = model.model.configuration.imageSize
        return await each(inputs.count) { i in
            let input = inputs[i]
            var row = ImageEmbedding(name: input.name, status: "ok", crops: layout.rawValue)
            do {
                let e = try await self.embed(input, layout: layout, queue: queue, size: size)
                row.embedding = e.embedding
                row.timings = e.timings
            } catch {
                row.status = "error"
                row.error = Self.serviceError(error).body
            }
            return row
        }
    }

    /// Any error as a ``ServiceError`` (cancellation is the request timeout).
    func serviceError(_ error: any Error) -> ServiceError { Self.serviceError(error, timeout: configuration.timeout) }

    static func serviceError(_ error: any Error, timeout: Double = 0) -> ServiceError {
        switch error {
        case let e as ServiceError: e
        case let e as ImageError: .image(e)
        case is CancellationError: .timeout(seconds: timeout)
        default: ServiceError(500, "internal", "\(error)")
        }
    }
}
