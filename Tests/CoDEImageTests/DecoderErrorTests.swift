import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

@Suite("Image decoding errors")
struct DecoderErrorTests {
    static func bad(_ name: String) -> URL { Fixtures.url("images/bad/\(name)") }

    /// Decodes `name` from Tests/Fixtures/images/bad and returns the error, whose message must name the file.
    func error(_ name: String, limits: ImageLimits = .init()) throws -> ImageError {
        let url = Self.bad(name)
        let e = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url, limits: limits) }
        #expect(e.description.contains(url.path), "message does not name the file: \(e)")
        return e
    }

    @Test("truncated files of every format report truncation")
    func truncated() throws {
        for name in ["jpeg_truncated.jpg", "jpeg_header_only.jpg", "png_truncated.png", "webp_truncated.webp", "gif_truncated.gif", "tiff_truncated.tif", "bmp_truncated.bmp"] {
            let e = try error(name)
            guard case .truncated = e else { Issue.record("\(name): expected .truncated, got \(e)"); continue }
            #expect(e.description.contains("truncated"))
        }
    }

    @Test("corrupt data reports the codec's reason")
    func corrupt() throws {
        let marker = try error("jpeg_corrupt_marker.jpg")
        guard case let .corrupt(_, format, reason) = marker else { Issue.record("expected .corrupt, got \(marker)"); return }
        #expect(format == .jpeg && !reason.isEmpty && marker.description.contains("corrupt JPEG data: "))
        for name in ["png_bad_crc.png", "png_bad_idat.png"] {
            let e = try error(name)
            guard case let .corrupt(_, f, r) = e else { Issue.record("\(name): expected .corrupt, got \(e)"); continue }
            #expect(f == .png && !r.isEmpty, "\(e)")
        }
    }

    /// Junk before EOI, past every row of the centre crop (Tests/Fixtures/make_jpeg_tail_fixture.py):
    /// the crop-region decode reads on to the end of the file as the full decode does.
    @Test("junk after the last scan, past the centre crop: the same error from the full and the crop-region decode; lenient, both decode alike")
    func tailJunk() throws {
        let data = try Data(contentsOf: Self.bad("jpeg_tail_extraneous.jpg"))
        let full = try #require(throws: ImageError.self) { try ImageDecoder.decode(data: data, source: "t.jpg") }
        let crop = try #require(throws: ImageError.self) { try Preprocess.decodeCenterCrop(data: data, source: "t.jpg", size: 224) }
        guard case let .corrupt(_, format, reason) = crop else { Issue.record("expected .corrupt, got \(crop)"); return }
        #expect(format == .jpeg && reason.contains("extraneous bytes before marker 0xd9"), "\(reason)")
        #expect(full == crop)
        let lenient = ImageLimits(warningsAreErrors: false)
        let whole = try ImageDecoder.decode(data: data, source: "t.jpg", limits: lenient)
        #expect(whole.width == 480 && whole.height == 480)
        #expect(try Preprocess.decodeCenterCrop(data: data, source: "t.jpg", size: 224, limits: lenient) == Preprocess.centerCrop(whole, size: 224))
    }

    @Test("unknown and empty files report unsupported format with their magic bytes")
    func unknown() throws {
        let e = try error("unknown.bin")
        #expect(e.description.contains("unsupported format (magic bytes 00 01 02 03"), "\(e)")
        let empty = try error("empty.jpg")
        #expect(empty.description.contains("unsupported format") && empty.description.contains("empty"), "\(empty)")
    }

    @Test("headers over the pixel limit are rejected before allocation")
    func tooLarge() throws {
        let png = try error("png_huge.png")
        #expect(png == .tooLarge(source: Self.bad("png_huge.png").path, width: 100_000, height: 100_000, limit: 89_478_485))
        #expect(png.description.contains("image 100000x100000 exceeds the pixel limit 89478485"))
        let jpeg = try error("jpeg_huge.jpg")
        #expect(jpeg == .tooLarge(source: Self.bad("jpeg_huge.jpg").path, width: 60_000, height: 60_000, limit: 89_478_485))
        // The limit is configurable: a valid 101x67 image (6,767 pixels) fails under 6,766 and passes at 6,767.
        let url = Fixtures.url("images/jpeg_422_101x67.jpg")
        #expect(throws: ImageError.tooLarge(source: url.path, width: 101, height: 67, limit: 6766)) {
            try ImageDecoder.decode(contentsOf: url, limits: ImageLimits(maxPixels: 6766))
        }
        #expect((try? ImageDecoder.decode(contentsOf: url, limits: ImageLimits(maxPixels: 6767))) != nil)
    }

    @Test("file size limit and unreadable paths")
    func fileErrors() throws {
        let url = Fixtures.url("images/png_l_57x43.png")
        let e = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url, limits: ImageLimits(maxFileBytes: 100)) }
        guard case .fileTooLarge = e else { Issue.record("expected .fileTooLarge, got \(e)"); return }
        let missing = Fixtures.url("images/does-not-exist.png")
        let m = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: missing) }
        guard case .unreadable = m else { Issue.record("expected .unreadable, got \(m)"); return }
        #expect(m.description.contains(missing.path))
    }

    @Test("every strict prefix of a JPEG, PNG, WebP, GIF, TIFF and BMP throws ImageError; none crashes")
    func everyPrefix() throws {
        for name in ["jpeg_progressive_97x61.jpg", "png_p_trns_45x33.png", "webp_lossy_83x61.webp", "gif_p_53x37.gif", "tiff_rgb_lzw_37x29.tif", "bmp_p_29x23.bmp"] {
            let data = try Data(contentsOf: Fixtures.url("images/\(name)"))
            // Prefixes that end before the last 12 bytes (a PNG's IEND chunk, a JPEG's last scan
            // bytes and EOI) miss image data, so each must fail with an ImageError.
            for n in stride(from: 0, to: data.count - 12, by: 5) {
                #expect(throws: ImageError.self, "\(name) prefix \(n)") { try ImageDecoder.decode(data: data.prefix(n), source: name) }
            }
        }
    }
}
