import CoDEAugment
import CoDECore
import CoDEImage
import _CoDETestSupport

/// The committed reference file written by Tests/Fixtures/make_augment_fixtures.py.
enum Reference {
    static let loaded = Result { try Fixtures.open("augment/reference.safetensors") }
    static func open() throws -> SafeTensorsFile { try loaded.get() }

    static func image(_ name: String) throws -> RGBImage {
        let f = try open()
        let e = try f.require(name)
        precondition(e.shape.count == 3 && e.shape[2] == 3, "\(name): expected [H, W, 3], got \(e.shape)")
        let values = try f.integers(name)
        return RGBImage(width: e.shape[1], height: e.shape[0], pixels: values.map { UInt8($0) })
    }

    static func doubles(_ name: String) throws -> [Double] { try open().doubles(name) }
    static func integers(_ name: String) throws -> [Int] { try open().integers(name) }
}

/// Per-pixel comparison of two 8-bit images.
struct ImageDiff: CustomStringConvertible {
    let sameSize: Bool
    let maxAbs: Int
    let mismatches: Int
    let count: Int

    init(_ a: RGBImage, _ b: RGBImage) {
        sameSize = a.width == b.width && a.height == b.height
        guard sameSize else { maxAbs = 255; mismatches = -1; count = 0; return }
        var m = 0, n = 0
        for i in 0..<a.pixels.count {
            let d = abs(Int(a.pixels[i]) - Int(b.pixels[i]))
            if d > 0 { n += 1; m = max(m, d) }
        }
        maxAbs = m; mismatches = n; count = a.pixels.count
    }

    var description: String { sameSize ? "max|diff| \(maxAbs), \(mismatches)/\(count) bytes differ" : "size mismatch" }
}

/// A deterministic pseudo-random image (not a fixture; for property tests).
func randomImage(width: Int, height: Int, seed: UInt64) -> RGBImage {
    var rng = Xoshiro256(seed: seed)
    return RGBImage(width: width, height: height, pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 56) })
}
