/// Per-channel normalisation used by CoDE (ImageNet statistics, as the authors' transforms):
/// `x = (p / 255 - mean[c]) / std[c]`.
public enum ImageNetNormalization {
    public static let mean: (Float, Float, Float) = (0.485, 0.456, 0.406)
    public static let std: (Float, Float, Float) = (0.229, 0.224, 0.225)

    /// `table[c * 256 + p]` = `(Float(p) / 255 - mean[c]) / std[c]`, computed once with the same
    /// Float operations as the direct formula, so a lookup gives bit-identical values.
    public static let table: [Float] = {
        let m = [mean.0, mean.1, mean.2], s = [std.0, std.1, std.2]
        return (0..<3).flatMap { c in (0..<256).map { p in (Float(p) / 255 - m[c]) / s[c] } }
    }()

    /// Writes `image` as planar CHW floats (`3 * height * width` values) into `out`.
    ///
    /// Computed as `(p / 255 - mean) / std` in that order, in Float, to match torchvision's
    /// `ToTensor()` followed by `Normalize(mean, std)` bit for bit where the rounding agrees.
    public static func normalize(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        let plane = image.width * image.height
        table.withUnsafeBufferPointer { lut in
            image.pixels.withUnsafeBufferPointer { px in
                let r = lut.baseAddress!, g = r + 256, b = r + 512
                let o0 = out, o1 = out + plane, o2 = out + 2 * plane
                for i in 0..<plane {
                    o0[i] = r[Int(px[3 * i])]
                    o1[i] = g[Int(px[3 * i + 1])]
                    o2[i] = b[Int(px[3 * i + 2])]
                }
            }
        }
    }

    /// `image` as planar CHW floats.
    public static func normalized(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * image.width * image.height)
        out.withUnsafeMutableBufferPointer { normalize(image, into: $0.baseAddress!) }
        return out
    }
}
