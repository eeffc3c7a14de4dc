import CoDEDistributed
import Foundation
import Logging

/// Logical batches of CoDE views from a dataset: deterministic (real, fake) pairing and shuffling
/// per epoch (``PairSampler``), decoding and view sampling on worker threads (``ImageLoader``),
/// eight ImageNet-normalised groups per batch for ``Trainer``.
///
/// The views of pair `k` of epoch `e` depend only on `(seed, e, k)`, so a run resumed at any
/// batch sees exactly the views the uninterrupted run would have seen.
public final class TrainingData: @unchecked Sendable {
    public let dataset: ImageDataset
    public let pairs: PairSampler
    public let views: ViewSampler
    public let pairsPerBatch: Int
    public let seed: UInt64
    public let workers: Int
    /// The view groups produced (in ``CoDEView`` order); the others stay zero. A training
    /// objective that reads fewer views (``TrainingObjective/views``) sets this to save the work.
    public let groups: [CoDEView]
    let reader: SampleReader
    let logger: Logger?
    let onSkip: (@Sendable (String) -> Void)?

    /// - Parameter onSkip: called with the error message (which names the file) of every pair
    ///   skipped because a file could not be read or decoded, on the thread that iterates the
    ///   batches, as it is skipped.
    public init(dataset: ImageDataset, views: ViewSampler, pairsPerBatch: Int, seed: UInt64,
                workers: Int = Threading.count, reader: SampleReader = SampleReader(), logger: Logger? = nil,
                groups: [CoDEView] = CoDEView.allCases, onSkip: (@Sendable (String) -> Void)? = nil) throws {
        guard pairsPerBatch >= 1 else { throw TrainerError.badBatch("pairs per batch must be at least 1") }
        self.dataset = dataset
        pairs = PairSampler(dataset: dataset, seed: seed)
        guard pairs.pairsPerEpoch >= pairsPerBatch else {
            throw TrainerError.badBatch("the dataset gives \(pairs.pairsPerEpoch) (real, fake) pairs per epoch, fewer than one batch of \(pairsPerBatch)")
        }
        self.views = views
        self.pairsPerBatch = pairsPerBatch
        self.seed = seed
        self.workers = workers
        self.groups = groups
        self.reader = reader
        self.logger = logger
        self.onSkip = onSkip
    }

    /// Full batches per epoch (the last partial batch is dropped).
    public var batchesPerEpoch: Int { pairs.pairsPerEpoch / pairsPerBatch }

    /// The batches of `epoch` from batch `first` on. Each element is the eight groups (in
    /// ``CoDEView`` order) of `pairsPerBatch` pairs; pairs with an unreadable file are skipped
    /// (logged, counted by ``skipped``), so a batch is filled from the following pairs.
    public func batches(epoch: Int, from first: Int = 0) -> AnyIterator<[FloatBuffer]> {
        let list = Array(pairs.pairs(epoch: epoch).prefix(batchesPerEpoch * pairsPerBatch))
        let offset = first * pairsPerBatch
        let jobs = list[min(offset, list.count)...].map { [$0.real, $0.fake] }
        let stride = 3 * views.size * views.size
        let make = viewMaker(epoch: epoch)
        var skipCallback: (@Sendable (Int, String) -> Void)?
        if let f = onSkip { skipCallback = { _, message in f(message) } }
        let loader = ImageLoader<[Float]>(dataset: dataset, jobs: jobs, reader: reader, workers: workers, prefetch: 2 * pairsPerBatch,
                                          seed: seed, logger: logger, onSkip: skipCallback) { images, job, _ in try make(images, offset + job) }
        if let previous = current { skippedBefore += previous.skipped; previous.close() }
        current = loader
        let B = pairsPerBatch
        return AnyIterator {
            let groups = (0..<8).map { _ in FloatBuffer(count: B * stride) }
            var filled = 0
            while filled < B, let item = loader.next() {
                item.item.withUnsafeBufferPointer { v in
                    for g in 0..<8 { (groups[g].pointer + filled * stride).update(from: v.baseAddress! + g * stride, count: stride) }
                }
                filled += 1
            }
            return filled == B ? groups : nil
        }
    }

    /// One rank's part of a logical batch (``shardedBatches(epoch:from:communicator:)``).
    public struct Shard {
        /// The eight groups (``CoDEView`` order) of this rank's pairs, `rows.count` images each;
        /// a pair that could not be read is left zero.
        public let groups: [FloatBuffer]
        /// The positions in the logical batch that this rank holds.
        public let rows: Range<Int>
        /// For every pair of the logical batch (all ranks), whether it was read: the same on
        /// every rank.
        public let valid: [Bool]
    }

    /// The batches of `epoch` from batch `first` on, for data-parallel training: batch k is
    /// the pairs at positions `k B ..< (k + 1) B` of the epoch, and this rank decodes and
    /// augments only its share of them (``Communicator/share(of:)``). Views are keyed by the
    /// pair's position, as in ``batches(epoch:from:)``, so they do not depend on the number of
    /// ranks. Unlike ``batches(epoch:from:)``, a pair that cannot be read is not replaced by a
    /// later one (which would need every rank to know every other rank's failures in advance):
    /// it is marked invalid, and ``Trainer/step(batch:views:valid:)`` drops it from the step.
    /// Without unreadable files both give the same batches. Every rank must iterate in step.
    public func shardedBatches(epoch: Int, from first: Int = 0, communicator: Communicator) -> AnyIterator<Result<Shard, Error>> {
        let B = pairsPerBatch
        let list = Array(pairs.pairs(epoch: epoch).prefix(batchesPerEpoch * B))
        let mine = communicator.share(of: B), local = mine.count
        let batchCount = max(0, batchesPerEpoch - first)
        let positions = (0..<batchCount).flatMap { k in ((first + k) * B + mine.lowerBound)..<((first + k) * B + mine.upperBound) }
        let jobs = positions.map { [list[$0].real, list[$0].fake] }
        let make = viewMaker(epoch: epoch)
        let stride = 3 * views.size * views.size
        var skipCallback: (@Sendable (Int, String) -> Void)?
        if let f = onSkip { skipCallback = { _, message in f(message) } }
        let loader = ImageLoader<[Float]>(dataset: dataset, jobs: jobs, reader: reader, workers: workers, prefetch: max(2, 2 * local),
                                          seed: seed, logger: logger, onSkip: skipCallback) { images, job, _ in try make(images, positions[job]) }
        if let previous = current { skippedBefore += previous.skipped; previous.close() }
        current = loader
        let counts = (0..<communicator.size).map { dataParallelShare(of: B, rank: $0, size: communicator.size).count }
        var k = 0
        var pending: LoadedItem<[Float]>? = nil
        return AnyIterator {
            guard k < batchCount else { return nil }
            defer { k += 1 }
            let groups = (0..<8).map { _ in FloatBuffer(count: max(1, local) * stride) }
            var ok = [Float](repeating: 0, count: local)
            while true {
                guard let item = pending ?? loader.next() else { break }
                pending = nil
                guard item.job < (k + 1) * local else { pending = item; break }
                let row = item.job - k * local
                ok[row] = 1
                item.item.withUnsafeBufferPointer { v in
                    for g in 0..<8 { (groups[g].pointer + row * stride).update(from: v.baseAddress! + g * stride, count: stride) }
                }
            }
            do {
                let all = try communicator.allGather(ok, counts: counts)
                return .success(Shard(groups: groups, rows: mine, valid: all.map { $0 != 0 }))
            } catch {
                return .failure(error)
            }
        }
    }

    /// View `t` of the pair at absolute position `p` of `epoch` draws from fork(8 p + t).
    func viewMaker(epoch: Int) -> @Sendable ([RGBImage], Int) throws -> [Float] {
        let stride = 3 * views.size * views.size
        let viewSampler = views
        let epochSeed = Xoshiro256(seed: seed ^ 0xC0DE_7EA1).fork(UInt64(epoch))
        let produced = groups.compactMap { CoDEViewBatch.Group(rawValue: $0.rawValue) }
        return { images, position in
            var out = [Float](repeating: 0, count: 8 * stride)
            try out.withUnsafeMutableBufferPointer { buf in
                for g in produced {
                    var rng = epochSeed.fork(UInt64(8 * position + g.rawValue))
                    let source = (g == .real || g == .augReal || g == .globalReal || g == .localReal) ? images[0] : images[1]
                    let view = try viewSampler.view(source, group: g, using: &rng)
                    ImageNetNormalization.normalize(view, into: buf.baseAddress! + g.rawValue * stride)
                }
            }
            return out
        }
    }

    private var current: ImageLoader<[Float]>?
    private var skippedBefore = 0

    /// Pairs skipped so far because a file could not be read or decoded.
    public var skipped: Int { skippedBefore + (current?.skipped ?? 0) }
}

/// A linear probe of an encoder: embeddings of `dataset`, logistic regression (C 0.316,
/// balanced) fitted on the even-indexed samples and tested on the odd ones, then the reverse;
/// returns the mean accuracy of the two folds (and how many images were embedded).
public func linearProbeAccuracy(model: ViT, dataset: ImageDataset, workers: Int = Threading.count) throws -> (accuracy: Double, images: Int) {
    let embedder = Embedder(model: model)
    let loader = ImageLoader.inference(dataset: dataset, size: model.configuration.imageSize, workers: workers)
    var vectors: [[Float]] = [], labels: [Verdict] = []
    var batch: [[Float]] = [], batchLabels: [Verdict] = []
    func flush() {
        guard !batch.isEmpty else { return }
        let n = model.configuration.imageFloats
        let input = FloatBuffer(count: batch.count * n)
        for (i, t) in batch.enumerated() { t.withUnsafeBufferPointer { (input.pointer + i * n).update(from: $0.baseAddress!, count: n) } }
        let out = FloatBuffer(count: batch.count * model.configuration.width)
        embedder.model.embed(input.pointer, batch: batch.count, into: out.pointer)
        let D = model.configuration.width
        for i in 0..<batch.count { vectors.append(out.array((i * D)..<((i + 1) * D))) }
        labels += batchLabels
        batch = []; batchLabels = []
    }
    for item in loader {
        batch.append(item.item)
        batchLabels.append(dataset.samples[item.job].label == .real ? .real : .fake)
        if batch.count == 32 { flush() }
    }
    flush()
    let even = Array(stride(from: 0, to: vectors.count, by: 2)), odd = Array(stride(from: 1, to: vectors.count, by: 2))
    let x = EmbeddingMatrix(vectors, dimension: model.configuration.width)
    var accs: [Double] = []
    for (fitIdx, testIdx) in [(even, odd), (odd, even)] {
        let lr = try LogisticRegression.fit(x.select(fitIdx), labels: fitIdx.map { labels[$0] }, hyperparameters: .init())
        let p = try lr.predict(x.select(testIdx))
        accs.append(Double(zip(p, testIdx).filter { $0.0.verdict == labels[$0.1] }.count) / Double(max(1, testIdx.count)))
    }
    return ((accs[0] + accs[1]) / 2, vectors.count)
}

