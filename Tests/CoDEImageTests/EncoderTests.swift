import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

@Suite("Image encoders")
struct EncoderTests {
    // Reference: PIL's save(f, "JPEG", quality=q) of the same decoded pixels (fixture script).
    // Expected: byte-identical files, since both drive libjpeg(-turbo) with the same parameters
    // (quality tables, 4:2:0, ISLOW forward DCT, default Huffman tables, JFIF 1.01 with 1:1 density).
    @Test("JPEG encoding is byte-identical to PIL's", arguments: [40, 75, 95])
    func jpegMatchesPIL(quality: Int) throws {
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("images/png_rgb_227x229.png"))
        let ours = try ImageEncoder.jpeg(image, quality: quality)
        let pil = try Data(contentsOf: Fixtures.url("images/pil_encoded_q\(quality).jpg"))
        if ours != pil {
            // Fall back to the weaker property to report how far apart the results are.
            let a = try ImageDecoder.decode(data: ours, source: "ours"), b = try ImageDecoder.decode(data: pil, source: "pil")
            Issue.record("q\(quality): \(ours.count) vs \(pil.count) bytes; decoded max |diff| \(byteDiff(a.pixels, b.pixels).maxAbs)")
        }
    }

    @Test("lower JPEG quality gives a smaller file and a larger error")
    func jpegQualityOrders() throws {
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("images/png_rgb_227x229.png"))
        var lastSize = Int.max, lastErr = -1.0
        for q in [95, 75, 40, 10] {
            let data = try ImageEncoder.jpeg(image, quality: q)
            let back = try ImageDecoder.decode(data: data, source: "q\(q)")
            let mse = zip(back.pixels, image.pixels).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(image.pixels.count)
            #expect(data.count < lastSize && mse > lastErr, "q\(q): \(data.count) bytes, mse \(mse)")
            (lastSize, lastErr) = (data.count, mse)
        }
        #expect(throws: ImageError.self) { try ImageEncoder.jpeg(image, quality: 0) }
        #expect(throws: ImageError.self) { try ImageEncoder.jpeg(image, quality: 101) }
    }

    @Test("PNG encoding round-trips exactly", arguments: ["png_rgb_227x229.png", "jpeg_1x1.jpg", "bmp_rgb_51x37.bmp"])
    func pngRoundTrip(name: String) throws {
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("images/\(name)"))
        let data = try ImageEncoder.png(image)
        #expect(ImageDecoder.format(of: data) == .png)
        #expect(try ImageDecoder.decode(data: data, source: name) == image)
    }
}
