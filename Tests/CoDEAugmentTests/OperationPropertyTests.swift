import CoDEAugment
import CoDECore
import CoDEImage
import Testing

/// Test double for the JPEG slot (the libjpeg-turbo conformance lives in CoDEImage and gets its
/// own test at merge): a lossy, deterministic stand-in that replaces each 8x8 block by a blend of
/// the block mean and the pixels, weighted by quality (quality 100 keeps the image).
struct BlockMeanCodec: JPEGCodec {
    func roundTrip(_ image: RGBImage, quality: Int) throws -> RGBImage {
        var out = image.pixels
        let keep = Double(quality) / 100
        for by in stride(from: 0, to: image.height, by: 8) {
            for bx in stride(from: 0, to: image.width, by: 8) {
                for c in 0..<3 {
                    var sum = 0, n = 0
                    for y in by..<min(by + 8, image.height) { for x in bx..<min(bx + 8, image.width) { sum += Int(image.pixels[(y * image.width + x) * 3 + c]); n += 1 } }
                    let mean = Double(sum) / Double(n)
                    for y in by..<min(by + 8, image.height) {
                        for x in bx..<min(bx + 8, image.width) {
                            let i = (y * image.width + x) * 3 + c
                            out[i] = UInt8((keep * Double(image.pixels[i]) + (1 - keep) * mean).rounded())
                        }
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }
}

/// A codec that fails, to check errors propagate with their message.
struct FailingCodec: JPEGCodec {
    struct Failure: Error, CustomStringConvertible { var description: String { "encoder exploded" } }
    func roundTrip(_ image: RGBImage, quality: Int) throws -> RGBImage { throw Failure() }
}

/// A codec that returns the wrong size.
struct CroppingCodec: JPEGCodec {
    func roundTrip(_ image: RGBImage, quality: Int) throws -> RGBImage { Geometry.crop(image, left: 0, top: 0, width: 1, height: 1) }
}

@Suite struct OperationPropertyTests {
    let image = randomImage(width: 37, height: 29, seed: 5)

    @Test func neutralParametersAreIdentity() throws {
        // Enhance factor 1 blends to the original exactly (a + 1 * (b - a) = b in Float).
        let identities: [any AugmentationOp] = [
            BrightnessOp(factor: 1), ContrastOp(factor: 1), SaturationOp(factor: 1), SharpnessOp(factor: 1),
            OpacityOp(level: 1), OverlayStripesOp(lineWidth: 0), PadOp(widthFactor: 0, heightFactor: 0),
            ScaleOp(factor: 1), PixelizationOp(ratio: 1), SkewOp(factor: 0), RotationOp(degrees: 0), BlurOp(radius: 0),
            PixelShuffleOp(factor: 0, seed: 1), ResizeOp(width: 37, height: 29), AspectRatioOp(ratio: 37.0 / 29.0),
            RandomCropOp(size: 29, u: 0, v: 0.99),
        ]
        for op in identities.dropLast() { #expect(try op.apply(image) == image, "\(op.description)") }
        // A full-height crop of a 37-wide image is a window, equal to the source columns it covers.
        let crop = try identities.last!.apply(image)
        #expect(crop == Geometry.crop(image, left: 8, top: 0, width: 29, height: 29))
        #expect(try JPEGOp(quality: 100, codec: BlockMeanCodec()).apply(image) == image)
        // Two flips and four quarter turns are the identity.
        #expect(HorizontalFlipOp().apply(HorizontalFlipOp().apply(image)) == image)
        #expect(Geometry.rotateQuarter(Geometry.rotateQuarter(image, turns: 1), turns: 3) == image)
    }

    @Test func outputShapes() throws {
        #expect(PadOp(widthFactor: 0.1, heightFactor: 0.25).apply(image).width == 37 + 2 * 3)
        #expect(PadOp(widthFactor: 0.1, heightFactor: 0.25).apply(image).height == 29 + 2 * 7)
        let ar = AspectRatioOp(ratio: 2).apply(image)
        #expect(ar.width == Int((2.0 * 37 * 29).squareRoot()) && ar.height == 37 * 29 / ar.width)
        #expect(ScaleOp(factor: 0.5).apply(image).width == 18)
        #expect(RandomCropOp(size: 64, u: 0.5, v: 0.5).apply(image).width == 64)
        let rot = RotationOp(degrees: 30).apply(image)
        #expect(rot.width < 37 && rot.height < 29 && rot.width > 0 && rot.height > 0)
        for op: any AugmentationOp in [BlurOp(radius: 1.5), SkewOp(factor: 0.7), PixelShuffleOp(factor: 0.3, seed: 3), GrayscaleOp()] {
            let out = try op.apply(image)
            #expect(out.width == 37 && out.height == 29, "\(op.description)")
        }
    }

    @Test func grayscaleHasEqualChannels() {
        let g = GrayscaleOp().apply(image)
        for i in 0..<(37 * 29) { #expect(g.pixels[3 * i] == g.pixels[3 * i + 1] && g.pixels[3 * i] == g.pixels[3 * i + 2]) }
        // Saturation 0 is the grayscale image (blend weight 0 keeps the degenerate image).
        #expect(SaturationOp(factor: 0).apply(image) == g)
    }

    @Test func pixelShuffleIsASeededPartialPermutation() {
        let op = PixelShuffleOp(factor: 0.35, seed: 42)
        let out = op.apply(image)
        #expect(out == op.apply(image))
        #expect(out != PixelShuffleOp(factor: 0.35, seed: 43).apply(image))
        func pixels(_ im: RGBImage) -> [[UInt8]] { (0..<(im.width * im.height)).map { Array(im.pixels[(3 * $0)..<(3 * $0 + 3)]) } }
        let a = pixels(image), b = pixels(out)
        // Same multiset of pixels, and at most Int(0.35 N) of them moved.
        #expect(a.sorted { $0.lexicographicallyPrecedes($1) } == b.sorted { $0.lexicographicallyPrecedes($1) })
        let moved = zip(a, b).filter { $0 != $1 }.count
        #expect(moved <= Int(0.35 * Double(37 * 29)) && moved > 0)
    }

    @Test func jpegOpUsesTheCodecAndReportsErrors() throws {
        let q40 = try JPEGOp(quality: 40, codec: BlockMeanCodec()).apply(image)
        #expect(q40 == (try BlockMeanCodec().roundTrip(image, quality: 40)))
        #expect(q40 != image)
        #expect(throws: FailingCodec.Failure.self) { try JPEGOp(quality: 50, codec: FailingCodec()).apply(image) }
        do {
            _ = try JPEGOp(quality: 50, codec: CroppingCodec()).apply(image)
            Issue.record("a codec that changes the size must be rejected")
        } catch let e as AugmentationError {
            #expect(e == .codecChangedSize(expected: "37x29", found: "1x1"))
            #expect(e.description.contains("37x29"))
        }
    }

    @Test func blurFlattensAndStaysInRange() {
        // A constant image is a fixed point of every blur (weights sum to one in 8.24 fixed point,
        // up to the rounding of ww and fw: within 1 level).
        let flat = RGBImage(width: 20, height: 9, pixels: [UInt8](repeating: 200, count: 20 * 9 * 3))
        for r in [0.3, 1.0, 2.0, 9.0] {
            let out = FilterOps.gaussianBlur(flat, radius: r)
            #expect(out.pixels.allSatisfy { abs(Int($0) - 200) <= 1 }, "radius \(r)")
        }
        // Blurring reduces variation: the sum of absolute neighbour differences drops.
        func roughness(_ im: RGBImage) -> Int { (3..<im.pixels.count).reduce(0) { $0 + abs(Int(im.pixels[$1]) - Int(im.pixels[$1 - 3])) } }
        #expect(roughness(FilterOps.gaussianBlur(image, radius: 2)) < roughness(image) / 2)
    }
}
