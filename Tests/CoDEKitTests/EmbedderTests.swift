import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// Files through `Embedder` (region decode, batching, error rows) against the same images
/// decoded, cropped and embedded one by one.
@Suite struct EmbedderTests {
    @Test func filesMatchDirectPathAndKeepOrderAndErrors() throws {
        let model = try ViT.load(from: Fixtures.url("model/tiny-transformers"))
        let embedder = Embedder(model: model)
        let names = ["jpeg_444_260x241.jpg", "bad/jpeg_truncated.jpg", "png_1x1.png", "jpeg_420_223x225.jpg",
                     "jpeg_progressive_97x61.jpg", "bad/unknown.bin", "jpeg_cmyk_65x49.jpg"]
        let urls = names.map { Fixtures.url("images/" + $0) }
        var results: [EmbeddingResult] = []
        embedder.embed(files: urls, batchSize: 3) { results.append($0) }
        #expect(results.map(\.path) == urls.map(\.path))
        #expect(results.map { $0.error != nil } == names.map { $0.hasPrefix("bad/") })
        #expect(results[1].error?.contains("jpeg_truncated.jpg") == true)
        for (i, url) in urls.enumerated() where results[i].error == nil {
            let image = try ImageDecoder.decode(contentsOf: url)
            let direct = embedder.embed([Preprocess.centerCrop(image, size: model.configuration.imageSize)])[0]
            // Same pixels, same model; only the batch composition differs (BLAS row blocking).
            let d = TensorDiff(results[i].embedding!, direct)
            #expect(d.relative < 1e-5, "\(names[i]): \(d)")
        }
    }

    /// Five crops: each file's embedding is the mean of the embeddings of its five windows, each
    /// window cut out by hand and embedded alone with the centre-crop path (all five, also where
    /// they coincide on a short side and the Embedder embeds each distinct window once); error
    /// rows stay in place; a forward batch of 11 windows holds 2 images.
    @Test func fiveCropsAreTheMeanOfTheWindowEmbeddings() throws {
        let model = try ViT.load(from: Fixtures.url("model/tiny-transformers"))
        let S = model.configuration.imageSize
        let embedder = Embedder(model: model, crops: .five)
        let single = Embedder(model: model)
        // Against the 32x32 model: both sides longer, one side shorter (45x31), both shorter.
        let names = ["jpeg_444_260x241.jpg", "bad/jpeg_truncated.jpg", "png_1x1.png", "jpeg_progressive_97x61.jpg",
                     "jpeg_420_odd_45x31.jpg", "jpeg_cmyk_65x49.jpg", "png_rgba16_23x17.png", "png_rgb_227x229.png"]
        let urls = names.map { Fixtures.url("images/" + $0) }
        var results: [EmbeddingResult] = []
        embedder.embed(files: urls, batchSize: 11) { results.append($0) }
        #expect(results.map(\.path) == urls.map(\.path))
        #expect(results.map { $0.error != nil } == names.map { $0.hasPrefix("bad/") })
        for (i, url) in urls.enumerated() where results[i].error == nil {
            let image = try ImageDecoder.decode(contentsOf: url)
            // Windows cut by hand: pad a short side as the centre crop does, then take the corners
            // and the centre crop of the padded image.
            let padded = Self.pad(image, to: S)
            let W = padded.width, H = padded.height
            let corners = [(0, 0), (W - S, 0), (0, H - S), (W - S, H - S)].map { Self.cut(padded, x: $0.0, y: $0.1, size: S) }
            let windows = corners + [Preprocess.centerCrop(image, size: S)]
            let each = single.embed(windows)
            let mean = (0..<single.width).map { j in each.map { $0[j] }.reduce(0, +) / 5 }
            // Same pixels and model; only batch composition and summation order differ.
            let d = TensorDiff(results[i].embedding!, mean)
            #expect(d.relative < 1e-5, "\(names[i]): \(d)")
        }
        // The public API on decoded images takes the same path.
        let image = try ImageDecoder.decode(contentsOf: urls[0])
        #expect(TensorDiff(embedder.embed([image])[0], results[0].embedding!).relative < 1e-5)
    }

    /// `image` zero-padded to at least `size` on each side, the extra split floor-left / rest-right.
    static func pad(_ image: RGBImage, to size: Int) -> RGBImage {
        let W = max(image.width, size), H = max(image.height, size)
        let ox = (W - image.width) / 2, oy = (H - image.height) / 2
        var px = [UInt8](repeating: 0, count: W * H * 3)
        for y in 0..<image.height {
            for x in 0..<image.width {
                for c in 0..<3 { px[((y + oy) * W + x + ox) * 3 + c] = image.pixels[(y * image.width + x) * 3 + c] }
            }
        }
        return RGBImage(width: W, height: H, pixels: px)
    }

    static func cut(_ image: RGBImage, x: Int, y: Int, size: Int) -> RGBImage {
        var px = [UInt8]()
        for r in y..<(y + size) { px += image.pixels[((r * image.width + x) * 3)..<((r * image.width + x + size) * 3)] }
        return RGBImage(width: size, height: size, pixels: px)
    }
}
