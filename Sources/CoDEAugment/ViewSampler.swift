import CoDECore
import CoDEImage
import Foundation

/// The eight groups of one CoDE training step, each a planar ImageNet-normalised tensor
/// `[B, 3, S, S]` (image-major, then channel, row, column).
public struct CoDEViewBatch: @unchecked Sendable {
    /// Group order, also the index into ``groups``.
    public enum Group: Int, CaseIterable, Sendable {
        case real, fake, augReal, augFake, globalReal, localReal, globalFake, localFake
    }
    public let batchSize: Int
    public let size: Int
    /// One buffer per ``Group``, each `batchSize * 3 * size * size` floats.
    public let groups: [FloatBuffer]

    public subscript(_ g: Group) -> FloatBuffer { groups[g.rawValue] }

    /// Floats per image: `3 * size * size`.
    public var imageStride: Int { 3 * size * size }
}

/// Builds the eight view groups of SPEC section 3 from decoded (real, fake) pairs.
///
/// For pair `i`:
/// - `real`, `fake`: the un-augmented anchors, ``FinalTransform`` only (the authors call their
///   transform with `transform=False`, which keeps the final resize and centre crop);
/// - `augReal`, `augFake`: heavy augmentation, then the final transform;
/// - `globalReal/Fake`: `RandomResizedCrop(S, scale: globalScale)`, then heavy augmentation
///   (as the authors' `dino='global'` call), then the final transform;
/// - `localReal/Fake`: the same with `localScale`.
///
/// View `t` of pair `i` draws from `base.fork(8 i + t)`, where `base` is forked from the caller's
/// generator, so the result does not depend on `Threading.count`; the caller's generator is
/// advanced by one step per call. Memory: `8 * B * 3 * S * S` floats (4.8 MB per pair at 224).
public struct ViewSampler: Sendable {
    public let size: Int
    public var augmentation: HeavyAugmentation
    public var final: FinalTransform
    public var globalCrop: RandomResizedCrop
    public var localCrop: RandomResizedCrop
    /// Whether the multi-scale crops also get heavy augmentation (the authors: yes).
    public var augmentCrops: Bool
    /// Inputs above this many pixels (default 4096 x 4096) are rejected: with the parameter bounds
    /// of ``AugmentationParameters/validate()`` this bounds the memory of every view.
    public var maxPixels: Int

    public init(size: Int = 224, augmentation: HeavyAugmentation, final: FinalTransform = .resizeCenterCrop(cropPct: 0.9),
                globalScale: ClosedRange<Double> = 0.4...1, localScale: ClosedRange<Double> = 0.05...0.4,
                augmentCrops: Bool = true, maxPixels: Int = 16_777_216) throws {
        guard size > 0 else { throw AugmentationError.invalidParameter(name: "size", reason: "must be positive, got \(size)") }
        for (name, r) in [("globalScale", globalScale), ("localScale", localScale)] where r.lowerBound <= 0 || r.upperBound > 1 {
            throw AugmentationError.invalidParameter(name: name, reason: "must lie in (0, 1], got \(r)")
        }
        if case let .resizeCenterCrop(p) = final, !(p > 0 && p <= 1) {
            throw AugmentationError.invalidParameter(name: "cropPct", reason: "must lie in (0, 1], got \(p)")
        }
        self.size = size
        self.augmentation = augmentation
        self.final = final
        self.globalCrop = RandomResizedCrop(size: size, scale: globalScale)
        self.localCrop = RandomResizedCrop(size: size, scale: localScale)
        self.augmentCrops = augmentCrops
        self.maxPixels = maxPixels
    }

    /// One view of an image (`group` selects which), before normalisation.
    public func view(_ image: RGBImage, group: CoDEViewBatch.Group, using rng: inout Xoshiro256) throws -> RGBImage {
        var img = image
        switch group {
        case .real, .fake:
            break
        case .augReal, .augFake:
            img = try augmentation.apply(img, using: &rng)
        case .globalReal, .globalFake, .localReal, .localFake:
            let crop = (group == .globalReal || group == .globalFake) ? globalCrop : localCrop
            img = crop(img, using: &rng)
            if augmentCrops { img = try augmentation.apply(img, using: &rng) }
        }
        return final.apply(img, size: size)
    }

    /// The eight groups for `pairs`, in parallel over (pair, group) on `Threading.count` threads.
    /// Forks a base generator from `rng` and advances `rng` by one step.
    public func sample(_ pairs: [(real: RGBImage, fake: RGBImage)], using rng: inout Xoshiro256) throws -> CoDEViewBatch {
        let base = rng.fork(0xC0DE)
        _ = rng.next()
        return try sample(pairs, base: base)
    }

    /// The eight groups for `pairs`, which are pairs `firstIndex ..< firstIndex + pairs.count` of a
    /// larger batch: view `t` of pair `i` draws from `base.fork(8 (firstIndex + i) + t)`. Sampling a
    /// batch in chunks therefore gives the same tensors as sampling it whole, so a trainer can
    /// regenerate one micro-batch's views (gradient caching) instead of storing the logical batch.
    public func sample(_ pairs: [(real: RGBImage, fake: RGBImage)], base: Xoshiro256, firstIndex: Int = 0) throws -> CoDEViewBatch {
        guard !pairs.isEmpty else { throw AugmentationError.emptyBatch }
        guard firstIndex >= 0 else { throw AugmentationError.invalidParameter(name: "firstIndex", reason: "must be >= 0, got \(firstIndex)") }
        for (i, p) in pairs.enumerated() {
            for (name, img) in [("real", p.real), ("fake", p.fake)] where img.width * img.height > maxPixels {
                throw AugmentationError.imageTooLarge(item: "pair \(firstIndex + i) \(name)", width: img.width, height: img.height, maxPixels: maxPixels)
            }
        }
        let b = pairs.count, stride = 3 * size * size
        let groups = CoDEViewBatch.Group.allCases.map { _ in FloatBuffer(count: b * stride) }
        let groupCount = CoDEViewBatch.Group.allCases.count
        let errors = ErrorSlots(count: b * groupCount)
        Threading.parallelFor(b * groupCount) { task in
            let i = task / groupCount, g = CoDEViewBatch.Group(rawValue: task % groupCount)!
            var local = base.fork(UInt64(firstIndex * groupCount + task))
            let source = (g == .real || g == .augReal || g == .globalReal || g == .localReal) ? pairs[i].real : pairs[i].fake
            do {
                let v = try view(source, group: g, using: &local)
                ImageNetNormalization.normalize(v, into: groups[g.rawValue].pointer + i * stride)
            } catch {
                errors.set(task, error)
            }
        }
        if let e = errors.first { throw e }
        return CoDEViewBatch(batchSize: b, size: size, groups: groups)
    }
}

/// Per-task error slots written from worker threads (each task owns its slot).
final class ErrorSlots: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<(any Error)?>
    private let count: Int
    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }
    deinit { slots.deinitialize(count: count); slots.deallocate() }
    func set(_ i: Int, _ e: any Error) { slots[i] = e }
    var first: (any Error)? { (0..<count).lazy.compactMap { self.slots[$0] }.first }
}
