/// An 8-bit RGB image, interleaved, row-major: pixel (x, y) channel c is at `pixels[(y * width + x) * 3 + c]`.
///
/// Every decoder produces this type (after PIL-compatible conversion to RGB) and every
/// augmentation consumes and produces it.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "RGBImage: dimensions must be positive, got \(width)x\(height)")
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }
}
