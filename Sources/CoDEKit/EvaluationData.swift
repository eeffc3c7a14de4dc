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
    /// Decodes, optionally transforms, crops (``Embedder/crops``) and embeds dataset samples in batches of
    /// `batchSize`, in order. `transform(i, image)` gets the sample's index in `samples` (so a
    /// per-image seeded transform is independent of batching and threading). Samples that cannot
    /// be read, decoded or transformed become error results.
    public func embed(samples: [ImageSample], reader: SampleReader, batchSize: Int = 32,
                      transform: ((Int, RGBImage) throws -> RGBImage)? = nil) -> [SampleEmbedding] {
        var out: [SampleEmbedding] = []
        out.reserveCapacity(samples.count)
        embedItems(count: samples.count, batchSize: batchSize, load: { i in self.loadSample(samples, i, reader, transform) }) { i, embedding, error in
            out.append(SampleEmbedding(sample: samples[i], embedding: embedding, error: error))
        }
        return out
    }

    /// As the array form, calling `body` once per sample, in order, as soon as its batch is
    /// embedded (memory does not grow with the number of samples).
    public func embed(samples: [ImageSample], reader: SampleReader, batchSize: Int = 32,
                      transform: ((Int, RGBImage) throws -> RGBImage)? = nil, _ body: (SampleEmbedding) throws -> Void) throws {
        try embedItems(count: samples.count, batchSize: batchSize, load: { i in self.loadSample(samples, i, reader, transform) }) { i, embedding, error in
            try body(SampleEmbedding(sample: samples[i], embedding: embedding, error: error))
        }
    }

    func loadSample(_ samples: [ImageSample], _ i: Int, _ reader: SampleReader, _ transform: ((Int, RGBImage) throws -> RGBImage)?) -> Result<RGBImage, any Error> {
        Result {
            // Without a transform only the crops are needed (a centre crop decodes just that region of a JPEG).
            guard let transform else {
                return try self.decodeForInference(reader.data(samples[i]), source: samples[i].location.name, limits: reader.limits)
            }
            return try transform(i, reader.image(samples[i]))
        }
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
