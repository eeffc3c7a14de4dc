import CoDECore
import CoDEImage
import Foundation

/// A crop rectangle in pixels: rows `[top, top + height)`, columns `[left, left + width)`.
public struct CropBox: Sendable, Equatable {
    public var top: Int, left: Int, height: Int, width: Int
    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top; self.left = left; self.height = height; self.width = width
    }
}

/// torchvision's `RandomResizedCrop(size, scale, ratio, interpolation=BICUBIC)` on PIL images.
///
/// Parameter logic (`get_params`): up to 10 attempts draw an area fraction `s ~ U(scale)` and an
/// aspect ratio `r = exp(U(log ratio))`; `w = round(sqrt(s A r))`, `h = round(sqrt(s A / r))`
/// (round half to even); the first attempt with `0 < w <= W` and `0 < h <= H` is placed at
/// `top ~ U{0..H-h}`, `left ~ U{0..W-w}`. If all fail, the fallback is a centred crop clamped to
/// the ratio range. The crop is then resized to `size x size` with Pillow's resampler.
/// CoDE's global views use scale (0.4, 1), local views (0.05, 0.4), both ratio (3/4, 4/3).
public struct RandomResizedCrop: Sendable, Equatable {
    public var size: Int
    public var scale: ClosedRange<Double>
    public var ratio: ClosedRange<Double>
    public var filter: ResampleFilter
    public var attempts: Int = 10

    public init(size: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0),
                filter: ResampleFilter = .bicubic) {
        precondition(size > 0 && scale.lowerBound > 0 && ratio.lowerBound > 0, "RandomResizedCrop: size, scale and ratio must be positive")
        self.size = size; self.scale = scale; self.ratio = ratio; self.filter = filter
    }

    /// The crop box for a `width` x `height` image. `uniform(a, b)` supplies a uniform draw in
    /// `[a, b)`; `integer(n)` a uniform integer in `0...n` (torchvision's `randint(0, n + 1)`).
    /// The draws are injected so the logic can be checked against recorded torchvision draws.
    public func box(width: Int, height: Int, uniform: (Double, Double) -> Double, integer: (Int) -> Int) -> CropBox {
        let area = Double(width * height)
        let logLo = log(ratio.lowerBound), logHi = log(ratio.upperBound)
        for _ in 0..<attempts {
            let targetArea = area * uniform(scale.lowerBound, scale.upperBound)
            let aspect = exp(uniform(logLo, logHi))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = integer(height - h)
                let left = integer(width - w)
                return CropBox(top: top, left: left, height: h, width: w)
            }
        }
        return fallback(width: width, height: height)
    }

    /// The centred fallback crop when no attempt fits.
    func fallback(width: Int, height: Int) -> CropBox {
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return CropBox(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
    }

    /// The crop box drawn from a seeded generator (Float-precision uniforms, like torch).
    public func box(width: Int, height: Int, using rng: inout Xoshiro256) -> CropBox {
        box(width: width, height: height,
            uniform: { a, b in Double(Float(a) + rng.nextUnitFloat() * (Float(b) - Float(a))) },
            integer: { n in Int(rng.next() % UInt64(n + 1)) })
    }

    /// Crops `box` and resizes it to `size x size` (torchvision `F.resized_crop` on PIL).
    public static func apply(_ image: RGBImage, box: CropBox, size: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
        let c = Geometry.crop(image, left: box.left, top: box.top, width: box.width, height: box.height)
        return Resample.resize(c, width: size, height: size, filter: filter)
    }

    /// Draws a box and returns the resized crop.
    public func callAsFunction(_ image: RGBImage, using rng: inout Xoshiro256) -> RGBImage {
        Self.apply(image, box: box(width: image.width, height: image.height, using: &rng), size: size, filter: filter)
    }
}
