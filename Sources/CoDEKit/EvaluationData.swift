import CoDEClassifiers
import Foundation

/// One dataset sample after embedding: its embedding, or why it could not be embedded.
public struct SampleEmbedding: Sendable {
    public let sample: ImageSample
    public let embedding: [Float]?
    public let error: String?

    /// The sample's path (or `shard.tar:member`).
    public var path: String { sample.location.name }
    public var verdictLabel: Verdict { sample.label == .fake ? .fake : .real }
}

extension Embedder {
    /// Decodes, optionally transforms, centre-crops and embeds dataset samples in batches of
    /// `batchSize`, in order. `transform(i, image)` gets the sample's index in `samples` (so a
    /// per-image seeded transform is independent of batching and threading). Samples that cannot
    /// be read, decoded or transformed become error results.
    public func embed(samples: [ImageSample], reader: SampleReader, batchSize: Int = 32,
                      transform: ((Int, RGBImage) throws -> RGBImage)? = nil) -> [SampleEmbedding] {
        precondition(batchSize > 0, "Embedder: batch size must be positive")
        let c = model.configuration, n = c.imageFloats
        let input = FloatBuffer(count: batchSize * n), output = FloatBuffer(count: batchSize * c.width)
        var out: [SampleEmbedding] = []
        out.reserveCapacity(samples.count)
        var start = 0
        while start < samples.count {
            let end = min(samples.count, start + batchSize)
            var errors = [String?](repeating: nil, count: end - start)
            errors.withUnsafeMutableBufferPointer { err in
                Threading.parallelFor(end - start) { k in
                    do {
                        var img = try reader.image(samples[start + k])
                        if let transform { img = try transform(start + k, img) }
                        Preprocess.inferenceTensor(img, size: c.imageSize, into: input.pointer + k * n)
                    } catch { err[k] = "\(error)" }
                }
            }
            var good = 0
            for k in errors.indices where errors[k] == nil {
                if good != k { (input.pointer + good * n).update(from: input.pointer + k * n, count: n) }
                good += 1
            }
            model.embed(input.pointer, batch: good, into: output.pointer)
            var g = 0
            for k in errors.indices {
                let s = samples[start + k]
                if let e = errors[k] { out.append(SampleEmbedding(sample: s, embedding: nil, error: e)); continue }
                out.append(SampleEmbedding(sample: s, embedding: output.array((g * c.width)..<((g + 1) * c.width)), error: nil))
                g += 1
            }
            start = end
        }
        return out
    }
}

extension SampleEmbedding {
    /// The embeddings JSONL line code-embed writes for this sample, with its `label` added.
    public var jsonLine: String {
        let head = "{\"path\":\(StrictJSON.quote(path)),"
        let label = ",\"label\":\"\(verdictLabel.rawValue)\"}\n"
        if let e = embedding { return head + "\"status\":\"ok\",\"embedding\":[\(e.map { "\($0)" }.joined(separator: ","))]" + label }
        return head + "\"status\":\"error\",\"error\":\(StrictJSON.quote(error ?? "embedding failed"))" + label
    }

    /// Labelled embeddings JSONL records (the rows `code-fit --embeddings` would read), so fitting
    /// from images goes through exactly the same path as fitting from a JSONL file.
    public static func records(_ items: [SampleEmbedding], source: String) throws -> [EmbeddingRecord] {
        try EmbeddingsJSONL.parse(Data(items.map(\.jsonLine).joined().utf8), source: source)
    }
}
