import CoDEClassifiers
import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// code-calibrate run as a user runs it, on the tiny fixture encoder with a linear classifier
/// fitted by code-fit: the threshold it stores is the one code-detect then applies, the rate it
/// reports is what code-detect's verdicts give on the same images, and the bundled model is
/// never written.
@Suite("Tools: code-calibrate")
struct CalibrateToolTests {
    /// A copy of the tiny encoder with `linear.safetensors` fitted on four fixture images.
    static func model() throws -> URL {
        let root = try Tool.tempDir()
        let fm = FileManager.default
        let data = root.appendingPathComponent("data")
        for sub in ["real", "fake"] { try fm.createDirectory(at: data.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try fm.copyItem(at: Fixtures.url("images/jpeg_422_101x67.jpg"), to: data.appendingPathComponent("real/a.jpg"))
        try fm.copyItem(at: Fixtures.url("images/png_l_57x43.png"), to: data.appendingPathComponent("real/b.png"))
        try fm.copyItem(at: Fixtures.url("images/jpeg_420_odd_45x31.jpg"), to: data.appendingPathComponent("fake/c.jpg"))
        try fm.copyItem(at: Fixtures.url("images/png_rgba_101x67.png"), to: data.appendingPathComponent("fake/d.png"))
        let model = root.appendingPathComponent("model")
        try fm.copyItem(at: Fixtures.url("model/tiny-transformers"), to: model)
        let fit = try Tool.run("code-fit", ["--classifier", "linear", "--data", data.path, "--model", model.path, "--crops", "center"])
        #expect(fit.status == 0, "\(fit.stderr)")
        return model
    }

    /// (path, verdict, score) of code-detect's CSV rows with status ok.
    static func rows(_ csv: String) -> [(path: String, verdict: String, score: Double)] {
        csv.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 4, f[1] == "ok", let s = Double(f[3]) else { return nil }
            return (f[0], f[2], s)
        }
    }

    @Test("the stored threshold meets the target on the real images, and code-detect applies it")
    func calibrateThenDetect() throws {
        let model = try Self.model()
        let real = Fixtures.url("images").path  // 48 readable images and 15 broken ones
        let before = try Tool.run("code-detect", ["--model", model.path, "--format", "csv", real])
        let scores = Self.rows(before.stdout).map(\.score)
        #expect(scores.count == 48, "\(before.stderr)")
        let r = try Tool.run("code-calibrate", ["--model", model.path, "--real", real, "--fpr", "0.1"])
        #expect(r.status == 1, "broken images are named and the run exits 1: \(r.stderr)")
        #expect(r.stderr.contains("skipping") && r.stderr.contains("truncated JPEG file"), "\(r.stderr)")
        // The file records the calibration, next to code-fit's provenance.
        let (_, meta) = try ClassifierFile.open(model.appendingPathComponent("linear.safetensors"))
        let t = try #require(try ThresholdCalibration.recordedThreshold(in: meta))
        #expect(meta.values["encoder_sha256"] != nil && meta.values["crops"] == "center")
        #expect(meta.values[ThresholdCalibration.realImagesKey] == "48")
        // The same threshold from the scores code-detect printed (the library's rule on them).
        let expected = try ThresholdCalibration(kind: .linear, realScores: scores, targetFalsePositiveRate: 0.1)
        #expect(abs(t - expected.threshold) <= 1e-12 * max(1, abs(t)), "\(t) vs \(expected.threshold)")
        // code-detect now uses it: its fake verdicts on these real images are the reported false positives.
        let after = try Tool.run("code-detect", ["--model", model.path, "--format", "csv", real])
        #expect(after.stderr.contains("using the calibrated threshold"), "\(after.stderr)")
        let fakes = Self.rows(after.stdout).filter { $0.verdict == "fake" }.count
        #expect(fakes == expected.falsePositives && Double(fakes) / 48 <= 0.1)
        #expect(r.stdout.contains("\(fakes) of 48 real images called fake"), "\(r.stdout)")
        // An explicit --threshold still wins.
        let explicit = try Tool.run("code-detect", ["--model", model.path, "--format", "csv", "--threshold", "0", real])
        #expect(Self.rows(explicit.stdout).allSatisfy { $0.verdict == "fake" })
    }

    @Test("never the bundled model; bad --fpr and missing --real are usage errors (exit 2)")
    func refusals() throws {
        let bundledLinear = BundledModel.directory.appendingPathComponent("linear.safetensors")
        let before = try Data(contentsOf: bundledLinear)
        let none = try Tool.run("code-calibrate", ["--real", Fixtures.url("images/jpeg_422_101x67.jpg").path])
        #expect(none.status == 2 && none.stderr.contains("never writes into the bundled model"), "\(none.stderr)")
        let inside = try Tool.run("code-calibrate", ["--model", BundledModel.directory.path, "--real", Fixtures.url("images/jpeg_422_101x67.jpg").path])
        #expect(inside.status == 2 && inside.stderr.contains("inside the bundled model"), "\(inside.stderr)")
        #expect(try Data(contentsOf: bundledLinear) == before)
        let bad = try Tool.run("code-calibrate", ["--real", "x", "--fpr", "1.5"])
        #expect(bad.status == 2 && bad.stderr.contains("--fpr must lie strictly between 0 and 1"), "\(bad.stderr)")
        let missing = try Tool.run("code-calibrate", ["--fpr", "0.05"])
        #expect(missing.status == 2 && missing.stderr.contains("--real"), "\(missing.stderr)")
    }
}
