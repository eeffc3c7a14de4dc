import CoDEImage
import Foundation

/// Pixel-exact geometric primitives (crop, pad, flip, affine warps) with Pillow's semantics.
public enum Geometry {
    /// The rectangle `[left, left + width) x [top, top + height)` of `image`; pixels outside
    /// the source are `fill` (Pillow's `Image.crop`, which pads with black).
    public static func crop(_ image: RGBImage, left: Int, top: Int, width: Int, height: Int,
                            fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) -> RGBImage {
        precondition(width > 0 && height > 0, "Geometry.crop: size must be positive, got \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: width * height * 3)
        if fill != (0, 0, 0) {
            for i in 0..<(width * height) { out[3 * i] = fill.0; out[3 * i + 1] = fill.1; out[3 * i + 2] = fill.2 }
        }
        let x0 = max(left, 0), x1 = min(left + width, image.width)
        let y0 = max(top, 0), y1 = min(top + height, image.height)
        guard x0 < x1 && y0 < y1 else { return RGBImage(width: width, height: height, pixels: out) }
        let n = (x1 - x0) * 3
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in y0..<y1 {
                    let s = src.baseAddress! + (y * image.width + x0) * 3
                    let d = dst.baseAddress! + ((y - top) * width + (x0 - left)) * 3
                    d.update(from: s, count: n)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Adds `left`, `top`, `right`, `bottom` pixels of constant `fill` around the image.
    public static func pad(_ image: RGBImage, left: Int, top: Int, right: Int, bottom: Int,
                           fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) -> RGBImage {
        precondition(left >= 0 && top >= 0 && right >= 0 && bottom >= 0, "Geometry.pad: negative padding")
        return crop(image, left: -left, top: -top, width: image.width + left + right,
                    height: image.height + top + bottom, fill: fill)
    }

    /// Mirror image: `out(x, y) = in(W - 1 - x, y)` (Pillow `FLIP_LEFT_RIGHT`).
    public static func flipHorizontal(_ image: RGBImage) -> RGBImage {
        var out = image.pixels
        let w = image.width
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<image.height {
                    let s = src.baseAddress! + y * w * 3, d = dst.baseAddress! + y * w * 3
                    for x in 0..<w {
                        let j = (w - 1 - x) * 3
                        d[3 * x] = s[j]; d[3 * x + 1] = s[j + 1]; d[3 * x + 2] = s[j + 2]
                    }
                }
            }
        }
        return RGBImage(width: w, height: image.height, pixels: out)
    }

    /// Rotation by a multiple of 90 degrees counter-clockwise (Pillow `ROTATE_90/180/270`).
    public static func rotateQuarter(_ image: RGBImage, turns: Int) -> RGBImage {
        let t = ((turns % 4) + 4) % 4
        if t == 0 { return image }
        let w = image.width, h = image.height
        let (ow, oh) = t == 2 ? (w, h) : (h, w)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<oh {
            for x in 0..<ow {
                let (sx, sy): (Int, Int)
                switch t {
                case 1: (sx, sy) = (w - 1 - y, x)          // 90 CCW
                case 2: (sx, sy) = (w - 1 - x, h - 1 - y)
                default: (sx, sy) = (y, h - 1 - x)         // 270 CCW
                }
                let s = (sy * w + sx) * 3, d = (y * ow + x) * 3
                out[d] = image.pixels[s]; out[d + 1] = image.pixels[s + 1]; out[d + 2] = image.pixels[s + 2]
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }

    /// Inverse affine warp with nearest-neighbour sampling, as Pillow's
    /// `Image.transform(size, AFFINE, a, NEAREST)`: output pixel (x, y) takes input
    /// `(a0 x' + a1 y' + a2, a3 x' + a4 y' + a5)` at the pixel centre `x' = x + 0.5`, in Pillow's
    /// 16.16 fixed-point arithmetic; samples outside the input are black.
    public static func affineNearest(_ image: RGBImage, width: Int, height: Int, _ a: [Double]) -> RGBImage {
        precondition(a.count == 6 && width > 0 && height > 0)
        func fix(_ v: Double) -> Int { Int((v * 65536 + 0.5).rounded(.down)) }
        let a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4])
        var a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5)
        var a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let iw = image.width, ih = image.height
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    var xx = a2, yy = a5
                    let d = dst.baseAddress! + y * width * 3
                    for x in 0..<width {
                        let xi = xx >> 16, yi = yy >> 16
                        if xi >= 0 && xi < iw && yi >= 0 && yi < ih {
                            let s = src.baseAddress! + (yi * iw + xi) * 3
                            d[3 * x] = s[0]; d[3 * x + 1] = s[1]; d[3 * x + 2] = s[2]
                        }
                        xx += a0; yy += a3
                    }
                    a2 += a1; a5 += a4
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Inverse affine warp with bilinear sampling, as Pillow's `Image.transform(size, AFFINE, a,
    /// BILINEAR)`: the source point of output (x, y) is `a` applied to `(x + 0.5, y + 0.5)`;
    /// points outside `[0, W) x [0, H)` are black; inside, the 2x2 neighbourhood (edge-clamped)
    /// is interpolated in double precision and truncated to 8 bits.
    public static func affineBilinear(_ image: RGBImage, width: Int, height: Int, _ a: [Double]) -> RGBImage {
        precondition(a.count == 6 && width > 0 && height > 0)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let iw = image.width, ih = image.height
        let (m0, m1, m2, m3, m4, m5) = (a[0], a[1], a[2], a[3], a[4], a[5])
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let yc = Double(y) + 0.5
                    for x in 0..<width {
                        let xc = Double(x) + 0.5
                        var xin = m0 * xc + m1 * yc + m2
                        var yin = m3 * xc + m4 * yc + m5
                        guard xin >= 0 && xin < Double(iw) && yin >= 0 && yin < Double(ih) else { continue }
                        xin -= 0.5; yin -= 0.5
                        let fx = xin.rounded(.down), fy = yin.rounded(.down)
                        let ix = Int(fx), iy = Int(fy)
                        let dx = xin - fx, dy = yin - fy
                        let x0 = min(max(ix, 0), iw - 1) * 3, x1 = min(max(ix + 1, 0), iw - 1) * 3
                        let r0 = src.baseAddress! + min(max(iy, 0), ih - 1) * iw * 3
                        let hasNext = iy + 1 >= 0 && iy + 1 < ih
                        let r1 = hasNext ? src.baseAddress! + (iy + 1) * iw * 3 : r0
                        let d = dst.baseAddress! + (y * width + x) * 3
                        for c in 0..<3 {
                            let a0 = Double(r0[x0 + c]), b0 = Double(r0[x1 + c])
                            let v1 = a0 + (b0 - a0) * dx
                            var v2 = v1
                            if hasNext {
                                let a1 = Double(r1[x0 + c]), b1 = Double(r1[x1 + c])
                                v2 = a1 + (b1 - a1) * dx
                            }
                            d[c] = UInt8(v1 + (v2 - v1) * dy)
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

/// torchvision's deterministic resize and centre crop on PIL images.
public enum TorchvisionGeometry {
    /// `transforms.Resize(size)` with an int: the shorter side becomes `size`, the longer
    /// `Int(size * long / short)` (truncated), resampled with Pillow's `filter`.
    public static func resizeShorterSide(_ image: RGBImage, to size: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
        precondition(size > 0, "resizeShorterSide: size must be positive")
        let (w, h) = (image.width, image.height)
        let (ow, oh) = w <= h ? (size, Int(Double(size) * Double(h) / Double(w)))
                              : (Int(Double(size) * Double(w) / Double(h)), size)
        return Resample.resize(image, width: ow, height: oh, filter: filter)
    }

    /// `transforms.CenterCrop(size)`: zero-pads a side smaller than `size` (left/top
    /// `(size - w) / 2`, right/bottom the rest), then crops at `round((H - size) / 2)`
    /// (round half to even).
    public static func centerCrop(_ image: RGBImage, size: Int) -> RGBImage {
        precondition(size > 0, "centerCrop: size must be positive")
        var img = image
        if img.width < size || img.height < size {
            let pl = img.width < size ? (size - img.width) / 2 : 0
            let pt = img.height < size ? (size - img.height) / 2 : 0
            let pr = img.width < size ? (size - img.width + 1) / 2 : 0
            let pb = img.height < size ? (size - img.height + 1) / 2 : 0
            img = Geometry.pad(img, left: pl, top: pt, right: pr, bottom: pb)
            if img.width == size && img.height == size { return img }
        }
        let top = Int((Double(img.height - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(img.width - size) / 2).rounded(.toNearestOrEven))
        return Geometry.crop(img, left: left, top: top, width: size, height: size)
    }
}
