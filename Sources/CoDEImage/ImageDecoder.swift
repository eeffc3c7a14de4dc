import CCodecs
import Foundation

/// Decodes image files (JPEG, PNG, WebP, GIF, TIFF, BMP) to ``RGBImage`` as PIL's
/// `Image.open(f).convert("RGB")` does (exceptions are listed in docs/images.md).
///
/// The format comes from the magic bytes (``ImageFormat/detect(_:)``), not the file name. Each
/// decoder reads the header first and checks ``ImageLimits`` before allocating pixels. Conversion
/// to RGB follows PIL: gray replicated, palette expanded, alpha dropped without compositing, EXIF
/// orientation ignored. JPEG uses libjpeg-turbo with PIL's settings (ISLOW IDCT, fancy
/// upsampling), so pixels equal PIL's where PIL links a libjpeg-turbo with the same IDCT.
public enum ImageDecoder {
    /// Reads and decodes the file at `url`; errors name the file's path.
    public static func decode(contentsOf url: URL, limits: ImageLimits = .init()) throws -> RGBImage {
        let source = url.path
        let data: Data
        do {
            let size = try FileManager.default.attributesOfItem(atPath: source)[.size] as? Int ?? 0
            if size > limits.maxFileBytes { throw ImageError.fileTooLarge(source: source, bytes: size, limit: limits.maxFileBytes) }
            data = try Data(contentsOf: url)  // read, not mapped: a file shrinking under a mapping would crash
        } catch let e as ImageError {
            throw e
        } catch {
            throw ImageError.unreadable(source: source, reason: error.localizedDescription)
        }
        return try decode(data: data, source: source, limits: limits)
    }

    /// Decodes an in-memory file; `source` names it in errors (a path, a tar member, ...).
    public static func decode(data: Data, source: String, limits: ImageLimits = .init()) throws -> RGBImage {
        if data.count > limits.maxFileBytes { throw ImageError.fileTooLarge(source: source, bytes: data.count, limit: limits.maxFileBytes) }
        guard let format = format(of: data) else {
            throw ImageError.unsupportedFormat(source: source, magic: Array(data.prefix(8)))
        }
        switch format {
        case .jpeg: return try decodeC(data, source, format, limits, header: ccodecs_jpeg_header, body: ccodecs_jpeg_decode)
        case .png: return try decodeC(data, source, format, limits, header: ccodecs_png_header, body: ccodecs_png_decode)
        case .webp: return try decodeC(data, source, format, limits, header: ccodecs_webp_header, body: ccodecs_webp_decode)
        case .gif: return try decodeC(data, source, format, limits, header: ccodecs_gif_header, body: ccodecs_gif_decode)
        case .tiff: return try decodeC(data, source, format, limits, header: ccodecs_tiff_header, body: ccodecs_tiff_decode)
        case .bmp: return try BMPDecoder.decode(data, source: source, limits: limits)
        }
    }

    /// The format of `data` from its magic bytes, or nil if none matches.
    public static func format(of data: Data) -> ImageFormat? { ImageFormat.detect(data) }
}

// MARK: - C codec plumbing

typealias CHeaderFn = (UnsafePointer<UInt8>?, Int, UnsafePointer<ccodecs_limits>?, UnsafeMutablePointer<ccodecs_status>?) -> Int32
typealias CDecodeFn = (UnsafePointer<UInt8>?, Int, UnsafePointer<ccodecs_limits>?, UnsafeMutablePointer<UInt8>?,
                       Int32, Int32, UnsafeMutablePointer<ccodecs_status>?) -> Int32

extension ImageDecoder {
    /// Two calls into C: the header (dimensions, limit check), then the pixels into a buffer
    /// allocated here at exactly `width * height * 3` bytes.
    static func decodeC(_ data: Data, _ source: String, _ format: ImageFormat, _ limits: ImageLimits,
                        header: CHeaderFn, body: CDecodeFn) throws -> RGBImage {
        var lim = ccodecs_limits(max_pixels: Int64(limits.maxPixels), max_scans: Int32(clamping: limits.maxProgressiveScans),
                                 warnings_fatal: limits.warningsAreErrors ? 1 : 0)
        var status = ccodecs_status()
        return try data.withUnsafeBytes { raw in
            let base = raw.bindMemory(to: UInt8.self).baseAddress ?? UnsafePointer(bitPattern: 1)!
            let rc = header(base, raw.count, &lim, &status)
            try check(rc, status, source, format, limits)
            let w = Int(status.width), h = Int(status.height)
            guard w > 0, h > 0 else { throw ImageError.corrupt(source: source, format: format, reason: "image has size \(w)x\(h)") }
            let (pixelCount, overflow) = w.multipliedReportingOverflow(by: h)  // the C side checked too; never trust one check
            guard !overflow, pixelCount <= limits.maxPixels else {
                throw ImageError.tooLarge(source: source, width: w, height: h, limit: limits.maxPixels)
            }
            var rc2: Int32 = 0
            let pixels = [UInt8](unsafeUninitializedCapacity: w * h * 3) { buf, count in
                rc2 = body(base, raw.count, &lim, buf.baseAddress, Int32(clamping: w), Int32(clamping: h), &status)
                if rc2 != 0 { buf.baseAddress!.initialize(repeating: 0, count: w * h * 3) }
                count = w * h * 3
            }
            try check(rc2, status, source, format, limits)
            return RGBImage(width: w, height: h, pixels: pixels)
        }
    }

    static func check(_ rc: Int32, _ st: ccodecs_status, _ source: String, _ format: ImageFormat, _ limits: ImageLimits) throws {
        if rc == CCODECS_OK { return }
        let msg = message(st)
        switch Int(rc) {
        case Int(CCODECS_TRUNCATED): throw ImageError.truncated(source: source, format: format, detail: msg)
        case Int(CCODECS_TOO_LARGE):
            throw ImageError.tooLarge(source: source, width: Int(st.width), height: Int(st.height), limit: limits.maxPixels)
        case Int(CCODECS_UNSUPPORTED): throw ImageError.unsupported(source: source, format: format, reason: msg)
        case Int(CCODECS_SCAN_LIMIT): throw ImageError.tooManyScans(source: source, limit: limits.maxProgressiveScans)
        case Int(CCODECS_NO_MEMORY): throw ImageError.corrupt(source: source, format: format, reason: "out of memory: \(msg)")
        default:
            // libjpeg's warnings already start with "Corrupt JPEG data: "; the error adds that prefix.
            let prefix = "Corrupt \(format.name) data: "
            throw ImageError.corrupt(source: source, format: format, reason: msg.hasPrefix(prefix) ? String(msg.dropFirst(prefix.count)) : msg)
        }
    }

    static func message(_ st: ccodecs_status) -> String {
        withUnsafeBytes(of: st.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
