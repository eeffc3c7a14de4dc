import CoDEImage
import Foundation

/// Pillow's colour operations (`ImageEnhance`, `convert("L")`, `Image.blend`,
/// `Image.composite`), reproduced bit for bit on 8-bit RGB.
public enum ColorOps {
    /// `Image.blend(a, b, alpha)`: `a + alpha (b - a)` per byte in Float, truncated to 8 bits;
    /// outside `alpha in [0, 1]` the result is clamped to [0, 255] first.
    public static func blend(_ a: [UInt8], _ b: [UInt8], alpha: Double) -> [UInt8] {
        precondition(a.count == b.count, "ColorOps.blend: \(a.count) vs \(b.count) bytes")
        let f = Float(alpha)
        var out = [UInt8](repeating: 0, count: a.count)
        let interpolate = f >= 0 && f <= 1
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0..<pa.count {
                        let x = Float(pa[i]), t = Float(Int(pb[i]) - Int(pa[i]))
                        let v = x + f * t
                        if interpolate { o[i] = UInt8(v) } else { o[i] = v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v)) }
                    }
                }
            }
        }
        return out
    }

    /// `blend(constant a, image, alpha)` through a 256-entry table (same values as ``blend(_:_:alpha:)``).
    static func blend(constant a: UInt8, _ image: RGBImage, alpha: Double) -> RGBImage {
        let table = blend([UInt8](repeating: a, count: 256), (0...255).map { UInt8($0) }, alpha: alpha)
        var out = image.pixels
        table.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] = t[Int(p[i])] }
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }

    /// ITU-R 601-2 luma as Pillow's `convert("L")`: `(19595 R + 38470 G + 7471 B + 0x8000) >> 16`.
    @inline(__always)
    public static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let r: Int = Int(r) * 19595, g: Int = Int(g) * 38470, b: Int = Int(b) * 7471
        return UInt8((r + g + b + 0x8000) >> 16)
    }

    /// `image.convert("L").convert("RGB")`: luma replicated into three channels.
    public static func grayscale(_ image: RGBImage) -> RGBImage {
        var out = image.pixels
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<(image.width * image.height) {
                let l = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2])
                p[3 * i] = l; p[3 * i + 1] = l; p[3 * i + 2] = l
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }

    /// `ImageEnhance.Brightness(image).enhance(f)`: blend from black.
    public static func brightness(_ image: RGBImage, factor: Double) -> RGBImage {
        blend(constant: 0, image, alpha: factor)
    }

    /// `ImageEnhance.Contrast(image).enhance(f)`: blend from a flat grey at the rounded mean luma,
    /// `int(mean(L) + 0.5)`.
    public static func contrast(_ image: RGBImage, factor: Double) -> RGBImage {
        var hist = [Int](repeating: 0, count: 256)
        let n = image.width * image.height
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<n { hist[Int(luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]))] += 1 }
        }
        var sum = 0.0
        for v in 0..<256 { sum += Double(v) * Double(hist[v]) }
        let mean = UInt8(Int(sum / Double(n) + 0.5))
        return blend(constant: mean, image, alpha: factor)
    }

    /// `ImageEnhance.Color(image).enhance(f)` (saturation): blend from the grayscale image.
    public static func saturation(_ image: RGBImage, factor: Double) -> RGBImage {
        RGBImage(width: image.width, height: image.height, pixels: blend(grayscale(image).pixels, image.pixels, alpha: factor))
    }

    /// Pillow's `(a * m + b * (255 - m)) / 255` with its rounding (`Image.composite`, `paste` with mask):
    /// `t = a m + b (255 - m) + 128; (t + (t >> 8)) >> 8`.
    @inline(__always)
    public static func composite(_ a: UInt8, _ b: UInt8, mask m: UInt8) -> UInt8 {
        let t = Int(a) * Int(m) + Int(b) * (255 - Int(m)) + 128
        return UInt8((t + (t >> 8)) >> 8)
    }

    /// AugLy `opacity(level)` seen through an RGB image: the alpha mask `floor(255 level)`
    /// composites the image over white, `out = composite(image, white, mask)`.
    public static func opacity(_ image: RGBImage, level: Double) -> RGBImage {
        let m = UInt8(max(0, min(255, (255 * level).rounded(.towardZero))))
        var out = image.pixels
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = composite(p[i], 255, mask: m) }
        }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }

    /// AugLy `overlay_stripes` (solid, opaque): rows/columns where
    /// `(cos(2 pi (x_c sin t + y_c cos t) / D) + 1) / 2 > (cos(pi w) + 1) / 2` are painted `color`,
    /// with `D = (1 - density) min(W, H)` and centred coordinates `x_c = x - W / 2`.
    public static func overlayStripes(_ image: RGBImage, lineWidth: Double, angleDegrees: Double = 0,
                                      density: Double = 0.5, color: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> RGBImage {
        let w = image.width, h = image.height
        let angle = angleDegrees * Double.pi / 180
        let distance = (1 - density) * Double(min(w, h))
        let yPeriod = cos(angle) / distance, xPeriod = sin(angle) / distance
        let threshold = (cos(Double.pi * lineWidth) + 1) / 2
        let vertical = abs(angle) == Double.pi / 2 || abs(angle) == 3 * Double.pi / 2
        let horizontal = angle == 0 || abs(angle) == Double.pi
        var out = image.pixels
        for y in 0..<h {
            let yc = Double(y) - Double(h) / 2
            for x in 0..<w {
                let xc = Double(x) - Double(w) / 2
                let phase = vertical ? xPeriod * xc : (horizontal ? yPeriod * yc : xPeriod * xc + yPeriod * yc)
                if (cos(2 * Double.pi * phase) + 1) / 2 > threshold {
                    let d = (y * w + x) * 3
                    out[d] = color.0; out[d + 1] = color.1; out[d + 2] = color.2
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
