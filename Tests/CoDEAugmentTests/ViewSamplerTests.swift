import CoDEAugment
import CoDECore
import CoDEImage
import Testing

@Suite(.serialized) struct ViewSamplerTests {
    static let size = 32

    func pairs(_ n: Int) -> [(real: RGBImage, fake: RGBImage)] {
        (0..<n).map { i in (real: randomImage(width: 64 + 3 * i, height: 48, seed: UInt64(i)),
                            fake: randomImage(width: 50, height: 50 + i, seed: UInt64(100 + i))) }
    }

    func sampler() throws -> ViewSampler {
        try ViewSampler(size: Self.size, augmentation: try HeavyAugmentation(jpegCodec: BlockMeanCodec()))
    }

    @Test func eightGroupsOfNormalisedTensors() throws {
        var rng = Xoshiro256(seed: 4)
        let batch = try sampler().sample(pairs(3), using: &rng)
        #expect(batch.groups.count == 8 && batch.batchSize == 3)
        let s = Self.size
        for g in batch.groups {
            #expect(g.count == 3 * 3 * s * s)
            // Normalised 8-bit values lie in [(0 - mean) / std, (1 - mean) / std] per channel.
            let a = g.array()
            #expect(a.allSatisfy { $0 >= -2.12 && $0 <= 2.65 && $0.isFinite })
        }
    }

    @Test func anchorsAreTheDeterministicFinalTransform() throws {
        let ps = pairs(2)
        var rng = Xoshiro256(seed: 8)
        let batch = try sampler().sample(ps, using: &rng)
        let stride = batch.imageStride
        for (i, p) in ps.enumerated() {
            let real = ImageNetNormalization.normalized(FinalTransform.resizeCenterCrop(cropPct: 0.9).apply(p.real, size: Self.size))
            let fake = ImageNetNormalization.normalized(FinalTransform.resizeCenterCrop(cropPct: 0.9).apply(p.fake, size: Self.size))
            #expect(batch[.real].array((i * stride)..<((i + 1) * stride)) == real)
            #expect(batch[.fake].array((i * stride)..<((i + 1) * stride)) == fake)
        }
    }

    /// `.centerCrop` anchors are exactly the inference preprocessing: the same floats
    /// `Preprocess.inferenceTensor` feeds the encoder at test time (no resize), and a side under
    /// the size is zero-padded rather than resized.
    @Test func centerCropAnchorsAreTheInferencePreprocessing() throws {
        let ps = pairs(2)
        let s = try ViewSampler(size: Self.size, augmentation: try HeavyAugmentation(jpegCodec: BlockMeanCodec()), final: .centerCrop)
        var rng = Xoshiro256(seed: 8)
        let batch = try s.sample(ps, using: &rng)
        let stride = batch.imageStride
        for (i, p) in ps.enumerated() {
            for (group, img) in [(CoDEViewBatch.Group.real, p.real), (.fake, p.fake)] {
                var inference = [Float](repeating: .nan, count: stride)
                inference.withUnsafeMutableBufferPointer { Preprocess.inferenceTensor(img, size: Self.size, into: $0.baseAddress!) }
                #expect(batch[group].array((i * stride)..<((i + 1) * stride)) == inference)
            }
        }
        let small = randomImage(width: 20, height: 40, seed: 9)
        let v = FinalTransform.centerCrop.apply(small, size: Self.size)
        #expect(v.width == Self.size && v.height == Self.size && v == Preprocess.centerCrop(small, size: Self.size))
    }

    @Test func viewsComposeCropThenHeavyThenFinal() throws {
        // The documented order (authors' MassiveTransform.forward): crop, augmentation ops, final.
        let s = try sampler(), img = randomImage(width: 70, height: 52, seed: 3)
        for (group, crop) in [(CoDEViewBatch.Group.localFake, s.localCrop), (.globalReal, s.globalCrop)] {
            var r1 = Xoshiro256(seed: 5), r2 = Xoshiro256(seed: 5)
            let view = try s.view(img, group: group, using: &r1)
            var x = crop(img, using: &r2)
            x = try s.augmentation.apply(x, using: &r2)
            #expect(view == s.final.apply(x, size: Self.size))
        }
        var r3 = Xoshiro256(seed: 6), r4 = Xoshiro256(seed: 6)
        let aug = try s.view(img, group: .augReal, using: &r3)
        #expect(aug == s.final.apply(try s.augmentation.apply(img, using: &r4), size: Self.size))
    }

    @Test func resultDoesNotDependOnThreadCount() throws {
        let ps = pairs(4), s = try sampler()
        var outputs: [[[Float]]] = []
        for threads in [1, 2, 3] {
            // Task-local: the process-wide count that suites running in parallel use is untouched.
            try Threading.withCount(threads) {
                #expect(Threading.count == threads)
                var rng = Xoshiro256(seed: 21)
                let b = try s.sample(ps, using: &rng)
                outputs.append(b.groups.map { $0.array() })
            }
        }
        #expect(outputs[0] == outputs[1] && outputs[0] == outputs[2])
    }

    @Test func chunkedSamplingEqualsWholeBatch() throws {
        let ps = pairs(4), s = try sampler(), base = Xoshiro256(seed: 77)
        let whole = try s.sample(ps, base: base)
        let first = try s.sample(Array(ps[0..<2]), base: base, firstIndex: 0)
        let second = try s.sample(Array(ps[2..<4]), base: base, firstIndex: 2)
        for g in CoDEViewBatch.Group.allCases {
            #expect(whole[g].array() == first[g].array() + second[g].array(), "\(g)")
        }
    }

    @Test func successiveCallsDrawNewViews() throws {
        let ps = pairs(2), s = try sampler()
        var rng = Xoshiro256(seed: 2)
        let a = try s.sample(ps, using: &rng), b = try s.sample(ps, using: &rng)
        #expect(a[.real].array() == b[.real].array())  // anchors are deterministic
        #expect(a[.localReal].array() != b[.localReal].array())
        #expect(a[.globalFake].array() != b[.globalFake].array())
    }

    @Test func badInputThrows() throws {
        var rng = Xoshiro256(seed: 1)
        #expect(throws: AugmentationError.emptyBatch) { try sampler().sample([], using: &rng) }
        var small = try sampler()
        small.maxPixels = 1000
        do {
            _ = try small.sample(pairs(2), using: &rng)
            Issue.record("oversized image accepted")
        } catch let e as AugmentationError {
            #expect(e == .imageTooLarge(item: "pair 0 real", width: 64, height: 48, maxPixels: 1000))
        }
        #expect(throws: AugmentationError.self) {
            try ViewSampler(size: 32, augmentation: try HeavyAugmentation(jpegCodec: BlockMeanCodec()), globalScale: 0...1)
        }
        // A codec failure inside a worker surfaces as the caller's error.
        let failing = try ViewSampler(size: 16, augmentation: try HeavyAugmentation(kinds: [.jpeg], maxOps: 1, jpegCodec: FailingCodec()))
        var threw = false
        for seed in 0..<10 as Range<UInt64> {
            var r = Xoshiro256(seed: seed)
            do { _ = try failing.sample(pairs(2), using: &r) } catch is FailingCodec.Failure { threw = true }
        }
        #expect(threw)
    }
}
