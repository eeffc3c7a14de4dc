import CoDECore
import CoDEImage
import Foundation

/// The operations of CoDE's "heavy" augmentation, in the authors' list order (which is also
/// the order in which a sampled subset is applied).
///
/// Each case maps to one operation value: ``BlurOp``, ``BrightnessOp``, ``AspectRatioOp``,
/// ``PixelizationOp``, ``RotationOp``, ``ContrastOp``, ``SaturationOp``, ``JPEGOp``,
/// ``GrayscaleOp``, ``HorizontalFlipOp``, ``OpacityOp``, ``OverlayStripesOp``, ``PadOp``,
/// ``ResizeOp``, ``RandomCropOp``, ``ScaleOp``, ``SharpnessOp``, ``PixelShuffleOp``, ``SkewOp``.
public enum AugmentationKind: Int, CaseIterable, Sendable, Codable {
    case blur, brightness, aspectRatio, pixelization, rotation, contrast, saturation, jpeg, grayscale,
         horizontalFlip, opacity, overlayStripes, pad, resize, randomCrop, scale, sharpen, pixelShuffle, skew
}

/// Parameter ranges of the heavy augmentation, defaulting to the authors' training arguments.
///
/// Continuous ranges (`blurRadius`, `brightness`, `aspectRatio`, `pixelization`,
/// `rotationDegrees`) are sampled uniformly, as AugLy's `Random*` ops; the others are sampled
/// uniformly from `gridSteps` evenly spaced values including both ends, as the authors'
/// `linspace(min, max, step=5)` lists (JPEG quality 40, 55, 70, 85, 100; resize and crop
/// 64, 176, 288, 400, 512; ...).
public struct AugmentationParameters: Sendable, Equatable {
    public var blurRadius: ClosedRange<Double> = 0.1...2
    public var brightness: ClosedRange<Double> = 0.5...2
    public var aspectRatio: ClosedRange<Double> = 0.75...2
    public var pixelization: ClosedRange<Double> = 0.3...1
    public var rotationDegrees: ClosedRange<Double> = 90...270
    public var contrast: ClosedRange<Double> = 0.5...1.5
    public var saturation: ClosedRange<Double> = 0.5...1.5
    public var jpegQuality: ClosedRange<Int> = 40...100
    public var opacity: ClosedRange<Double> = 0.2...1
    public var stripeWidth: ClosedRange<Double> = 0.05...0.35
    public var pad: ClosedRange<Double> = 0.01...0.25
    public var resize: ClosedRange<Int> = 64...512
    public var crop: ClosedRange<Int> = 64...512
    public var scale: ClosedRange<Double> = 0.5...1.5
    public var sharpness: ClosedRange<Double> = 1.2...2
    public var shuffle: ClosedRange<Double> = 0...0.35
    public var skew: ClosedRange<Double> = -1...1
    /// Number of grid values for the discrete parameters (the authors' `--step 5`).
    public var gridSteps: Int = 5

    public init() {}

    /// Throws ``AugmentationError/invalidParameter(name:reason:)`` for a range an op cannot use.
    public func validate() throws {
        func need(_ ok: Bool, _ name: String, _ reason: String) throws {
            if !ok { throw AugmentationError.invalidParameter(name: name, reason: reason) }
        }
        try need(gridSteps >= 1, "gridSteps", "must be at least 1, got \(gridSteps)")
        // Upper bounds keep every intermediate image within a few times the input size.
        try need(blurRadius.lowerBound >= 0 && blurRadius.upperBound <= 100, "blurRadius", "must lie in 0...100, got \(blurRadius)")
        try need(aspectRatio.lowerBound >= 1.0 / 16 && aspectRatio.upperBound <= 16, "aspectRatio", "must lie in 1/16...16, got \(aspectRatio)")
        try need(pixelization.lowerBound > 0 && pixelization.upperBound <= 2, "pixelization", "must lie in (0, 2], got \(pixelization)")
        try need(jpegQuality.lowerBound >= 1 && jpegQuality.upperBound <= 100, "jpegQuality", "must lie in 1...100, got \(jpegQuality)")
        try need(opacity.lowerBound >= 0 && opacity.upperBound <= 1, "opacity", "must lie in 0...1, got \(opacity)")
        try need(stripeWidth.lowerBound >= 0 && stripeWidth.upperBound <= 1, "stripeWidth", "must lie in 0...1, got \(stripeWidth)")
        try need(pad.lowerBound >= 0 && pad.upperBound <= 1, "pad", "must lie in 0...1, got \(pad)")
        try need(resize.lowerBound >= 1 && resize.upperBound <= 2048, "resize", "must lie in 1...2048, got \(resize)")
        try need(crop.lowerBound >= 1 && crop.upperBound <= 2048, "crop", "must lie in 1...2048, got \(crop)")
        try need(scale.lowerBound > 0 && scale.upperBound <= 2, "scale", "must lie in (0, 2], got \(scale)")
        try need(shuffle.lowerBound >= 0 && shuffle.upperBound <= 1, "shuffle", "must lie in 0...1, got \(shuffle)")
    }

    /// `steps` evenly spaced values from `r.lowerBound` to `r.upperBound` (both included).
    static func grid(_ r: ClosedRange<Double>, _ steps: Int) -> [Double] {
        steps == 1 ? [r.lowerBound] : (0..<steps).map { r.lowerBound + (r.upperBound - r.lowerBound) * Double($0) / Double(steps - 1) }
    }
}

/// CoDE's heavy augmentation: a uniformly drawn number `n` in `0...maxOps` of distinct
/// operations from `kinds`, applied in list order, each with freshly sampled parameters.
/// The final resize to the network size is not part of it (see ``FinalTransform``).
public struct HeavyAugmentation: Sendable {
    public let kinds: [AugmentationKind]
    public let maxOps: Int
    public let parameters: AugmentationParameters
    public let jpegCodec: (any JPEGCodec)?

    /// - Parameters:
    ///   - kinds: the candidate list (the authors' 19 operations by default).
    ///   - maxOps: `k`, the largest number of operations per view (the authors train with 2).
    ///   - jpegCodec: required when `kinds` contains `.jpeg`.
    public init(kinds: [AugmentationKind] = AugmentationKind.allCases, maxOps: Int = 2,
                parameters: AugmentationParameters = AugmentationParameters(), jpegCodec: (any JPEGCodec)?) throws {
        guard maxOps >= 0 && maxOps <= kinds.count else {
            throw AugmentationError.invalidParameter(name: "maxOps", reason: "must lie in 0...\(kinds.count) (the number of kinds), got \(maxOps)")
        }
        guard Set(kinds).count == kinds.count else {
            throw AugmentationError.invalidParameter(name: "kinds", reason: "contains duplicates")
        }
        if kinds.contains(.jpeg) && jpegCodec == nil { throw AugmentationError.missingJPEGCodec }
        try parameters.validate()
        self.kinds = kinds.sorted { $0.rawValue < $1.rawValue }
        self.maxOps = maxOps
        self.parameters = parameters
        self.jpegCodec = jpegCodec
    }

    /// Draws the operations of one view: `n ~ U{0..maxOps}`, then `n` distinct kinds in list order.
    public func sampleOps(using rng: inout Xoshiro256) -> [any AugmentationOp] {
        let n = Int(rng.next() % UInt64(maxOps + 1))
        var pool = Array(kinds.indices)
        for i in 0..<n { pool.swapAt(i, i + Int(rng.next() % UInt64(pool.count - i))) }
        return pool[0..<n].sorted().map { sampleOp(kinds[$0], using: &rng) }
    }

    /// Applies a freshly sampled list of operations to `image`.
    public func apply(_ image: RGBImage, using rng: inout Xoshiro256) throws -> RGBImage {
        var img = image
        for op in sampleOps(using: &rng) { img = try op.apply(img) }
        return img
    }

    /// One operation of `kind` with parameters drawn from ``parameters``.
    public func sampleOp(_ kind: AugmentationKind, using rng: inout Xoshiro256) -> any AugmentationOp {
        let p = parameters
        func uniform(_ r: ClosedRange<Double>) -> Double { r.lowerBound + (r.upperBound - r.lowerBound) * rng.nextUnitDouble() }
        func pick(_ r: ClosedRange<Double>) -> Double {
            let g = AugmentationParameters.grid(r, p.gridSteps)
            return g[Int(rng.next() % UInt64(g.count))]
        }
        func pickInt(_ r: ClosedRange<Int>) -> Int { Int(pick(Double(r.lowerBound)...Double(r.upperBound))) }
        switch kind {
        case .blur: return BlurOp(radius: uniform(p.blurRadius))
        case .brightness: return BrightnessOp(factor: uniform(p.brightness))
        case .aspectRatio: return AspectRatioOp(ratio: uniform(p.aspectRatio))
        case .pixelization: return PixelizationOp(ratio: uniform(p.pixelization))
        case .rotation: return RotationOp(degrees: uniform(p.rotationDegrees))
        case .contrast: return ContrastOp(factor: pick(p.contrast))
        case .saturation: return SaturationOp(factor: pick(p.saturation))
        case .jpeg:
            guard let jpegCodec else { preconditionFailure("HeavyAugmentation.sampleOp(.jpeg): no JPEGCodec was given") }
            return JPEGOp(quality: pickInt(p.jpegQuality), codec: jpegCodec)
        case .grayscale: return GrayscaleOp()
        case .horizontalFlip: return HorizontalFlipOp()
        case .opacity: return OpacityOp(level: pick(p.opacity))
        case .overlayStripes: return OverlayStripesOp(lineWidth: pick(p.stripeWidth))
        case .pad: let f = pick(p.pad); return PadOp(widthFactor: f, heightFactor: f)
        case .resize: let s = pickInt(p.resize); return ResizeOp(width: s, height: s)
        case .randomCrop: return RandomCropOp(size: pickInt(p.crop), u: rng.nextUnitDouble(), v: rng.nextUnitDouble())
        case .scale: return ScaleOp(factor: pick(p.scale))
        case .sharpen: return SharpnessOp(factor: pick(p.sharpness))
        case .pixelShuffle: let f = pick(p.shuffle); return PixelShuffleOp(factor: f, seed: rng.next())
        case .skew: return SkewOp(factor: pick(p.skew))
        }
    }
}

/// The last step of every view: bring the image to `size x size`.
public enum FinalTransform: Sendable, Equatable {
    /// torchvision `Resize(floor(size / cropPct), BICUBIC)` (shorter side) then `CenterCrop(size)`:
    /// the authors' `--last-crop --crop-pct 0.9` training setting (248 then 224).
    case resizeCenterCrop(cropPct: Double)
    /// torchvision `Resize((size, size), BICUBIC)`: the authors' default without `--last-crop`.
    case squareResize
    /// `CenterCrop(size)` with no resize (zero padding for short sides): exactly the inference
    /// preprocessing (``Preprocess/centerCrop(_:size:)``), so the un-augmented anchors keep their
    /// native pixels as the detector sees them at test time. Not the authors' setting.
    case centerCrop

    public func apply(_ image: RGBImage, size: Int) -> RGBImage {
        switch self {
        case let .resizeCenterCrop(cropPct):
            let short = Int((Double(size) / cropPct).rounded(.down))
            let (w, h) = (image.width, image.height)
            let (ow, oh) = w <= h ? (short, Int(Double(short) * Double(h) / Double(w)))
                                  : (Int(Double(short) * Double(w) / Double(h)), short)
            if max(ow, oh) <= Self.maxIntermediateSide * size {
                let resized = Resample.resize(image, width: ow, height: oh, filter: .bicubic)
                return TorchvisionGeometry.centerCrop(resized, size: size)
            }
            // Extreme aspect ratio: resample only the window the centre crop keeps (Pillow's box
            // form of the same kernels), so memory stays O(size^2); equal within 1 level.
            let top = Int((Double(oh - size) / 2).rounded(.toNearestOrEven))
            let left = Int((Double(ow - size) / 2).rounded(.toNearestOrEven))
            let sx = Double(w) / Double(ow), sy = Double(h) / Double(oh)
            return Resample.resize(image, width: size, height: size, filter: .bicubic,
                                   box: (Double(left) * sx, Double(top) * sy, Double(left + size) * sx, Double(top + size) * sy))
        case .squareResize:
            return Resample.resize(image, width: size, height: size, filter: .bicubic)
        case .centerCrop:
            return Preprocess.centerCrop(image, size: size)
        }
    }

    /// Above `maxIntermediateSide * size` pixels on the long side, ``resizeCenterCrop(cropPct:)``
    /// resamples only the cropped window.
    public static let maxIntermediateSide = 8
}
