import Foundation

/// One input's outcome: its embedding, or why it could not be embedded.
public struct EmbeddingResult: Sendable {
    public let path: String
    public let embedding: [Float]?
    public let error: String?

    public init(path: String, embedding: [Float]?, error: String?) {
        self.path = path
        self.embedding = embedding
        self.error = error
    }
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

    /// The number format of the encoder's linear layers (fp32 by default; see docs/precision.md).
    /// Setting it converts the weights once; where the CPU or oneDNN cannot run the requested
    /// format the model stays fp32, and ``precisionChoice`` says why.
    public var precision: InferencePrecision {
        get { model.precision }
        set { precisionChoice = model.setPrecision(newValue) }
    }

    /// What the last ``precision`` assignment did (nil before the first).
    public private(set) var precisionChoice: PrecisionChoice?

    /// Embedding width (192 for ViT-Tiny).
    public var width: Int { model.configuration.width }

    /// Embeds decoded images (whole images: they are cropped as ``crops`` says, in one forward
    /// pass); returns one `[D]` embedding per image.
    public func embed(_ images: [RGBImage]) -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(images.count)
        embedItems(count: images.count, batchSize: max(1, images.count * crops.count), load: { .success(images[$0]) }) { _, e, _ in
            out.append(e!)  // loading a decoded image cannot fail
        }
        return out
    }

    /// The windows one image contributes: distinct window origins and how often each occurs.
    typealias Windows = [(x: Int, y: Int, count: Int)]

    /// The weighted mean `Σ count_w e_w / Σ count_w` of consecutive `[width]` rows, one per window.
    static func meanOfWindows(_ p: UnsafePointer<Float>, windows: Windows, width D: Int) -> [Float] {
        if windows.count == 1 { return Array(UnsafeBufferPointer(start: p, count: D)) }
        var m = [Float](repeating: 0, count: D)
        var total = 0
        for (w, win) in windows.enumerated() {
            let f = Float(win.count)
            for j in 0..<D { m[j] += f * p[w * D + j] }
            total += win.count
        }
        let inv = 1 / Float(total)
        for j in 0..<D { m[j] *= inv }
        return m
    }

    /// What inference needs of a file's bytes: with ``CropLayout/center`` only the centre crop
    /// (JPEGs decode just that region, ``Preprocess/decodeCenterCrop(data:source:size:limits:)``),
    /// otherwise the whole image.
    func decodeForInference(_ data: Data, source: String, limits: ImageLimits) throws -> RGBImage {
        let S = model.configuration.imageSize
        var w = 0, h = 0
        let image: RGBImage
        if crops == .center {
            image = try Preprocess.decodeCenterCrop(data: data, source: source, size: S, limits: limits, sourceWidth: &w, sourceHeight: &h)
        } else {
            image = try ImageDecoder.decode(data: data, source: source, limits: limits)
            (w, h) = (image.width, image.height)
        }
        if w < S || h < S {
            smallLock.withLock {
                smallCount += 1
                if smallExample == nil { smallExample = "\(source) is \(w)x\(h)" }
            }
        }
        return image
    }

    private let smallLock = NSLock()
    nonisolated(unsafe) private var smallCount = 0
    nonisolated(unsafe) private var smallExample: String?

    /// Inputs decoded so far (files and untransformed samples) with a side below the encoder's
    /// input size, which the crops zero-pad: their number and the first one, for a warning.
    public var smallImages: (count: Int, example: String?) { smallLock.withLock { (smallCount, smallExample) } }

    /// The warning the tools print for ``smallImages`` (nil when there were none).
    public var smallImagesWarning: String? {
        let (n, e) = smallImages
        guard n > 0 else { return nil }
        let S = model.configuration.imageSize
        return "warning: \(n) image\(n == 1 ? " is" : "s are") smaller than the encoder's \(S)x\(S) input and zero-padded "
            + "(e.g. \(e ?? "?")); their scores are less reliable"
    }

    /// The bytes of a file, with the size limit checked first.
    static func read(_ url: URL, limits: ImageLimits) throws -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
        guard let size else { throw ImageError.unreadable(source: url.relativePath, reason: "no such file or not readable") }
        if size > limits.maxFileBytes { throw ImageError.fileTooLarge(source: url.relativePath, bytes: size, limit: limits.maxFileBytes) }
        do { return try Data(contentsOf: url) } catch { throw ImageError.unreadable(source: url.relativePath, reason: error.localizedDescription) }
    }

    /// Decodes and embeds files in forward passes of `batchSize` windows, calling `body` once per
    /// file in input order (its path as given: `relativePath`, so a relative input stays relative). With centre crops, JPEGs are decoded only in the crop (identical to
    /// decode + crop).
    public func embed(files: [URL], batchSize: Int = 32, _ body: (EmbeddingResult) throws -> Void) rethrows {
        let limits = self.limits
        try embedItems(count: files.count, batchSize: batchSize, load: { i in
            Result { try self.decodeForInference(Self.read(files[i], limits: limits), source: files[i].relativePath, limits: limits) }
        }) { i, embedding, error in
            try body(EmbeddingResult(path: files[i].relativePath, embedding: embedding, error: error))
        }
    }

    /// Images per encoder batch for `batchSize` crops per forward pass: `batchSize / crops.count`,
    /// at least one.
    public func imagesPerBatch(batchSize: Int) -> Int { max(1, batchSize / crops.count) }

    /// The batching core of every `embed` over inputs that may fail: `load(i)` (a `Result`, so
    /// that only `emit` decides whether this rethrows) runs on
    /// ``Threading/count`` threads and gives item i's image (cropped here as ``crops`` says; a
    /// centre-cropped image of the model's input size stays as it is); the windows of the good
    /// items of a batch (`batchSize / crops.count` images, at least one) are embedded together,
    /// each distinct window once (windows that coincide on a short side are weighted by their
    /// multiplicity, so the mean is that of all the layout's windows); `emit(i, embedding,
    /// error)` is called once per item, in order, with exactly one of the two non-nil.
    func embedItems(count: Int, batchSize: Int, load: (Int) -> Result<RGBImage, any Error>,
                    emit: (Int, [Float]?, String?) throws -> Void) rethrows {
        precondition(batchSize > 0, "Embedder: batch size must be positive")
        let c = model.configuration, layout = crops, S = c.imageSize
        let k = layout.count, n = c.imageFloats, D = c.width
        let images = max(1, batchSize / k)
        let input = FloatBuffer(count: images * k * n)
        let output = FloatBuffer(count: images * k * D)
        var start = 0
        while start < count {
            let end = min(count, start + images)
            var errors = [String?](repeating: nil, count: end - start)
            var windows = [Windows](repeating: [], count: end - start)
            errors.withUnsafeMutableBufferPointer { err in
                windows.withUnsafeMutableBufferPointer { win in
                    Threading.parallelFor(end - start) { i in
                        do {
                            let image = try load(start + i).get()
                            let w = layout.distinctOrigins(width: image.width, height: image.height, size: S)
                            for (j, o) in w.enumerated() {
                                Preprocess.windowTensor(image, x: o.x, y: o.y, size: S, into: input.pointer + (i * k + j) * n)
                            }
                            win[i] = w
                        } catch {
                            err[i] = "\(error)"
                        }
                    }
                }
            }
            // Compact the good images' windows to the front of the input buffer (regions may
            // overlap; `update(from:count:)` copies in the safe direction) and embed them together.
            var rows = 0
            for i in errors.indices where errors[i] == nil {
                let m = windows[i].count
                if rows != i * k { (input.pointer + rows * n).update(from: input.pointer + i * k * n, count: m * n) }
                rows += m
            }
            model.embed(input.pointer, batch: rows, into: output.pointer)
            var r = 0
            for i in errors.indices {
                if let e = errors[i] {
                    try emit(start + i, nil, e)
                } else {
                    try emit(start + i, Self.meanOfWindows(output.pointer + r * D, windows: windows[i], width: D), nil)
                    r += windows[i].count
                }
            }
            start = end
        }
    }
}
