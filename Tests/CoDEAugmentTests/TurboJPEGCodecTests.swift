import CoDEAugment
import CoDECore
import CoDEImage
import Testing

/// The real libjpeg-turbo round trip behind JPEGOp (the other JPEG tests use a test double).
@Suite struct TurboJPEGCodecTests {
    func gradient(_ w: Int, _ h: Int) -> RGBImage {
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w {
            let i = (y * w + x) * 3
            // Smooth content with some texture in luma: a 4-pixel checker of amplitude 24.
            let tex = ((x / 4 + y / 4) % 2) * 24
            px[i] = UInt8((x * 200) / w + tex); px[i + 1] = UInt8((y * 200) / h + tex); px[i + 2] = UInt8(100 + tex)
        } }
        return RGBImage(width: w, height: h, pixels: px)
    }

    func meanAbsDiff(_ a: RGBImage, _ b: RGBImage) -> Double {
        zip(a.pixels, b.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.pixels.count)
    }

    @Test func qualityControlsTheError() throws {
        let img = gradient(67, 45)
        let op100 = try JPEGOp(quality: 100, codec: TurboJPEGCodec()).apply(img)
        let op40 = try JPEGOp(quality: 40, codec: TurboJPEGCodec()).apply(img)
        #expect(op100.width == 67 && op100.height == 45)
        let e100 = meanAbsDiff(img, op100), e40 = meanAbsDiff(img, op40)
        // q100 is near-lossless on smooth content (4:2:0 chroma keeps the checker, which is gray).
        #expect(e100 < 1.5, "q100 error \(e100)")
        #expect(e40 > 2 * e100, "q40 error \(e40) vs q100 \(e100)")
        // Deterministic: the same input and quality give the same bytes.
        #expect(try TurboJPEGCodec().roundTrip(img, quality: 40) == op40)
    }
}
