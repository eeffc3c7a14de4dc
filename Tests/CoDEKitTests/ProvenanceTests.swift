import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// Crop layout and encoder SHA-256 recorded with embeddings and classifiers, and checked.
@Suite struct ProvenanceTests {
    func sha256sum(_ url: URL) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [url.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let s = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(s.prefix(64))
    }

    /// A copy of the tiny transformers fixture (32-d) with a linear classifier saved with `metadata`.
    func modelWithClassifier(_ metadata: [String: String]) throws -> (ModelDirectory, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-prov-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: Fixtures.url("model/tiny-transformers/\(f)"), to: dir.appendingPathComponent(f))
        }
        let file = dir.appendingPathComponent("linear.safetensors")
        try LogisticRegression(coefficients: [Double](repeating: 0.01, count: 32), intercept: 0).save(to: file, metadata: metadata)
        return (try ModelDirectory(dir), file)
    }

    @Test("EncoderIdentity is sha256sum of model.safetensors (folder) or of the file itself")
    func encoderIdentity() throws {
        let weights = Fixtures.url("model/tiny-transformers/model.safetensors")
        let ref = try sha256sum(weights)
        #expect(try EncoderIdentity.sha256(modelAt: weights.deletingLastPathComponent()) == ref)
        #expect(try EncoderIdentity.sha256(modelAt: weights) == ref)
    }

    @Test("a classifier recording another encoder is refused, naming both digests; its own encoder passes without warnings")
    func detectorEncoderCheck() throws {
        let other = String(repeating: "ab", count: 32)
        let (m1, c1) = try modelWithClassifier(["crops": "center", "encoder_sha256": other])
        let mine = try sha256sum(m1.url.appendingPathComponent("model.safetensors"))
        #expect(throws: ProvenanceError.encoderMismatch(classifier: c1.path, classifierSHA256: other, encoder: m1.url.path, encoderSHA256: mine)) {
            try Detector(model: m1, classifier: "linear")
        }
        let message = "\(ProvenanceError.encoderMismatch(classifier: "c", classifierSHA256: other, encoder: "m", encoderSHA256: mine))"
        #expect(message.contains(other) && message.contains(mine))
        let (m2, _) = try modelWithClassifier(["crops": "center", "encoder_sha256": mine])
        #expect(try Detector(model: m2, classifier: "linear").warnings.isEmpty)
        // An earlier file (neither field): used, with one warning per missing field.
        let (m3, c3) = try modelWithClassifier([:])
        let w = try Detector(model: m3, classifier: "linear").warnings
        #expect(w.count == 2 && w.allSatisfy { $0.hasPrefix("warning: classifier \(c3.path) records no") }, "\(w)")
        // Overriding the recorded crops is allowed, with a warning.
        let o = try Detector(model: m2, classifier: "linear", crops: .five)
        #expect(o.embedder.crops == .five && o.warnings.count == 1 && o.warnings[0].contains("--crops five overrides the 'center' crops"))
    }

    @Test("the bundled classifiers with the bundled encoder: matched, no warnings; they stand for the bundled encoder's digest")
    func bundled() throws {
        let b = try ModelDirectory.bundled()
        for kind in ["linear", "knn", "svm"] {
            #expect(try Detector(model: b, classifier: kind).warnings.isEmpty)
            let url = try b.classifierURL(kind)
            let (_, meta) = try ClassifierFile.open(url)
            #expect(meta.values["encoder_sha256"] == nil)  // the shipped files predate the field
            let p = try Provenance.of(classifierAt: url, metadata: meta)
            #expect(p == Provenance(crops: "five", encoderSHA256: try sha256sum(b.url.appendingPathComponent("model.safetensors"))))
        }
    }

    @Test("embeddings against a classifier: crops or encoder that differ are errors naming both; unknown fields warn")
    func check() throws {
        let five = Provenance(crops: "five", encoderSHA256: "aa"), center = Provenance(crops: "center", encoderSHA256: "aa")
        #expect(try Provenance.check(classifier: five, classifierName: "k", embeddings: five, embeddingsName: "e").isEmpty)
        #expect(throws: ProvenanceError.cropsMismatch(classifier: "k", classifierCrops: "five", embeddings: "e", embeddingsCrops: "center")) {
            try Provenance.check(classifier: five, classifierName: "k", embeddings: center, embeddingsName: "e")
        }
        #expect(throws: ProvenanceError.encoderMismatch(classifier: "k", classifierSHA256: "aa", encoder: "e", encoderSHA256: "bb")) {
            try Provenance.check(classifier: five, classifierName: "k", embeddings: Provenance(crops: "five", encoderSHA256: "bb"), embeddingsName: "e")
        }
        let w = try Provenance.check(classifier: five, classifierName: "k", embeddings: Provenance(crops: nil, encoderSHA256: nil), embeddingsName: "e")
        #expect(w.count == 2 && w.allSatisfy { $0.hasPrefix("warning: e records no") })
        // Rows of one file must agree.
        let rows = try EmbeddingsJSONL.parse(Data("""
            {"path":"a","embedding":[1],"crops":"five","encoder_sha256":"aa"}
            {"path":"b","embedding":[2],"crops":"five","encoder_sha256":"bb"}
            """.utf8), source: "m.jsonl")
        #expect(throws: ProvenanceError.mixed(source: "m.jsonl", field: "encoder_sha256", values: ["aa", "bb"])) {
            try Provenance.of(records: rows, source: "m.jsonl")
        }
        #expect(try Provenance.of(records: Array(rows.prefix(1)), source: "m.jsonl") == five)
    }
}
