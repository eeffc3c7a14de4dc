import CoDEAugment
import CoDECore
import CoDEImage
import Testing

@Suite(.serialized) struct PipelineTests {
    let image = randomImage(width: 48, height: 36, seed: 9)

    @Test func samplingFollowsTheAuthorsScheme() throws {
        let heavy = try HeavyAugmentation(maxOps: 2, jpegCodec: BlockMeanCodec())
        var rng = Xoshiro256(seed: 1)
        var counts = [0, 0, 0]
        var kindsSeen = Set<String>()
        for _ in 0..<3000 {
            let ops = heavy.sampleOps(using: &rng)
            counts[ops.count] += 1
            // Distinct operations, applied in the authors' list order.
            let names = ops.map { String($0.description.prefix { $0 != "(" }) }
            #expect(Set(names).count == names.count)
            kindsSeen.formUnion(names)
        }
        // n ~ U{0, 1, 2}: each count within 5 standard deviations of 1000 (sd = sqrt(3000 p q) = 25.8).
        for c in counts { #expect(abs(c - 1000) < 130, "\(counts)") }
        #expect(kindsSeen.count == AugmentationKind.allCases.count, "\(kindsSeen.sorted())")
    }

    @Test func gridParametersUseTheAuthorsValues() throws {
        let heavy = try HeavyAugmentation(jpegCodec: BlockMeanCodec())
        var rng = Xoshiro256(seed: 3)
        var qualities = Set<Int>(), sizes = Set<Int>()
        for _ in 0..<400 {
            if let j = heavy.sampleOp(.jpeg, using: &rng) as? JPEGOp { qualities.insert(j.quality) }
            if let r = heavy.sampleOp(.resize, using: &rng) as? ResizeOp { sizes.insert(r.width) }
        }
        // linspace(40, 100, 5) and linspace(64, 512, 5) from the authors' arguments (step 5).
        #expect(qualities == [40, 55, 70, 85, 100])
        #expect(sizes == [64, 176, 288, 400, 512])
    }

    @Test func sameSeedSameResultDifferentSeedDifferentResult() throws {
        let heavy = try HeavyAugmentation(maxOps: 3, jpegCodec: BlockMeanCodec())
        var differ = 0
        for s: UInt64 in 0..<20 {
            var r1 = Xoshiro256(seed: s), r2 = Xoshiro256(seed: s), r3 = Xoshiro256(seed: s + 1000)
            let a = try heavy.apply(image, using: &r1), b = try heavy.apply(image, using: &r2)
            #expect(a == b)
            if try heavy.apply(image, using: &r3) != a { differ += 1 }
        }
        #expect(differ >= 15)  // a few draws pick 0 ops for both seeds
    }

    @Test func finalTransformGivesTheNetworkSize() {
        for (w, h) in [(48, 36), (10, 300), (300, 10), (5, 5)] {
            let img = randomImage(width: w, height: h, seed: UInt64(w * h))
            for f in [FinalTransform.resizeCenterCrop(cropPct: 0.9), .squareResize] {
                let out = f.apply(img, size: 24)
                #expect(out.width == 24 && out.height == 24)
            }
        }
        // Extreme aspect ratios take the windowed path: equal to resize-then-crop within 1 level
        // (the window's pixel centres are the same points up to Double rounding of the box).
        for (w, h) in [(3, 400), (900, 2), (7, 301)] {
            let img = randomImage(width: w, height: h, seed: UInt64(w + h))
            let direct = TorchvisionGeometry.centerCrop(TorchvisionGeometry.resizeShorterSide(img, to: 26), size: 24)
            let d = ImageDiff(FinalTransform.resizeCenterCrop(cropPct: 0.9).apply(img, size: 24), direct)
            #expect(d.sameSize && d.maxAbs <= 1, "\(w)x\(h): \(d)")
        }
        // 224 / 0.9 = 248.9: the shorter side goes to 248 before the 224 crop (authors' setting).
        let big = randomImage(width: 320, height: 250, seed: 1)
        let expected = TorchvisionGeometry.centerCrop(TorchvisionGeometry.resizeShorterSide(big, to: 248), size: 224)
        #expect(FinalTransform.resizeCenterCrop(cropPct: 0.9).apply(big, size: 224) == expected)
    }

    @Test func invalidConfigurationsThrowSpecificErrors() throws {
        #expect(throws: AugmentationError.missingJPEGCodec) { try HeavyAugmentation(jpegCodec: nil) }
        #expect(throws: AugmentationError.self) { try HeavyAugmentation(maxOps: 20, jpegCodec: BlockMeanCodec()) }
        var p = AugmentationParameters()
        p.jpegQuality = 0...100
        do {
            _ = try HeavyAugmentation(parameters: p, jpegCodec: BlockMeanCodec())
            Issue.record("quality 0 accepted")
        } catch {
            #expect("\(error)".contains("jpegQuality"))
        }
        // Ranges that would blow up the intermediate image size are refused by name.
        for (name, edit) in [("pixelization", { (q: inout AugmentationParameters) in q.pixelization = 0.3...100 }),
                             ("aspectRatio", { (q: inout AugmentationParameters) in q.aspectRatio = 0.75...1000 }),
                             ("scale", { (q: inout AugmentationParameters) in q.scale = 0.5...50 })] {
            var q = AugmentationParameters()
            edit(&q)
            do {
                try q.validate()
                Issue.record("\(name) accepted")
            } catch let AugmentationError.invalidParameter(n, reason) {
                #expect(n == name && !reason.isEmpty)
            }
        }
        // Without the JPEG kind no codec is needed.
        let kinds = AugmentationKind.allCases.filter { $0 != .jpeg }
        #expect(throws: Never.self) { try HeavyAugmentation(kinds: kinds, jpegCodec: nil) }
    }
}
