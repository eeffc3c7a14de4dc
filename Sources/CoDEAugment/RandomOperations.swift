import CoDECore
import CoDEImage
import Foundation

/// Counter-clockwise rotation by `degrees` with the canvas expanded (Pillow `rotate(expand=True)`,
/// nearest neighbour), then cropped to the largest axis-aligned rectangle inside the rotated
/// image (AugLy `RandomRotation`), so no black corners remain.
public struct RotationOp: AugmentationOp {
    public var degrees: Double
    public init(degrees: Double) { self.degrees = degrees }
    public var description: String { "rotate(\(degrees))" }

    public func apply(_ image: RGBImage) -> RGBImage {
        let rotated = Self.rotateExpand(image, degrees: degrees)
        let (wr, hr) = Self.largestInscribed(width: image.width, height: image.height, degrees: degrees)
        let cx = Double(rotated.width) / 2, cy = Double(rotated.height) / 2
        let l = Int(cx - wr / 2), t = Int(cy - hr / 2), r = Int(cx + wr / 2), b = Int(cy + hr / 2)
        guard r > l && b > t else { return rotated }
        return Geometry.crop(rotated, left: l, top: t, width: r - l, height: b - t)
    }

    /// Pillow's `Image.rotate(degrees, expand=True)` with nearest-neighbour resampling.
    public static func rotateExpand(_ image: RGBImage, degrees: Double) -> RGBImage {
        var angle = degrees.truncatingRemainder(dividingBy: 360)
        if angle < 0 { angle += 360 }
        if angle == 0 { return image }
        if angle == 180 { return Geometry.rotateQuarter(image, turns: 2) }
        if angle == 90 { return Geometry.rotateQuarter(image, turns: 1) }
        if angle == 270 { return Geometry.rotateQuarter(image, turns: 3) }
        let w = Double(image.width), h = Double(image.height)
        let rad = -(angle * (Double.pi / 180))
        func r15(_ v: Double) -> Double { (v * 1e15).rounded(.toNearestOrEven) / 1e15 }
        var m = [r15(cos(rad)), r15(sin(rad)), 0, r15(-sin(rad)), r15(cos(rad)), 0]
        func t(_ x: Double, _ y: Double) -> (Double, Double) { (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]) }
        (m[2], m[5]) = t(-w / 2, -h / 2)
        m[2] += w / 2; m[5] += h / 2
        let corners = [(0.0, 0.0), (w, 0), (w, h), (0, h)].map { t($0.0, $0.1) }
        let xs = corners.map(\.0), ys = corners.map(\.1)
        let nw = Int(xs.max()!.rounded(.up)) - Int(xs.min()!.rounded(.down))
        let nh = Int(ys.max()!.rounded(.up)) - Int(ys.min()!.rounded(.down))
        (m[2], m[5]) = t(-Double(nw - image.width) / 2, -Double(nh - image.height) / 2)
        return Geometry.affineNearest(image, width: nw, height: nh, m)
    }

    /// Width and height of the largest axis-aligned rectangle inside a `width` x `height`
    /// rectangle rotated by `degrees`.
    public static func largestInscribed(width: Int, height: Int, degrees: Double) -> (Double, Double) {
        let w = Double(width), h = Double(height)
        let widthIsLonger = w >= h
        let (long, short) = widthIsLonger ? (w, h) : (h, w)
        let s = abs(sin(degrees * Double.pi / 180)), c = abs(cos(degrees * Double.pi / 180))
        if short <= 2 * s * c * long || abs(s - c) < 1e-10 {
            let x = 0.5 * short
            return widthIsLonger ? (x / s, x / c) : (x / c, x / s)
        }
        let cos2a = c * c - s * s
        return ((w * c - h * s) / cos2a, (h * c - w * s) / cos2a)
    }
}

/// torchvision `RandomCrop(size, pad_if_needed=True)` with black fill: a side shorter than `size`
/// gets `size - side` pixels of padding on both ends; the crop's top-left is then
/// `(Int(u (H - size + 1)), Int(v (W - size + 1)))` for the stored uniforms `u, v` in [0, 1).
public struct RandomCropOp: AugmentationOp {
    public var size: Int
    public var u: Double, v: Double
    public init(size: Int, u: Double, v: Double) {
        precondition(size > 0 && (0..<1).contains(u) && (0..<1).contains(v), "RandomCropOp: bad parameters")
        self.size = size; self.u = u; self.v = v
    }
    public var description: String { "randomCrop(\(size))" }
    public func apply(_ image: RGBImage) -> RGBImage {
        var img = image
        if img.width < size { let p = size - img.width; img = Geometry.pad(img, left: p, top: 0, right: p, bottom: 0) }
        if img.height < size { let p = size - img.height; img = Geometry.pad(img, left: 0, top: p, right: 0, bottom: p) }
        let top = Int(u * Double(img.height - size + 1)), left = Int(v * Double(img.width - size + 1))
        return Geometry.crop(img, left: left, top: top, width: size, height: size)
    }
}

/// Moves `Int(factor * N)` randomly chosen pixels (of N) among themselves with a random
/// permutation (AugLy `ShufflePixels`); the subset and permutation come from `seed`.
public struct PixelShuffleOp: AugmentationOp {
    public var factor: Double
    public var seed: UInt64
    public init(factor: Double, seed: UInt64) {
        precondition((0...1).contains(factor), "PixelShuffleOp: factor must be in [0, 1]")
        self.factor = factor; self.seed = seed
    }
    public var description: String { "pixelShuffle(\(factor))" }

    public func apply(_ image: RGBImage) -> RGBImage {
        let n = image.width * image.height
        let k = Int(factor * Double(n))
        guard k > 1 else { return image }
        var rng = Xoshiro256(seed: seed)
        // Partial Fisher-Yates: the first k entries of `index` are a uniform k-subset.
        var index = Array(0..<n)
        for i in 0..<k { index.swapAt(i, i + Int(rng.next() % UInt64(n - i))) }
        var perm = Array(index[0..<k])
        for i in stride(from: k - 1, to: 0, by: -1) { perm.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var out = image.pixels
        image.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for i in 0..<k {
                    let dst = index[i] * 3, src = perm[i] * 3
                    d[dst] = s[src]; d[dst + 1] = s[src + 1]; d[dst + 2] = s[src + 2]
                }
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }
}

/// A specific reason an augmentation or the view sampler rejected its input.
public enum AugmentationError: Error, CustomStringConvertible, Equatable {
    case invalidParameter(name: String, reason: String)
    case missingJPEGCodec
    case codecChangedSize(expected: String, found: String)
    case emptyBatch
    case imageTooLarge(item: String, width: Int, height: Int, maxPixels: Int)

    public var description: String {
        switch self {
        case let .invalidParameter(name, reason): "augmentation parameter \(name): \(reason)"
        case .missingJPEGCodec: "the augmentation list contains JPEG re-encoding but no JPEGCodec was given; pass one or remove .jpeg"
        case let .codecChangedSize(e, f): "JPEG codec returned a \(f) image for a \(e) input"
        case .emptyBatch: "view sampler: the batch has no (real, fake) pairs"
        case let .imageTooLarge(item, w, h, m): "\(item): image \(w)x\(h) has more than \(m) pixels"
        }
    }
}
