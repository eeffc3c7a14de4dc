import CoDEKit
@testable import CoDEServe
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import _CoDETestSupport

/// Every refusal: its status, its reason, a message naming the cause, `Retry-After` where it
/// applies; and the metrics that count them.
@Suite(.serialized) struct ErrorTests {
    static func error(_ r: TestResponse) throws -> ErrorBody { try HTTP.decode(ErrorResponse.self, r).error }

    /// Decoder refusals on a raw body: 415 for an unknown format, 422 for corrupt, truncated and
    /// over-the-pixel-limit images, each with the decoder's own message.
    @Test func imageErrors() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service(.init(decodeThreads: 2))
        let small = try ws.service(.init(maxPixels: 5000, decodeThreads: 2))
        let cases: [(String, Int, String, String)] = [
            ("images/bad/unknown.bin", 415, "unsupported_format", "unsupported format"),
            ("images/bad/jpeg_truncated.jpg", 422, "truncated_image", "truncated"),
            ("images/bad/png_bad_crc.png", 422, "corrupt_image", "corrupt PNG"),
            ("images/bad/png_huge.png", 422, "pixel_limit", "exceeds the pixel limit"),
            ("images/bad/jpeg_huge.jpg", 422, "pixel_limit", "exceeds the pixel limit"),
        ]
        try await ServiceWorkspace.app(service).test(.router) { client in
            for (path, status, reason, text) in cases {
                let r = try await client.execute(uri: "/v1/detect", method: .post, headers: [.contentType: "application/octet-stream"],
                                                 body: HTTP.bytes(Fixtures.url(path)))
                #expect(r.status.code == status, "\(path)")
                let e = try Self.error(r)
                #expect(e.status == status && e.reason == reason, "\(path): \(e)")
                #expect(e.message.contains(text), "\(path): \(e.message)")
                #expect(r.headers[.contentType]?.hasPrefix("application/json") == true)
            }
        }
        try await ServiceWorkspace.app(small).test(.router) { client in
            // 131 x 107 = 14,017 pixels > --max-pixels 5,000: the limit applies to ordinary images too.
            let big = ws.images.first { $0.lastPathComponent == "big-r.jpg" }!
            let r = try await client.execute(uri: "/v1/embed", method: .post, headers: HTTP.imageHeaders, body: HTTP.bytes(big))
            #expect(r.status.code == 422)
            #expect(try Self.error(r).reason == "pixel_limit")
        }
    }

    /// Request-level refusals: body and image-count limits (413), media type (415), empty body,
    /// malformed multipart, unknown classifier, bad threshold and crops (400), unknown route (404).
    @Test func requestErrors() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service(.init(maxBodyBytes: 4000, maxImages: 2, decodeThreads: 2))
        let small = try Data(contentsOf: ws.images.first { $0.lastPathComponent == "tiny-f.png" }!)
        try await ServiceWorkspace.app(service).test(.router) { client in
            func expectError(_ uri: String, _ method: HTTPRequest.Method = .post, headers: HTTPFields = HTTP.imageHeaders,
                             body: ByteBuffer?, _ status: Int, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let r = try await client.execute(uri: uri, method: method, headers: headers, body: body)
                #expect(r.status.code == status, "\(uri) \(reason)", sourceLocation: sourceLocation)
                let e = try Self.error(r)
                #expect(e.reason == reason && e.status == status, "\(e)", sourceLocation: sourceLocation)
            }
            let big = ByteBuffer(bytes: [UInt8](repeating: 0xFF, count: 4001))
            try await expectError("/v1/detect", body: big, 413, "body_too_large")
            try await expectError("/v1/embed", body: big, 413, "body_too_large")
            let (three, mp) = HTTP.multipart([("a.png", small), ("b.png", small), ("c.png", small)])
            try await expectError("/v1/detect", headers: mp, body: three, 413, "too_many_images")
            try await expectError("/v1/detect", headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"),
                                  415, "unsupported_media_type")
            try await expectError("/v1/detect", body: ByteBuffer(), 400, "empty_body")
            try await expectError("/v1/detect", body: nil, 400, "empty_body")
            try await expectError("/v1/detect", headers: [.contentType: "multipart/form-data"], body: ByteBuffer(string: "x"),
                                  400, "bad_multipart")
            var truncated = HTTP.multipart([("a.png", small)]).0
            truncated.moveWriterIndex(to: truncated.writerIndex - 40)
            try await expectError("/v1/detect", headers: mp, body: truncated, 400, "bad_multipart")
            try await expectError("/v1/detect?classifier=forest", body: ByteBuffer(bytes: small), 400, "bad_classifier")
            try await expectError("/v1/detect?threshold=abc", body: ByteBuffer(bytes: small), 400, "bad_threshold")
            try await expectError("/v1/detect?threshold=nan", body: ByteBuffer(bytes: small), 400, "bad_threshold")
            // Outside the classifier's score range: the tools' validation and message.
            for (query, kind, value) in [("classifier=linear&threshold=1.5", ClassifierKind.linear, 1.5),
                                         ("threshold=-0.01", .linear, -0.01), ("classifier=knn&threshold=2.5", .knn, 2.5),
                                         ("classifier=svm&threshold=inf", .svm, Double.infinity)] {
                let r = try await client.execute(uri: "/v1/detect?" + query, method: .post, headers: HTTP.imageHeaders, body: ByteBuffer(bytes: small))
                #expect(r.status.code == 400, "\(query)")
                let want = #expect(throws: ClassifierError.self) { try kind.validateThreshold(value) }
                #expect(try Self.error(r) == ErrorBody(status: 400, reason: "bad_threshold", message: "\(want!)"), "\(query)")
            }
            for query in ["classifier=knn&threshold=-2", "classifier=svm&threshold=-3.5", "threshold=1"] {
                let r = try await client.execute(uri: "/v1/detect?" + query, method: .post, headers: HTTP.imageHeaders, body: ByteBuffer(bytes: small))
                #expect(r.status == .ok, "\(query)")
            }
            try await expectError("/v1/embed?crops=seven", body: ByteBuffer(bytes: small), 400, "bad_crops")
            try await expectError("/v2/detect", body: ByteBuffer(bytes: small), 404, "not_found")
            // Two images within the limits still work.
            let (two, _) = HTTP.multipart([("a.png", small), ("b.png", small)])
            let r = try await client.execute(uri: "/v1/detect", method: .post, headers: mp, body: two)
            #expect(r.status == .ok)
            #expect(try HTTP.decode(DetectResponse.self, r).results.map(\.status) == ["ok", "ok"])
        }
    }

    /// A full queue refuses with 503 `queue_full` and `Retry-After`; a request that outlives the
    /// timeout gets 503 `timeout` and leaves the queue (nothing stays admitted).
    @Test func queueFullAndTimeout() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service(.init(batch: .init(maxBatch: 32, maxWait: 0, maxQueue: 2), timeout: 1.0, decodeThreads: 2))
        let (_, queue) = try service.ready()
        let body = try HTTP.bytes(ws.images[0])
        try await ServiceWorkspace.app(service).test(.router) { client in
            queue.hold()
            let started = Date()
            async let a = client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: body)
            async let b = client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: body)
            while queue.depth < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
            let full = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: body)
            #expect(full.status.code == 503)
            #expect(full.headers[.retryAfter] == "1")
            #expect(try Self.error(full).reason == "queue_full")
            let (ra, rb) = try await (a, b)
            for r in [ra, rb] {
                #expect(r.status.code == 503)
                #expect(try Self.error(r).reason == "timeout")
            }
            #expect(Date().timeIntervalSince(started) >= 1.0)
            #expect(queue.depth == 0)
            queue.resume()
            // The slots were released: the next request is admitted and answered.
            let ok = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: body)
            #expect(ok.status == .ok)
        }
    }

    /// Before the model is loaded: /healthz 200, /readyz 503, the API 503 `not_ready` with Retry-After.
    @Test func notReady() async throws {
        let service = DetectionService(configuration: .init(decodeThreads: 1))
        try await ServiceWorkspace.app(service).test(.router) { client in
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status.code == 503)
            #expect(try HTTP.decode(HealthResponse.self, ready).status == "not_ready")
            let r = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: ByteBuffer(string: "x"))
            #expect(r.status.code == 503 && r.headers[.retryAfter] == "1")
            #expect(try Self.error(r).reason == "not_ready")
            #expect(try await client.execute(uri: "/v1/model", method: .get).status.code == 503)
        }
        // A directory without classifiers cannot be served: readyz says why.
        let ws = try ServiceWorkspace()
        for kind in ["linear", "knn", "svm"] { try FileManager.default.removeItem(at: ws.model.appendingPathComponent("\(kind).safetensors")) }
        let failed = DetectionService(configuration: .init(decodeThreads: 1))
        #expect(throws: ModelDirectoryError.self) { try failed.load(ModelDirectory(ws.model)) }
        try await ServiceWorkspace.app(failed).test(.router) { client in
            let r = try await client.execute(uri: "/readyz", method: .get)
            #expect(r.status.code == 503)
            #expect(try HTTP.decode(HealthResponse.self, r).reason?.contains("no classifier") == true)
        }
    }

    /// /metrics is Prometheus text whose counters move with the requests: requests by endpoint
    /// and status, errors by reason, images by verdict, the batch-size histogram.
    @Test func metricsMove() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service()
        @Sendable func value(_ text: String, _ series: String) -> Double {
            for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
                return Double(line.split(separator: " ").last!) ?? .nan
            }
            return 0
        }
        try await ServiceWorkspace.app(service).test(.router) { client in
            let before = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            for f in ws.images.prefix(3) {
                _ = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: HTTP.bytes(f))
            }
            _ = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders,
                                         body: HTTP.bytes(Fixtures.url("images/bad/unknown.bin")))
            _ = try await client.execute(uri: "/nowhere", method: .get)
            let m = try await client.execute(uri: "/metrics", method: .get)
            #expect(m.status == .ok)
            #expect(m.headers[.contentType]?.hasPrefix("text/plain") == true)
            let after = String(buffer: m.body)
            let ok = #"codeserve_requests_total{endpoint="/v1/detect",status="200"}"#
            #expect(value(after, ok) - value(before, ok) == 3)
            let bad = #"codeserve_requests_total{endpoint="/v1/detect",status="415"}"#
            #expect(value(after, bad) - value(before, bad) == 1)
            let reason = #"codeserve_errors_total{reason="unsupported_format"}"#
            #expect(value(after, reason) - value(before, reason) == 1)
            #expect(value(after, #"codeserve_errors_total{reason="not_found"}"#) == 1)
            #expect(value(after, "codeserve_batch_size_count") - value(before, "codeserve_batch_size_count") == 3)
            #expect(value(after, "codeserve_batch_size_sum") - value(before, "codeserve_batch_size_sum") == 3)
            let verdicts = value(after, #"codeserve_images_total{classifier="linear",verdict="real"}"#)
                + value(after, #"codeserve_images_total{classifier="linear",verdict="fake"}"#)
            #expect(verdicts == 3)
            #expect(after.contains("codeserve_queue_depth 0"))
            #expect(after.contains(#"codeserve_request_seconds_bucket{endpoint="/v1/detect""#))
            #expect(after.contains("codeserve_encoder_batch_seconds_count"))
        }
    }
}
