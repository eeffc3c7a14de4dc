import CCodecs
import Foundation

/// Encodes ``RGBImage`` to JPEG (libjpeg-turbo) and PNG (libpng).
public enum ImageEncoder {
    /// Baseline JPEG at `quality` (1...100) with PIL's defaults for `save(f, "JPEG", quality=q)`:
    /// IJG tables scaled by quality, 4:2:0 chroma subsampling, ISLOW DCT, standard Huffman tables,
    /// JFIF 1.01 header. Used for the JPEG re-encoding augmentation, so its artefacts are libjpeg's.
    public static func jpeg(_ image: RGBImage, quality: Int) throws -> Data {
        guard (1...100).contains(quality) else { throw ImageError.encodeFailed(format: .jpeg, reason: "quality \(quality) outside 1...100") }
        guard image.width <= 65_500, image.height <= 65_500 else {
            throw ImageError.encodeFailed(format: .jpeg, reason: "image \(image.width)x\(image.height) exceeds JPEG's 65500 limit")
        }
        return try encode(.jpeg) { out, size, status in
            image.pixels.withUnsafeBufferPointer {
                ccodecs_jpeg_encode($0.baseAddress, Int32(image.width), Int32(image.height), Int32(quality), out, size, status)
            }
        }
    }

    /// 8-bit RGB PNG, non-interlaced, zlib level 6 (lossless: decoding returns the same pixels).
    public static func png(_ image: RGBImage) throws -> Data {
        guard image.width <= Int(Int32.max), image.height <= Int(Int32.max) else {
            throw ImageError.encodeFailed(format: .png, reason: "image too large")
        }
        return try encode(.png) { out, size, status in
            image.pixels.withUnsafeBufferPointer {
                ccodecs_png_encode($0.baseAddress, Int32(image.width), Int32(image.height), out, size, status)
            }
        }
    }

    private static func encode(_ format: ImageFormat,
                               _ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>, UnsafeMutablePointer<ccodecs_status>) -> Int32) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var status = ccodecs_status()
        let rc = body(&out, &size, &status)
        guard rc == 0, let out else { throw ImageError.encodeFailed(format: format, reason: ImageDecoder.message(status)) }
        defer { ccodecs_free(out) }
        return Data(bytes: out, count: size)
    }
}
