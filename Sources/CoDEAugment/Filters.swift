import CoDEImage
import Foundation

/// Pillow's neighbourhood filters (`ImageFilter.GaussianBlur`, `ImageEnhance.Sharpness`),
/// reproduced bit for bit on 8-bit RGB.
public enum FilterOps {
    /// `ImageFilter.GaussianBlur(radius)`: three passes of an "extended box" blur per axis
    /// (Gwosdek et al. 2011) whose box radius `l + a` matches variance `radius^2 / 3` per pass;
    /// borders extend the edge pixels. Radius 0 returns the image unchanged.
    public static func gaussianBlur(_ image: RGBImage, radius: Double) -> RGBImage {
        precondition(radius >= 0, "gaussianBlur: radius must be >= 0")
        if radius == 0 { return image }
        let r = boxRadius(Float(radius), passes: 3)
        if r == 0 { return image }
        var img = image
        for _ in 0..<3 { img = horizontalBoxBlur(img, radius: r) }
        img = transpose(img)
        for _ in 0..<3 { img = horizontalBoxBlur(img, radius: r) }
        return transpose(img)
    }

    /// Pillow's `_gaussian_blur_radius` in single precision: the extended-box radius per pass.
    static func boxRadius(_ radius: Float, passes: Int) -> Float {
        let sigma2 = radius * radius / Float(passes)
        let L = Float((12.0 * Double(sigma2) + 1.0).squareRoot())
        let l = Float(((Double(L) - 1.0) / 2.0).rounded(.down))
        var a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2)
        a /= 6 * (sigma2 - (l + 1) * (l + 1))
        return l + a
    }

    static func transpose(_ image: RGBImage) -> RGBImage {
        let w = image.width, h = image.height
        var out = [UInt8](repeating: 0, count: w * h * 3)
        image.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for y in 0..<h {
                    for x in 0..<w {
                        let i = (y * w + x) * 3, j = (x * h + y) * 3
                        d[j] = s[i]; d[j + 1] = s[i + 1]; d[j + 2] = s[i + 2]
                    }
                }
            }
        }
        return RGBImage(width: h, height: w, pixels: out)
    }

    /// One extended-box pass along rows with fractional radius (Pillow `ImagingHorizontalBoxBlur`,
    /// 8.24 fixed point, unsigned 32-bit wrap-around arithmetic as in C).
    static func horizontalBoxBlur(_ image: RGBImage, radius floatRadius: Float) -> RGBImage {
        let radius = Int(floatRadius)
        let ww = UInt32(Float(1 << 24) / (floatRadius * 2 + 1))
        let fw = (UInt32(1 << 24) &- UInt32(radius * 2 + 1) &* ww) / 2
        let w = image.width
        let edgeA = min(radius + 1, w), edgeB = max(w - radius - 1, 0)
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<image.height {
                    let line = src.baseAddress! + y * w * 3, o = dst.baseAddress! + y * w * 3
                    for c in 0..<3 {
                        boxLine(line + c, o + c, lastx: w - 1, radius: radius, edgeA: edgeA, edgeB: edgeB, ww: ww, fw: fw)
                    }
                }
            }
        }
        return RGBImage(width: w, height: image.height, pixels: out)
    }

    /// One channel of one row (stride 3) through the running-sum box filter.
    @inline(__always)
    static func boxLine(_ p: UnsafePointer<UInt8>, _ o: UnsafeMutablePointer<UInt8>, lastx: Int, radius: Int,
                        edgeA: Int, edgeB: Int, ww: UInt32, fw: UInt32) {
        @inline(__always) func px(_ i: Int) -> UInt32 { UInt32(p[3 * i]) }
        var acc = px(0) &* UInt32(radius + 1)
        var x = 0
        while x < edgeA - 1 { acc &+= px(x); x += 1 }
        acc &+= px(lastx) &* UInt32(bitPattern: Int32(radius - edgeA + 1))
        @inline(__always) func step(_ x: Int, sub: Int, add: Int, left: Int, right: Int) {
            acc &+= px(add) &- px(sub)
            let bulk = acc &* ww &+ (px(left) &+ px(right)) &* fw
            o[3 * x] = UInt8(truncatingIfNeeded: (bulk &+ (1 << 23)) >> 24)
        }
        if edgeA <= edgeB {
            for x in 0..<edgeA { step(x, sub: 0, add: x + radius, left: 0, right: x + radius + 1) }
            for x in edgeA..<max(edgeA, edgeB) { step(x, sub: x - radius - 1, add: x + radius, left: x - radius - 1, right: x + radius + 1) }
            for x in edgeB...lastx { step(x, sub: x - radius - 1, add: lastx, left: x - radius - 1, right: lastx) }
        } else {
            for x in 0..<edgeB { step(x, sub: 0, add: x + radius, left: 0, right: x + radius + 1) }
            for x in edgeB..<edgeA { step(x, sub: 0, add: lastx, left: 0, right: lastx) }
            if edgeA <= lastx { for x in edgeA...lastx { step(x, sub: x - radius - 1, add: lastx, left: x - radius - 1, right: lastx) } }
        }
    }

    /// Pillow's `ImageFilter.SMOOTH` (3x3 kernel `[1 1 1; 1 5 1; 1 1 1] / 13`), border pixels
    /// copied unchanged, accumulated in Float as Pillow does and rounded half up.
    public static func smooth(_ image: RGBImage) -> RGBImage {
        let w = image.width, h = image.height
        guard w >= 3 && h >= 3 else { return image }
        let k1 = Float(1.0 / 13.0), k5 = Float(5.0 / 13.0)
        var out = image.pixels
        image.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for y in 1..<(h - 1) {
                    let up = s.baseAddress! + (y - 1) * w * 3, mid = up + w * 3, down = mid + w * 3
                    let o = d.baseAddress! + y * w * 3
                    for i in 3..<((w - 1) * 3) {
                        // Pillow order: the row below (kernel row 0), this row, the row above.
                        var ss: Float = 0.5
                        ss += Float(down[i - 3]) * k1 + Float(down[i]) * k1 + Float(down[i + 3]) * k1
                        ss += Float(mid[i - 3]) * k1 + Float(mid[i]) * k5 + Float(mid[i + 3]) * k1
                        ss += Float(up[i - 3]) * k1 + Float(up[i]) * k1 + Float(up[i + 3]) * k1
                        o[i] = ss <= 0 ? 0 : (ss >= 255 ? 255 : UInt8(ss))
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// `ImageEnhance.Sharpness(image).enhance(f)`: blend from the SMOOTH-filtered image.
    public static func sharpness(_ image: RGBImage, factor: Double) -> RGBImage {
        RGBImage(width: image.width, height: image.height,
                 pixels: ColorOps.blend(smooth(image).pixels, image.pixels, alpha: factor))
    }
}
