import CoDECore
import CoDEImage
import Foundation

/// One fully parameterised augmentation: a pure function RGBImage -> RGBImage.
///
/// Every random choice an operation needs (crop offsets, the shuffled pixel subset) is part of
/// its parameters, drawn when the operation is sampled, so `apply` is deterministic.
public protocol AugmentationOp: Sendable {
    /// A short name with the parameters, e.g. `blur(radius: 1.2)`.
    var description: String { get }
    func apply(_ image: RGBImage) throws -> RGBImage
}

/// Round-trips an image through a lossy JPEG encoder and decoder at `quality` (1...100).
/// CoDEKit's conformance is backed by libjpeg-turbo in CoDEImage.
public protocol JPEGCodec: Sendable {
    func roundTrip(_ image: RGBImage, quality: Int) throws -> RGBImage
}

/// Gaussian blur with standard deviation `radius` (Pillow `GaussianBlur`; AugLy `RandomBlur`).
public struct BlurOp: AugmentationOp {
    public var radius: Double
    public init(radius: Double) { self.radius = radius }
    public var description: String { "blur(radius: \(radius))" }
    public func apply(_ image: RGBImage) -> RGBImage { FilterOps.gaussianBlur(image, radius: radius) }
}

/// Brightness: `out = factor * in` (Pillow `ImageEnhance.Brightness`).
public struct BrightnessOp: AugmentationOp {
    public var factor: Double
    public init(factor: Double) { self.factor = factor }
    public var description: String { "brightness(\(factor))" }
    public func apply(_ image: RGBImage) -> RGBImage { ColorOps.brightness(image, factor: factor) }
}

/// Contrast: blend from the mean-luma grey (Pillow `ImageEnhance.Contrast`).
public struct ContrastOp: AugmentationOp {
    public var factor: Double
    public init(factor: Double) { self.factor = factor }
    public var description: String { "contrast(\(factor))" }
    public func apply(_ image: RGBImage) -> RGBImage { ColorOps.contrast(image, factor: factor) }
}

/// Saturation: blend from the grayscale image (Pillow `ImageEnhance.Color`).
public struct SaturationOp: AugmentationOp {
    public var factor: Double
    public init(factor: Double) { self.factor = factor }
    public var description: String { "saturation(\(factor))" }
    public func apply(_ image: RGBImage) -> RGBImage { ColorOps.saturation(image, factor: factor) }
}

/// Sharpness: blend from the 3x3 SMOOTH-filtered image (Pillow `ImageEnhance.Sharpness`).
public struct SharpnessOp: AugmentationOp {
    public var factor: Double
    public init(factor: Double) { self.factor = factor }
    public var description: String { "sharpness(\(factor))" }
    public func apply(_ image: RGBImage) -> RGBImage { FilterOps.sharpness(image, factor: factor) }
}

/// Luma replicated to RGB (Pillow `convert("L")`; AugLy `Grayscale(mode="luminosity")`).
public struct GrayscaleOp: AugmentationOp {
    public init() {}
    public var description: String { "grayscale" }
    public func apply(_ image: RGBImage) -> RGBImage { ColorOps.grayscale(image) }
}

/// Left-right mirror.
public struct HorizontalFlipOp: AugmentationOp {
    public init() {}
    public var description: String { "hflip" }
    public func apply(_ image: RGBImage) -> RGBImage { Geometry.flipHorizontal(image) }
}

/// Composites the image at opacity `level` in [0, 1] over white (AugLy `Opacity` seen as RGB).
public struct OpacityOp: AugmentationOp {
    public var level: Double
    public init(level: Double) { self.level = level }
    public var description: String { "opacity(\(level))" }
    public func apply(_ image: RGBImage) -> RGBImage { ColorOps.opacity(image, level: level) }
}

/// White horizontal stripes of relative width `lineWidth` (AugLy `OverlayStripes` defaults:
/// angle 0, density 0.5, solid, opaque).
public struct OverlayStripesOp: AugmentationOp {
    public var lineWidth: Double
    public init(lineWidth: Double) { self.lineWidth = lineWidth }
    public var description: String { "stripes(width: \(lineWidth))" }
    public func apply(_ image: RGBImage) -> RGBImage { ColorOps.overlayStripes(image, lineWidth: lineWidth) }
}

/// Black border of `Int(f W)` pixels left and right, `Int(f H)` top and bottom (AugLy `Pad`).
public struct PadOp: AugmentationOp {
    public var widthFactor: Double, heightFactor: Double
    public init(widthFactor: Double, heightFactor: Double) { self.widthFactor = widthFactor; self.heightFactor = heightFactor }
    public var description: String { "pad(\(widthFactor), \(heightFactor))" }
    public func apply(_ image: RGBImage) -> RGBImage {
        let px = Int(widthFactor * Double(image.width)), py = Int(heightFactor * Double(image.height))
        return Geometry.pad(image, left: px, top: py, right: px, bottom: py)
    }
}

/// Resize to a fixed `width` x `height` (AugLy `Resize(resample=BICUBIC)`).
public struct ResizeOp: AugmentationOp {
    public var width: Int, height: Int, filter: ResampleFilter
    public init(width: Int, height: Int, filter: ResampleFilter = .bicubic) {
        precondition(width > 0 && height > 0, "ResizeOp: size must be positive")
        self.width = width; self.height = height; self.filter = filter
    }
    public var description: String { "resize(\(width)x\(height))" }
    public func apply(_ image: RGBImage) -> RGBImage { Resample.resize(image, width: width, height: height, filter: filter) }
}

/// Resize by `factor` to `(Int(f W), Int(f H))`: Lanczos when shrinking, bilinear otherwise
/// (AugLy `Scale` default interpolation). Sides are kept at least 1 pixel.
public struct ScaleOp: AugmentationOp {
    public var factor: Double
    public init(factor: Double) { self.factor = factor }
    public var description: String { "scale(\(factor))" }
    public func apply(_ image: RGBImage) -> RGBImage {
        let w = max(1, Int(Double(image.width) * factor)), h = max(1, Int(Double(image.height) * factor))
        return Resample.resize(image, width: w, height: h, filter: factor < 1 ? .lanczos : .bilinear)
    }
}

/// Same area, aspect ratio `ratio = W'/H'`: `W' = Int(sqrt(ratio A))`, `H' = Int(A / W')`,
/// bicubic (AugLy `RandomAspectRatio`).
public struct AspectRatioOp: AugmentationOp {
    public var ratio: Double
    public init(ratio: Double) { self.ratio = ratio }
    public var description: String { "aspectRatio(\(ratio))" }
    public func apply(_ image: RGBImage) -> RGBImage {
        let area = image.width * image.height
        let w = max(1, Int((ratio * Double(area)).squareRoot()))
        let h = max(1, Int(Double(area) / Double(w)))
        return Resample.resize(image, width: w, height: h, filter: .bicubic)
    }
}

/// Bicubic down to `(Int(W r), Int(H r))` and back up (AugLy `RandomPixelization`).
public struct PixelizationOp: AugmentationOp {
    public var ratio: Double
    public init(ratio: Double) { self.ratio = ratio }
    public var description: String { "pixelization(\(ratio))" }
    public func apply(_ image: RGBImage) -> RGBImage {
        let w = max(1, Int(Double(image.width) * ratio)), h = max(1, Int(Double(image.height) * ratio))
        let small = Resample.resize(image, width: w, height: h, filter: .bicubic)
        return Resample.resize(small, width: image.width, height: image.height, filter: .bicubic)
    }
}

/// Horizontal shear `x_src = x + f (y - H / 2)`, bilinear, black outside (AugLy `Skew`, axis 0).
public struct SkewOp: AugmentationOp {
    public var factor: Double
    public init(factor: Double) { self.factor = factor }
    public var description: String { "skew(\(factor))" }
    public func apply(_ image: RGBImage) -> RGBImage {
        Geometry.affineBilinear(image, width: image.width, height: image.height,
                                [1, factor, -factor * Double(image.height) / 2, 0, 1, 0])
    }
}

/// JPEG re-encoding at `quality` through a real codec (AugLy `EncodingQuality`).
public struct JPEGOp: AugmentationOp {
    public var quality: Int
    public var codec: any JPEGCodec
    public init(quality: Int, codec: any JPEGCodec) {
        precondition((1...100).contains(quality), "JPEGOp: quality must be in 1...100, got \(quality)")
        self.quality = quality; self.codec = codec
    }
    public var description: String { "jpeg(quality: \(quality))" }
    public func apply(_ image: RGBImage) throws -> RGBImage {
        let out = try codec.roundTrip(image, quality: quality)
        guard out.width == image.width && out.height == image.height else {
            throw AugmentationError.codecChangedSize(expected: "\(image.width)x\(image.height)", found: "\(out.width)x\(out.height)")
        }
        return out
    }
}
