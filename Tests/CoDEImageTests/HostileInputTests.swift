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

    /// Fuzz/corpus/FuzzTar/pax_length_overflow.tar (Fuzz/make_regressions.py): a pax record
    /// whose length field is Int.max, after a first record, so `i + len` overflowed (a trap).
    @Test("a pax record with a 19-digit length is a malformed-record error, not a trap")
    func paxLengthOverflow() throws {
        let url = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus/FuzzTar/pax_length_overflow.tar")
        let data = try Data(contentsOf: url)
        #expect(data.count == 3072)  // pax header + payload, member header + data, two end blocks
        do {
            _ = try TarArchive(data: data, source: "pax_length_overflow.tar")
            Issue.record("the archive was accepted")
        } catch let e as DatasetError {
            #expect("\(e)".contains("malformed pax record"), "\(e)")
        }
        // The same record as the first one (i = 0) was already caught; as the last one of a
        // payload that ends right after it, too.
        for payload in ["9223372036854775807 size=1\n", "9223372036854775806 path=x\n"] {
            var h = [UInt8](repeating: 0, count: 512)
            let p = Array(payload.utf8)
            for (i, b) in Array("PaxHeader/x".utf8).enumerated() { h[i] = b }
            for (i, b) in Array(String(format: "%011o", p.count).utf8).enumerated() { h[124 + i] = b }
            h[156] = UInt8(ascii: "x")
            for i in 148..<156 { h[i] = 32 }
            let sum = h.reduce(0) { $0 + Int($1) }
            for (i, b) in Array(String(format: "%06o", sum).utf8).enumerated() { h[148 + i] = b }
            h[154] = 0
            var tar = Data(h) + Data(p)
            tar += Data(count: (512 - p.count % 512) % 512 + 1024)
            #expect(throws: DatasetError.self) { try TarArchive(data: tar, source: "inline") }
        }
    }

    @Test("TIFF dimensions whose product overflows 64 bits are rejected as too large")
    func tiffOverflow() throws {
        let url = Self.dir.appendingPathComponent("tiff_dimension_overflow.tif")
        #expect(throws: ImageError.tooLarge(source: url.path, width: 4_294_901_805, height: 4_294_901_805, limit: 89_478_485)) {
            try ImageDecoder.decode(contentsOf: url)
        }
    }
}
