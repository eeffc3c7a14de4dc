import CoDECore
import Foundation

/// k-nearest-neighbour classifier with cosine distance, brute force over a bank of labelled
/// embeddings (scikit-learn's `KNeighborsClassifier(n_neighbors=k, metric="cosine",
/// algorithm="brute")`).
///
/// Distance: `dist(q, b) = clip(1 − cos(q, b), 0, 2)`, `cos(q, b) = q·b / (‖q‖ ‖b‖)`; a zero
/// vector is left as zero by the normalisation (cos = 0), as scikit-learn's `normalize` does.
/// The bank is normalised once; query similarities are one sgemm per batch of queries.
///
/// Neighbours are ordered by distance, ties broken by the **lowest bank index**. The verdict is
/// the majority label of the k nearest (a tied vote goes to real, scikit-learn's smaller class).
/// The decision value is the continuous score `dist(nearest real) − dist(nearest fake)`, in
/// [−2, 2]: positive means the nearest fake is closer than the nearest real (larger = more fake).
public struct NearestNeighbors: EmbeddingClassifier {
    public struct Hyperparameters: Sendable {
        /// Number of neighbours voting (CoDE uses 1).
        public var k: Int
        public init(k: Int = 1) { self.k = k }
    }

    public static let kind = ClassifierKind.knn
    public static let fakeIsPositive = true

    public let k: Int
    public let dimension: Int
    /// Bank as given (`[count, dimension]`), what the file stores.
    public let bank: EmbeddingMatrix
    /// Bank label per row.
    public let labels: [Verdict]
    /// Unit-norm bank rows (`[count, dimension]`).
    let unitBank: FloatBuffer

    /// Builds a classifier over a labelled bank (which must contain both classes).
    public init(bank: EmbeddingMatrix, labels: [Verdict], k: Int = 1) throws {
        guard k >= 1 else { throw ClassifierError.badHyperparameter(name: "k", value: "\(k)", reason: "must be at least 1") }
        guard labels.count == bank.rows else { throw ClassifierError.badTrainingData("\(labels.count) labels for \(bank.rows) embeddings") }
        guard labels.contains(.real), labels.contains(.fake) else {
            throw ClassifierError.badTrainingData("the k-NN bank needs real and fake examples")
        }
        guard k <= bank.rows else { throw ClassifierError.badHyperparameter(name: "k", value: "\(k)", reason: "larger than the bank (\(bank.rows) rows)") }
        try bank.validateFinite(source: "k-NN bank")
        self.k = k
        self.dimension = bank.dimension
        self.bank = bank
        self.labels = labels
        let u = FloatBuffer(count: bank.values.count)
        bank.values.withUnsafeBufferPointer { Self.normalizeRows($0.baseAddress!, into: u.pointer, rows: bank.rows, dimension: bank.dimension) }
        unitBank = u
    }

    /// Fitting a k-NN classifier stores the bank.
    public static func fit(_ x: EmbeddingMatrix, labels: [Verdict], hyperparameters h: Hyperparameters) throws -> NearestNeighbors {
        try NearestNeighbors(bank: x, labels: labels, k: h.k)
    }

    /// Writes `src` rows divided by their L2 norm (norm computed in Double; zero rows stay zero).
    static func normalizeRows(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, rows: Int, dimension d: Int) {
        Threading.parallelRanges(rows, minChunk: 512) { r in
            for i in r {
                let a = src + i * d, o = dst + i * d
                var s = 0.0
                for j in 0..<d { s += Double(a[j]) * Double(a[j]) }
                let inv = s > 0 ? Float(1 / s.squareRoot()) : 1
                for j in 0..<d { o[j] = a[j] * inv }
            }
        }
    }
}

extension NearestNeighbors {
    public func encode() -> (tensors: SafeTensorsWriter, metadata: [String: String]) {
        var w = SafeTensorsWriter()
        w.add("bank", shape: [bank.rows, dimension], floats: bank.values)
        w.add("labels", shape: [bank.rows], int64s: labels.map { $0 == .fake ? 1 : 0 })
        return (w, ["k": String(k), "metric": "cosine"])
    }

    public init(decoding file: SafeTensorsFile, metadata m: ClassifierMetadata) throws {
        let n = try m.leadingDimension(file, "bank", rest: [m.dimension])
        guard try m.leadingDimension(file, "labels", rest: []) == n else {
            throw ClassifierError.badFile(file: m.source, reason: "'labels' and 'bank' have different row counts")
        }
        if let metric = m.values["metric"], metric != "cosine" {
            throw ClassifierError.badFile(file: m.source, reason: "metric '\(metric)' is not supported (only cosine)")
        }
        let values: [Float], raw: [Int]
        do { values = try file.floats("bank"); raw = try file.integers("labels") } catch let e as SafeTensorsError {
            throw ClassifierError.badFile(file: m.source, reason: e.description)
        }
        guard raw.allSatisfy({ $0 == 0 || $0 == 1 }) else { throw ClassifierError.badFile(file: m.source, reason: "labels must be 0 (real) or 1 (fake)") }
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw ClassifierError.badFile(file: m.source, reason: "tensor 'bank' holds a non-finite value (\(values[i]) in row \(i / m.dimension))")
        }
        do {
            try self.init(bank: EmbeddingMatrix(rows: n, dimension: m.dimension, values: values),
                          labels: raw.map { $0 == 1 ? .fake : .real }, k: try m.int("k"))
        } catch let e as ClassifierError {
            if case .badFile = e { throw e }
            throw ClassifierError.badFile(file: m.source, reason: e.description)
        }
    }
}
