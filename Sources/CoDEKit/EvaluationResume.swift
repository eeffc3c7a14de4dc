import CoDEClassifiers
import Foundation

/// code-eval's `--scores` rows: one CSV line per (condition, sample), written as each batch is
/// scored, and read back by `--resume`, so the metrics of a resumed run come from every row.
public enum EvaluationScores {
    public static let header = "condition,path,label,group,status,verdict,score,error\n"

    /// The row of `s` under `condition`. The score is written in Swift's shortest round-trip
    /// form, so ``parse(_:fakeness:)`` gives back the same `Double`.
    public static func line(condition: String, _ s: ScoredSample) -> String {
        [condition, s.path, s.label.rawValue, s.group, s.error == nil ? "ok" : "error", s.verdict?.rawValue ?? "",
         s.score.map { "\($0)" } ?? "", s.error ?? ""].map(CSV.field).joined(separator: ",") + "\n"
    }

    /// A row line read back: its condition and sample; `fakeness` orients the score (the
    /// classifier's ``AnyClassifier/fakeness(_:)``), as when it was scored.
    public static func parse(_ line: String, fakeness: (Double) -> Double) throws -> (condition: String, sample: ScoredSample) {
        guard let f = try CSV.parse(line, source: "row").first?.fields, f.count == 8 else {
            throw RowSinkError("not a code-eval scores row: \(line.prefix(80))")
        }
        guard let label = Verdict(label: f[2]) else { throw RowSinkError("label '\(f[2])' is not real or fake") }
        switch f[4] {
        case "ok":
            guard let verdict = Verdict(label: f[5]), let score = Double(f[6]), score.isFinite else {
                throw RowSinkError("an ok row without a verdict and a score: \(line.prefix(80))")
            }
            return (f[0], ScoredSample(path: f[1], label: label, group: f[3], verdict: verdict, score: score, fakeness: fakeness(score)))
        case "error":
            return (f[0], ScoredSample(path: f[1], label: label, group: f[3], verdict: nil, score: nil, fakeness: nil, error: f[7]))
        default:
            throw RowSinkError("status '\(f[4])' is not ok or error")
        }
    }
}

/// The embeddings of code-eval's `--scores` rows, kept next to `FILE.partial` (as
/// `FILE.partial.embeddings`) when a report is asked for, so that a resumed run draws the
/// report's PCA and t-SNE figures from every sample, as an uninterrupted run does.
///
/// One fixed-size record per row, in row order: a byte (1: embedding, 0: error row) and `width`
/// little-endian Float32 values. Written before the rows of each batch are flushed, so it never
/// holds fewer whole records than the rows that reached the file, unless killed in between (the
/// resumed run then keeps only the rows that have both).
public final class EmbeddingSidecar {
    public let path: String
    public let width: Int
    let handle: FileHandle
    var buffer = Data()
    /// The records found when resuming (whole records only).
    public private(set) var records: [[Float]?] = []

    var recordSize: Int { 1 + 4 * width }

    public static func file(ofPartial partial: String) -> String { partial + ".embeddings" }

    /// Opens the sidecar of `partial`: a fresh one, or, with `resume`, the existing one (its whole
    /// records read into ``records``). Throws when resuming rows (`rows` > 0) with no sidecar.
    public init(partial: String, width: Int, resume: Bool, rows: Int) throws {
        path = Self.file(ofPartial: partial)
        self.width = width
        let fm = FileManager.default
        if resume, fm.fileExists(atPath: partial) {
            guard let data = fm.contents(atPath: path) else {
                if rows == 0 { handle = try Self.create(path); return }
                throw RowSinkError("\(partial) was written without --report, so the embeddings of its rows (for the report's figures) "
                    + "were not kept; rerun without --report, or remove \(partial)")
            }
            let size = 1 + 4 * width
            let n = data.count / size
            var found: [[Float]?] = []
            found.reserveCapacity(n)
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                for r in 0..<n {
                    let base = r * size
                    guard raw[base] == 1 else { found.append(nil); continue }
                    found.append((0..<width).map { j in
                        Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 1 + 4 * j, as: UInt32.self)))
                    })
                }
            }
            guard let h = FileHandle(forUpdatingAtPath: path) else { throw RowSinkError("cannot write \(path)") }
            handle = h
            records = found
            try keep(n)
            return
        }
        handle = try Self.create(path)
    }

    static func create(_ path: String) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw RowSinkError("cannot write \(path)")
        }
        return h
    }

    /// Keeps the first `n` records (cuts the rest off the file).
    public func keep(_ n: Int) throws {
        precondition(n <= records.count)
        records.removeSubrange(n...)
        do {
            try handle.truncate(atOffset: UInt64(n * recordSize))
            try handle.seekToEnd()
        } catch { throw RowSinkError("cannot truncate \(path): \(error.localizedDescription)") }
    }

    public func append(_ e: [Float]?) {
        if let e {
            precondition(e.count == width)
            buffer.append(1)
            for v in e { withUnsafeBytes(of: v.bitPattern.littleEndian) { buffer.append(contentsOf: $0) } }
        } else {
            buffer.append(Data(count: recordSize))
        }
    }

    public func flush() {
        guard !buffer.isEmpty else { return }
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, closes and removes the file (the run is complete).
    public func finish() {
        flush()
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}
