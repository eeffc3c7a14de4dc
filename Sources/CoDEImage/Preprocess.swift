/// The authors' inference preprocessing (SPEC section 2): torchvision
/// `CenterCrop(size)` (no resize), `ToTensor()`, `Normalize(ImageNet mean, std)`.
public enum Preprocess {
    /// `size x size` centre crop as torchvision's `CenterCrop(size)` on a PIL image.
    ///
    /// A side shorter than `size` is zero-padded first: `(size - w) / 2` (floor) on the left/top,
    /// the rest on the right/bottom. A longer side is cropped at offset `round((w - size) / 2)` with
    /// round-half-to-even (Python's `round`). Both can apply, one per axis.
    public static func centerCrop(_ image: RGBImage, size: Int = 224) -> RGBImage {
        precondition(size > 0, "Preprocess.centerCrop: size must be positive, got \(size)")
        let x = axis(image.width, size), y = axis(image.height, size)
        var out = [UInt8](repeating: 0, count: size * size * 3)
        out.withUnsafeMutableBufferPointer { dst in
            image.pixels.withUnsafeBufferPointer { src in
                let rowBytes = x.count * 3
                for r in 0..<y.count {
                    let s = src.baseAddress! + ((y.src + r) * image.width + x.src) * 3
                    let d = dst.baseAddress! + ((y.dst + r) * size + x.dst) * 3
                    d.update(from: s, count: rowBytes)
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: out)
    }

    /// Centre crop then ImageNet normalisation into `into`: planar CHW, `3 * size * size` floats,
    /// `out[c][y][x] = (p / 255 - mean[c]) / std[c]` with `p` the cropped pixel (0 in the padding).
    ///
    /// Crop and normalisation are fused (no intermediate image); the result equals
    /// `ImageNetNormalization.normalize(centerCrop(image, size: size), into:)` exactly.
    public static func inferenceTensor(_ image: RGBImage, size: Int = 224, into out: UnsafeMutablePointer<Float>) {
        precondition(size > 0, "Preprocess.inferenceTensor: size must be positive, got \(size)")
        windowTensor(image, x: CropLayout.centerStart(image.width, size), y: CropLayout.centerStart(image.height, size),
                     size: size, into: out)
    }

    /// Along one axis of length `n`: where the copied run starts in the source and in the
    /// destination, and its length.
    static func axis(_ n: Int, _ size: Int) -> (src: Int, dst: Int, count: Int) {
        window(CropLayout.centerStart(n, size), n, size)
    }

    /// `round(k / 2)` with ties to even, for `k >= 0` (torchvision's `int(round((n - size) / 2.0))`).
    static func roundHalfEvenHalf(_ k: Int) -> Int {
        let m = k / 2
        if k % 2 == 0 { return m }
        return m % 2 == 0 ? m : m + 1
    }
}
