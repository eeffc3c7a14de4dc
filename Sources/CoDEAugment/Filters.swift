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
    ///
    /// Pillow's three loop regions collapse to clamped indices: at output x the running sum drops
    /// pixel `max(x - r - 1, 0)` and adds `min(x + r, W - 1)`; the fractional edge weight `fw`
    /// applies to pixels `max(x - r - 1, 0)` and `min(x + r + 1, W - 1)`.
    static func horizontalBoxBlur(_ image: RGBImage, radius floatRadius: Float) -> RGBImage {
        let radius = Int(floatRadius)
        let ww = UInt32(Float(1 << 24) / (floatRadius * 2 + 1))
        let fw = (UInt32(1 << 24) &- UInt32(radius * 2 + 1) &* ww) / 2
        let w = image.width, lastx = w - 1
        let edgeA = min(radius + 1, w)
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<image.height {
                    let p = src.baseAddress! + y * w * 3, o = dst.baseAddress! + y * w * 3
                    // Sum for the virtual pixel -1: the first pixel r + 1 times, then pixels
                    // 0 ..< edgeA - 1, then the last pixel for the part of the window past the end.
                    let tail = UInt32(radius - edgeA + 1)
                    var a0 = UInt32(p[0]) &* UInt32(radius + 1) &+ UInt32(p[3 * lastx]) &* tail
                    var a1 = UInt32(p[1]) &* UInt32(radius + 1) &+ UInt32(p[3 * lastx + 1]) &* tail
                    var a2 = UInt32(p[2]) &* UInt32(radius + 1) &+ UInt32(p[3 * lastx + 2]) &* tail
                    for x in 0..<max(0, edgeA - 1) {
                        a0 &+= UInt32(p[3 * x]); a1 &+= UInt32(p[3 * x + 1]); a2 &+= UInt32(p[3 * x + 2])
                    }
                    for x in 0..<w {
                        let sub = 3 * max(x - radius - 1, 0), add = 3 * min(x + radius, lastx)
                        let right = 3 * min(x + radius + 1, lastx)
                        a0 &+= UInt32(p[add]) &- UInt32(p[sub])
                        a1 &+= UInt32(p[add + 1]) &- UInt32(p[sub + 1])
                        a2 &+= UInt32(p[add + 2]) &- UInt32(p[sub + 2])
                        let b0 = a0 &* ww &+ (UInt32(p[sub]) &+ UInt32(p[right])) &* fw
                        let b1 = a1 &* ww &+ (UInt32(p[sub + 1]) &+ UInt32(p[right + 1])) &* fw
                        let b2 = a2 &* ww &+ (UInt32(p[sub + 2]) &+ UInt32(p[right + 2])) &* fw
                        o[3 * x] = UInt8(truncatingIfNeeded: (b0 &+ (1 << 23)) >> 24)
                        o[3 * x + 1] = UInt8(truncatingIfNeeded: (b1 &+ (1 << 23)) >> 24)
                        o[3 * x + 2] = UInt8(truncatingIfNeeded: (b2 &+ (1 << 23)) >> 24)
                    }
                }
            }
        }
        return RGBImage(width: w, height: image.height, pixels: out)
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
