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
    public func embed(files: [URL], batchSize: Int = 32, _ body: (EmbeddingResult) throws -> Void) rethrows {
        precondition(batchSize > 0, "Embedder: batch size must be positive")
        let c = model.configuration
        let n = c.imageFloats
        let input = FloatBuffer(count: batchSize * n)
        let output = FloatBuffer(count: batchSize * c.width)
        var start = 0
        while start < files.count {
            let batch = Array(files[start..<min(files.count, start + batchSize)])
            var errors = [String?](repeating: nil, count: batch.count)
            let limits = self.limits
            errors.withUnsafeMutableBufferPointer { err in
                Threading.parallelFor(batch.count) { i in
                    do {
                        // Only the centre crop of a JPEG is decoded (identical to decode + crop).
                        let data = try Self.read(batch[i], limits: limits)
                        let img = try Preprocess.decodeCenterCrop(data: data, source: batch[i].path, size: c.imageSize, limits: limits)
                        Preprocess.inferenceTensor(img, size: c.imageSize, into: input.pointer + i * n)
                    } catch {
                        err[i] = "\(error)"
                    }
                }
            }
            // Compact the good images to the front of the input buffer and embed them together.
            var good: [Int] = []
            for i in 0..<batch.count where errors[i] == nil {
                if good.count != i { (input.pointer + good.count * n).update(from: input.pointer + i * n, count: n) }
                good.append(i)
            }
            model.embed(input.pointer, batch: good.count, into: output.pointer)
            var g = 0
            for i in 0..<batch.count {
                if let e = errors[i] {
                    try body(EmbeddingResult(path: batch[i].path, embedding: nil, error: e))
                } else {
                    try body(EmbeddingResult(path: batch[i].path, embedding: output.array((g * c.width)..<((g + 1) * c.width)), error: nil))
                    g += 1
                }
            }
            start += batch.count
        }
    }
}
