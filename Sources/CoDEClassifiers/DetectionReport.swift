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

/// Output formats of `code-detect`.
public enum DetectionFormat: String, Sendable, CaseIterable {
    /// One JSON object per line: `{"path", "verdict", "score", "status"}` (+ `"error"`).
    case jsonl
    /// RFC 4180 CSV with header `path,verdict,score,status,error`.
    case csv
    /// Aligned columns for reading in a terminal.
    case table

    /// The rows rendered in this format (ending with a newline unless empty).
    public func render(_ rows: [DetectionRow]) -> String {
        switch self {
        case .jsonl: rows.map(Self.json).joined()
        case .csv: "path,verdict,score,status,error\n" + rows.map(Self.csv).joined()
        case .table: Self.table(rows)
        }
    }

    /// Shortest round-tripping decimal for a score (JSON has no NaN/∞: those become null).
    static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "null" }
        return "\(v)"
    }

    static func json(_ r: DetectionRow) -> String {
        var s = "{\"path\":\(StrictJSON.quote(r.path)),\"verdict\":\(r.verdict.map { "\"\($0)\"" } ?? "null"),"
        s += "\"score\":\(number(r.score)),\"status\":\(StrictJSON.quote(r.status))"
        if let e = r.error { s += ",\"error\":\(StrictJSON.quote(e))" }
        return s + "}\n"
    }

    static func csv(_ r: DetectionRow) -> String {
        [r.path, r.verdict?.rawValue ?? "", r.score.map { "\($0)" } ?? "", r.status, r.error ?? ""].map(CSV.field).joined(separator: ",") + "\n"
    }

    static func table(_ rows: [DetectionRow]) -> String {
        let header = ["PATH", "VERDICT", "SCORE", "STATUS"]
        let cells = rows.map { r in
            [r.path, r.verdict?.rawValue ?? "-", r.score.map { String(format: "%.6f", $0) } ?? "-", r.error.map { "error: \($0)" } ?? r.status]
        }
        var widths = header.map(\.count)
        for c in cells { for i in 0..<3 { widths[i] = max(widths[i], c[i].count) } }
        func line(_ c: [String]) -> String {
            (0..<3).map { c[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + c[3] + "\n"
        }
        return line(header) + cells.map(line).joined()
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
