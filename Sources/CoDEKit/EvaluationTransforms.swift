import Foundation

/// One test-time transform of the "paper" set (the "w/ Transforms" columns of the CoDE paper's
/// tables), fully parameterised.
public enum TestTimeTransform: Sendable, Equatable, CustomStringConvertible {
    /// JPEG re-encoding at `quality` through libjpeg-turbo (``TurboJPEGCodec``).
    case jpeg(quality: Int)
    /// Resize by `factor` (``ScaleOp``: Lanczos when shrinking, bilinear when enlarging).
    case resize(factor: Double)
    /// Crop keeping the fraction `keep` of each side, the window's top-left corner at fraction
    /// `(x, y)` of the free margin.
    case crop(keep: Double, x: Double, y: Double)
    /// Gaussian blur of `radius` pixels (``BlurOp``).
    case blur(radius: Double)

    public var description: String {
        switch self {
        case let .jpeg(q): "jpeg(quality: \(q))"
        case let .resize(f): "resize(\(f))"
        case let .crop(k, x, y): String(format: "crop(keep: %.3f, x: %.3f, y: %.3f)", k, x, y)
        case let .blur(r): "blur(radius: \(r))"
        }
    }

    /// The transformed image (applied before the centre crop of inference).
    public func apply(_ image: RGBImage) throws -> RGBImage {
        switch self {
        case let .jpeg(q): return try JPEGOp(quality: q, codec: TurboJPEGCodec()).apply(image)
        case let .resize(f): return ScaleOp(factor: f).apply(image)
        case let .blur(r): return BlurOp(radius: r).apply(image)
        case let .crop(k, x, y):
            let w = max(1, Int(Double(image.width) * k)), h = max(1, Int(Double(image.height) * k))
            let left = Int(Double(image.width - w) * x), top = Int(Double(image.height - h) * y)
            return Geometry.crop(image, left: left, top: top, width: w, height: h)
        }
    }
}

/// The fixed, seeded test-time transform set of `code-eval --transforms paper`.
///
/// Image `i` of the dataset gets exactly one transform, drawn from `Xoshiro256(seed).fork(i)`:
/// the family uniformly among JPEG, resize, crop and blur, then its parameter uniformly from
/// - JPEG quality ∈ {50, 60, 70, 80, 90};
/// - resize factor ∈ {0.5, 0.75, 1.25, 1.5};
/// - crop keeping ∈ {0.6, 0.7, 0.8, 0.9} of each side, at a uniform position in [0, 1)²;
/// - blur radius ∈ {0.5, 1.0, 1.5, 2.0}.
/// The choice depends only on (seed, i), never on batching or threads, so the "w/ transforms"
/// numbers reproduce exactly.
public struct TestTimeTransforms: Sendable, Equatable {
    public static let jpegQualities = [50, 60, 70, 80, 90]
    public static let resizeFactors = [0.5, 0.75, 1.25, 1.5]
    public static let cropKeeps = [0.6, 0.7, 0.8, 0.9]
    public static let blurRadii = [0.5, 1.0, 1.5, 2.0]
    /// The default seed of code-eval.
    public static let defaultSeed: UInt64 = 2024

    public let seed: UInt64
    public init(seed: UInt64 = defaultSeed) { self.seed = seed }

    /// The transform of image `index`.
    public func transform(for index: Int) -> TestTimeTransform {
        var rng = Xoshiro256(seed: seed).fork(UInt64(index))
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        switch rng.next() % 4 {
        case 0: return .jpeg(quality: pick(Self.jpegQualities))
        case 1: return .resize(factor: pick(Self.resizeFactors))
        case 2:
            let keep = pick(Self.cropKeeps)
            return .crop(keep: keep, x: rng.nextUnitDouble(), y: rng.nextUnitDouble())
        default: return .blur(radius: pick(Self.blurRadii))
        }
    }

    /// Applies image `index`'s transform.
    public func apply(_ image: RGBImage, index: Int) throws -> RGBImage { try transform(for: index).apply(image) }
}
