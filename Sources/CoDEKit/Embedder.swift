import Foundation

/// One input's outcome: its embedding, or why it could not be embedded.
public struct EmbeddingResult: Sendable {
    public let path: String
    public let embedding: [Float]?
    public let error: String?
}

/// Images in, CoDE embeddings out: the authors' inference preprocessing (centre crop at the
/// model's input size without resizing, ImageNet normalisation) followed by the encoder.
///
/// Decoding runs on ``Threading/count`` threads, one batch at a time; unreadable files become
/// error results and never stop the run.
public final class Embedder: @unchecked Sendable {
    public let model: ViT
    /// Limits applied to every decoded file.
    public var limits: ImageLimits

    public init(model: ViT, limits: ImageLimits = .init()) {
        self.model = model
        self.limits = limits
    }

    /// Loads the encoder from a transformers-layout folder or a timm safetensors file (see ``ViT/load(from:configuration:)``).
    public convenience init(modelAt url: URL) throws {
        self.init(model: try ViT.load(from: url))
    }

    /// Embedding width (192 for ViT-Tiny).
    public var width: Int { model.configuration.width }

    /// Embeds decoded images; returns one `[D]` embedding per image.
    public func embed(_ images: [RGBImage]) -> [[Float]] {
        let c = model.configuration
        let n = c.imageFloats
        let input = FloatBuffer(count: images.count * n)
        Threading.parallelFor(images.count) { i in
            Preprocess.inferenceTensor(images[i], size: c.imageSize, into: input.pointer + i * n)
        }
        var flat = [Float](repeating: 0, count: images.count * c.width)
        flat.withUnsafeMutableBufferPointer { model.embed(input.pointer, batch: images.count, into: $0.baseAddress!) }
        return (0..<images.count).map { Array(flat[($0 * c.width)..<(($0 + 1) * c.width)]) }
    }

    /// The bytes of a file, with the size limit checked first.
    static func read(_ url: URL, limits: ImageLimits) throws -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
        guard let size else { throw ImageError.unreadable(source: url.path, reason: "no such file or not readable") }
        if size > limits.maxFileBytes { throw ImageError.fileTooLarge(source: url.path, bytes: size, limit: limits.maxFileBytes) }
        do { return try Data(contentsOf: url) } catch { throw ImageError.unreadable(source: url.path, reason: error.localizedDescription) }
    }

    /// Decodes and embeds files in batches of `batchSize`, calling `body` once per file in input order.
    /// JPEGs are decoded only in their centre crop (identical to decode + crop).
    public func embed(files: [URL], batchSize: Int = 32, _ body: (EmbeddingResult) throws -> Void) rethrows {
        let c = model.configuration, limits = self.limits
        try embedItems(count: files.count, batchSize: batchSize, load: { i in
            Result { try Preprocess.decodeCenterCrop(data: Self.read(files[i], limits: limits), source: files[i].path, size: c.imageSize, limits: limits) }
        }) { i, embedding, error in
            try body(EmbeddingResult(path: files[i].path, embedding: embedding, error: error))
        }
    }

    /// The batching core of every `embed` over inputs that may fail: `load(i)` (a `Result`, so
    /// that only `emit` decides whether this rethrows) runs on
    /// ``Threading/count`` threads and gives item i's image (it is centre-cropped to the model's
    /// input size if it is not already); good items of a batch are embedded together; `emit(i,
    /// embedding, error)` is called once per item, in order, with exactly one of the two non-nil.
    func embedItems(count: Int, batchSize: Int, load: (Int) -> Result<RGBImage, any Error>,
                    emit: (Int, [Float]?, String?) throws -> Void) rethrows {
        precondition(batchSize > 0, "Embedder: batch size must be positive")
        let c = model.configuration
        let n = c.imageFloats, D = c.width
        let input = FloatBuffer(count: batchSize * n)
        let output = FloatBuffer(count: batchSize * D)
        var start = 0
        while start < count {
            let end = min(count, start + batchSize)
            var errors = [String?](repeating: nil, count: end - start)
            errors.withUnsafeMutableBufferPointer { err in
                Threading.parallelFor(end - start) { k in
                    do {
                        Preprocess.inferenceTensor(try load(start + k).get(), size: c.imageSize, into: input.pointer + k * n)
                    } catch {
                        err[k] = "\(error)"
                    }
                }
            }
            // Compact the good images to the front of the input buffer and embed them together.
            var good = 0
            for k in errors.indices where errors[k] == nil {
                if good != k { (input.pointer + good * n).update(from: input.pointer + k * n, count: n) }
                good += 1
            }
            model.embed(input.pointer, batch: good, into: output.pointer)
            var g = 0
            for k in errors.indices {
                if let e = errors[k] {
                    try emit(start + k, nil, e)
                } else {
                    try emit(start + k, output.array((g * D)..<((g + 1) * D)), nil)
                    g += 1
                }
            }
            start = end
        }
    }
}
