import CoDECore
import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

@Suite("Hostile input")
struct HostileInputTests {
    @Test("JPEG warnings are errors by default; lenient decoding matches PIL")
    func warnings() throws {
        let url = Fixtures.url("images/bad/jpeg_extraneous.jpg")
        let e = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
        #expect(e.description == "\(url.path): corrupt JPEG data: 4 extraneous bytes before marker 0xc0", "\(e)")
        // Tolerance: exact; PIL ignores the warning and decodes with the same libjpeg-turbo settings.
        let lenient = try ImageDecoder.decode(contentsOf: url, limits: ImageLimits(warningsAreErrors: false))
        let ref = try ImageFixtures.reference.integers("bad/jpeg_extraneous.jpg.rgb").map { UInt8($0) }
        #expect(lenient.pixels == ref)
    }

    @Test("progressive scan limit")
    func scanLimit() throws {
        let url = Fixtures.url("images/jpeg_progressive_97x61.jpg")
        // PIL's progressive encoding of a 3-channel image has 10 scans (libjpeg's jpeg_simple_progression).
        #expect(throws: ImageError.tooManyScans(source: url.path, limit: 3)) {
            try ImageDecoder.decode(contentsOf: url, limits: ImageLimits(maxProgressiveScans: 3))
        }
        _ = try ImageDecoder.decode(contentsOf: url, limits: ImageLimits(maxProgressiveScans: 10))
    }

    @Test("random byte corruption never crashes and each decode ends within 2 s")
    func bitFlips() throws {
        var rng = Xoshiro256(seed: 7)
        let names = ["jpeg_420_odd_45x31.jpg", "jpeg_progressive_97x61.jpg", "jpeg_cmyk_65x49.jpg", "png_p_trns_45x33.png",
                     "png_rgba16_23x17.png", "webp_lossy_83x61.webp", "webp_lossless_rgba_41x29.webp", "gif_p_53x37.gif",
                     "tiff_rgb_lzw_37x29.tif", "tiff_jpeg_48x32.tif", "bmp_p_29x23.bmp", "bmp_bgra_15x9.bmp"]
        for name in names {
            let original = try [UInt8](Data(contentsOf: Fixtures.url("images/\(name)")))
            for trial in 0..<40 {
                var bytes = original
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(bytes.count))
                    bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                let start = Date()
                do {
                    let img = try ImageDecoder.decode(data: Data(bytes), source: "\(name)#\(trial)", limits: ImageLimits(maxPixels: 1 << 20))
                    #expect(img.width * img.height <= 1 << 20)
                } catch let e as ImageError {
                    #expect(e.description.hasPrefix("\(name)#\(trial): "), "\(e)")
                }
                #expect(Date().timeIntervalSince(start) < 2, "\(name)#\(trial) took too long")
            }
        }
    }
}


@Suite("Fuzzer regressions")
struct FuzzRegressionTests {
    static let dir = Fixtures.url("images/crashers")
    static let files: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()

    @Test("the regression folder is not empty")
    func present() { #expect(Self.files.count >= 1) }

    // Each file once crashed a fuzzer; now it must fail with an ImageError (or decode within the limit).
    @Test("committed crashers decode or throw ImageError", arguments: files)
    func crasher(name: String) throws {
        let limits = ImageLimits(maxPixels: 1 << 22)
        do {
            let img = try ImageDecoder.decode(contentsOf: Self.dir.appendingPathComponent(name), limits: limits)
            #expect(img.width * img.height <= 1 << 22)
        } catch is ImageError {}
    }

    @Test("TIFF dimensions whose product overflows 64 bits are rejected as too large")
    func tiffOverflow() throws {
        let url = Self.dir.appendingPathComponent("tiff_dimension_overflow.tif")
        #expect(throws: ImageError.tooLarge(source: url.path, width: 4_294_901_805, height: 4_294_901_805, limit: 89_478_485)) {
            try ImageDecoder.decode(contentsOf: url)
        }
    }
}
