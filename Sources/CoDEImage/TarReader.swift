import Foundation

/// A strict reader of POSIX ustar / pax / GNU tar archives, listing regular-file members.
///
/// Checks: every header's checksum (unsigned sum, or the historic signed sum); octal or base-256
/// sizes without overflow; each member's data lies inside the file; pax `path`/`size` records and
/// GNU long names (`L`) are applied to the next member; the archive ends with a zero block.
/// Directories, links and other special members are skipped. Nothing is extracted.
public struct TarArchive: Sendable {
    public struct Member: Sendable, Equatable {
        public let name: String
        /// Byte offset of the member's data in the archive, and its length.
        public let offset: Int
        public let size: Int
    }

    public let source: String
    public let members: [Member]

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw DatasetError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data, source: url.path)
    }

    public init(data: Data, source: String) throws {
        self.source = source
        members = try data.withUnsafeBytes { raw in try Self.parse(raw.bindMemory(to: UInt8.self), source) }
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>, _ source: String) throws -> [Member] {
        var members: [Member] = []
        var pos = 0
        var nextName: String? = nil, nextSize: Int? = nil
        while true {
            guard pos + 512 <= b.count else {
                throw DatasetError.truncatedTar(path: source, offset: pos, reason: "archive ends without an end-of-archive block")
            }
            let h = UnsafeBufferPointer(rebasing: b[pos..<pos + 512])
            if h.allSatisfy({ $0 == 0 }) { return members }
            try verifyChecksum(h, source, pos)
            let type = h[156]
            var size = try number(h, 124, 12, source, pos, "size")
            if let s = nextSize, type != UInt8(ascii: "x"), type != UInt8(ascii: "L") { size = s }
            let dataStart = pos + 512
            guard size <= b.count - dataStart else {
                throw DatasetError.truncatedTar(path: source, offset: pos, reason: "member data (\(size) bytes) runs past the end of the file")
            }
            let payload = UnsafeBufferPointer(rebasing: b[dataStart..<dataStart + size])
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                members.append(Member(name: nextName ?? headerName(h), offset: dataStart, size: size))
                nextName = nil; nextSize = nil
            case UInt8(ascii: "x"):
                (nextName, nextSize) = try pax(payload, source, pos, nextName, nextSize)
            case UInt8(ascii: "L"):
                nextName = String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
            default:  // directories, links, devices, global pax headers: no member data to list
                nextName = nil; nextSize = nil
            }
            pos = dataStart + (size + 511) / 512 * 512
        }
    }

    static func field(_ h: UnsafeBufferPointer<UInt8>, _ at: Int, _ len: Int) -> String {
        String(decoding: h[at..<at + len].prefix { $0 != 0 }, as: UTF8.self)
    }

    static func headerName(_ h: UnsafeBufferPointer<UInt8>) -> String {
        let name = field(h, 0, 100)
        let isUstar = h[257..<262].elementsEqual("ustar".utf8)
        let prefix = isUstar ? field(h, 345, 155) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    static func verifyChecksum(_ h: UnsafeBufferPointer<UInt8>, _ source: String, _ pos: Int) throws {
        let stored = try number(h, 148, 8, source, pos, "checksum")
        var unsigned = 0, signed = 0
        for i in 0..<512 {
            let v = (148..<156).contains(i) ? 32 : h[i]
            unsigned += Int(v)
            signed += Int(Int8(bitPattern: v))
        }
        guard stored == unsigned || stored == signed else {
            throw DatasetError.badTar(path: source, offset: pos, reason: "checksum \(stored) does not match header sum \(unsigned)")
        }
    }

    /// An octal field (NUL/space terminated) or a GNU base-256 field (high bit of the first byte set).
    static func number(_ h: UnsafeBufferPointer<UInt8>, _ at: Int, _ len: Int, _ source: String, _ pos: Int, _ what: String) throws -> Int {
        let f = h[at..<at + len]
        if f.first! & 0x80 != 0 {
            guard f.first! == 0x80 else { throw DatasetError.badTar(path: source, offset: pos, reason: "negative base-256 \(what)") }
            var v = 0
            for byte in f.dropFirst() {
                let (m, o1) = v.multipliedReportingOverflow(by: 256)
                guard !o1, m <= Int.max - Int(byte) else { throw DatasetError.badTar(path: source, offset: pos, reason: "\(what) overflows") }
                v = m + Int(byte)
            }
            return v
        }
        var v = 0, seenDigit = false, ended = false
        for byte in f {
            if byte == 0 || byte == 32 { if seenDigit { ended = true }; continue }
            guard !ended, (48...55).contains(byte) else {
                throw DatasetError.badTar(path: source, offset: pos, reason: "\(what) field is not octal")
            }
            seenDigit = true
            guard v <= (Int.max >> 3) else { throw DatasetError.badTar(path: source, offset: pos, reason: "\(what) overflows") }
            v = v << 3 | Int(byte - 48)
        }
        return v
    }

    /// pax records `"<len> <key>=<value>\n"`; only `path` and `size` matter here.
    static func pax(_ p: UnsafeBufferPointer<UInt8>, _ source: String, _ pos: Int, _ name: String?, _ size: Int?) throws -> (String?, Int?) {
        var name = name, size = size
        var i = 0
        while i < p.count {
            guard let space = p[i...].firstIndex(of: 32), let len = Int(String(decoding: p[i..<space], as: UTF8.self)),
                  len > space - i + 1, len <= p.count - i, p[i + len - 1] == 10 else {  // no `i + len`: len may be near Int.max
                throw DatasetError.badTar(path: source, offset: pos, reason: "malformed pax record")
            }
            let record = String(decoding: p[(space + 1)..<(i + len - 1)], as: UTF8.self)
            if let eq = record.firstIndex(of: "=") {
                let key = record[..<eq], value = String(record[record.index(after: eq)...])
                if key == "path" { name = value }
                if key == "size" {
                    guard let s = Int(value), s >= 0 else { throw DatasetError.badTar(path: source, offset: pos, reason: "bad pax size '\(value)'") }
                    size = s
                }
            }
            i += len
        }
        return (name, size)
    }
}
