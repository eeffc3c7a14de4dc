import CoDECore
import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

/// The fixture images written by Tests/Fixtures/make_image_fixtures.py, and PIL's results for them.
enum ImageFixtures {
    static let reference: SafeTensorsFile = try! Fixtures.open("images/reference.safetensors")
    static let names: [String] = {
        let json = reference.metadata["images"] ?? "[]"
        return (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }()
    static let jpegNames = names.filter { $0.hasPrefix("jpeg_") }
    static let pngNames = names.filter { $0.hasPrefix("png_") }
    static let webpNames = names.filter { $0.hasPrefix("webp_") }
    static let gifNames = names.filter { $0.hasPrefix("gif_") }
    static let tiffNames = names.filter { $0.hasPrefix("tiff_") }
    static let bmpNames = names.filter { $0.hasPrefix("bmp_") }

    /// PIL's `Image.open(f).convert("RGB")` as an RGBImage.
    static func pilRGB(_ name: String) throws -> RGBImage {
        let e = try #require(reference.entry("\(name).rgb"))
        return RGBImage(width: e.shape[1], height: e.shape[0], pixels: try reference.integers("\(name).rgb").map { UInt8($0) })
    }

    static func url(_ name: String) -> URL { Fixtures.url("images/\(name)") }
}

/// Count of positions where two byte arrays differ and the largest difference.
func byteDiff(_ a: [UInt8], _ b: [UInt8]) -> (count: Int, maxAbs: Int) {
    precondition(a.count == b.count)
    var n = 0, m = 0
    for i in 0..<a.count where a[i] != b[i] {
        n += 1
        m = max(m, abs(Int(a[i]) - Int(b[i])))
    }
    return (n, m)
}

@Suite("Image decoding parity with PIL convert(\"RGB\")")
struct DecoderParityTests {
    @Test("the fixture lists every format and mode the brief asks for")
    func fixtureCoverage() {
        // Guards against a silently shrunken fixture: parameterised tests over an empty list pass.
        #expect(ImageFixtures.jpegNames.count >= 8)
        #expect(ImageFixtures.pngNames.count >= 11)
        #expect(ImageFixtures.webpNames.count >= 2 && ImageFixtures.gifNames.count >= 4)
        #expect(ImageFixtures.tiffNames.count >= 8 && ImageFixtures.bmpNames.count >= 9)
        for mode in ["RGB", "L", "CMYK", "LA", "P", "RGBA", "1", "I;16"] {
            #expect(ImageFixtures.names.contains { ImageFixtures.reference.metadata["\($0).mode"] == mode }, "no fixture of PIL mode \(mode)")
        }
    }

    // Tolerance: exact. PIL decodes JPEG with libjpeg-turbo (ISLOW IDCT, fancy upsampling), the
    // same library and settings used here, and those code paths are bit-exact across libjpeg-turbo
    // versions and SIMD back ends; CMYK uses PIL's integer formula. PNG decoding is lossless and
    // the conversions are integer rules (high byte of 16-bit samples, clip for 16-bit gray).
    @Test("JPEG pixels equal PIL's exactly", arguments: ImageFixtures.jpegNames)
    func jpeg(name: String) throws {
        try expectExact(name)
    }

    @Test("PNG pixels equal PIL's exactly", arguments: ImageFixtures.pngNames)
    func png(name: String) throws {
        try expectExact(name)
    }

    // Tolerance: exact. PIL 13 decodes WebP with libwebp (1.6) and this build with Debian's
    // libwebp (1.2.4); both use libwebp's integer YUV->RGB with fancy upsampling, which has not
    // changed between these versions, and lossless WebP is lossless.
    @Test("WebP pixels equal PIL's exactly", arguments: ImageFixtures.webpNames)
    func webp(name: String) throws {
        try expectExact(name)
    }

    // Tolerance: exact. GIF is lossless palette data; frame 0 is composed on the logical screen
    // with PIL's fill rule (transparency index, else index 0).
    @Test("GIF first-frame pixels equal PIL's exactly", arguments: ImageFixtures.gifNames)
    func gif(name: String) throws {
        try expectExact(name)
    }

    // Tolerance: exact. Raw, LZW and deflate strips are lossless; JPEG-in-TIFF goes through
    // libjpeg(-turbo) ISLOW with libjpeg's own YCbCr->RGB in both PIL's libtiff and Debian's.
    @Test("TIFF pixels equal PIL's exactly", arguments: ImageFixtures.tiffNames)
    func tiff(name: String) throws {
        try expectExact(name)
    }

    // Tolerance: exact. BMP is uncompressed; 16-bit fields use PIL's integer scaling v * 255 / max.
    @Test("BMP pixels equal PIL's exactly", arguments: ImageFixtures.bmpNames)
    func bmp(name: String) throws {
        try expectExact(name)
    }

    private func expectExact(_ name: String) throws {
        let decoded = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
        let ref = try ImageFixtures.pilRGB(name)
        #expect(decoded.width == ref.width && decoded.height == ref.height)
        guard decoded.width == ref.width, decoded.height == ref.height else { return }
        let d = byteDiff(decoded.pixels, ref.pixels)
        #expect(d.count == 0, "\(name): \(d.count) bytes differ from PIL, max |diff| \(d.maxAbs)")
    }

    @Test("format comes from magic bytes, not the file name")
    func magicBytes() throws {
        let jpeg = try Data(contentsOf: ImageFixtures.url("jpeg_422_101x67.jpg"))
        let png = try Data(contentsOf: ImageFixtures.url("png_l_57x43.png"))
        #expect(ImageDecoder.format(of: jpeg) == .jpeg)
        #expect(ImageDecoder.format(of: png) == .png)
        #expect(ImageDecoder.format(of: Data("GIF89a......".utf8)) == .gif)
        #expect(ImageDecoder.format(of: Data("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8)) == .webp)
        #expect(ImageDecoder.format(of: Data([0x49, 0x49, 0x2A, 0x00])) == .tiff)
        #expect(ImageDecoder.format(of: Data([0x4D, 0x4D, 0x00, 0x2A])) == .tiff)
        #expect(ImageDecoder.format(of: Data("BM".utf8)) == .bmp)
        #expect(ImageDecoder.format(of: Data([0xFF, 0xD8])) == nil)  // too short for a JPEG signature
        #expect(ImageDecoder.format(of: Data()) == nil)
        // A JPEG named .png decodes as JPEG, identical to the same bytes under their own name.
        let misnamed = try ImageDecoder.decode(data: jpeg, source: "photo.png")
        #expect(misnamed == (try ImageFixtures.pilRGB("jpeg_422_101x67.jpg")))
    }
}
