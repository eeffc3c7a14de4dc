import CoDECore
import Foundation
import Testing

@Suite struct SafeTensorsTests {
    func sample() -> Data {
        var w = SafeTensorsWriter(metadata: ["format": "pt", "note": "a \"quoted\" value"])
        w.add("a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        w.add("b.bias", shape: [2], doubles: [0.5, -1e300])
        w.add("idx", shape: [3], int64s: [7, -8, 9])
        return w.serialized()
    }

    /// Builds a file from a raw JSON header and data bytes (for malformed-file tests).
    func raw(_ header: String, dataBytes: Int) -> Data {
        var d = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(h)
        d.append(Data(count: dataBytes))
        return d
    }

    @Test func roundTrip() throws {
        let f = try SafeTensorsFile(data: sample())
        #expect(f.names == ["a", "b.bias", "idx"])
        #expect(try f.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(try f.doubles("b.bias") == [0.5, -1e300])
        #expect(try f.integers("idx") == [7, -8, 9])
        #expect(f.metadata == ["format": "pt", "note": "a \"quoted\" value"])
        #expect(try f.require("a", shape: [2, 3]).byteRange == 0..<24)
    }

    @Test("a Data slice (startIndex > 0) reads as the same file")
    func dataSlice() throws {
        let file = sample()
        let padded = Data([0xAA, 0xBB, 0xCC, 0xDD, 0xEE]) + file + Data([0x11])
        let slice = padded[5..<(5 + file.count)]
        #expect(slice.startIndex == 5)
        let f = try SafeTensorsFile(data: slice)
        #expect(f.names == ["a", "b.bias", "idx"])
        #expect(try f.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(try f.doubles("b.bias") == [0.5, -1e300])
        #expect(try f.integers("idx") == [7, -8, 9])
        #expect(f.metadata == ["format": "pt", "note": "a \"quoted\" value"])
        // A slice cut one byte short is truncated, not read past its end.
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: padded[5..<(4 + file.count)]) }
    }

    @Test func halfAndBFloat() throws {
        // 1.0, -2.0, 65504 (max half), smallest subnormal 2^-24; bf16 1.5 = 0x3FC0
        var bytes: [UInt8] = []
        for h: UInt16 in [0x3C00, 0xC000, 0x7BFF, 0x0001] { bytes += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        bytes += [0xC0, 0x3F]
        var d = raw(#"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"g":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}}"#, dataBytes: 0)
        d.append(contentsOf: bytes)
        let f = try SafeTensorsFile(data: d)
        #expect(try f.floats("h") == [1, -2, 65504, 0x1p-24])
        #expect(try f.floats("g") == [1.5])
    }

    @Test func rejectsMalformedFiles() throws {
        let good = sample()
        func fails(_ d: Data, _ check: (SafeTensorsError) -> Bool) {
            do { _ = try SafeTensorsFile(data: d, source: "x.safetensors"); Issue.record("accepted a bad file") } catch let e as SafeTensorsError {
                #expect(check(e), "\(e)")
                #expect(e.description.hasPrefix("x.safetensors: "))
            } catch { Issue.record("unexpected error \(error)") }
        }
        // Truncated anywhere: inside the length, inside the header, inside the data.
        for cut in [3, 20, good.count - 1] {
            fails(good.prefix(cut)) { if case .truncated = $0 { true } else { false } }
        }
        // Header length beyond any sane bound.
        var huge = Data(count: 16)
        huge[7] = 0x10
        fails(huge) { if case .headerTooLarge = $0 { true } else { false } }
        fails(raw("{\"a\":", dataBytes: 0)) { if case .badHeader = $0 { true } else { false } }
        fails(raw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8)) {
            $0 == .duplicateTensor(file: "x.safetensors", tensor: "a")
        }
        fails(raw(#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4)) { if case .unsupportedDType = $0 { true } else { false } }
        // Byte length does not match the shape.
        fails(raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4)) { if case .badOffsets = $0 { true } else { false } }
        // A gap between tensors, and trailing bytes.
        fails(raw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8)) { if case .badOffsets = $0 { true } else { false } }
        fails(raw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 12)) { if case .badOffsets = $0 { true } else { false } }
        // Shape whose byte size overflows Int.
        fails(raw(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, dataBytes: 4)) { if case .badOffsets = $0 { true } else { false } }
        // Negative dimension, and offsets that point past the end of the file.
        fails(raw(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4)) { if case .badHeader = $0 { true } else { false } }
        fails(raw(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 4)) { if case .truncated = $0 { true } else { false } }
    }

    @Test func lookupErrors() throws {
        let f = try SafeTensorsFile(data: sample(), source: "m")
        #expect(throws: SafeTensorsError.missingTensor(file: "m", tensor: "zz")) { try f.floats("zz") }
        #expect(throws: SafeTensorsError.wrongShape(file: "m", tensor: "a", expected: [3, 2], found: [2, 3])) { try f.floats("a", shape: [3, 2]) }
        #expect(throws: SafeTensorsError.self) { try f.floats("idx") }
    }

    @Test func atomicWriteReplacesFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.safetensors")
        try AtomicFile.write("old", to: url)
        var w = SafeTensorsWriter()
        w.add("x", shape: [1], floats: [3])
        try w.write(to: url)
        #expect(try SafeTensorsFile(contentsOf: url).floats("x") == [3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.safetensors"])
    }
}
