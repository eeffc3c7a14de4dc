import Foundation

/// BMP decoding in Swift, following PIL's BmpImagePlugin: core (12-byte) and 40/52/56/64/108/124-byte
/// info headers; 1/4/8-bit palette, 16-bit 5-5-5 (default) or 5-6-5 bit fields, 24-bit BGR, 32-bit
/// BGRX or PIL's supported 32-bit bit-field orders; bottom-up or top-down rows. Alpha is dropped.
/// RLE4/RLE8 compression is rejected as unsupported.
enum BMPDecoder {
    struct Header {
        var width = 0, height = 0, bits = 0, compression = 0, colors = 0
        var topDown = false
        var headerSize = 0, paletteEntrySize = 4
        var masks: [UInt32] = []      // r, g, b, a for BITFIELDS
        var pixelOffset = 0, paletteOffset = 0
    }

    static func decode(_ data: Data, source: String, limits: ImageLimits) throws -> RGBImage {
        try data.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            let h = try header(b, source: source, limits: limits)
            return try pixels(b, h, source: source)
        }
    }

    private static func corrupt(_ s: String, _ r: String) -> ImageError { .corrupt(source: s, format: .bmp, reason: r) }
    private static func unsupported(_ s: String, _ r: String) -> ImageError { .unsupported(source: s, format: .bmp, reason: r) }

    static func u16(_ b: UnsafeBufferPointer<UInt8>, _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    static func u32(_ b: UnsafeBufferPointer<UInt8>, _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }

    static func header(_ b: UnsafeBufferPointer<UInt8>, source: String, limits: ImageLimits) throws -> Header {
        guard b.count >= 18 else { throw ImageError.truncated(source: source, format: .bmp, detail: "file header incomplete") }
        var h = Header()
        h.headerSize = Int(u32(b, 14))
        guard [12, 40, 52, 56, 64, 108, 124].contains(h.headerSize) else {
            throw unsupported(source, "BMP header type (\(h.headerSize))")
        }
        guard b.count >= 14 + h.headerSize else { throw ImageError.truncated(source: source, format: .bmp, detail: "info header incomplete") }
        if h.headerSize == 12 {
            (h.width, h.height, h.bits, h.paletteEntrySize) = (u16(b, 18), u16(b, 20), u16(b, 24), 3)
        } else {
            h.width = Int(Int32(bitPattern: u32(b, 18)))
            let rawHeight = Int32(bitPattern: u32(b, 22))
            h.topDown = rawHeight < 0
            h.height = Int(rawHeight.magnitude)
            h.bits = u16(b, 28)
            h.compression = Int(u32(b, 30))
            h.colors = Int(u32(b, 46))
        }
        var after = 14 + h.headerSize
        if h.compression == 3 {
            if h.headerSize >= 52 {
                h.masks = (0..<(h.headerSize >= 56 ? 4 : 3)).map { u32(b, 54 + 4 * $0) }
            } else {
                guard b.count >= after + 12 else { throw ImageError.truncated(source: source, format: .bmp, detail: "bit-field masks incomplete") }
                h.masks = (0..<3).map { u32(b, after + 4 * $0) }
                after += 12
            }
            if h.masks.count == 3 { h.masks.append(0) }
        }
        h.paletteOffset = after
        if h.colors == 0, h.bits <= 16 { h.colors = 1 << h.bits }
        h.pixelOffset = Int(u32(b, 10))
        if h.pixelOffset == 14 + h.headerSize, h.bits <= 8 { h.pixelOffset += h.paletteEntrySize * h.colors }
        guard h.width > 0, h.height > 0 else { throw corrupt(source, "image has size \(h.width)x\(h.height)") }
        if h.width * h.height > limits.maxPixels {
            throw ImageError.tooLarge(source: source, width: h.width, height: h.height, limit: limits.maxPixels)
        }
        guard [1, 4, 8, 16, 24, 32].contains(h.bits) else { throw unsupported(source, "pixel depth \(h.bits)") }
        if h.compression == 1 || h.compression == 2 { throw unsupported(source, "RLE compression") }
        guard h.compression == 0 || h.compression == 3 else { throw unsupported(source, "compression \(h.compression)") }
        if h.bits <= 8, !(1...65536).contains(h.colors) { throw unsupported(source, "palette size \(h.colors)") }
        return h
    }

    /// Byte offsets of R, G, B within a 32-bit little-endian pixel, or bit-field layout for 16 bits.
    static func layout32(_ h: Header, source: String) throws -> (r: Int, g: Int, b: Int) {
        if h.compression == 0 { return (2, 1, 0) }  // BGRX
        func byte(_ m: UInt32) -> Int? { [0xFF: 0, 0xFF00: 1, 0xFF_0000: 2, 0xFF00_0000: 3][m] }
        let supported: [[UInt32]] = [
            [0xFF_0000, 0xFF00, 0xFF, 0], [0xFF00_0000, 0xFF_0000, 0xFF00, 0], [0xFF00_0000, 0xFF00, 0xFF, 0],
            [0xFF00_0000, 0xFF_0000, 0xFF00, 0xFF], [0xFF, 0xFF00, 0xFF_0000, 0xFF00_0000],
            [0xFF_0000, 0xFF00, 0xFF, 0xFF00_0000], [0xFF00_0000, 0xFF00, 0xFF, 0xFF_0000],
        ]
        if h.masks == [0, 0, 0, 0] { return (2, 1, 0) }  // PIL reads these as BGRA
        guard supported.contains(h.masks), let r = byte(h.masks[0]), let g = byte(h.masks[1]), let b = byte(h.masks[2]) else {
            throw unsupported(source, "bit-field layout")
        }
        return (r, g, b)
    }

    static func pixels(_ b: UnsafeBufferPointer<UInt8>, _ h: Header, source: String) throws -> RGBImage {
        let stride = ((h.width * h.bits + 31) >> 3) & ~3
        guard h.pixelOffset >= 0, h.pixelOffset <= b.count, b.count - h.pixelOffset >= stride * h.height else {
            throw ImageError.truncated(source: source, format: .bmp, detail: "pixel data incomplete")
        }
        var palette = [UInt8](repeating: 0, count: 256 * 3)
        if h.bits <= 8 {
            let n = min(h.colors, 256)
            guard h.paletteOffset + n * h.paletteEntrySize <= b.count else {
                throw ImageError.truncated(source: source, format: .bmp, detail: "palette incomplete")
            }
            for i in 0..<n {
                let o = h.paletteOffset + i * h.paletteEntrySize
                (palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]) = (b[o + 2], b[o + 1], b[o])
            }
        }
        let l32 = h.bits == 32 ? try layout32(h, source: source) : (2, 1, 0)
        var five65 = false
        if h.bits == 16, h.compression == 3 {
            if h.masks.prefix(3).elementsEqual([0xF800, 0x7E0, 0x1F]) { five65 = true }
            else if !h.masks.prefix(3).elementsEqual([0x7C00, 0x3E0, 0x1F]) { throw unsupported(source, "bit-field layout") }
        }
        if h.bits == 24, h.compression == 3, !h.masks.prefix(3).elementsEqual([0xFF_0000, 0xFF00, 0xFF]) {
            throw unsupported(source, "bit-field layout")
        }
        var out = [UInt8](repeating: 0, count: h.width * h.height * 3)
        out.withUnsafeMutableBufferPointer { o in
            for y in 0..<h.height {
                let row = b.baseAddress! + h.pixelOffset + (h.topDown ? y : h.height - 1 - y) * stride
                let dst = o.baseAddress! + y * h.width * 3
                convertRow(row, dst, h.width, h.bits, palette, l32, five65)
            }
        }
        return RGBImage(width: h.width, height: h.height, pixels: out)
    }

    @inline(__always)
    static func convertRow(_ row: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<UInt8>, _ w: Int, _ bits: Int,
                           _ pal: [UInt8], _ l32: (Int, Int, Int), _ five65: Bool) {
        switch bits {
        case 24:
            for x in 0..<w { dst[3 * x] = row[3 * x + 2]; dst[3 * x + 1] = row[3 * x + 1]; dst[3 * x + 2] = row[3 * x] }
        case 32:
            for x in 0..<w { dst[3 * x] = row[4 * x + l32.0]; dst[3 * x + 1] = row[4 * x + l32.1]; dst[3 * x + 2] = row[4 * x + l32.2] }
        case 16:
            // PIL's BGR;15 / BGR;16 unpackers: each field scaled as v * 255 / max (integer division).
            for x in 0..<w {
                let p = Int(row[2 * x]) | Int(row[2 * x + 1]) << 8
                if five65 {
                    dst[3 * x] = UInt8((p >> 11 & 31) * 255 / 31); dst[3 * x + 1] = UInt8((p >> 5 & 63) * 255 / 63)
                } else {
                    dst[3 * x] = UInt8((p >> 10 & 31) * 255 / 31); dst[3 * x + 1] = UInt8((p >> 5 & 31) * 255 / 31)
                }
                dst[3 * x + 2] = UInt8((p & 31) * 255 / 31)
            }
        default:  // 1, 4, 8-bit palette indices, most significant bits first
            let perByte = 8 / bits, mask = (1 << bits) - 1
            for x in 0..<w {
                let i = Int(row[x / perByte]) >> ((perByte - 1 - x % perByte) * bits) & mask
                dst[3 * x] = pal[3 * i]; dst[3 * x + 1] = pal[3 * i + 1]; dst[3 * x + 2] = pal[3 * i + 2]
            }
        }
    }
}
