/// Which `size x size` windows of an image the encoder sees at inference.
///
/// - ``center``: the authors' preprocessing (SPEC section 2), one centre crop (``Preprocess/centerCrop(_:size:)``).
/// - ``five``: torchvision's `FiveCrop(size)` order: top-left, top-right, bottom-left,
///   bottom-right, centre. The centre window is exactly the ``center`` crop. A side shorter than
///   `size` is first zero-padded as the centre crop pads it (floor of half the padding on the
///   left/top), so along that axis all windows coincide; torchvision rejects such images, CoDEKit
///   pads them instead.
///
/// CoDEKit's `Embedder` uses the mean of the window embeddings as the image's embedding (each
/// distinct window embedded once, weighted by how often it occurs); a classifier fitted on such
/// embeddings records its layout in its file.
public enum CropLayout: String, Sendable, CaseIterable, CustomStringConvertible {
    case center
    case five

    /// Windows per image.
    public var count: Int {
        switch self {
        case .center: 1
        case .five: 5
        }
    }

    public var description: String { rawValue }

    /// Top-left corners of the windows in image coordinates (negative, or past the far edge, where
    /// the window reaches into the zero padding of a short side), in the order given above.
    public func origins(width: Int, height: Int, size: Int) -> [(x: Int, y: Int)] {
        precondition(size > 0 && width > 0 && height > 0, "CropLayout.origins: sizes must be positive")
        let cx = Self.centerStart(width, size), cy = Self.centerStart(height, size)
        switch self {
        case .center:
            return [(cx, cy)]
        case .five:
            let x0 = min(0, cx), x1 = max(width - size, cx), y0 = min(0, cy), y1 = max(height - size, cy)
            return [(x0, y0), (x1, y0), (x0, y1), (x1, y1), (cx, cy)]
        }
    }

    /// ``origins(width:height:size:)`` without repeats, each with how many times it occurs (in
    /// order of first occurrence). Windows coincide along a side shorter than `size`: an image at
    /// most `size` on both sides has one distinct window, one short side gives three.
    public func distinctOrigins(width: Int, height: Int, size: Int) -> [(x: Int, y: Int, count: Int)] {
        var out: [(x: Int, y: Int, count: Int)] = []
        for o in origins(width: width, height: height, size: size) {
            if let i = out.firstIndex(where: { $0.x == o.x && $0.y == o.y }) { out[i].count += 1 } else { out.append((o.x, o.y, 1)) }
        }
        return out
    }

    /// The centre crop's window start along an axis of length `n` (negative when `n < size`).
    static func centerStart(_ n: Int, _ size: Int) -> Int {
        n < size ? -((size - n) / 2) : Preprocess.roundHalfEvenHalf(n - size)
    }
}

extension Preprocess {
    /// The `size x size` window of `image` whose top-left corner is `(x, y)` (zero outside the
    /// image), normalised as ``inferenceTensor(_:size:into:)`` normalises: planar CHW,
    /// `3 * size * size` floats written to `out`.
    public static func windowTensor(_ image: RGBImage, x: Int, y: Int, size: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(size > 0, "Preprocess.windowTensor: size must be positive, got \(size)")
        let ax = window(x, image.width, size), ay = window(y, image.height, size)
        let plane = size * size
        ImageNetNormalization.table.withUnsafeBufferPointer { lut in
            let r = lut.baseAddress!, g = r + 256, b = r + 512
            let o0 = out, o1 = out + plane, o2 = out + 2 * plane
            if ax.count < size || ay.count < size {  // zero padding normalises to the value of p = 0
                o0.update(repeating: r[0], count: plane)
                o1.update(repeating: g[0], count: plane)
                o2.update(repeating: b[0], count: plane)
            }
            guard ax.count > 0, ay.count > 0 else { return }
            image.pixels.withUnsafeBufferPointer { src in
                for row in 0..<ay.count {
                    let s = src.baseAddress! + ((ay.src + row) * image.width + ax.src) * 3
                    let d = (ay.dst + row) * size + ax.dst
                    for i in 0..<ax.count {
                        o0[d + i] = r[Int(s[3 * i])]
                        o1[d + i] = g[Int(s[3 * i + 1])]
                        o2[d + i] = b[Int(s[3 * i + 2])]
                    }
                }
            }
        }
    }

    /// The windows of `layout` as normalised tensors, `layout.count * 3 * size * size` floats
    /// written to `out` in the layout's order.
    public static func inferenceTensors(_ image: RGBImage, layout: CropLayout, size: Int = 224, into out: UnsafeMutablePointer<Float>) {
        let n = 3 * size * size
        for (k, o) in layout.origins(width: image.width, height: image.height, size: size).enumerated() {
            windowTensor(image, x: o.x, y: o.y, size: size, into: out + k * n)
        }
    }

    /// Along one axis of length `n`, a window of `size` starting at `start`: where the copied run
    /// starts in the source and in the destination, and its length (0 if the window misses the image).
    static func window(_ start: Int, _ n: Int, _ size: Int) -> (src: Int, dst: Int, count: Int) {
        let s = max(start, 0), e = min(n, start + size)
        return e > s ? (s, s - start, e - s) : (0, 0, 0)
    }
}
