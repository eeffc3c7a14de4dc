/// Per-channel normalisation used by CoDE (ImageNet statistics, as the authors' transforms):
/// `x = (p / 255 - mean[c]) / std[c]`.
public enum ImageNetNormalization {
    public static let mean: (Float, Float, Float) = (0.485, 0.456, 0.406)
    public static let std: (Float, Float, Float) = (0.229, 0.224, 0.225)

    /// Writes `image` as planar CHW floats (`3 * height * width` values) into `out`.
    ///
    /// Computed as `(p / 255 - mean) / std` in that order, in Float, to match torchvision's
    /// `ToTensor()` followed by `Normalize(mean, std)` bit for bit where the rounding agrees.
    public static func normalize(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        let plane = image.width * image.height
        let m = [mean.0, mean.1, mean.2], s = [std.0, std.1, std.2]
        image.pixels.withUnsafeBufferPointer { px in
            for c in 0..<3 {
                let dst = out + c * plane
                let mc = m[c], sc = s[c]
                for i in 0..<plane { dst[i] = (Float(px[3 * i + c]) / 255 - mc) / sc }
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
