import CoDEClassifiers
import CoDEKit
@testable import CoDEServe
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import _CoDETestSupport

@Suite(.serialized) struct ServiceTests {
    /// The service's score and verdict for an image equal the library's `Detector` on a file of
    /// the same bytes, exactly (one image per forward on both sides), for each classifier: centre
    /// crops (linear, knn) and five crops (svm; its large images go through the five-crop
    /// compaction), with and without a threshold.
    @Test func detectEqualsDetector() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service()
        let dir = try ModelDirectory(ws.model)
        try await ServiceWorkspace.app(service).test(.router) { client in
            for name in ["linear", "knn", "svm"] {
                for threshold in [nil, 0.25] as [Double?] {
                    let detector = try Detector(model: dir, classifier: name, threshold: threshold)
                    var uri = "/v1/detect?classifier=\(name)"
                    if let threshold { uri += "&threshold=\(threshold)" }
                    for file in ws.images {
                        let want = try detector.detect(files: [file], batchSize: 1)[0]
                        let r = try await client.execute(uri: uri, method: .post, headers: HTTP.imageHeaders, body: HTTP.bytes(file))
                        #expect(r.status == .ok)
                        let got = try HTTP.decode(DetectResponse.self, r)
                        #expect(got.classifier == name && got.results.count == 1)
                        let row = got.results[0]
                        #expect(row.status == "ok" && row.name == "image")
                        #expect(row.score == want.score, "\(name) \(file.lastPathComponent)")
                        #expect(row.verdict == want.verdict?.rawValue, "\(name) \(file.lastPathComponent)")
                        #expect(row.crops == (name == "svm" ? "five" : "center"))
                        #expect(row.threshold == threshold ?? ServiceModel.defaultThreshold(ClassifierKind(rawValue: name)!))
                        #expect(row.batchSize == 1)
                    }
                }
            }
        }
    }

    /// Without `classifier=` the service uses `linear`; `/v1/embed` returns the embedding
    /// `Embedder` computes for the same file, exactly, for either crop layout.
    @Test func defaultClassifierAndEmbed() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service()
        let file = ws.images[0]
        try await ServiceWorkspace.app(service).test(.router) { client in
            let r = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: HTTP.bytes(file))
            let linear = try Detector(model: ModelDirectory(ws.model), classifier: "linear").detect(files: [file], batchSize: 1)[0]
            #expect(try HTTP.decode(DetectResponse.self, r).results[0].score == linear.score)
            for crops in CropLayout.allCases {
                let embedder = try Embedder(modelAt: ws.model)
                embedder.crops = crops
                var want: [Float]?
                embedder.embed(files: [file], batchSize: 5) { want = $0.embedding }
                let e = try await client.execute(uri: "/v1/embed?crops=\(crops.rawValue)", method: .post, headers: HTTP.imageHeaders,
                                                 body: HTTP.bytes(file))
                #expect(e.status == .ok)
                let got = try HTTP.decode(EmbedResponse.self, e)
                #expect(got.dimension == 32 && got.crops == crops.rawValue)
                #expect(got.results[0].embedding == want, "\(crops)")
            }
        }
    }

    /// Concurrent requests are gathered into one encoder forward (the queue is held until all
    /// eight are queued) and give the same verdicts as one-by-one requests, with scores equal to
    /// within float32 GEMM row-blocking noise; a multipart request of several images is batched
    /// the same way.
    @Test func batchingMatchesOneByOne() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service(.init(batch: .init(maxBatch: 32, maxWait: 0.5, maxQueue: 64), decodeThreads: 2))
        let (_, queue) = try service.ready()
        let files = Array(ws.images.prefix(8))
        try await ServiceWorkspace.app(service).test(.router) { client in
            var single: [Double] = []
            for f in files {
                let r = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: HTTP.bytes(f))
                single.append(try HTTP.decode(DetectResponse.self, r).results[0].score!)
            }
            #expect(queue.batchSizes == [Int](repeating: 1, count: 8))
            queue.hold()
            let batched = try await withThrowingTaskGroup(of: (Int, ImageDetection).self) { group in
                for (i, f) in files.enumerated() {
                    let body = try HTTP.bytes(f)
                    group.addTask {
                        let r = try await client.execute(uri: "/v1/detect", method: .post, headers: HTTP.imageHeaders, body: body)
                        return (i, try HTTP.decode(DetectResponse.self, r).results[0])
                    }
                }
                while queue.depth < files.count { try await Task.sleep(nanoseconds: 5_000_000) }
                queue.resume()
                var out = [ImageDetection?](repeating: nil, count: files.count)
                for try await (i, row) in group { out[i] = row }
                return out.map { $0! }
            }
            #expect(queue.batchSizes.suffix(1) == [8])
            #expect(batched.allSatisfy { $0.batchSize == 8 && $0.status == "ok" })
            let detector = try Detector(model: ModelDirectory(ws.model), classifier: "linear")
            for (k, f) in files.enumerated() {
                let want = try detector.detect(files: [f], batchSize: 1)[0]
                #expect(single[k] == want.score)
                #expect(abs(batched[k].score! - single[k]) < 1e-6, "\(f.lastPathComponent): \(batched[k].score!) vs \(single[k])")
                #expect(batched[k].verdict == want.verdict?.rawValue)
            }
            // One multipart request with all eight (and a broken file in the middle): one batch of eight, same verdicts.
            var parts = try files.map { ($0.lastPathComponent, try Data(contentsOf: $0)) }
            parts.insert(("broken.png", Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2])), at: 3)
            let (body, headers) = HTTP.multipart(parts)
            let r = try await client.execute(uri: "/v1/detect", method: .post, headers: headers, body: body)
            #expect(r.status == .ok)
            let got = try HTTP.decode(DetectResponse.self, r).results
            #expect(got.map(\.name) == parts.map(\.0))
            #expect(got[3].status == "error" && got[3].error?.reason == "truncated_image" && got[3].error?.status == 422)
            #expect(got[3].error?.message.contains("broken.png") == true)
            let good = got.enumerated().filter { $0.offset != 3 }.map(\.element)
            for (k, row) in good.enumerated() {
                #expect(abs(row.score! - single[k]) < 1e-6 && row.verdict == batched[k].verdict)
            }
            #expect(queue.batchSizes.last == 8)
        }
    }

    /// `GET /v1/model`: the encoder's SHA-256 equals `sha256sum` of its weights; the classifiers,
    /// their crops and default thresholds are the ones in the directory.
    @Test func modelInfo() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [ws.model.appendingPathComponent("model.safetensors").path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let want = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ")[0]
        try await ServiceWorkspace.app(service).test(.router) { client in
            let r = try await client.execute(uri: "/v1/model", method: .get)
            #expect(r.status == .ok)
            let info = try HTTP.decode(ModelInfo.self, r)
            #expect(info.encoder.sha256 == String(want))
            #expect(info.encoder.sha256 == (try EncoderIdentity.sha256(modelAt: ws.model)))  // as the tools record it
            #expect(info.classifiers.allSatisfy { !$0.calibrated })
            #expect(info.encoder.embeddingDimension == 32 && info.encoder.imageSize == 32)
            #expect(info.classifiers.map(\.name) == ["linear", "knn", "svm"])
            #expect(info.classifiers.map(\.crops) == ["center", "center", "five"])
            #expect(info.classifiers.map(\.defaultThreshold) == [0.5, nil, 0])
            #expect(info.defaultClassifier == "linear")
            #expect(info.summary == nil && info.limitations.isEmpty)  // this directory has no model card
            #expect(info.encoder.precision == "fp32" && info.encoder.requestedPrecision == "fp32" && info.encoder.precisionNote == nil)
        }
    }

    /// `--precision bf16` (ServiceConfiguration.precision): /v1/model reports the precision in use.
    @Test func modelInfoPrecision() async throws {
        let ws = try ServiceWorkspace()
        let service = try ws.service(.init(decodeThreads: 2, precision: .bf16))
        try await ServiceWorkspace.app(service).test(.router) { client in
            let r = try await client.execute(uri: "/v1/model", method: .get)
            let info = try HTTP.decode(ModelInfo.self, r)
            #expect(info.encoder.requestedPrecision == "bf16")
            // bf16 where this CPU runs it natively, else fp32 with the reason.
            #expect(info.encoder.precision == "bf16" || (info.encoder.precision == "fp32" && info.encoder.precisionNote != nil), "\(info.encoder)")
        }
    }

    /// A threshold `code-calibrate` recorded in a classifier file is the default threshold of its
    /// verdicts (as in `Detector(model:classifier:)`, which code-detect uses), reported by
    /// /v1/model; a request's `threshold=` still overrides it.
    @Test func calibratedThreshold() async throws {
        let ws = try ServiceWorkspace()
        let url = ws.model.appendingPathComponent("linear.safetensors")
        let (file, meta) = try ClassifierFile.open(url)
        let c = try AnyClassifier.load(file, metadata: meta)
        // A threshold between the images' p(fake) values, so it changes some verdicts.
        let p = try Detector(model: ModelDirectory(ws.model), classifier: "linear").detect(files: ws.images).compactMap(\.score).sorted()
        let t = (p[p.count / 2 - 1] + p[p.count / 2]) / 2
        var m = meta.values
        m[ThresholdCalibration.thresholdKey] = "\(t)"
        try c.save(to: url, metadata: m)
        let reference = try Detector(model: ModelDirectory(ws.model), classifier: "linear")
        #expect(reference.threshold == t)
        let service = try ws.service()
        try await ServiceWorkspace.app(service).test(.router) { client in
            let info = try HTTP.decode(ModelInfo.self, try await client.execute(uri: "/v1/model", method: .get))
            #expect(info.classifiers[0].defaultThreshold == t && info.classifiers[0].calibrated)
            #expect(info.classifiers.dropFirst().allSatisfy { !$0.calibrated })
            for override in [nil, 0.5] as [Double?] {
                let want = try Detector(model: ModelDirectory(ws.model), classifier: "linear", threshold: override).detect(files: ws.images)
                let (body, headers) = HTTP.multipart(try ws.images.map { ($0.lastPathComponent, try Data(contentsOf: $0)) })
                let r = try await client.execute(uri: "/v1/detect?classifier=linear" + (override.map { "&threshold=\($0)" } ?? ""),
                                                 method: .post, headers: headers, body: body)
                let got = try HTTP.decode(DetectResponse.self, r)
                #expect(got.threshold == (override ?? t))
                #expect(got.results.map(\.verdict) == want.map { $0.verdict?.rawValue })
                #expect(Set(got.results.compactMap(\.verdict)).count == 2)
            }
        }
    }

    /// A classifier that records another encoder's SHA-256 is refused at load, with the tools' error.
    @Test func encoderMismatch() throws {
        let ws = try ServiceWorkspace()
        let url = ws.model.appendingPathComponent("knn.safetensors")
        let (file, meta) = try ClassifierFile.open(url)
        var m = meta.values
        let other = String(repeating: "0", count: 64)
        m[Provenance.encoderKey] = other
        try AnyClassifier.load(file, metadata: meta).save(to: url, metadata: m)
        let sha = try EncoderIdentity.sha256(modelAt: ws.model)
        #expect(throws: ProvenanceError.encoderMismatch(classifier: url.path, classifierSHA256: other, encoder: ws.model.path, encoderSHA256: sha)) {
            _ = try ws.service()
        }
    }

    /// The bundled model's card gives the summary and the "can and cannot detect" bullets.
    @Test func modelCard() throws {
        let card = ModelCard(url: BundledModel.directory.appendingPathComponent("MODEL_CARD.md"))
        let text = try String(contentsOf: BundledModel.directory.appendingPathComponent("MODEL_CARD.md"), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        #expect(card.summary.map { "# " + $0 } == lines.first)
        let section = lines.drop { !$0.contains("What it can and cannot detect") }.dropFirst().prefix { !$0.hasPrefix("#") }
        #expect(card.limitations.count == section.filter { $0.hasPrefix("- ") }.count)
        #expect(card.limitations.count > 0)
    }

    /// `/` serves the web page from the package's resources: a labelled file input, the calls it
    /// makes, and nothing loaded from elsewhere (no external scripts, styles, fonts).
    @Test func webPage() async throws {
        let service = DetectionService(configuration: .init(decodeThreads: 1))
        try await ServiceWorkspace.app(service).test(.router) { client in
            let r = try await client.execute(uri: "/", method: .get)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/html; charset=utf-8")
            let html = String(buffer: r.body)
            #expect(html.contains(#"<input type="file" id="files" name="files" accept="image/*" multiple>"#))
            #expect(html.contains(#"<label class="drop" id="drop" for="files">"#))
            #expect(html.contains(#"fetch("v1/detect?""#) && html.contains(#"fetch("v1/model")"#))
            for external in ["http://", "https://", "src=\"//", "href=\"//", "@import", "url("] {
                #expect(!html.contains(external), "\(external)")
            }
        }
    }
}
