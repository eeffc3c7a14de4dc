import CoDEImage
import Foundation

/// Separable resampling kernels, as Pillow defines them (`Resample.c`).
public enum ResampleFilter: Sendable, Equatable {
    /// Triangle filter, support 1: `w(x) = max(0, 1 - |x|)`.
    case bilinear
    /// Keys cubic convolution with `a = -0.5`, support 2.
    case bicubic
    /// Lanczos-3 (truncated sinc), support 3: `sinc(x) sinc(x / 3)` on `[-3, 3)`.
    case lanczos

    /// Half-width of the kernel at scale 1 (input pixels).
    public var support: Double {
        switch self {
        case .bilinear: 1
        case .bicubic: 2
        case .lanczos: 3
        }
    }

    /// The kernel value at offset `x` (in output-scaled input pixels).
    @inline(__always)
    public func weight(_ x: Double) -> Double {
        switch self {
        case .bilinear:
            let ax = abs(x)
            return ax < 1 ? 1 - ax : 0
        case .bicubic:
            let a = -0.5, ax = abs(x)
            if ax < 1 { return ((a + 2) * ax - (a + 3)) * ax * ax + 1 }
            if ax < 2 { return (((ax - 5) * ax + 8) * ax - 4) * a }
            return 0
        case .lanczos:
            guard x >= -3 && x < 3 else { return 0 }
            return Self.sinc(x) * Self.sinc(x / 3)
        }
    }

    @inline(__always) private static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let px = x * Double.pi
        return sin(px) / px
    }
}

/// Pillow-compatible antialiased resize (`Image.resize(size, resample, box)` with
/// `reducing_gap=None`), reproduced bit for bit.
///
/// Each axis is a 1-D convolution whose support is `filter.support * max(1, in/out)`: when
/// shrinking, the kernel is stretched by the downscale factor, so every input pixel contributes
/// (antialiasing). Output pixel `i` is centred at `in0 + (i + 0.5) * (in1 - in0) / out` in input
/// coordinates. Weights are normalised to sum 1, then rounded to 22-bit fixed point ("precision
/// bits" path of Pillow's 8-bit resampler); each pass rounds to 8 bits. The horizontal pass runs
/// first, over only the rows the vertical pass reads, except when widening while reducing the
/// height, where Pillow 13 resamples the columns first.
public enum Resample {
    static let precisionBits = 22

    /// Fixed-point taps for one axis: output `i` reads `count[i]` inputs from `start[i]`.
    struct Taps {
        let kernelSize: Int
        var start: [Int]
        let count: [Int]
        let weights: [Int32]  // (out, kernelSize)
    }

    static func taps(inSize: Int, in0: Double, in1: Double, outSize: Int, filter: ResampleFilter) -> Taps {
        let scale = (in1 - in0) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize), count = start
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        let invScale = 1 / filterScale
        let one = Double(1 << precisionBits)
        for i in 0..<outSize {
            let center = in0 + (Double(i) + 0.5) * scale
            // C's (int) cast truncates toward zero; a negative start is clamped to 0 anyway.
            let xmin = max(0, Int(center - support + 0.5))
            let xmax = min(inSize, Int(center + support + 0.5)) - xmin
            var sum = 0.0
            for x in 0..<max(0, xmax) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * invScale)
                k[x] = w
                sum += w
            }
            for x in 0..<max(0, xmax) {
                let w = sum != 0 ? k[x] / sum : k[x]
                weights[i * ksize + x] = Int32(w < 0 ? (-0.5 + w * one) : (0.5 + w * one))
            }
            start[i] = xmin
            count[i] = max(0, xmax)
        }
        return Taps(kernelSize: ksize, start: start, count: count, weights: weights)
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> Int32(precisionBits)
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// Resizes `image` to `width` x `height`, reading the source rectangle `box`
    /// (x0, y0, x1, y1 in input pixels; the whole image by default).
    public static func resize(
        _ image: RGBImage, width: Int, height: Int, filter: ResampleFilter,
        box: (Double, Double, Double, Double)? = nil
    ) -> RGBImage {
        precondition(width > 0 && height > 0, "Resample.resize: output size must be positive, got \(width)x\(height)")
        let b = box ?? (0, 0, Double(image.width), Double(image.height))
        if width == image.width && height == image.height && box == nil { return image }
        let needH = width != image.width || b.0 != 0 || b.2 != Double(width)
        let needV = height != image.height || b.1 != 0 || b.3 != Double(height)
        var vTaps = taps(inSize: image.height, in0: b.1, in1: b.3, outSize: height, filter: filter)
        let hTaps = needH ? taps(inSize: image.width, in0: b.0, in1: b.2, outSize: width, filter: filter) : nil
        // Pillow 13 runs the vertical pass first when it shrinks rows while the horizontal pass
        // enlarges them (observed on its output: both orders are checked by the fixtures). With a
        // box, "enlarge" and "shrink" compare against the box extent.
        if let hTaps, needV && Double(width) > b.2 - b.0 && Double(height) < b.3 - b.1 {
            let v = vertical(image, taps: vTaps, outHeight: height)
            return horizontal(v, rows: 0..<height, taps: hTaps, outWidth: width)
        }
        var current = image
        if let hTaps {
            // Only rows [firstRow, lastRow) are read by the vertical pass.
            let firstRow = vTaps.start[0]
            let lastRow = vTaps.start[height - 1] + vTaps.count[height - 1]
            for i in 0..<height { vTaps.start[i] -= firstRow }
            current = horizontal(image, rows: firstRow..<lastRow, taps: hTaps, outWidth: width)
        }
        if needV {
            current = vertical(current, taps: vTaps, outHeight: height)
        }
        return current
    }

    // Accumulators are Int32 as in Pillow: |sum| <= 255 * sum|w| * 2^22 < 2^31 for these kernels
    // (sum|w| is below 1.3 for bicubic and Lanczos-3).

    static func horizontal(_ src: RGBImage, rows: Range<Int>, taps: Taps, outWidth: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: outWidth * rows.count * 3)
        let half = Int32(1 << (precisionBits - 1))
        src.pixels.withUnsafeBufferPointer { inp in
        taps.weights.withUnsafeBufferPointer { w in
        taps.start.withUnsafeBufferPointer { start in
        taps.count.withUnsafeBufferPointer { count in
            out.withUnsafeMutableBufferPointer { o in
                for (ry, y) in rows.enumerated() {
                    let row = inp.baseAddress! + y * src.width * 3
                    let orow = o.baseAddress! + ry * outWidth * 3
                    for x in 0..<outWidth {
                        let k = w.baseAddress! + x * taps.kernelSize
                        var s0 = half, s1 = half, s2 = half
                        let p = row + start[x] * 3
                        for t in 0..<count[x] {
                            let c = k[t]
                            s0 &+= Int32(p[3 * t]) &* c; s1 &+= Int32(p[3 * t + 1]) &* c; s2 &+= Int32(p[3 * t + 2]) &* c
                        }
                        orow[3 * x] = clip8(s0); orow[3 * x + 1] = clip8(s1); orow[3 * x + 2] = clip8(s2)
                    }
                }
            }
        }
        }
        }
        }
        return RGBImage(width: outWidth, height: rows.count, pixels: out)
    }

    static func vertical(_ src: RGBImage, taps: Taps, outHeight: Int) -> RGBImage {
        let rowLen = src.width * 3
        var out = [UInt8](repeating: 0, count: rowLen * outHeight)
        let half = Int32(1 << (precisionBits - 1))
        var acc = [Int32](repeating: 0, count: rowLen)
        src.pixels.withUnsafeBufferPointer { inp in
            taps.weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    acc.withUnsafeMutableBufferPointer { a in
                        for y in 0..<outHeight {
                            let k = w.baseAddress! + y * taps.kernelSize
                            a.update(repeating: half)
                            for t in 0..<taps.count[y] {
                                let c = k[t]
                                let row = inp.baseAddress! + (taps.start[y] + t) * rowLen
                                for i in 0..<rowLen { a[i] &+= Int32(row[i]) &* c }
                            }
                            let orow = o.baseAddress! + y * rowLen
                            for i in 0..<rowLen { orow[i] = clip8(a[i]) }
                        }
                    }
                }
            }
        }
        return RGBImage(width: src.width, height: outHeight, pixels: out)
    }
}
