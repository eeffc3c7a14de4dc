import CoDEClassifiers
import Foundation

/// One evaluated sample: its group (generator name, `real` for real photos), true label, and the
/// classifier's output (nil for samples that could not be embedded).
public struct ScoredSample: Sendable, Equatable {
    public let path: String
    public let label: Verdict
    /// `real` for real photos; the generator name for fakes (`fake (all)` when the dataset names none).
    public let group: String
    public let verdict: Verdict?
    /// The classifier's decision value (its own scale, see ``Detector``).
    public let score: Double?
    /// The score oriented so that larger means more likely fake (for ROC AUC and AP).
    public let fakeness: Double?
    public let error: String?

    public init(path: String, label: Verdict, group: String, verdict: Verdict?, score: Double?, fakeness: Double?, error: String? = nil) {
        self.path = path; self.label = label; self.group = group
        self.verdict = verdict; self.score = score; self.fakeness = fakeness; self.error = error
    }

    /// The group of a dataset sample: `real`, or its generator (``allFakes`` if none is recorded,
    /// as for a folder dataset without generator subfolders).
    public static func group(of s: ImageSample) -> String { s.label == .real ? "real" : (s.generator ?? allFakes) }

    /// The group of fakes whose generator the dataset does not name.
    public static let allFakes = "fake (all)"
}

/// Metrics of one group of fakes: accuracy on them, and ranking against all real photos.
public struct GeneratorMetrics: Sendable, Equatable {
    public let name: String
    public let count: Int
    /// Fraction of this generator's images called fake.
    public let accuracy: Double
    /// ROC AUC and AP of this generator's fakes against all reals (NaN without reals).
    public let auc: Double
    public let ap: Double
}

/// The metrics of one evaluation condition (without transforms, or with the paper's transforms).
///
/// Error samples are left out of every metric and counted in ``errors``.
public struct EvaluationMetrics: Sendable, Equatable {
    /// `none` or `paper`.
    public let condition: String
    /// Accuracy on reals, on fakes and overall (``Metrics/accuracy(verdicts:labels:)``).
    public let accuracy: AccuracyReport
    /// ROC AUC and average precision over all samples (fake = positive).
    public let auc: Double
    public let ap: Double
    /// One entry per generator, sorted by name.
    public let generators: [GeneratorMetrics]
    public let errors: Int

    /// Computes the metrics of `samples` (see ``Metrics`` for the definitions).
    public init(condition: String, samples: [ScoredSample]) {
        self.condition = condition
        let ok = samples.filter { $0.verdict != nil && $0.fakeness != nil }
        errors = samples.count - ok.count
        accuracy = Metrics.accuracy(verdicts: ok.map { $0.verdict! }, labels: ok.map(\.label))
        (auc, ap) = Self.ranking(ok)
        let reals = ok.filter { $0.label == .real }
        generators = Set(ok.filter { $0.label == .fake }.map(\.group)).sorted().map { name in
            let fakes = ok.filter { $0.label == .fake && $0.group == name }
            let correct = fakes.filter { $0.verdict == .fake }.count
            let (auc, ap) = Self.ranking(reals + fakes)
            return GeneratorMetrics(name: name, count: fakes.count, accuracy: Double(correct) / Double(fakes.count), auc: auc, ap: ap)
        }
    }

    static func ranking(_ s: [ScoredSample]) -> (Double, Double) {
        guard Set(s.map(\.label)).count == 2 else { return (.nan, .nan) }
        let scores = s.map { $0.fakeness! }, labels = s.map(\.label)
        return (Metrics.rocAUC(scores: scores, labels: labels), Metrics.averagePrecision(scores: scores, labels: labels))
    }
}

/// Runs a ``Detector`` over a dataset, with or without the test-time transforms.
public enum Evaluation {
    /// Embeds and classifies every sample of `dataset`; `transforms` (if given) is applied to
    /// image `i` before the centre crop. Returns the scored samples and their embeddings (nil
    /// for error samples, and all nil unless `keepEmbeddings`), in dataset order. Each encoder
    /// batch is classified as soon as it is embedded, and `body` sees its samples, in order, with
    /// their embeddings (nil for error samples).
    ///
    /// `start` skips the first samples (a resumed run): the batches begin at sample `start`, and
    /// sample `i`'s transform is still seeded by `i`, so the rows from `start` on are those of a
    /// whole run when `start` is a multiple of ``Embedder/imagesPerBatch(batchSize:)``.
    public static func score(_ dataset: ImageDataset, from start: Int = 0, detector: Detector, transforms: TestTimeTransforms? = nil,
                             batchSize: Int = 32, reader: SampleReader = SampleReader(), keepEmbeddings: Bool = true,
                             _ body: (ScoredSample, [Float]?) throws -> Void = { _, _ in }) throws -> (samples: [ScoredSample], embeddings: [[Float]?]) {
        precondition(start >= 0 && start <= dataset.samples.count, "start \(start) outside the dataset")
        let t = transforms
        let perBatch = detector.embedder.imagesPerBatch(batchSize: batchSize)
        var scored: [ScoredSample] = [], embeddings: [[Float]?] = []
        scored.reserveCapacity(dataset.samples.count - start)
        var batch: [SampleEmbedding] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            let ok = batch.compactMap(\.embedding)
            let preds = ok.isEmpty ? [] : try detector.classify(EmbeddingMatrix(ok, dimension: detector.embedder.width))
            var k = 0
            for it in batch {
                let group = ScoredSample.group(of: it.sample)
                let s: ScoredSample
                if it.embedding == nil {
                    s = ScoredSample(path: it.path, label: it.verdictLabel, group: group, verdict: nil, score: nil, fakeness: nil, error: it.error)
                } else {
                    let p = preds[k]; k += 1
                    s = ScoredSample(path: it.path, label: it.verdictLabel, group: group, verdict: p.verdict, score: p.decision,
                                     fakeness: detector.classifier.fakeness(p.decision))
                }
                scored.append(s)
                embeddings.append(keepEmbeddings ? it.embedding : nil)
                try body(s, it.embedding)
            }
            batch.removeAll(keepingCapacity: true)
        }
        try detector.embedder.embed(samples: Array(dataset.samples[start...]), reader: reader, batchSize: batchSize,
                                    transform: t.map { tt in { i, img in try tt.apply(img, index: start + i) } }) { it in
            batch.append(it)
            if batch.count == perBatch { try flush() }
        }
        try flush()
        return (scored, embeddings)
    }
}
