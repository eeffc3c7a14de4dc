import CoDECore
import Foundation
import Testing

@Suite struct SHA256Tests {
    /// The FIPS 180-4 / NIST example vectors.
    @Test func nistVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("a file's digest in chunks equals coreutils sha256sum's, and updates in pieces equal one update")
    func fileMatchesSha256sum() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString).bin")
        var rng = Xoshiro256(seed: 7)
        let bytes = (0..<(9 << 20) + 123).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(bytes).write(to: url)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [url.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let reference = String(text.prefix(64))
        #expect(try SHA256.hex(ofFile: url) == reference)
        var s = SHA256()
        for piece in stride(from: 0, to: bytes.count, by: 1_000_003) { s.update(bytes[piece..<min(bytes.count, piece + 1_000_003)]) }
        #expect(SHA256.hexString(s.finalize()) == reference)
        #expect(throws: FileReadError.self) { try SHA256.hex(ofFile: url.appendingPathExtension("missing")) }
    }
}
