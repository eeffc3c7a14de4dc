import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// The bundled default model: present in the build, loadable in one call, with its three
/// classifiers and model card, and it labels images.
@Suite struct BundledModelTests {
    /// The digest the tools print for --version is the bundled model's.
    @Test func versionRecordsTheBundledModelDigest() throws {
        #expect(try EncoderIdentity.sha256(modelAt: BundledModel.directory) == CoDEKitVersion.bundledModelSHA256)
    }

    @Test func loadsInOneCallAndDetects() throws {
        let dir = try ModelDirectory.bundled()
        for f in ["config.json", "model.safetensors", "linear.safetensors", "knn.safetensors", "svm.safetensors", "MODEL_CARD.md"] {
            #expect(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent(f).path), "\(f)")
        }
        #expect(try ViT.readTransformersConfig(dir.url.appendingPathComponent("config.json")) == .tiny)
        let detector = try Detector(model: dir)
        // The bundled classifiers were fitted on five-crop embeddings (model card) and say so.
        for name in ["linear", "knn", "svm"] { #expect(try CropLayout.recorded(in: dir.classifierURL(name)) == .five, "\(name)") }
        #expect(detector.embedder.crops == .five)
        let files = ["jpeg_444_260x241.jpg", "png_l_57x43.png", "bad/jpeg_truncated.jpg"].map { Fixtures.url("images/" + $0) }
        let rows = try detector.detect(files: files)
        #expect(rows.map(\.status) == ["ok", "ok", "error"])
        #expect(rows.prefix(2).allSatisfy { $0.verdict != nil && ($0.score ?? -1) >= 0 && ($0.score ?? 2) <= 1 })  // p(fake)
        for name in ["knn", "svm"] { _ = try Detector(model: dir, classifier: name) }
    }
}
