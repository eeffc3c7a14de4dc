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
        let x = axis(image.width, size), y = axis(image.height, size)
        let plane = size * size
        ImageNetNormalization.table.withUnsafeBufferPointer { lut in
            let r = lut.baseAddress!, g = r + 256, b = r + 512
            let o0 = out, o1 = out + plane, o2 = out + 2 * plane
            if x.count < size || y.count < size {  // zero padding normalises to the value of p = 0
                o0.update(repeating: r[0], count: plane)
                o1.update(repeating: g[0], count: plane)
                o2.update(repeating: b[0], count: plane)
            }
            image.pixels.withUnsafeBufferPointer { src in
                for row in 0..<y.count {
                    let s = src.baseAddress! + ((y.src + row) * image.width + x.src) * 3
                    let d = (y.dst + row) * size + x.dst
                    for i in 0..<x.count {
                        o0[d + i] = r[Int(s[3 * i])]
                        o1[d + i] = g[Int(s[3 * i + 1])]
                        o2[d + i] = b[Int(s[3 * i + 2])]
                    }
                }
            }
        }
    }

    /// Along one axis of length `n`: where the copied run starts in the source and in the
    /// destination, and its length.
    static func axis(_ n: Int, _ size: Int) -> (src: Int, dst: Int, count: Int) {
        if n < size { return (0, (size - n) / 2, n) }
        return (roundHalfEvenHalf(n - size), 0, size)
    }

    /// `round(k / 2)` with ties to even, for `k >= 0` (torchvision's `int(round((n - size) / 2.0))`).
    static func roundHalfEvenHalf(_ k: Int) -> Int {
        let m = k / 2
        if k % 2 == 0 { return m }
        return m % 2 == 0 ? m : m + 1
    }
}
