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
/// With ``crops`` set to ``CropLayout/five`` every image is seen through five windows (corners
/// and centre, no resize) and its embedding is the mean of the five window embeddings; forward
/// passes then hold `batchSize / 5` images.
///
/// Decoding runs on ``Threading/count`` threads, one batch at a time; unreadable files become
/// error results and never stop the run.
public final class Embedder: @unchecked Sendable {
    public let model: ViT
    /// Limits applied to every decoded file.
    public var limits: ImageLimits
    /// Which windows of each image are embedded (their embeddings are averaged); default: the
    /// authors' single centre crop.
    public var crops: CropLayout

    public init(model: ViT, limits: ImageLimits = .init(), crops: CropLayout = .center) {
        self.model = model
        self.limits = limits
        self.crops = crops
    }

    /// Loads the encoder from a transformers-layout folder or a timm safetensors file (see ``ViT/load(from:configuration:)``).
    public convenience init(modelAt url: URL) throws {
        self.init(model: try ViT.load(from: url))
    }

    /// Embedding width (192 for ViT-Tiny).
    public var width: Int { model.configuration.width }

    /// Embeds decoded images (whole images: they are cropped as ``crops`` says, in one forward
    /// pass); returns one `[D]` embedding per image.
    public func embed(_ images: [RGBImage]) -> [[Float]] {
        let c = model.configuration, layout = crops
        let n = c.imageFloats, k = layout.count, D = c.width
        let input = FloatBuffer(count: images.count * k * n)
        Threading.parallelFor(images.count) { i in
            Preprocess.inferenceTensors(images[i], layout: layout, size: c.imageSize, into: input.pointer + i * k * n)
        }
        let flat = FloatBuffer(count: images.count * k * D)
        model.embed(input.pointer, batch: images.count * k, into: flat.pointer)
        return (0..<images.count).map { Self.meanOfWindows(flat.pointer + $0 * k * D, windows: k, width: D) }
    }

    /// The mean of `windows` consecutive `[width]` rows.
    static func meanOfWindows(_ p: UnsafePointer<Float>, windows k: Int, width D: Int) -> [Float] {
        if k == 1 { return Array(UnsafeBufferPointer(start: p, count: D)) }
        var m = [Float](repeating: 0, count: D)
        for w in 0..<k { for j in 0..<D { m[j] += p[w * D + j] } }
        let inv = 1 / Float(k)
        for j in 0..<D { m[j] *= inv }
        return m
    }

    /// What inference needs of a file's bytes: with ``CropLayout/center`` only the centre crop
    /// (JPEGs decode just that region, ``Preprocess/decodeCenterCrop(data:source:size:limits:)``),
    /// otherwise the whole image.
    func decodeForInference(_ data: Data, source: String, limits: ImageLimits) throws -> RGBImage {
        crops == .center
            ? try Preprocess.decodeCenterCrop(data: data, source: source, size: model.configuration.imageSize, limits: limits)
            : try ImageDecoder.decode(data: data, source: source, limits: limits)
    }

    /// The bytes of a file, with the size limit checked first.
    static func read(_ url: URL, limits: ImageLimits) throws -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
        guard let size else { throw ImageError.unreadable(source: url.path, reason: "no such file or not readable") }
        if size > limits.maxFileBytes { throw ImageError.fileTooLarge(source: url.path, bytes: size, limit: limits.maxFileBytes) }
        do { return try Data(contentsOf: url) } catch { throw ImageError.unreadable(source: url.path, reason: error.localizedDescription) }
    }

    /// Decodes and embeds files in forward passes of `batchSize` windows, calling `body` once per
    /// file in input order. With centre crops, JPEGs are decoded only in the crop (identical to
    /// decode + crop).
    public func embed(files: [URL], batchSize: Int = 32, _ body: (EmbeddingResult) throws -> Void) rethrows {
        let limits = self.limits
        try embedItems(count: files.count, batchSize: batchSize, load: { i in
            Result { try self.decodeForInference(Self.read(files[i], limits: limits), source: files[i].path, limits: limits) }
        }) { i, embedding, error in
            try body(EmbeddingResult(path: files[i].path, embedding: embedding, error: error))
        }
    }

    /// The batching core of every `embed` over inputs that may fail: `load(i)` (a `Result`, so
    /// that only `emit` decides whether this rethrows) runs on
    /// ``Threading/count`` threads and gives item i's image (cropped here as ``crops`` says; a
    /// centre-cropped image of the model's input size stays as it is); the windows of the good
    /// items of a batch (`batchSize` windows, at least one image) are embedded together; `emit(i,
    /// embedding, error)` is called once per item, in order, with exactly one of the two non-nil.
    func embedItems(count: Int, batchSize: Int, load: (Int) -> Result<RGBImage, any Error>,
                    emit: (Int, [Float]?, String?) throws -> Void) rethrows {
        precondition(batchSize > 0, "Embedder: batch size must be positive")
        let c = model.configuration, layout = crops
        let k = layout.count, n = c.imageFloats * k, D = c.width
        let images = max(1, batchSize / k)
        let input = FloatBuffer(count: images * n)
        let output = FloatBuffer(count: images * k * D)
        var start = 0
        while start < count {
            let end = min(count, start + images)
            var errors = [String?](repeating: nil, count: end - start)
            errors.withUnsafeMutableBufferPointer { err in
                Threading.parallelFor(end - start) { i in
                    do {
                        Preprocess.inferenceTensors(try load(start + i).get(), layout: layout, size: c.imageSize, into: input.pointer + i * n)
                    } catch {
                        err[i] = "\(error)"
                    }
                }
            }
            // Compact the good images to the front of the input buffer and embed them together.
            var good = 0
            for i in errors.indices where errors[i] == nil {
                if good != i { (input.pointer + good * n).update(from: input.pointer + i * n, count: n) }
                good += 1
            }
            model.embed(input.pointer, batch: good * k, into: output.pointer)
            var g = 0
            for i in errors.indices {
                if let e = errors[i] {
                    try emit(start + i, nil, e)
                } else {
                    try emit(start + i, Self.meanOfWindows(output.pointer + g * k * D, windows: k, width: D), nil)
                    g += 1
                }
            }
            start = end
        }
    }
}
