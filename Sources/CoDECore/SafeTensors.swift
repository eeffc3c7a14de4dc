import Foundation

/// Element types CoDEKit reads from and writes to safetensors files.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32", u8 = "U8"
    public var byteSize: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .u8: 1
        }
    }
}

/// A specific reason a safetensors file (or a tensor in it) was rejected.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case truncated(file: String, reason: String)
    case headerTooLarge(file: String, length: UInt64, limit: Int)
    case badHeader(file: String, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case badOffsets(file: String, tensor: String, reason: String)
    case duplicateTensor(file: String, tensor: String)
    case missingTensor(file: String, tensor: String)
    case unexpectedTensors(file: String, tensors: [String])
    case wrongShape(file: String, tensor: String, expected: [Int], found: [Int])
    case wrongDType(file: String, tensor: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .truncated(f, r): "\(f): truncated safetensors file: \(r)"
        case let .headerTooLarge(f, n, l): "\(f): safetensors header claims \(n) bytes (limit \(l)); not a safetensors file or corrupt"
        case let .badHeader(f, r): "\(f): malformed safetensors header: \(r)"
        case let .unsupportedDType(f, t, d): "\(f): tensor '\(t)' has unsupported dtype \(d) (supported: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .badOffsets(f, t, r): "\(f): tensor '\(t)': \(r)"
        case let .duplicateTensor(f, t): "\(f): tensor '\(t)' appears twice in the header"
        case let .missingTensor(f, t): "\(f): missing tensor '\(t)'"
        case let .unexpectedTensors(f, ts): "\(f): unexpected tensor(s) \(ts.prefix(5).joined(separator: ", "))\(ts.count > 5 ? " and \(ts.count - 5) more" : "")"
        case let .wrongShape(f, t, e, s): "\(f): tensor '\(t)' has shape \(s), expected \(e)"
        case let .wrongDType(f, t, e, s): "\(f): tensor '\(t)' has dtype \(s), expected \(e)"
        }
    }
}

/// A validated, read-only view of a safetensors file.
///
/// Format: an unsigned 64-bit little-endian header length `N`, `N` bytes of UTF-8 JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`, then the
/// data. On open, every rule is checked: `N` bounded and inside the file; the JSON well formed with
/// no duplicate names; each dtype supported; each byte length equal to product(shape) x dtype size
/// (with overflow checks); offsets sorted, contiguous from 0, and ending exactly at the end of file.
public struct SafeTensorsFile: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        public let byteRange: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    /// Largest header accepted (the reference implementation uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public let source: String
    public let metadata: [String: String]
    /// Entries in file order (by data offset).
    public let entries: [Entry]
    private let index: [String: Int]
    private let data: Data
    private let dataStart: Int

    /// Opens and validates a file (memory-mapped).
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw SafeTensorsError.truncated(file: url.path, reason: "cannot read file: \(error.localizedDescription)")
        }
        try self.init(data: data, source: url.path)
    }

    /// Validates an in-memory file. `source` names it in errors.
    public init(data: Data, source: String = "<memory>") throws {
        self.source = source
        self.data = data
        guard data.count >= 8 else {
            throw SafeTensorsError.truncated(file: source, reason: "\(data.count) bytes, need at least 8 for the header length")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard n <= UInt64(Self.maxHeaderBytes) else {
            throw SafeTensorsError.headerTooLarge(file: source, length: n, limit: Self.maxHeaderBytes)
        }
        guard Int(n) <= data.count - 8 else {
            throw SafeTensorsError.truncated(file: source, reason: "header length \(n) exceeds the \(data.count - 8) bytes after it")
        }
        // Indices relative to startIndex: `data` may be a slice of a larger Data.
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(n)))
        dataStart = 8 + Int(n)
        let json: [(String, JSONValue)]
        do { json = try StrictJSON.parseObject(headerBytes) } catch let e as StrictJSON.Failure {
            if case let .duplicateKey(k) = e { throw SafeTensorsError.duplicateTensor(file: source, tensor: k) }
            throw SafeTensorsError.badHeader(file: source, reason: e.description)
        }
        var meta: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in json {
            if name == "__metadata__" {
                guard case let .object(items) = value else { throw SafeTensorsError.badHeader(file: source, reason: "__metadata__ is not an object") }
                for (k, v) in items {
                    guard case let .string(s) = v else { throw SafeTensorsError.badHeader(file: source, reason: "__metadata__['\(k)'] is not a string") }
                    meta[k] = s
                }
                continue
            }
            entries.append(try Self.parseEntry(name: name, value: value, source: source))
        }
        // Offsets: sorted by begin, contiguous from 0, covering the data exactly.
        entries.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }
        var expected = 0
        for e in entries {
            guard e.byteRange.lowerBound == expected else {
                throw SafeTensorsError.badOffsets(file: source, tensor: e.name, reason: "data starts at \(e.byteRange.lowerBound), expected \(expected) (gap or overlap)")
            }
            expected = e.byteRange.upperBound
        }
        let available = data.count - dataStart
        guard expected <= available else {
            throw SafeTensorsError.truncated(file: source, reason: "tensors need \(expected) data bytes, file has \(available)")
        }
        guard expected == available else {
            throw SafeTensorsError.badOffsets(file: source, tensor: entries.last?.name ?? "<none>", reason: "\(available - expected) trailing bytes after the last tensor")
        }
        metadata = meta
        self.entries = entries
        var idx: [String: Int] = [:]
        for (i, e) in entries.enumerated() { idx[e.name] = i }
        index = idx
    }

    private static func parseEntry(name: String, value: JSONValue, source: String) throws -> Entry {
        guard case let .object(fields) = value else { throw SafeTensorsError.badHeader(file: source, reason: "entry '\(name)' is not an object") }
        var dtypeS: String?, shapeV: [JSONValue]?, offV: [JSONValue]?
        for (k, v) in fields {
            switch (k, v) {
            case ("dtype", .string(let s)): dtypeS = s
            case ("shape", .array(let a)): shapeV = a
            case ("data_offsets", .array(let a)): offV = a
            default: throw SafeTensorsError.badHeader(file: source, reason: "entry '\(name)' has unexpected or mistyped field '\(k)'")
            }
        }
        guard let dtypeS, let shapeV, let offV else {
            throw SafeTensorsError.badHeader(file: source, reason: "entry '\(name)' needs dtype, shape and data_offsets")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeS) else {
            throw SafeTensorsError.unsupportedDType(file: source, tensor: name, dtype: dtypeS)
        }
        func int(_ v: JSONValue, _ what: String) throws -> Int {
            guard case let .integer(i) = v, i >= 0 else { throw SafeTensorsError.badHeader(file: source, reason: "entry '\(name)': \(what) must be a non-negative integer") }
            return i
        }
        let shape = try shapeV.map { try int($0, "shape dimension") }
        guard offV.count == 2 else { throw SafeTensorsError.badHeader(file: source, reason: "entry '\(name)': data_offsets must have 2 numbers") }
        let b = try int(offV[0], "data offset"), e = try int(offV[1], "data offset")
        guard b <= e else { throw SafeTensorsError.badOffsets(file: source, tensor: name, reason: "data_offsets [\(b), \(e)] are reversed") }
        var bytes = dtype.byteSize
        for d in shape {
            let (p, o) = bytes.multipliedReportingOverflow(by: d)
            guard !o else { throw SafeTensorsError.badOffsets(file: source, tensor: name, reason: "shape \(shape) overflows") }
            bytes = p
        }
        guard e - b == bytes else {
            throw SafeTensorsError.badOffsets(file: source, tensor: name, reason: "holds \(e - b) bytes but shape \(shape) x \(dtype.rawValue) needs \(bytes)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, byteRange: b..<e)
    }

    /// Tensor names in file order.
    public var names: [String] { entries.map(\.name) }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The entry named `name`, checked against an expected shape if one is given.
    public func require(_ name: String, shape: [Int]? = nil) throws -> Entry {
        guard let e = entry(name) else { throw SafeTensorsError.missingTensor(file: source, tensor: name) }
        if let shape, shape != e.shape { throw SafeTensorsError.wrongShape(file: source, tensor: name, expected: shape, found: e.shape) }
        return e
    }

    /// The tensor converted to Float (from F32, F16, BF16 or F64).
    public func floats(_ name: String, shape: [Int]? = nil) throws -> [Float] {
        let e = try require(name, shape: shape)
        var out = [Float](repeating: 0, count: e.count)
        try out.withUnsafeMutableBufferPointer { try copy(e, into: $0.baseAddress!) }
        return out
    }

    /// Copies a floating-point tensor into `dst` (which holds `entry.count` floats), converting to Float.
    public func copy(_ e: Entry, into dst: UnsafeMutablePointer<Float>) throws {
        let start = dataStart + e.byteRange.lowerBound
        data.withUnsafeBytes { raw in
            let p = raw.baseAddress! + start
            switch e.dtype {
            case .f32: for i in 0..<e.count { dst[i] = Float(bitPattern: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
            case .f64: for i in 0..<e.count { dst[i] = Float(Double(bitPattern: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)) }
            case .f16: for i in 0..<e.count { dst[i] = Self.halfToFloat(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
            case .bf16: for i in 0..<e.count { dst[i] = Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16) }
            case .i64, .i32, .u8: break
            }
        }
        guard [.f32, .f64, .f16, .bf16].contains(e.dtype) else {
            throw SafeTensorsError.wrongDType(file: source, tensor: e.name, expected: "a floating-point type", found: e.dtype.rawValue)
        }
    }

    /// The tensor converted to Double (exact for F64, F32, F16, BF16).
    public func doubles(_ name: String, shape: [Int]? = nil) throws -> [Double] {
        let e = try require(name, shape: shape)
        if e.dtype == .f64 {
            let start = dataStart + e.byteRange.lowerBound
            return data.withUnsafeBytes { raw in
                (0..<e.count).map { Double(bitPattern: raw.loadUnaligned(fromByteOffset: start + 8 * $0, as: UInt64.self).littleEndian) }
            }
        }
        return try floats(name, shape: shape).map(Double.init)
    }

    /// The tensor as 64-bit integers (from I64, I32 or U8).
    public func integers(_ name: String, shape: [Int]? = nil) throws -> [Int] {
        let e = try require(name, shape: shape)
        let start = dataStart + e.byteRange.lowerBound
        return try data.withUnsafeBytes { raw in
            switch e.dtype {
            case .i64: return (0..<e.count).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * $0, as: Int64.self))) }
            case .i32: return (0..<e.count).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: Int32.self))) }
            case .u8: return (0..<e.count).map { Int(raw[start + $0]) }
            default: throw SafeTensorsError.wrongDType(file: source, tensor: name, expected: "an integer type", found: e.dtype.rawValue)
            }
        }
    }

    /// IEEE 754 binary16 to Float, including subnormals, infinities and NaN.
    @inline(__always)
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1F), man = UInt32(h & 0x3FF)
        if exp == 0 {
            if man == 0 { return Float(bitPattern: sign) }
            let v = Float(man) * 0x1p-24
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (man << 13))
    }
}

/// Builds a safetensors file in memory and writes it atomically.
public struct SafeTensorsWriter {
    private var items: [(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: Data)] = []
    private var names = Set<String>()
    public var metadata: [String: String] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    private mutating func append(_ name: String, _ dtype: SafeTensorsDType, _ shape: [Int], _ bytes: Data) {
        precondition(!name.isEmpty && name != "__metadata__", "SafeTensorsWriter: invalid tensor name '\(name)'")
        precondition(names.insert(name).inserted, "SafeTensorsWriter: tensor '\(name)' added twice")
        precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "SafeTensorsWriter: '\(name)' shape \(shape) does not match its data")
        items.append((name, dtype, shape, bytes))
    }

    public mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        var d = Data(count: floats.count * 4)
        d.withUnsafeMutableBytes { raw in
            for i in 0..<floats.count { raw.storeBytes(of: floats[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        append(name, .f32, shape, d)
    }

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        floats.withUnsafeBufferPointer { add(name, shape: shape, floats: $0) }
    }

    public mutating func add(_ name: String, shape: [Int], doubles: [Double]) {
        var d = Data(count: doubles.count * 8)
        d.withUnsafeMutableBytes { raw in
            for i in 0..<doubles.count { raw.storeBytes(of: doubles[i].bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
        }
        append(name, .f64, shape, d)
    }

    public mutating func add(_ name: String, shape: [Int], int64s: [Int]) {
        var d = Data(count: int64s.count * 8)
        d.withUnsafeMutableBytes { raw in
            for i in 0..<int64s.count { raw.storeBytes(of: Int64(int64s[i]).littleEndian, toByteOffset: 8 * i, as: Int64.self) }
        }
        append(name, .i64, shape, d)
    }

    /// The complete file: header padded with spaces to a multiple of 8 bytes, then the data in
    /// the order tensors were added.
    public func serialized() -> Data {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(StrictJSON.quote($0)):\(StrictJSON.quote(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(m.joined(separator: ","))}")
        }
        var offset = 0
        for it in items {
            let shape = it.shape.map(String.init).joined(separator: ",")
            parts.append("\(StrictJSON.quote(it.name)):{\"dtype\":\"\(it.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + it.bytes.count)]}")
            offset += it.bytes.count
        }
        header += parts.joined(separator: ",") + "}"
        var h = Data(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data(capacity: 8 + h.count + offset)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(h)
        for it in items { out.append(it.bytes) }
        return out
    }

    /// Writes the file atomically (temporary file, fsync, rename).
    public func write(to url: URL) throws { try AtomicFile.write(serialized(), to: url) }
}
