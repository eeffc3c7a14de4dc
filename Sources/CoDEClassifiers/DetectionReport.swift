import CoDECore
import Foundation

/// One output row of a detection: the input path, and either a verdict with its score or an error.
public struct DetectionRow: Sendable, Equatable, Codable {
    public let path: String
    public let verdict: Verdict?
    /// The classifier's decision value: p(fake) (linear), dist(real) − dist(fake) (k-NN), the
    /// SVM decision (SVM).
    public let score: Double?
    /// `ok` or `error`.
    public let status: String
    public let error: String?

    public static func ok(path: String, prediction p: Prediction) -> DetectionRow {
        DetectionRow(path: path, verdict: p.verdict, score: p.decision, status: "ok", error: nil)
    }

    public static func failed(path: String, error: String) -> DetectionRow {
        DetectionRow(path: path, verdict: nil, score: nil, status: "error", error: error)
    }
}

/// Output formats of `code-detect`. Both of its modes (images, `--embeddings`) write the same
/// columns in the same order: `path, status, verdict, score, classifier, error`.
public enum DetectionFormat: String, Sendable, CaseIterable {
    /// One JSON object per line: `{"path", "status", "verdict", "score", "classifier"}` (+ `"error"`).
    case jsonl
    /// RFC 4180 CSV with header `path,status,verdict,score,classifier,error`.
    case csv
    /// Aligned columns PATH, STATUS, VERDICT, SCORE, CLASSIFIER, ERROR for reading in a terminal.
    case table

    /// The CSV header line.
    public static let csvHeader = "path,status,verdict,score,classifier,error\n"

    /// The line that opens an output in this format (the CSV header; nil otherwise: the table's
    /// header is written by ``TableStream`` with its first rows).
    public var header: String? { self == .csv ? Self.csvHeader : nil }

    /// The rows rendered in this format (ending with a newline unless empty), the table's
    /// columns padded to the widest cell of all rows.
    public func render(_ rows: [DetectionRow], classifier: String) -> String {
        switch self {
        case .jsonl: return rows.map { Self.json($0, classifier: classifier) }.joined()
        case .csv: return Self.csvHeader + rows.map { Self.csv($0, classifier: classifier) }.joined()
        case .table:
            var t = TableStream()
            return t.render(rows, classifier: classifier)
        }
    }

    /// One row line of a streamed jsonl or csv output (for table, see ``TableStream``).
    public func line(_ r: DetectionRow, classifier: String) -> String {
        switch self {
        case .jsonl: Self.json(r, classifier: classifier)
        case .csv: Self.csv(r, classifier: classifier)
        case .table: TableStream.cells(r, classifier: classifier).joined(separator: "  ") + "\n"
        }
    }

    /// Shortest round-tripping decimal for a score (JSON has no NaN/∞: those become null).
    static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "null" }
        return "\(v)"
    }

    static func json(_ r: DetectionRow, classifier: String) -> String {
        var s = "{\"path\":\(StrictJSON.quote(r.path)),\"status\":\(StrictJSON.quote(r.status)),"
        s += "\"verdict\":\(r.verdict.map { "\"\($0)\"" } ?? "null"),\"score\":\(number(r.score)),\"classifier\":\(StrictJSON.quote(classifier))"
        if let e = r.error { s += ",\"error\":\(StrictJSON.quote(e))" }
        return s + "}\n"
    }

    static func csv(_ r: DetectionRow, classifier: String) -> String {
        [r.path, r.status, r.verdict?.rawValue ?? "", r.score.map { "\($0)" } ?? "", classifier, r.error ?? ""]
            .map(CSV.field).joined(separator: ",") + "\n"
    }

    /// The table of a streamed output, written a batch at a time: the header comes with the
    /// first batch, and each batch's columns are padded to the widest cell seen so far (so a
    /// later batch with a longer path widens the columns from there on; the table of one batch
    /// is aligned throughout).
    public struct TableStream: Sendable {
        public static let header = ["PATH", "STATUS", "VERDICT", "SCORE", "CLASSIFIER", "ERROR"]
        var widths = header.map(\.count)
        var started = false

        public init() {}

        static func cells(_ r: DetectionRow, classifier: String) -> [String] {
            [r.path, r.status, r.verdict?.rawValue ?? "-", r.score.map { String(format: "%.6f", $0) } ?? "-", classifier, r.error ?? ""]
        }

        /// The lines of one batch (with the header before the first batch).
        public mutating func render(_ rows: [DetectionRow], classifier: String) -> String {
            let cells = rows.map { Self.cells($0, classifier: classifier) }
            for c in cells { for i in 0..<(c.count - 1) { widths[i] = max(widths[i], c[i].count) } }
            func line(_ c: [String]) -> String {
                let s = c.indices.map { i in i == c.count - 1 ? c[i] : c[i].padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ")
                var t = Substring(s)
                while t.last == " " { t = t.dropLast() }
                return t + "\n"
            }
            var out = started ? "" : line(Self.header)
            started = true
            for c in cells { out += line(c) }
            return out
        }
    }
}

extension AnyClassifier {
    /// Classifies the `ok` records (one batch) and returns one row per record, in file order;
    /// error records become error rows. Throws if the embedding width does not match.
    public func detect(_ records: [EmbeddingRecord], source: String) throws -> [DetectionRow] {
        var preds: [Prediction] = []
        if let m = EmbeddingsJSONL.matrix(records) {
            guard m.dimension == dimension else {
                throw ClassifierError.dimensionMismatch(source: source, expected: dimension, found: m.dimension)
            }
            preds = try predict(m)
        }
        var k = 0
        return records.map { r in
            guard r.isOK else { return .failed(path: r.path, error: r.error ?? "embedding failed") }
            defer { k += 1 }
            return .ok(path: r.path, prediction: preds[k])
        }
    }
}
