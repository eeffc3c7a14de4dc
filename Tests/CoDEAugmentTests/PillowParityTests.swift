import CoDEAugment
import CoDEImage
import Testing

/// Each operation against the Pillow / torchvision output for the same input and parameters
/// (Tests/Fixtures/make_augment_fixtures.py). The integer pipelines of Pillow (fixed-point
/// resampling, box blur, blend and composite) are reproduced operation for operation, so the
/// expected difference is zero; where a comparison allows more, its comment says why.
@Suite struct PillowParityTests {
    func expectExact(_ actual: RGBImage, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let d = ImageDiff(actual, try Reference.image(name))
        #expect(d.sameSize && d.maxAbs == 0, "\(name): \(d)", sourceLocation: sourceLocation)
    }

    @Test func resizeMatchesPillow() throws {
        let a = try Reference.image("input/A")
        let cases: [(String, Int, Int, ResampleFilter)] = [
            ("bicubic_down", 20, 15, .bicubic), ("bicubic_up", 70, 52, .bicubic),
            ("bilinear_down", 20, 15, .bilinear), ("bilinear_up", 70, 52, .bilinear),
            ("lanczos_down", 20, 15, .lanczos), ("bicubic_mixed", 60, 20, .bicubic),
            ("bicubic_vertical", 45, 20, .bicubic), ("bicubic_strong_down", 7, 5, .bicubic),
            ("bicubic_wide_short", 300, 33, .bicubic), ("bilinear_wide_short", 90, 20, .bilinear),
            ("bicubic_narrow_tall", 20, 50, .bicubic), ("bicubic_30x10", 30, 10, .bicubic),
        ]
        for (name, w, h, f) in cases {
            try expectExact(Resample.resize(a, width: w, height: h, filter: f), "resize/\(name)")
        }
        let b = try Reference.image("input/B")
        try expectExact(Resample.resize(b, width: 248, height: 191, filter: .bicubic), "resize/B_bicubic_248")
    }

    @Test func enhanceMatchesPillow() throws {
        for img in ["A", "B"] {
            let x = try Reference.image("input/\(img)")
            for f in [0.7, 1.6] { try expectExact(BrightnessOp(factor: f).apply(x), "brightness/\(img)_\(f)") }
            for f in [0.5, 1.5] {
                try expectExact(ContrastOp(factor: f).apply(x), "contrast/\(img)_\(f)")
                try expectExact(SaturationOp(factor: f).apply(x), "saturation/\(img)_\(f)")
            }
            for f in [1.6, 2.0] { try expectExact(SharpnessOp(factor: f).apply(x), "sharpness/\(img)_\(f)") }
        }
    }

    @Test func gaussianBlurMatchesPillow() throws {
        for img in ["A", "B"] {
            let x = try Reference.image("input/\(img)")
            for r in [0.7, 1.9] { try expectExact(BlurOp(radius: r).apply(x), "blur/\(img)_\(r)") }
        }
        try expectExact(BlurOp(radius: 6.0).apply(try Reference.image("input/A")), "blur/A_6.0")
        let tiny = try Reference.image("input/tiny")
        try expectExact(BlurOp(radius: 8.0).apply(tiny), "blur/tiny_8.0")
        // Pillow leaves an image smaller than the 3x3 kernel unfiltered.
        try expectExact(FilterOps.smooth(Geometry.crop(tiny, left: 0, top: 0, width: 2, height: 2)), "sharpness/tiny2x2_2.0")
    }

    @Test func grayscaleAndFlipMatchPillow() throws {
        let a = try Reference.image("input/A")
        try expectExact(GrayscaleOp().apply(a), "grayscale/A")
        try expectExact(HorizontalFlipOp().apply(a), "hflip/A")
    }

    @Test func rotationMatchesPillow() throws {
        for (img, deg) in [("B", 100.3), ("A", 237.5), ("B", 181.0)] {
            let x = try Reference.image("input/\(img)")
            try expectExact(RotationOp.rotateExpand(x, degrees: deg), "rotate_expand/\(img)_\(deg)")
            try expectExact(RotationOp(degrees: deg).apply(x), "rotate/\(img)_\(deg)")
        }
    }

    @Test func auglyWrappersMatchReference() throws {
        let a = try Reference.image("input/A"), b = try Reference.image("input/B")
        try expectExact(OpacityOp(level: 0.6).apply(a), "opacity/A_0.6")
        try expectExact(OverlayStripesOp(lineWidth: 0.2).apply(a), "stripes/A_0.2")
        try expectExact(OverlayStripesOp(lineWidth: 0.35).apply(b), "stripes/B_0.35")
        try expectExact(PadOp(widthFactor: 0.1, heightFactor: 0.1).apply(a), "pad/A_0.1")
        try expectExact(AspectRatioOp(ratio: 1.4).apply(a), "aspect/A_1.4")
        try expectExact(AspectRatioOp(ratio: 0.8).apply(a), "aspect/A_0.8")
        try expectExact(PixelizationOp(ratio: 0.45).apply(a), "pixelization/A_0.45")
        try expectExact(ScaleOp(factor: 0.7).apply(a), "scale/A_0.7")
        try expectExact(ScaleOp(factor: 1.3).apply(a), "scale/A_1.3")
        try expectExact(SkewOp(factor: 0.5).apply(a), "skew/A_0.5")
        try expectExact(SkewOp(factor: -1.0).apply(b), "skew/B_-1.0")
        try expectExact(ResizeOp(width: 64, height: 64).apply(a), "resize_op/A_64")
    }

    @Test func torchvisionTransformsMatch() throws {
        let a = try Reference.image("input/A"), b = try Reference.image("input/B")
        try expectExact(RandomCropOp(size: 50, u: 0.3, v: 0.7).apply(a), "random_crop/A_50_0.3_0.7")
        try expectExact(RandomCropOp(size: 40, u: 0.9, v: 0.1).apply(b), "random_crop/B_40_0.9_0.1")
        try expectExact(TorchvisionGeometry.centerCrop(TorchvisionGeometry.resizeShorterSide(a, to: 40), size: 36),
                        "final/A_resize40_center36")
        try expectExact(TorchvisionGeometry.centerCrop(TorchvisionGeometry.resizeShorterSide(b, to: 55), size: 49),
                        "final/B_resize55_center49")
        try expectExact(TorchvisionGeometry.centerCrop(a, size: 50), "final/A_center50")
        try expectExact(FinalTransform.squareResize.apply(a, size: 24), "final/A_square24")
        try expectExact(RandomResizedCrop.apply(a, box: CropBox(top: 3, left: 5, height: 20, width: 31), size: 24),
                        "resized_crop/A_3_5_20_31_24")
    }

    @Test func largerImageMatches() throws {
        let c = try Reference.image("input/C")
        try expectExact(FinalTransform.resizeCenterCrop(cropPct: 0.9).apply(c, size: 112), "C/final_resize124_center112")
        try expectExact(RandomResizedCrop.apply(c, box: CropBox(top: 17, left: 40, height: 96, width: 131), size: 112),
                        "C/resized_crop_17_40_96_131_112")
        try expectExact(BlurOp(radius: 1.3).apply(c), "C/blur_1.3")
        try expectExact(SharpnessOp(factor: 1.8).apply(c), "C/sharpness_1.8")
        try expectExact(SkewOp(factor: 0.5).apply(c), "C/skew_0.5")
        try expectExact(RotationOp(degrees: 143).apply(c), "C/rotate_143.0")
        try expectExact(PixelizationOp(ratio: 0.3).apply(c), "C/pixelization_0.3")
        try expectExact(ScaleOp(factor: 0.5).apply(c), "C/scale_0.5")
    }
}
