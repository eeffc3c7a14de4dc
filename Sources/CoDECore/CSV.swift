/// A strict RFC 4180 CSV parser (comma separator, `"` quoting with `""` escapes, CRLF or LF).
public enum CSV {
    /// One record: its fields and the 1-based line it starts on.
    public struct Row: Sendable { public var fields: [String]; public var line: Int }

    /// All records of `text`; `source` names it in errors.
    public static func parse(_ text: String, source: String) throws -> [Row] {
        var rows: [Row] = []
        var fields: [String] = []
        var field = [UInt8]()
        var inQuotes = false, quotedField = false
        var line = 1, rowLine = 1
        let bytes = Array(text.utf8)
        var i = 0
        func endField() { fields.append(String(decoding: field, as: UTF8.self)); field.removeAll(keepingCapacity: true); quotedField = false }
        while i < bytes.count {
            let c = bytes[i]
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") { field.append(c); i += 1 } else { inQuotes = false }
                } else {
                    if c == UInt8(ascii: "\n") { line += 1 }
                    field.append(c)
                }
            } else if c == UInt8(ascii: "\"") {
                guard field.isEmpty, !quotedField else {
                    throw CSVError(source: source, line: line, reason: "quote inside an unquoted field")
                }
                inQuotes = true
                quotedField = true
            } else if c == UInt8(ascii: ",") {
                endField()
            } else if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") {
                if c == UInt8(ascii: "\r"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
                endField()
                rows.append(Row(fields: fields, line: rowLine))
                fields.removeAll()
                line += 1
                rowLine = line
            } else {
                if quotedField { throw CSVError(source: source, line: line, reason: "text after a closing quote") }
                field.append(c)
            }
            i += 1
        }
        if inQuotes { throw CSVError(source: source, line: rowLine, reason: "unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty || quotedField { endField(); rows.append(Row(fields: fields, line: rowLine)) }
        return rows
    }
}

extension CSV {
    /// A field as RFC 4180 writes it: quoted (with `""` for `"`) when it holds a comma, quote or line break.
    public static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// A CSV syntax error, with the file and line.
public struct CSVError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let line: Int
    public let reason: String
    public var description: String { "\(source): line \(line): \(reason)" }
}
