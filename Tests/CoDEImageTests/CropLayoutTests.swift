import CoDECore
@testable import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

@Suite("Five-crop windows (CropLayout.five) against torchvision FiveCrop")
struct CropLayoutTests {
    static let fiveCrop = ImageFixtures.names.filter { ImageFixtures.reference.entry("\($0).five") != nil }

    // Tolerance: exact (max |diff| 0). Like the centre crop, each window only moves bytes, and
    // normalisation is exact per byte value (PreprocessTests.normalizeLUT); the decoder equals PIL
    // exactly. Margins are odd in some fixtures, so the centre window's half-to-even offset is covered.
    @Test("decode + five windows equal torchvision FiveCrop + ToTensor + Normalize", arguments: fiveCrop)
    func matchesTorchvision(name: String) throws {
        let size = try #require(Int(ImageFixtures.reference.metadata["\(name).five_size"] ?? ""))
        let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
        var out = [Float](repeating: .nan, count: 5 * 3 * size * size)
        out.withUnsafeMutableBufferPointer { Preprocess.inferenceTensors(image, layout: .five, size: size, into: $0.baseAddress!) }
        let ref = try ImageFixtures.reference.floats("\(name).five", shape: [5, 3, size, size])
        let d = TensorDiff(out, ref)
        #expect(d.maxAbs == 0, "\(name) five crops of \(size): \(d)")
    }

    /// torchvision has no FiveCrop for images smaller than the crop; CoDEKit pads a short side as
    /// the centre crop pads it, so along that axis every window is the centre one.
    @Test("short sides: windows coincide with the centre crop's padding")
    func paddedAxes() {
        // 30 wide, 10 high, windows of 16: x at 0, 14 and round(14/2) = 7; y always -(6/2) = -3.
        let o = CropLayout.five.origins(width: 30, height: 10, size: 16)
        #expect(o.map(\.x) == [0, 14, 0, 14, 7])
        #expect(o.map(\.y) == [-3, -3, -3, -3, -3])
        let c = CropLayout.center.origins(width: 30, height: 10, size: 16)
        #expect(c.count == 1 && c[0].x == 7 && c[0].y == -3)
        // Distinct windows with their multiplicities (the Embedder embeds each once).
        let d = CropLayout.five.distinctOrigins(width: 30, height: 10, size: 16)
        #expect(d.map(\.x) == [0, 14, 7] && d.map(\.y) == [-3, -3, -3] && d.map(\.count) == [2, 2, 1])
        let one = CropLayout.five.distinctOrigins(width: 9, height: 12, size: 16)
        #expect(one.count == 1 && one[0].x == -3 && one[0].y == -2 && one[0].count == 5)
        #expect(CropLayout.five.distinctOrigins(width: 40, height: 40, size: 16).map(\.count) == [1, 1, 1, 1, 1])
    }

    // Tolerance: exact. The centre window of `.five` and the single `.center` window are the
    // torchvision CenterCrop (fixture-tested in PreprocessTests) for images larger, smaller and
    // mixed relative to the crop size; corner windows equal the centre crop of the sub-image cut
    // out by hand (row copies, no shared code with the window writer) when the image is larger.
    @Test("centre window equals inferenceTensor; corners equal hand-cut sub-images", arguments: ImageFixtures.names.prefix(12))
    func consistency(name: String) throws {
        let image = try ImageFixtures.pilRGB(name)
        for size in [1, 7, 16, 33, 64] {
            let n = 3 * size * size
            var five = [Float](repeating: .nan, count: 5 * n), center = [Float](repeating: .nan, count: n)
            five.withUnsafeMutableBufferPointer { Preprocess.inferenceTensors(image, layout: .five, size: size, into: $0.baseAddress!) }
            center.withUnsafeMutableBufferPointer { Preprocess.inferenceTensor(image, size: size, into: $0.baseAddress!) }
            #expect(Array(five[(4 * n)...]) == center, "\(name) size \(size): centre window")
            guard image.width >= size, image.height >= size else { continue }
            for (k, (x, y)) in [(0, 0), (image.width - size, 0), (0, image.height - size), (image.width - size, image.height - size)].enumerated() {
                var px = [UInt8]()
                for r in y..<(y + size) { px += image.pixels[((r * image.width + x) * 3)..<((r * image.width + x + size) * 3)] }
                var want = [Float](repeating: .nan, count: n)
                want.withUnsafeMutableBufferPointer {
                    Preprocess.inferenceTensor(RGBImage(width: size, height: size, pixels: px), size: size, into: $0.baseAddress!)
                }
                #expect(Array(five[(k * n)..<((k + 1) * n)]) == want, "\(name) size \(size): window \(k)")
            }
        }
    }
}
