import CCodecs
import Foundation

extension Preprocess {
    /// `centerCrop(ImageDecoder.decode(data:...), size:)` computed faster: for JPEG only the crop
    /// region is decoded (libjpeg-turbo's `jpeg_crop_scanline`/`jpeg_skip_scanlines`), which
    /// skips most of the IDCT and colour conversion work of a large image. The result is identical
    /// to the full decode followed by the crop (tested); other formats take that path directly.
    public static func decodeCenterCrop(data: Data, source: String, size: Int = 224, limits: ImageLimits = .init()) throws -> RGBImage {
        var w = 0, h = 0
        return try decodeCenterCrop(data: data, source: source, size: size, limits: limits, sourceWidth: &w, sourceHeight: &h)
    }

    /// As ``decodeCenterCrop(data:source:size:limits:)``, also giving the decoded image's size
    /// (a side below `size` is zero-padded in the crop).
    public static func decodeCenterCrop(data: Data, source: String, size: Int = 224, limits: ImageLimits = .init(),
                                        sourceWidth: inout Int, sourceHeight: inout Int) throws -> RGBImage {
        precondition(size > 0, "Preprocess.decodeCenterCrop: size must be positive, got \(size)")
        guard ImageDecoder.format(of: data) == .jpeg, data.count <= limits.maxFileBytes else {
            let whole = try ImageDecoder.decode(data: data, source: source, limits: limits)
            (sourceWidth, sourceHeight) = (whole.width, whole.height)
            return centerCrop(whole, size: size)
        }
        var sw = 0, sh = 0
        defer { (sourceWidth, sourceHeight) = (sw, sh) }
        var lim = ccodecs_limits(max_pixels: Int64(limits.maxPixels), max_scans: Int32(clamping: limits.maxProgressiveScans),
                                 warnings_fatal: limits.warningsAreErrors ? 1 : 0)
        var status = ccodecs_status()
        return try data.withUnsafeBytes { raw in
            let base = raw.bindMemory(to: UInt8.self).baseAddress!
            try ImageDecoder.check(ccodecs_jpeg_header(base, raw.count, &lim, &status), status, source, .jpeg, limits)
            let w = Int(status.width), h = Int(status.height)
            (sw, sh) = (w, h)
            let x = axis(w, size), y = axis(h, size)
            if x.count == w, y.count == h {  // nothing to skip: the whole image is kept
                return centerCrop(try ImageDecoder.decode(data: data, source: source, limits: limits), size: size)
            }
            var region = [UInt8](repeating: 0, count: x.count * y.count * 3)
            let rc = region.withUnsafeMutableBufferPointer {
                ccodecs_jpeg_decode_region(base, raw.count, &lim, Int32(clamping: w), Int32(clamping: h), Int32(x.src), Int32(y.src),
                                           Int32(x.count), Int32(y.count), $0.baseAddress, &status)
            }
            try ImageDecoder.check(rc, status, source, .jpeg, limits)
            if x.count == size, y.count == size { return RGBImage(width: size, height: size, pixels: region) }
            var out = [UInt8](repeating: 0, count: size * size * 3)
            for r in 0..<y.count {
                let d = ((y.dst + r) * size + x.dst) * 3
                out.replaceSubrange(d..<d + x.count * 3, with: region[(r * x.count * 3)..<((r + 1) * x.count * 3)])
            }
            return RGBImage(width: size, height: size, pixels: out)
        }
    }
}
