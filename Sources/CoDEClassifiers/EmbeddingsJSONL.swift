import CoDECore
import Foundation

/// One line of the embeddings JSONL written by `code-embed`:
/// `{"path": "a.jpg", "status": "ok", "embedding": [D floats], "label": "real"|"fake"}` (label
/// optional, added for fitting) or `{"path": ..., "status": "error", "error": "..."}`, each with
/// the provenance `"crops": "center"|"five"` and `"encoder_sha256": "<hex>"` (the SHA-256 of the
/// encoder's `model.safetensors`) and `"precision": "fp32"|"bf16"|"int8"`, which files from
/// earlier versions lack.
public struct EmbeddingRecord: Sendable, Equatable {
    public let path: String
    /// The embedding for `status: ok` rows, nil for error rows.
    public let embedding: [Float]?
    public let label: Verdict?
    /// The error message of `status: error` rows.
    public let error: String?
    /// The 1-based line number in the file.
    public let line: Int
    /// The row's `crops` (how the embedding was made), nil when the file does not record it.
    public var crops: String? = nil
    /// The row's `encoder_sha256`, nil when the file does not record it.
    public var encoderSHA256: String? = nil
    /// The row's `precision` (fp32, bf16 or int8: the encoder's linear layers), nil when the file
    /// does not record it (files from versions before reduced precision, all fp32).
    public var precision: String? = nil

    public var isOK: Bool { embedding != nil }
}

/// A reason an embeddings JSONL file was rejected, with the file and line.
public struct EmbeddingsFileError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let reason: String
    public var description: String { line.map { "\(file):\($0): \(reason)" } ?? "\(file): \(reason)" }
}

/// Reading the embeddings JSONL format (see ``EmbeddingRecord``).
public enum EmbeddingsJSONL {
    /// Largest file read (a 192-d float row is ~2-4 KB, so ~1M rows).
    public static let maxBytes = 4 << 30

    /// Reads and validates every line (blank lines are skipped). All `ok` rows must have the
    /// same embedding width.
    public static func read(_ url: URL) throws -> [EmbeddingRecord] {
        var records: [EmbeddingRecord] = []
        try forEachChunk(url, rows: Int.max) { records += $0 }
        return records
    }

    /// Reads the file `rows` records at a time (the last chunk may be shorter), with the checks
    /// of ``read(_:)``: memory holds one chunk of records, not the file's.
    public static func forEachChunk(_ url: URL, rows: Int, _ body: ([EmbeddingRecord]) throws -> Void) throws {
        let attrs = try? FileManager.default.attributesOfItem(atPath: url.path)
        if let size = attrs?[.size] as? Int, size > maxBytes {
            throw EmbeddingsFileError(file: url.path, line: nil, reason: "file is \(size) bytes, more than the \(maxBytes) accepted")
        }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw EmbeddingsFileError(file: url.path, line: nil, reason: "cannot read: \(error.localizedDescription)")
        }
        try parse(data, source: url.path, rows: rows, body)
    }

    /// Parses JSONL bytes; `source` names the data in errors.
    public static func parse(_ data: Data, source: String) throws -> [EmbeddingRecord] {
        var records: [EmbeddingRecord] = []
        try parse(data, source: source, rows: Int.max) { records += $0 }
        return records
    }

    static func parse(_ data: Data, source: String, rows: Int, _ body: ([EmbeddingRecord]) throws -> Void) throws {
        var records: [EmbeddingRecord] = []
        var width: Int?
        var lineNo = 0
        var start = data.startIndex
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: 0x0A) ?? data.endIndex
            lineNo += 1
            let line = data[start..<end]
            start = end < data.endIndex ? end + 1 : end
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let r = try record(Data(line), line: lineNo, source: source)
            if let e = r.embedding {
                if let w = width, w != e.count {
                    throw EmbeddingsFileError(file: source, line: lineNo, reason: "embedding has \(e.count) values, earlier rows have \(w)")
                }
                width = e.count
            }
            records.append(r)
            if records.count >= rows {
                try body(records)
                records.removeAll(keepingCapacity: true)
            }
        }
        if !records.isEmpty { try body(records) }
    }

    static func record(_ line: Data, line n: Int, source: String) throws -> EmbeddingRecord {
        func fail(_ r: String) -> EmbeddingsFileError { EmbeddingsFileError(file: source, line: n, reason: r) }
        let fields: [(String, JSONValue)]
        do { fields = try StrictJSON.parseObject(line) } catch { throw fail("not a JSON object: \(error)") }
        var map: [String: JSONValue] = [:]
        for (k, v) in fields { map[k] = v }
        guard case let .string(path)? = map["path"] else { throw fail("missing or non-string \"path\"") }
        var label: Verdict?
        if let l = map["label"] {
            guard case let .string(s) = l, let v = Verdict(label: s) else { throw fail("\"label\" must be \"real\" or \"fake\"") }
            label = v
        }
        func optionalString(_ key: String) throws -> String? {
            guard let v = map[key] else { return nil }
            guard case let .string(s) = v else { throw fail("\"\(key)\" must be a string") }
            return s
        }
        let crops = try optionalString("crops"), sha = try optionalString("encoder_sha256"), precision = try optionalString("precision")
        let status: String
        switch map["status"] {
        case .string(let s)?: status = s
        case nil: status = map["embedding"] != nil ? "ok" : "error"
        default: throw fail("\"status\" must be a string")
        }
        switch status {
        case "ok":
            guard case let .array(values)? = map["embedding"], !values.isEmpty else { throw fail("status ok needs a non-empty \"embedding\" array") }
            var e = [Float](); e.reserveCapacity(values.count)
            for v in values {
                switch v {
                case let .number(d) where d.isFinite: e.append(Float(d))
                case let .integer(i): e.append(Float(i))
                default: throw fail("\"embedding\" must hold finite numbers only")
                }
            }
            return EmbeddingRecord(path: path, embedding: e, label: label, error: nil, line: n, crops: crops, encoderSHA256: sha, precision: precision)
        case "error":
            var msg = "embedding failed"
            if case let .string(s)? = map["error"] { msg = s }
            return EmbeddingRecord(path: path, embedding: nil, label: label, error: msg, line: n, crops: crops, encoderSHA256: sha, precision: precision)
        default:
            throw fail("\"status\" must be \"ok\" or \"error\", found \"\(status)\"")
        }
    }

    /// The `ok` records stacked into a matrix (`[count, D]`), in file order. Nil if there are none.
    public static func matrix(_ records: [EmbeddingRecord]) -> EmbeddingMatrix? {
        let ok = records.compactMap(\.embedding)
        guard let d = ok.first?.count else { return nil }
        return EmbeddingMatrix(rows: ok.count, dimension: d, values: ok.flatMap { $0 })
    }
}
