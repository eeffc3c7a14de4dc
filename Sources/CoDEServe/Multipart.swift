import Foundation

/// One part of a `multipart/form-data` body.
public struct FormPart: Sendable, Equatable {
    /// The `name` parameter of its Content-Disposition.
    public var name: String?
    /// The `filename` parameter of its Content-Disposition.
    public var filename: String?
    public var contentType: String?
    public var body: Data
}

/// A strict `multipart/form-data` reader (RFC 7578) over a body already bounded by the
/// service's body limit: it allocates no more than the body (each part is a slice copy) and
/// refuses rather than guesses on malformed input.
public enum Multipart {
    /// The `boundary` parameter of a `multipart/form-data` content type, or nil if the type is not
    /// multipart/form-data. Throws for a multipart type without a usable boundary.
    public static func boundary(contentType: String) throws -> String? {
        let items = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = items.first, type.lowercased() == "multipart/form-data" else { return nil }
        for p in items.dropFirst() {
            guard let eq = p.firstIndex(of: "=") else { continue }
            guard p[..<eq].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var v = p[p.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            guard (1...70).contains(v.utf8.count) else { throw ServiceError.badMultipart("boundary must be 1 to 70 characters") }
            return v
        }
        throw ServiceError.badMultipart("content type has no boundary parameter")
    }

    /// The parts of `body`, at most `maxParts` (more throws `too_many_images`).
    public static func parse(_ body: Data, boundary: String, maxParts: Int) throws -> [FormPart] {
        let bytes = [UInt8](body)
        let dash = Array("--\(boundary)".utf8)
        let delimiter = Array("\r\n--\(boundary)".utf8)
        // The first boundary line may be preceded by a preamble; find "--boundary" at the start or after CRLF.
        var pos: Int
        if bytes.starts(with: dash) {
            pos = dash.count
        } else if let i = find(delimiter, in: bytes, from: 0) {
            pos = i + delimiter.count
        } else {
            throw ServiceError.badMultipart("no boundary line '--\(boundary)' in the body")
        }
        var parts: [FormPart] = []
        while true {
            // After a boundary: "--" ends the body, else optional whitespace then CRLF.
            if bytes.count - pos >= 2, bytes[pos] == 0x2D, bytes[pos + 1] == 0x2D { break }
            while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x09 { pos += 1 }
            guard bytes.count - pos >= 2, bytes[pos] == 0x0D, bytes[pos + 1] == 0x0A else {
                throw ServiceError.badMultipart("boundary line not followed by CRLF (body truncated?)")
            }
            pos += 2
            let noHeaders = bytes.count - pos >= 2 && bytes[pos] == 0x0D && bytes[pos + 1] == 0x0A
            guard let headerEnd = noHeaders ? pos - 2 : find(Array("\r\n\r\n".utf8), in: bytes, from: pos, limit: 16 * 1024) else {
                if find(Array("\r\n\r\n".utf8), in: bytes, from: pos) != nil {
                    throw ServiceError.badMultipart("part headers longer than 16 KiB")
                }
                throw ServiceError.badMultipart("part \(parts.count + 1) has no end of headers (body truncated?)")
            }
            var part = FormPart(name: nil, filename: nil, contentType: nil, body: Data())
            let headerText = noHeaders ? "" : String(decoding: bytes[pos..<headerEnd], as: UTF8.self)
            for line in headerText.components(separatedBy: "\r\n") where !line.isEmpty {
                guard let colon = line.firstIndex(of: ":") else { throw ServiceError.badMultipart("part header without ':'") }
                let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if key == "content-disposition" {
                    let params = parameters(value)
                    part.name = params["name"]
                    part.filename = params["filename"]
                } else if key == "content-type" {
                    part.contentType = value
                }
            }
            let start = headerEnd + 4
            guard let end = find(delimiter, in: bytes, from: start) else {
                throw ServiceError.badMultipart("part \(parts.count + 1) has no closing boundary (body truncated?)")
            }
            part.body = Data(bytes[start..<end])
            parts.append(part)
            if parts.count > maxParts { throw ServiceError.tooManyImages(parts.count, limit: maxParts) }
            pos = end + delimiter.count
        }
        return parts
    }

    /// `form-data; name="a"; filename="b.jpg"` → ["name": "a", "filename": "b.jpg"].
    static func parameters(_ value: String) -> [String: String] {
        var out: [String: String] = [:]
        var i = value.startIndex
        func skip(_ pred: (Character) -> Bool) { while i < value.endIndex, pred(value[i]) { i = value.index(after: i) } }
        skip { $0 != ";" }
        while i < value.endIndex {
            i = value.index(after: i)  // past ';'
            skip { $0 == " " || $0 == "\t" }
            let keyStart = i
            skip { $0 != "=" && $0 != ";" }
            let key = value[keyStart..<i].trimmingCharacters(in: .whitespaces).lowercased()
            guard i < value.endIndex, value[i] == "=" else { continue }
            i = value.index(after: i)
            var v = ""
            if i < value.endIndex, value[i] == "\"" {
                i = value.index(after: i)
                while i < value.endIndex, value[i] != "\"" {
                    if value[i] == "\\", value.index(after: i) < value.endIndex { i = value.index(after: i) }
                    v.append(value[i])
                    i = value.index(after: i)
                }
                if i < value.endIndex { i = value.index(after: i) }
                skip { $0 != ";" }
            } else {
                let s = i
                skip { $0 != ";" }
                v = value[s..<i].trimmingCharacters(in: .whitespaces)
            }
            if !key.isEmpty { out[key] = v }
        }
        return out
    }

    /// First index of `needle` in `hay` at or after `from` (searching at most `limit` bytes).
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int, limit: Int = .max) -> Int? {
        let n = needle.count
        guard n > 0, hay.count >= n else { return nil }
        let last = min(hay.count - n, from &+ limit > from ? from + limit : Int.max)
        guard from <= last else { return nil }
        let first = needle[0]
        return hay.withUnsafeBufferPointer { h -> Int? in
            needle.withUnsafeBufferPointer { nd -> Int? in
                var i = from
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n && h[i + j] == nd[j] { j += 1 }
                        if j == n { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}
