import CoDEAugment
import CoDECore
import Testing

/// torchvision `RandomResizedCrop.get_params` logic, fed the float32 draws torchvision consumed
/// (recorded by the fixture script with the same seed), must give torchvision's box.
@Suite struct RandomResizedCropTests {
    @Test(arguments: 0..<8)
    func boxMatchesTorchvision(caseIndex k: Int) throws {
        let cfg = try Reference.doubles("rrc/\(k)/config")  // W, H, scale lo/hi, ratio lo/hi
        let draws = try Reference.doubles("rrc/\(k)/draws")  // per attempt: scale draw, log-ratio draw
        let expected = try Reference.integers("rrc/\(k)/box")  // top, left, height, width
        let rrc = RandomResizedCrop(size: 224, scale: cfg[2]...cfg[3], ratio: cfg[4]...cfg[5])
        var next = 0, integerCalls = 0
        // Integer draws: torchvision's randint results are the box's top and left.
        let box = rrc.box(width: Int(cfg[0]), height: Int(cfg[1]), uniform: { _, _ in
            defer { next += 1 }
            return draws[next]
        }, integer: { n in
            defer { integerCalls += 1 }
            let v = integerCalls == 0 ? expected[0] : expected[1]
            #expect(v >= 0 && v <= n, "draw \(v) outside 0...\(n)")
            return v
        })
        #expect([box.top, box.left, box.height, box.width] == expected, "case \(k)")
        // Same number of attempts consumed as torchvision (all 10 for a fallback).
        #expect(next == draws.count, "case \(k): consumed \(next) of \(draws.count) draws")
        // Either an attempt fitted (two offset draws) or all attempts failed (centred fallback).
        #expect(integerCalls == 2 || (integerCalls == 0 && next == 2 * rrc.attempts), "case \(k)")
    }

    @Test func fallbackIsCentredAndClampedToRatio() {
        // No attempt can fit: scale near 1 on a 20x200 strip forces the ratio-clamped centre crop.
        let rrc = RandomResizedCrop(size: 8, scale: 0.99...1, ratio: 0.75...(4.0 / 3.0))
        let box = rrc.box(width: 20, height: 200, uniform: { a, b in (a + b) / 2 }, integer: { _ in
            Issue.record("fallback must not draw offsets"); return 0
        })
        // in_ratio 0.1 < 0.75: w = 20, h = round(20 / 0.75) = 27, centred.
        #expect(box == CropBox(top: (200 - 27) / 2, left: 0, height: 27, width: 20))
    }

    @Test func seededBoxesStayInsideAndRespectScale() {
        let rrc = RandomResizedCrop(size: 32, scale: 0.05...0.4)
        var rng = Xoshiro256(seed: 11)
        for _ in 0..<500 {
            let b = rrc.box(width: 640, height: 480, using: &rng)
            #expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= 480 && b.left + b.width <= 640)
            // Rounding w and h to integers moves the area by at most (w + h + 1) / 2 pixels.
            let area = Double(b.width * b.height), slack = Double(b.width + b.height + 1) / 2
            #expect(area >= 0.05 * 640 * 480 - slack && area <= 0.4 * 640 * 480 + slack)
        }
    }
}
