import CoDEKit
@testable import CoDEServe
import Foundation
import Testing

/// The multipart reader and the five-crop compaction, on their own.
@Suite struct UnitTests {
    @Test func multipartBoundary() throws {
        #expect(try Multipart.boundary(contentType: "image/png") == nil)
        #expect(try Multipart.boundary(contentType: #"multipart/form-data; boundary="a b""#) == "a b")
        #expect(try Multipart.boundary(contentType: "Multipart/Form-Data;charset=utf-8; BOUNDARY=xyz") == "xyz")
        #expect(throws: ServiceError.badMultipart("content type has no boundary parameter")) {
            try Multipart.boundary(contentType: "multipart/form-data")
        }
    }

    /// A preamble, a quoted filename with an escaped quote, a part with no headers, a body that
    /// contains "--", the closing delimiter and an epilogue.
    @Test func multipartParts() throws {
        let text = "preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a \\\"q\\\".png\"\r\n"
            + "Content-Type: image/png\r\n\r\nAB\r\n--xyz\r\n\r\nEF--\r\n--xyz--\r\nepilogue"
        let parts = try Multipart.parse(Data(text.utf8), boundary: "xyz", maxParts: 10)
        #expect(parts == [
            FormPart(name: "f", filename: "a \"q\".png", contentType: "image/png", body: Data("AB".utf8)),
            FormPart(name: nil, filename: nil, contentType: nil, body: Data("EF--".utf8)),
        ])
    }

    @Test func multipartRefusals() throws {
        func reason(_ text: String, maxParts: Int = 10) -> String? {
            do { _ = try Multipart.parse(Data(text.utf8), boundary: "xyz", maxParts: maxParts); return nil } catch let e as ServiceError {
                return e.reason
            } catch { return "\(error)" }
        }
        #expect(reason("no boundary here") == "bad_multipart")
        #expect(reason("--xyz\r\nContent-Type: image/png\r\n\r\nAB") == "bad_multipart")  // no closing delimiter
        #expect(reason("--xyz\r\nnot a header\r\n\r\nAB\r\n--xyz--") == "bad_multipart")
        #expect(reason("--xyz\r\nX: 1") == "bad_multipart")  // headers never end
        #expect(reason("--xyzJUNK") == "bad_multipart")
        #expect(reason("--xyz\r\n\r\nA\r\n--xyz\r\n\r\nB\r\n--xyz--", maxParts: 1) == "too_many_images")
        #expect(reason("--xyz\r\n\r\nA\r\n--xyz\r\n\r\nB\r\n--xyz--", maxParts: 2) == nil)
    }

    /// The compacted image has the same five windows, pixel for pixel, as the full image.
    @Test func fiveCropCompaction() {
        var rng = Xoshiro256(seed: 5)
        let S = 16
        for (w, h) in [(100, 50), (47, 200), (48, 48), (49, 10), (300, 301), (10, 12)] {
            let image = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            let c = ServiceDecode.compactForFiveCrops(image, size: S)
            #expect(c.width == (w > 3 * S ? 3 * S : w) && c.height == (h > 3 * S ? 3 * S : h))
            let a = CropLayout.five.distinctOrigins(width: w, height: h, size: S)
            let b = CropLayout.five.distinctOrigins(width: c.width, height: c.height, size: S)
            #expect(a.map(\.count) == b.map(\.count), "\(w)x\(h)")
            var t1 = [Float](repeating: 0, count: 3 * S * S), t2 = t1
            for (o1, o2) in zip(a, b) {
                Preprocess.windowTensor(image, x: o1.x, y: o1.y, size: S, into: &t1)
                Preprocess.windowTensor(c, x: o2.x, y: o2.y, size: S, into: &t2)
                #expect(t1 == t2, "\(w)x\(h) window \(o1)")
            }
        }
    }
}
