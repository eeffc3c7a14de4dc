/// Why an image file could not be decoded or encoded. Every message names the file (`source`)
/// and the reason.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The data ends before the image does.
    case truncated(source: String, format: ImageFormat?, detail: String)
    /// The codec rejected the data; `reason` is the codec's own message.
    case corrupt(source: String, format: ImageFormat, reason: String)
    /// The first bytes match no supported format.
    case unsupportedFormat(source: String, magic: [UInt8])
    /// A valid file with a feature CoDEKit does not decode (e.g. a 2-channel JPEG).
    case unsupported(source: String, format: ImageFormat, reason: String)
    /// `width * height` exceeds ``ImageLimits/maxPixels`` (checked from the header, before allocation).
    case tooLarge(source: String, width: Int, height: Int, limit: Int)
    /// The file is larger than ``ImageLimits/maxFileBytes``.
    case fileTooLarge(source: String, bytes: Int, limit: Int)
    /// A progressive JPEG with more scans than ``ImageLimits/maxProgressiveScans``.
    case tooManyScans(source: String, limit: Int)
    /// The file could not be read.
    case unreadable(source: String, reason: String)
    /// Encoding failed.
    case encodeFailed(format: ImageFormat, reason: String)

    public var description: String {
        switch self {
        case let .truncated(s, f, d):
            "\(s): truncated\(f.map { " \($0.name)" } ?? "") file\(d.isEmpty ? "" : " (\(d))")"
        case let .corrupt(s, f, r): "\(s): corrupt \(f.name) data: \(r)"
        case let .unsupportedFormat(s, m):
            "\(s): unsupported format (magic bytes \(m.isEmpty ? "none: empty file" : m.map { hex($0) }.joined(separator: " ")))"
        case let .unsupported(s, f, r): "\(s): unsupported \(f.name) file: \(r)"
        case let .tooLarge(s, w, h, l): "\(s): image \(w)x\(h) exceeds the pixel limit \(l) (ImageLimits.maxPixels)"
        case let .fileTooLarge(s, b, l): "\(s): file of \(b) bytes exceeds the size limit \(l) (ImageLimits.maxFileBytes)"
        case let .tooManyScans(s, l): "\(s): progressive JPEG has more than \(l) scans (ImageLimits.maxProgressiveScans)"
        case let .unreadable(s, r): "\(s): cannot read file: \(r)"
        case let .encodeFailed(f, r): "\(f.name) encoding failed: \(r)"
        }
    }
}

private func hex(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}
