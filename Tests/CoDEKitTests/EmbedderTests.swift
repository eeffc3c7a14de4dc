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
}
