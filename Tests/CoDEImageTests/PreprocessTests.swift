import CoDECore
@testable import CoDEImage
import Foundation
import Testing
import _CoDETestSupport

@Suite("Inference preprocessing parity with torchvision")
struct PreprocessTests {
    static let crops = ImageFixtures.names
    static let tensors = ImageFixtures.names.filter { ImageFixtures.reference.entry("\($0).tensor") != nil }

    // Tolerance: exact. CenterCrop only moves bytes and inserts zeros, so any difference is an
    // offset or padding error. The input is PIL's RGB (not our decoder) to isolate the crop.
    @Test("centerCrop equals torchvision CenterCrop", arguments: crops)
    func crop(name: String) throws {
        let size = try #require(Int(ImageFixtures.reference.metadata["\(name).crop_size"] ?? ""))
        let cropped = Preprocess.centerCrop(try ImageFixtures.pilRGB(name), size: size)
        let ref = try ImageFixtures.reference.integers("\(name).crop", shape: [size, size, 3]).map { UInt8($0) }
        let d = byteDiff(cropped.pixels, ref)
        #expect(d.count == 0, "\(name) crop \(size): \(d.count) bytes differ, max \(d.maxAbs)")
    }

    @Test("crop offsets round half to even; padding splits floor left / rest right")
    func offsets() {
        // Mathematical property of Python's round(k / 2): ties go to the even neighbour.
        let expected = [0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 2, 6: 3, 7: 4, 33: 16, 76: 38]
        for (k, v) in expected { #expect(Preprocess.roundHalfEvenHalf(k) == v, "round(\(k)/2)") }
        let img = RGBImage(width: 1, height: 1, pixels: [200, 100, 50])
        let c = Preprocess.centerCrop(img, size: 4)  // pad (4-1)//2 = 1 left/top, 2 right/bottom
        for y in 0..<4 {
            for x in 0..<4 {
                let v = Array(c.pixels[(y * 4 + x) * 3..<(y * 4 + x) * 3 + 3])
                #expect(v == ((x, y) == (1, 1) ? [200, 100, 50] : [0, 0, 0]), "pixel (\(x), \(y))")
            }
        }
    }

    // Tolerance: exact (max |diff| 0). torchvision computes (p/255 - mean)/std in float32 with IEEE
    // division and subtraction, the same operations in the same order as ImageNetNormalization;
    // this covers all 256 byte values per channel, so it covers every pixel normalisation.
    @Test("normalisation of every byte value equals ToTensor + Normalize")
    func normalizeLUT() throws {
        var px = [UInt8]()
        for v in 0..<256 { px += [UInt8(v), UInt8(v), UInt8(v)] }
        let got = ImageNetNormalization.normalized(RGBImage(width: 256, height: 1, pixels: px))
        let ref = try ImageFixtures.reference.floats("lut.tensor", shape: [3, 256])
        let d = TensorDiff(got, ref)
        #expect(d.maxAbs == 0, "\(d)")
    }

    // Tolerance: exact, end to end from the file: the decoder equals PIL exactly (see the parity
    // suite), the crop is a byte copy and normalisation is exact per value (LUT test above).
    @Test("decode + inferenceTensor equals PIL + torchvision", arguments: tensors)
    func endToEnd(name: String) throws {
        let size = try #require(Int(ImageFixtures.reference.metadata["\(name).crop_size"] ?? ""))
        let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
        var out = [Float](repeating: .nan, count: 3 * size * size)
        out.withUnsafeMutableBufferPointer { Preprocess.inferenceTensor(image, size: size, into: $0.baseAddress!) }
        let ref = try ImageFixtures.reference.floats("\(name).tensor", shape: [3, size, size])
        let d = TensorDiff(out, ref)
        #expect(d.maxAbs == 0, "\(name): \(d)")
    }

    // Tolerance: exact. The fused path must equal crop-then-normalise (both are exact per value).
    @Test("fused inferenceTensor equals normalize(centerCrop) for crop, pad and mixed axes")
    func fusedEqualsComposed() throws {
        let image = try ImageFixtures.pilRGB("jpeg_422_101x67.jpg")
        for size in [1, 30, 67, 68, 80, 101, 102, 150] {
            var fused = [Float](repeating: .nan, count: 3 * size * size), composed = fused
            fused.withUnsafeMutableBufferPointer { Preprocess.inferenceTensor(image, size: size, into: $0.baseAddress!) }
            composed.withUnsafeMutableBufferPointer { ImageNetNormalization.normalize(Preprocess.centerCrop(image, size: size), into: $0.baseAddress!) }
            #expect(fused == composed, "size \(size)")
        }
    }

    @Test("the fixture has end-to-end tensors for JPEG and PNG")
    func tensorCoverage() {
        #expect(Self.tensors.contains { $0.hasPrefix("jpeg_") } && Self.tensors.contains { $0.hasPrefix("png_") })
    }
}

@Suite("Region decoding for centre crops")
struct CenterCropDecodeTests {
    // Tolerance: exact. decodeCenterCrop must equal the full decode followed by centerCrop;
    // JPEGs of every subsampling, progressive, gray, CMYK, and sizes that crop, pad or both.
    @Test("decodeCenterCrop equals centerCrop(decode) for every fixture and many sizes", arguments: ImageFixtures.names)
    func matchesFullDecode(name: String) throws {
        let data = try Data(contentsOf: ImageFixtures.url(name))
        let full = try ImageDecoder.decode(data: data, source: name)
        for size in [1, 7, 16, 31, 32, 33, 48, 64, 100, 224] {
            let fast = try Preprocess.decodeCenterCrop(data: data, source: name, size: size)
            #expect(fast == Preprocess.centerCrop(full, size: size), "\(name) size \(size)")
        }
    }

    @Test("region decoding of larger generated 4:2:0 JPEGs (640x480, 301x517, 1000x250)")
    func largerJPEGs() throws {
        var rng = Xoshiro256(seed: 5)
        for (w, h) in [(640, 480), (301, 517), (1000, 250)] {
            var px = [UInt8](repeating: 0, count: w * h * 3)
            for i in px.indices { px[i] = UInt8(truncatingIfNeeded: (i / 3 % w) * 3 + (i / 3 / w) * 5 + Int(rng.next() % 24)) }
            let data = try ImageEncoder.jpeg(RGBImage(width: w, height: h, pixels: px), quality: 85)
            let full = try ImageDecoder.decode(data: data, source: "gen")
            for size in [224, 200, 97] {
                #expect(try Preprocess.decodeCenterCrop(data: data, source: "gen", size: size) == Preprocess.centerCrop(full, size: size),
                        "\(w)x\(h) size \(size)")
            }
        }
    }
}
