import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// The example executables run as a user runs them: exit codes and messages. `swift build` builds
/// them next to the test bundle before `swift test` runs; a missing binary is a failure, never a skip.
enum Tool {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// The folder holding the built tools: the test bundle's folder (Linux: the `.xctest`
    /// executable; macOS: the bundle's parent).
    static let binDir: URL? = {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var candidates = [exe.deletingLastPathComponent(), Bundle.main.bundleURL.deletingLastPathComponent()]
        var u = exe
        for _ in 0..<4 { u = u.deletingLastPathComponent(); candidates.append(u) }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("code-detect").path) }
    }()

    /// Runs `name args` with stdin closed; fails the test if the binary is not there.
    static func run(_ name: String, _ args: [String], cwd: URL? = nil, env extra: [String: String] = [:],
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        guard let dir = binDir else {
            Issue.record("the built \(name) was not found next to the test bundle (\(CommandLine.arguments[0])); run `swift build` first",
                         sourceLocation: sourceLocation)
            throw CancellationError()
        }
        let p = Process()
        p.executableURL = dir.appendingPathComponent(name)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        env.merge(extra) { $1 }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        if let cwd { p.currentDirectoryURL = cwd }
        try p.run()
        // Read both pipes while the tool runs (a full pipe would block it).
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return Run(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    static func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-tools-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }
}

@Suite("Tools: code-train")
struct CodeTrainToolTests {
    /// real/ with two images, fake/ with one image and one file that is not an image.
    func datasetWithOneUnreadableFake() throws -> URL {
        let d = try Tool.tempDir()
        let fm = FileManager.default
        for sub in ["real", "fake"] { try fm.createDirectory(at: d.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try fm.copyItem(at: Fixtures.url("images/jpeg_420_223x225.jpg"), to: d.appendingPathComponent("real/a.jpg"))
        try fm.copyItem(at: Fixtures.url("images/jpeg_422_101x67.jpg"), to: d.appendingPathComponent("real/b.jpg"))
        try fm.copyItem(at: Fixtures.url("images/jpeg_420_odd_45x31.jpg"), to: d.appendingPathComponent("fake/c.jpg"))
        try Data("this is not a JPEG".utf8).write(to: d.appendingPathComponent("fake/broken.jpg"))
        return d
    }

    @Test("a run that cannot make a step names the skipped file and exits 1, fresh and with --resume")
    func noProgress() throws {
        let data = try datasetWithOneUnreadableFake()
        let out = data.appendingPathComponent("run")
        let args = ["--data", data.path, "--output", out.path, "--config", "tiny32", "--epochs", "1", "--pairs-per-batch", "2",
                    "--micro-batch", "2", "--threads", "1"]
        let r = try Tool.run("code-train", args)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("skipped a (real, fake) pair") && r.stderr.contains("broken.jpg"), "\(r.stderr)")
        #expect(r.stderr.contains("no training step could be made (at step 0 of 1)"), "\(r.stderr)")
        // No step-0 checkpoint is left behind, so the same command can be rerun as it is.
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoint").path))
        let again = try Tool.run("code-train", args)
        #expect(again.status == 1 && again.stderr.contains("broken.jpg"), "\(again.stderr)")
        // --resume from a real checkpoint that cannot go further fails the same way.
        let good = try Tool.tempDir()
        let fm = FileManager.default
        for sub in ["real", "fake"] { try fm.copyItem(at: data.appendingPathComponent(sub), to: good.appendingPathComponent(sub)) }
        try fm.removeItem(at: good.appendingPathComponent("fake/broken.jpg"))
        try fm.copyItem(at: Fixtures.url("images/jpeg_422_101x67.jpg"), to: good.appendingPathComponent("fake/d.jpg"))
        let goodArgs = ["--data", good.path, "--output", out.path, "--config", "tiny32", "--epochs", "2", "--pairs-per-batch", "2",
                        "--micro-batch", "2", "--threads", "1", "--max-steps", "1"]
        let first = try Tool.run("code-train", goodArgs)
        #expect(first.status == 0 && first.stdout.contains("stopped at step 1 of 2"), "\(first.stdout)\(first.stderr)")
        try fm.removeItem(at: good.appendingPathComponent("fake/d.jpg"))
        try Data("not an image either".utf8).write(to: good.appendingPathComponent("fake/d.jpg"))
        let resumed = try Tool.run("code-train", goodArgs.dropLast(2) + ["--resume"])
        #expect(resumed.status == 1, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("d.jpg") && resumed.stderr.contains("no training step could be made (at step 1 of 2)"), "\(resumed.stderr)")
    }

    @Test("negative, NaN or infinite --lr, --warmup-epochs, --weight-decay are usage errors (exit 2), not traps",
          arguments: [("--lr", "-1"), ("--lr", "nan"), ("--warmup-epochs", "-2"), ("--warmup-epochs", "inf"),
                      ("--weight-decay", "-0.5"), ("--clip-norm", "-1")])
    func badHyperparameters(flag: String, value: String) throws {
        let r = try Tool.run("code-train", ["--data", "/nonexistent", "--output", "/nonexistent/out", flag, value])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("\(flag) must be a finite number >= 0"), "\(r.stderr)")
    }
}

/// Embeddings JSONL written by code-embed with the bundled model, once per test process.
enum BundledEmbeddings {
    static let file: Result<URL, any Error> = Result {
        let dir = try Tool.tempDir()
        let out = dir.appendingPathComponent("five.jsonl")
        // No --model: code-embed defaults to the bundled model.
        let r = try Tool.run("code-embed", ["--crops", "five", "--output", out.path,
                                            Fixtures.url("images/jpeg_420_223x225.jpg").path, Fixtures.url("images/png_rgb_227x229.png").path])
        guard r.status == 0 else { throw Tool.Failure(message: "code-embed exited \(r.status): \(r.stderr)") }
        return out
    }
}

extension Tool {
    struct Failure: Error, CustomStringConvertible { let message: String; var description: String { message } }
}

@Suite("Tools: code-detect --threshold")
struct ThresholdToolTests {
    @Test("accepted inside the score range, negative numbers included",
          arguments: [("svm", "-3"), ("knn", "-1.5"), ("linear", "0.25"), ("svm", "0.75")])
    func accepted(classifier: String, value: String) throws {
        let emb = try BundledEmbeddings.file.get()
        let r = try Tool.run("code-detect", ["--embeddings", emb.path, "--classifier", classifier, "--threshold", value, "--format", "csv"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == 3, "\(r.stdout)")
    }

    @Test("rejected with exit 2 and a message naming the range",
          arguments: [("linear", "nan", "it must be a finite number"), ("linear", "1.5", "p(fake), lies in [0.0, 1.0]"),
                      ("knn", "-3", "lies in [-2.0, 2.0]"), ("svm", "inf", "it must be a finite number")])
    func rejected(classifier: String, value: String, message: String) throws {
        let emb = try BundledEmbeddings.file.get()
        for mode in [["--embeddings", emb.path], [Fixtures.url("images/png_rgb_227x229.png").path]] {
            let r = try Tool.run("code-detect", mode + ["--classifier", classifier, "--threshold", value])
            #expect(r.status == 2, "\(r.stderr)")
            #expect(r.stderr.contains("--threshold \(Double(value)!) is not usable with the \(classifier) classifier") && r.stderr.contains(message),
                    "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }
}

@Suite("Tools: code-fit output")
struct FitToolTests {
    /// real/ and fake/ with two small images each.
    func dataset() throws -> URL {
        let d = try Tool.tempDir()
        let fm = FileManager.default
        for sub in ["real", "fake"] { try fm.createDirectory(at: d.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try fm.copyItem(at: Fixtures.url("images/jpeg_422_101x67.jpg"), to: d.appendingPathComponent("real/a.jpg"))
        try fm.copyItem(at: Fixtures.url("images/png_l_57x43.png"), to: d.appendingPathComponent("real/b.png"))
        try fm.copyItem(at: Fixtures.url("images/jpeg_420_odd_45x31.jpg"), to: d.appendingPathComponent("fake/c.jpg"))
        try fm.copyItem(at: Fixtures.url("images/png_rgba_101x67.png"), to: d.appendingPathComponent("fake/d.png"))
        return d
    }

    @Test("without --output or --model code-fit refuses (exit 2) and the bundled classifier is untouched; --output DIR works")
    func neverTheBundledModel() throws {
        let data = try dataset()
        let bundledKNN = BundledModel.directory.appendingPathComponent("knn.safetensors")
        let before = try Data(contentsOf: bundledKNN)
        let r = try Tool.run("code-fit", ["--classifier", "knn", "--data", data.path, "--crops", "center"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("code-fit never writes into the bundled model") && r.stderr.contains("--output"), "\(r.stderr)")
        let m = try Tool.run("code-fit", ["--classifier", "knn", "--data", data.path, "--model", BundledModel.directory.path])
        #expect(m.status == 2 && m.stderr.contains("is inside the bundled model"), "\(m.stderr)")
        #expect(try Data(contentsOf: bundledKNN) == before)
        // --output DIR (code-detect's hint) writes DIR/knn.safetensors.
        let out = try Tool.tempDir()
        let ok = try Tool.run("code-fit", ["--classifier", "knn", "--data", data.path, "--crops", "center", "--output", out.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("knn.safetensors").path))
        #expect(try Data(contentsOf: bundledKNN) == before)
    }
}

@Suite("Tools: crops and encoder provenance")
struct ProvenanceToolTests {
    func bundledSHA() throws -> String { try EncoderIdentity.sha256(modelAt: BundledModel.directory) }

    @Test("code-embed rows record crops and encoder; code-detect --embeddings with the bundled classifiers: no warning")
    func embedRecords() throws {
        let emb = try BundledEmbeddings.file.get()
        let rows = try EmbeddingsJSONL.read(emb)
        let sha = try bundledSHA()
        #expect(rows.count == 2 && rows.allSatisfy { $0.crops == "five" && $0.encoderSHA256 == sha })
        let r = try Tool.run("code-detect", ["--embeddings", emb.path, "--classifier", "linear"])
        #expect(r.status == 0 && !r.stderr.contains("warning"), "\(r.stderr)")
    }

    @Test("other crops or another encoder: code-detect --embeddings stops (exit 2) naming both values; files without the fields warn")
    func mismatches() throws {
        let emb = try BundledEmbeddings.file.get()
        let text = try String(contentsOf: emb, encoding: .utf8)
        let dir = try Tool.tempDir()
        let sha = try bundledSHA(), other = String(repeating: "0f", count: 32)
        let variants = [
            ("center.jsonl", text.replacingOccurrences(of: "\"crops\":\"five\"", with: "\"crops\":\"center\""), ["'five'", "'center'"]),
            ("other.jsonl", text.replacingOccurrences(of: sha, with: other), [sha, other]),
        ]
        for (name, body, named) in variants {
            let f = dir.appendingPathComponent(name)
            try body.write(to: f, atomically: true, encoding: .utf8)
            let r = try Tool.run("code-detect", ["--embeddings", f.path, "--classifier", "knn"])
            #expect(r.status == 2, "\(r.stderr)")
            for v in named { #expect(r.stderr.contains(v), "\(r.stderr)") }
            #expect(r.stdout.isEmpty)
        }
        let old = dir.appendingPathComponent("old.jsonl")
        try text.replacingOccurrences(of: ",\"crops\":\"five\",\"encoder_sha256\":\"\(sha)\"", with: "").write(to: old, atomically: true, encoding: .utf8)
        let r = try Tool.run("code-detect", ["--embeddings", old.path, "--classifier", "svm"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("records no crop layout") && r.stderr.contains("records no encoder SHA-256"), "\(r.stderr)")
    }

    @Test("code-fit records crops and the encoder's SHA-256; code-detect refuses that classifier with another encoder")
    func fitRecords() throws {
        let emb = try BundledEmbeddings.file.get()
        let dir = try Tool.tempDir()
        let labelled = dir.appendingPathComponent("train.jsonl")
        let lines = try String(contentsOf: emb, encoding: .utf8).split(separator: "\n")
        try zip(lines, ["real", "fake"]).map { String($0.dropLast()) + ",\"label\":\"\($1)\"}\n" }.joined()
            .write(to: labelled, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("knn.safetensors")
        let fit = try Tool.run("code-fit", ["--classifier", "knn", "--embeddings", labelled.path, "--output", out.path])
        #expect(fit.status == 0, "\(fit.stderr)")
        let (_, meta) = try ClassifierFile.open(out)
        let sha = try bundledSHA()
        #expect(meta.values["crops"] == "five" && meta.values["encoder_sha256"] == sha)
        let mismatch = try Tool.run("code-fit", ["--classifier", "knn", "--embeddings", labelled.path, "--output", out.path, "--crops", "center"])
        #expect(mismatch.status == 2 && mismatch.stderr.contains("crop layouts differ"), "\(mismatch.stderr)")
        // The same classifier with another encoder (the 32-d test fixture would not fit; a copy
        // of the bundled model with one weight changed has the same shape and another digest).
        let model = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: BundledModel.directory.appendingPathComponent("config.json"), to: model.appendingPathComponent("config.json"))
        let vit = try ViT.load(from: BundledModel.directory)
        vit.parameters[0] += 1e-3
        try vit.save(to: model)
        let r = try Tool.run("code-detect", ["--model", model.path, "--classifier", out.path, Fixtures.url("images/png_rgb_227x229.png").path])
        #expect(r.status == 2, "\(r.stderr)")
        let modelSHA = try EncoderIdentity.sha256(modelAt: model)
        #expect(r.stderr.contains("encoders differ") && r.stderr.contains(sha) && r.stderr.contains(modelSHA), "\(r.stderr)")
    }
}

/// A copy of the tiny test encoder with a linear classifier fitted by code-fit on four images.
enum TinyDetector {
    /// The four images' dataset (real/, fake/), set with ``model``.
    nonisolated(unsafe) static var dataset: URL?
    static let model: Result<URL, any Error> = Result {
        let dir = try Tool.tempDir()
        let model = dir.appendingPathComponent("model"), data = dir.appendingPathComponent("data")
        let fm = FileManager.default
        try fm.copyItem(at: Fixtures.url("model/tiny-transformers"), to: model)
        for sub in ["real", "fake"] { try fm.createDirectory(at: data.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try fm.copyItem(at: Fixtures.url("images/jpeg_422_101x67.jpg"), to: data.appendingPathComponent("real/a.jpg"))
        try fm.copyItem(at: Fixtures.url("images/png_l_57x43.png"), to: data.appendingPathComponent("real/b.png"))
        try fm.copyItem(at: Fixtures.url("images/jpeg_420_odd_45x31.jpg"), to: data.appendingPathComponent("fake/c.jpg"))
        try fm.copyItem(at: Fixtures.url("images/png_rgba_101x67.png"), to: data.appendingPathComponent("fake/d.png"))
        let r = try Tool.run("code-fit", ["--classifier", "linear", "--data", data.path, "--model", model.path, "--crops", "center", "--threads", "1"])
        dataset = data
        guard r.status == 0 else { throw Tool.Failure(message: "code-fit exited \(r.status): \(r.stderr)") }
        return model
    }

    /// A working folder holding a copy of every image fixture under `imgs/` (good and bad ones).
    static func workspace() throws -> URL {
        let d = try Tool.tempDir()
        try FileManager.default.copyItem(at: Fixtures.url("images"), to: d.appendingPathComponent("imgs"))
        return d
    }
}

@Suite("Tools: streaming rows, --resume, Ctrl-C")
struct StreamingToolTests {
    /// `prefix` bytes of `full` as FILE.partial, ending inside a line (a torn row).
    func truncated(_ full: Data, lines: Int, tornBytes: Int, to partial: URL) throws {
        var cut = 0, seen = 0
        for (i, b) in full.enumerated() where b == 0x0A { seen += 1; if seen == lines { cut = i + 1; break } }
        try full.prefix(cut + tornBytes).write(to: partial)
    }

    @Test("an interrupted run (a prefix with a torn last line in FILE.partial) resumed with --resume equals the uninterrupted run, byte for byte",
          arguments: [("code-detect", "csv"), ("code-detect", "jsonl"), ("code-embed", "jsonl"), ("code-embed", "csv"), ("code-detect --embeddings", "csv")])
    func resumeEqualsUninterrupted(tool: String, format: String) throws {
        let model = try TinyDetector.model.get()
        let ws = try TinyDetector.workspace()
        var base = ["--model", model.path, "--format", format, "--batch-size", "3", "--threads", "1"]
        var name = tool, inputs = ["imgs"]
        if tool == "code-detect --embeddings" {
            name = "code-detect"
            let e = try Tool.run("code-embed", ["--model", model.path, "--batch-size", "3", "--threads", "1", "--output", "e.jsonl", "imgs"], cwd: ws)
            #expect(e.status == 1, "\(e.stderr)")
            base += ["--embeddings", "e.jsonl"]
            inputs = []
        }
        let full = try Tool.run(name, base + ["--output", "full.out"] + inputs, cwd: ws)
        #expect(full.status == 1, "the bad fixtures are error rows: \(full.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ws.appendingPathComponent("full.out.partial").path))
        let bytes = try Data(contentsOf: ws.appendingPathComponent("full.out"))
        let lines = bytes.split(separator: 0x0A)
        #expect(lines.count > 40)
        // Paths are echoed as given: relative inputs stay relative.
        #expect(String(decoding: lines[format == "csv" ? 1 : 0], as: UTF8.self).contains("\"imgs/") ||
                String(decoding: lines[format == "csv" ? 1 : 0], as: UTF8.self).hasPrefix("imgs/"))
        for (keep, torn) in [(11, 9), (1, 0), (lines.count, 0)] {
            let partial = ws.appendingPathComponent("resumed.out.partial")
            try truncated(bytes, lines: keep, tornBytes: torn, to: partial)
            let r = try Tool.run(name, base + ["--output", "resumed.out", "--resume"] + inputs, cwd: ws)
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.contains("resuming resumed.out.partial"), "\(r.stderr)")
            // A partial without a settings file (an earlier version's) resumes with a warning.
            #expect(r.stderr.contains("warning: resumed.out.partial has no resumed.out.partial.settings"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: partial.path + ".settings"), "removed at completion")
            if torn > 0 { #expect(r.stderr.contains("a torn last line (\(torn) bytes) dropped"), "\(r.stderr)") }
            #expect(try Data(contentsOf: ws.appendingPathComponent("resumed.out")) == bytes, "\(tool) \(format) resumed after \(keep) lines")
            #expect(!FileManager.default.fileExists(atPath: partial.path))
            if name == "code-detect" {
                // The summary counts the kept rows too: the same as the uninterrupted run's.
                #expect(r.stderr.split(separator: "\n").last == full.stderr.split(separator: "\n").last, "\(r.stderr)")
            }
        }
    }

    @Test("--resume refuses: a table, no --output, a partial of other inputs (exit 2)")
    func resumeRefusals() throws {
        let model = try TinyDetector.model.get()
        let ws = try TinyDetector.workspace()
        let base = ["--model", model.path, "--threads", "1"]
        let table = try Tool.run("code-detect", base + ["--format", "table", "--output", "t.txt", "--resume", "imgs"], cwd: ws)
        #expect(table.status == 2 && table.stderr.contains("--resume needs --format csv or jsonl"), "\(table.stderr)")
        for tool in ["code-detect", "code-embed"] {
            let r = try Tool.run(tool, base + ["--format", "csv", "--resume", "imgs"], cwd: ws)
            #expect(r.status == 2 && r.stderr.contains("--resume needs --output FILE"), "\(r.stderr)")
        }
        let a = try Tool.run("code-detect", base + ["--format", "csv", "--output", "a.csv", "imgs/png_1x1.png", "imgs/jpeg_1x1.jpg"], cwd: ws)
        #expect(a.status == 0, "\(a.stderr)")
        try FileManager.default.moveItem(at: ws.appendingPathComponent("a.csv"), to: ws.appendingPathComponent("b.csv.partial"))
        let other = try Tool.run("code-detect", base + ["--format", "csv", "--output", "b.csv", "--batch-size", "1", "--resume", "imgs/jpeg_1x1.jpg", "imgs/png_1x1.png"], cwd: ws)
        #expect(other.status == 2 && other.stderr.contains("row 1 is 'imgs/png_1x1.png' but input 1 is 'imgs/jpeg_1x1.jpg'"), "\(other.stderr)")
        let jsonl = try Tool.run("code-detect", base + ["--format", "jsonl", "--output", "b.csv", "--resume", "imgs/png_1x1.png"], cwd: ws)
        #expect(jsonl.status == 2 && jsonl.stderr.contains("b.csv.partial:1: not a row of this output"), "\(jsonl.stderr)")
        let csv = try Tool.run("code-embed", base + ["--format", "csv", "--output", "b.csv", "--resume", "imgs/png_1x1.png"], cwd: ws)
        #expect(csv.status == 2 && csv.stderr.contains("is not the header of this format"), "\(csv.stderr)")
    }

    @Test("Ctrl-C (SIGINT) exits 130 keeping every finished row in FILE.partial; --resume completes it to the uninterrupted output",
          arguments: ["code-detect", "code-embed"])
    func interrupt(tool: String) throws {
        let model = try TinyDetector.model.get()
        let ws = try Tool.tempDir()
        let images = [Fixtures.url("images/png_rgb_227x229.png").path, Fixtures.url("images/jpeg_420_odd_45x31.jpg").path]
        let n = 1000
        var args = ["--model", model.path, "--format", "csv", "--batch-size", "1", "--threads", "1"]
        // Each row depends on its image alone (batches of one): the reference rows come from a run on the two images.
        let ref = try Tool.run(tool, args + images, cwd: ws)
        #expect(ref.status == 0, "\(ref.stderr)")
        let refLines = ref.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = refLines[0]
        let expected = [header] + (0..<n).map { refLines[1 + $0 % 2] }
        var inputs: [String]
        if tool == "code-detect" {
            try ("path\n" + (0..<n).map { images[$0 % 2] + "\n" }.joined()).write(to: ws.appendingPathComponent("list.csv"), atomically: true, encoding: .utf8)
            inputs = ["list.csv"]
        } else {
            inputs = (0..<n).map { images[$0 % 2] }
        }
        args += ["--output", "out.csv"]
        let partial = ws.appendingPathComponent("out.csv.partial")
        try Self.interrupted(tool, args + inputs, cwd: ws, partial: partial)
        let kept = try String(contentsOf: partial, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(kept.count >= 6 && kept.count < n + 1, "\(kept.count) lines")
        #expect(Array(kept.dropLast()) == Array(expected.prefix(kept.count - 1)), "every finished row is the uninterrupted run's")
        // The settings the rows depend on are next to the partial; another batch size is refused.
        let settings = try String(contentsOf: URL(fileURLWithPath: partial.path + ".settings"), encoding: .utf8)
        let sha = try EncoderIdentity.sha256(modelAt: model)
        #expect(settings.contains("\"batch-size\": \"1\"") && settings.contains("\"encoder_sha256\": \"\(sha)\""), "\(settings)")
        let other = try Tool.run(tool, Self.setting(args, "--batch-size", "2") + ["--resume"] + inputs, cwd: ws)
        #expect(other.status == 2, "\(other.stderr)")
        #expect(other.stderr.contains("out.csv.partial was written with --batch-size 1, this run has --batch-size 2; rerun with --batch-size 1 or remove out.csv.partial"),
                "\(other.stderr)")
        // The precision the rows were computed in is a setting too (the one used, after any fallback).
        let bf16 = try Tool.run(tool, args + ["--precision", "bf16", "--resume"] + inputs, cwd: ws)
        if bf16.stderr.contains("--precision bf16 unavailable, using fp32") {
            // No native bf16 here: the run is fp32, as the partial was, so the resume goes through.
            #expect(bf16.status == 0, "\(bf16.stderr)")
            #expect(try String(contentsOf: ws.appendingPathComponent("out.csv"), encoding: .utf8) == expected.joined(separator: "\n") + "\n")
            return
        } else {
            #expect(bf16.status == 2, "\(bf16.stderr)")
            #expect(bf16.stderr.contains("out.csv.partial was written with --precision fp32, this run has --precision bf16; rerun with --precision fp32 or remove out.csv.partial"),
                    "\(bf16.stderr)")
        }
        let r = try Tool.run(tool, args + ["--resume"] + inputs, cwd: ws)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOf: ws.appendingPathComponent("out.csv"), encoding: .utf8) == expected.joined(separator: "\n") + "\n")
        #expect(!FileManager.default.fileExists(atPath: partial.path + ".settings"), "the settings file is removed at completion")
    }

    /// `args` with the value after `flag` replaced.
    static func setting(_ args: [String], _ flag: String, _ value: String) -> [String] {
        var a = args
        a[a.firstIndex(of: flag)! + 1] = value
        return a
    }

    /// Runs `tool args` and sends it SIGINT once `partial` holds `lines` lines; expects exit 130.
    static func interrupted(_ tool: String, _ args: [String], cwd: URL, partial: URL, lines: Int = 6,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let p = Process()
        p.executableURL = Tool.binDir!.appendingPathComponent(tool)
        p.arguments = args
        p.currentDirectoryURL = cwd
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, p.isRunning {
            if let d = try? Data(contentsOf: partial), d.filter({ $0 == 0x0A }).count >= lines { break }
            usleep(2000)
        }
        #expect(p.isRunning, "the run ended before it could be interrupted", sourceLocation: sourceLocation)
        p.interrupt()
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 130, sourceLocation: sourceLocation)
    }

    /// A folder dataset of the readable image fixtures (real/, fake/g1/, fake/g2/ in turn) and one
    /// empty file among the reals (an error row).
    static func evalDataset(in ws: URL) throws -> URL {
        let fm = FileManager.default, data = ws.appendingPathComponent("data")
        let groups = ["real", "fake/g1", "fake/g2"]
        for g in groups { try fm.createDirectory(at: data.appendingPathComponent(g), withIntermediateDirectories: true) }
        let images = try fm.contentsOfDirectory(atPath: Fixtures.url("images").path)
            .filter { ["jpg", "png", "bmp", "gif", "tif", "webp"].contains(($0 as NSString).pathExtension) }.sorted()
        for (k, f) in images.enumerated() {
            try fm.copyItem(at: Fixtures.url("images/\(f)"), to: data.appendingPathComponent("\(groups[k % 3])/\(f)"))
        }
        try fm.copyItem(at: Fixtures.url("images/bad/empty.jpg"), to: data.appendingPathComponent("real/zz_empty.jpg"))
        return data
    }

    @Test("code-eval: an interrupted --scores run (a prefix of FILE.partial with a torn last line) resumed with --resume gives the same rows, byte for byte, and the same table, CSV and JSON metrics")
    func evalResumeEqualsUninterrupted() throws {
        let model = try TinyDetector.model.get()
        let ws = try Tool.tempDir()
        let data = try Self.evalDataset(in: ws)
        let base = ["--model", model.path, "--data", data.path, "--transforms", "both", "--batch-size", "3", "--threads", "1"]
        let full = try Tool.run("code-eval", base + ["--scores", "rows-full.csv", "--output", "full"], cwd: ws)
        #expect(full.status == 1, "the empty image is an error row: \(full.stderr)")
        let bytes = try Data(contentsOf: ws.appendingPathComponent("rows-full.csv"))
        let lines = bytes.split(separator: 0x0A)
        let n = try FileManager.default.subpathsOfDirectory(atPath: data.path).filter { $0.contains(".") }.count
        #expect(n > 40 && lines.count == 1 + 2 * n, "\(n) images, \(lines.count) lines")
        // A torn header, a cut inside the first batch, mid-way through each condition, at the
        // boundary of the two conditions, and a complete partial.
        for (keep, torn) in [(0, 5), (2, 3), (11, 9), (n + 1, 0), (n + 6, 4), (lines.count - 1, 2), (lines.count, 0)] {
            let partial = ws.appendingPathComponent("rows.csv.partial")
            try truncated(bytes, lines: keep, tornBytes: torn, to: partial)
            let r = try Tool.run("code-eval", base + ["--scores", "rows.csv", "--output", "resumed", "--resume"], cwd: ws)
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.contains("resuming rows.csv.partial"), "\(r.stderr)")
            #expect(try Data(contentsOf: ws.appendingPathComponent("rows.csv")) == bytes, "resumed after \(keep) lines")
            #expect(r.stdout == full.stdout, "the printed table, resumed after \(keep) lines")
            for ext in ["json", "csv"] {
                #expect(try Data(contentsOf: ws.appendingPathComponent("resumed.\(ext)")) == Data(contentsOf: ws.appendingPathComponent("full.\(ext)")),
                        "the metrics' \(ext), resumed after \(keep) lines")
            }
            for leftover in ["", ".settings", ".embeddings"] {
                #expect(!FileManager.default.fileExists(atPath: partial.path + leftover), "rows.csv.partial\(leftover) after completion")
            }
        }
        // Another condition list is another run's rows.
        try truncated(bytes, lines: 11, tornBytes: 0, to: ws.appendingPathComponent("rows.csv.partial"))
        let paper = try Tool.run("code-eval", Self.setting(base, "--transforms", "paper") + ["--scores", "rows.csv", "--resume"], cwd: ws)
        #expect(paper.status == 2 && paper.stderr.contains("row (none, ") && paper.stderr.contains("this run's row 1 is (paper, "), "\(paper.stderr)")
    }

    @Test("code-eval: Ctrl-C keeps every finished row and the rows' embeddings; --resume completes the rows, metrics and the HTML report of the uninterrupted run, and refuses another --batch-size")
    func evalInterrupt() throws {
        let model = try TinyDetector.model.get()
        let ws = try Tool.tempDir()
        let images = [Fixtures.url("images/png_rgb_227x229.png").path, Fixtures.url("images/jpeg_420_odd_45x31.jpg").path,
                      Fixtures.url("images/png_l_57x43.png").path]
        let n = 900
        // Real, fake of generator g1, fake of g2, in turn.
        let kinds = ["real,", "fake,g1", "fake,g2"]
        let manifest: [String] = (0..<n).map { (k: Int) -> String in images[k % 3] + "," + kinds[k % 3] + "\n" }
        try ("path,label,generator\n" + manifest.joined()).write(to: ws.appendingPathComponent("list.csv"), atomically: true, encoding: .utf8)
        let base = ["--model", model.path, "--data", "list.csv", "--batch-size", "2", "--threads", "1"]
        let ref = try Tool.run("code-eval", base + ["--scores", "ref-rows.csv", "--output", "ref", "--report", "ref-report"], cwd: ws)
        #expect(ref.status == 0, "\(ref.stderr)")
        let partial = ws.appendingPathComponent("rows.csv.partial")
        try Self.interrupted("code-eval", base + ["--scores", "rows.csv", "--report", "report"], cwd: ws, partial: partial)
        let kept = try String(contentsOf: partial, encoding: .utf8).split(separator: "\n")
        let refLines = try String(contentsOf: ws.appendingPathComponent("ref-rows.csv"), encoding: .utf8).split(separator: "\n")
        #expect(kept.count >= 6 && kept.count < n + 1, "\(kept.count) lines")
        #expect(Array(kept.dropLast()) == Array(refLines.prefix(kept.count - 1)), "every finished row is the uninterrupted run's")
        #expect(FileManager.default.fileExists(atPath: partial.path + ".embeddings"))
        let other = try Tool.run("code-eval", Self.setting(base, "--batch-size", "4") + ["--scores", "rows.csv", "--report", "report", "--resume"], cwd: ws)
        #expect(other.status == 2, "\(other.stderr)")
        #expect(other.stderr.contains("rows.csv.partial was written with --batch-size 2, this run has --batch-size 4; rerun with --batch-size 2 or remove rows.csv.partial"),
                "\(other.stderr)")
        let r = try Tool.run("code-eval", base + ["--scores", "rows.csv", "--output", "res", "--report", "report", "--resume"], cwd: ws)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("resuming rows.csv.partial"), "\(r.stderr)")
        #expect(try Data(contentsOf: ws.appendingPathComponent("rows.csv")) == Data(contentsOf: ws.appendingPathComponent("ref-rows.csv")))
        for ext in ["json", "csv"] {
            #expect(try Data(contentsOf: ws.appendingPathComponent("res.\(ext)")) == Data(contentsOf: ws.appendingPathComponent("ref.\(ext)")), "res.\(ext)")
        }
        #expect(r.stdout == ref.stdout)
        let files = try FileManager.default.contentsOfDirectory(atPath: ws.appendingPathComponent("ref-report").path).sorted()
        #expect(files.contains("index.html") && files.contains("pca-none.svg"), "\(files)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.appendingPathComponent("report").path).sorted() == files)
        for f in files {
            #expect(try Data(contentsOf: ws.appendingPathComponent("report/\(f)")) == Data(contentsOf: ws.appendingPathComponent("ref-report/\(f)")), "report/\(f)")
        }
        for leftover in ["", ".settings", ".embeddings"] {
            #expect(!FileManager.default.fileExists(atPath: partial.path + leftover), "rows.csv.partial\(leftover) after completion")
        }
    }
}

@Suite("Tools: one interface (--version, usage errors, --threads)")
struct InterfaceToolTests {
    static let tools = ["code-detect", "code-embed", "code-eval", "code-fit", "code-train", "code-calibrate"]

    @Test("--version prints the package version and the bundled model's SHA-256", arguments: tools)
    func version(tool: String) throws {
        let r = try Tool.run(tool, ["--version"])
        #expect(r.status == 0, "\(r.stderr)")
        let sha = try EncoderIdentity.sha256(modelAt: BundledModel.directory)
        #expect(r.stdout == "CoDEKit \(CoDEKitVersion.version) (bundled model SHA-256 \(sha))\n", "\(r.stdout)")
    }

    @Test("an unknown flag is reported as such, with exit 2 (not ArgumentParser's 64), before any missing option", arguments: tools)
    func unknownFlag(tool: String) throws {
        let r = try Tool.run(tool, ["--bogus-flag"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("Error: Unknown option '--bogus-flag'"), "\(r.stderr)")
    }

    @Test("--threads 0 is refused the same way by every tool (exit 2)", arguments: tools)
    func threads(tool: String) throws {
        let rest = ["code-detect": ["z.jpg"], "code-embed": ["z.jpg"], "code-eval": ["--data", "x"], "code-fit": ["--classifier", "knn", "--data", "x"],
                    "code-train": ["--data", "x", "--output", "y"], "code-calibrate": ["--real", "x"]][tool]!
        let r = try Tool.run(tool, ["--threads", "0"] + rest)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("--threads must be at least 1"), "\(r.stderr)")
    }

    @Test("missing required options are usage errors (exit 2) naming the option")
    func missing() throws {
        for (tool, option) in [("code-train", "missing --data"), ("code-fit", "missing --classifier"), ("code-eval", "missing --data"),
                               ("code-embed", "give at least one image"), ("code-detect", "give image files")] {
            let r = try Tool.run(tool, [])
            #expect(r.status == 2 && r.stderr.contains(option), "\(tool): \(r.stderr)")
        }
    }
}

@Suite("Tools: progress and code-eval --scores")
struct ProgressToolTests {
    @Test("code-eval streams per-image rows to --scores (the scores code-detect gives) and reports progress; code-fit --data too")
    func evalScoresAndProgress() throws {
        let model = try TinyDetector.model.get()
        let data = try #require(TinyDetector.dataset)
        let dir = try Tool.tempDir()
        let scores = dir.appendingPathComponent("scores.csv")
        let env = ["CODEKIT_PROGRESS_SECONDS": "0"]
        let r = try Tool.run("code-eval", ["--model", model.path, "--data", data.path, "--scores", scores.path, "--threads", "1", "--batch-size", "2"], env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("code-eval [none]: 2/4 images") && r.stderr.contains("code-eval [none]: 4/4 images"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scores.path + ".partial"))
        let rows = try CSV.parse(String(contentsOf: scores, encoding: .utf8), source: "scores").map(\.fields)
        #expect(rows.first == ["condition", "path", "label", "group", "status", "verdict", "score", "error"])
        #expect(rows.count == 5)
        let d = try Tool.run("code-detect", ["--model", model.path, "--format", "csv", "--threads", "1", "--batch-size", "2", data.path])
        #expect(d.status == 0, "\(d.stderr)")
        let detected = Dictionary(uniqueKeysWithValues: try CSV.parse(d.stdout, source: "d").dropFirst().map { ($0.fields[0], Double($0.fields[3])!) })
        for row in rows.dropFirst() {
            #expect(row[0] == "none" && row[4] == "ok")
            #expect(row[2] == (row[1].contains("/real/") ? "real" : "fake"))
            let score = try #require(detected[row[1]], "\(row[1]) not in \(detected.keys)")
            #expect(abs(Double(row[6])! - score) < 1e-6, "\(row)")
        }
        let out = dir.appendingPathComponent("knn.safetensors")
        let fit = try Tool.run("code-fit", ["--classifier", "knn", "--model", model.path, "--data", data.path, "--output", out.path, "--threads", "1"], env: env)
        #expect(fit.status == 0 && fit.stderr.contains("code-fit: 4/4 images"), "\(fit.stderr)")
    }

    @Test("code-detect and code-embed end with a progress line: count, rate, errors and time")
    func finalLine() throws {
        let model = try TinyDetector.model.get()
        let imgs = [Fixtures.url("images/png_1x1.png").path, Fixtures.url("images/bad/empty.jpg").path]
        for tool in ["code-detect", "code-embed"] {
            let r = try Tool.run(tool, ["--model", model.path, "--threads", "1"] + imgs)
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.contains(try Regex("\(tool): 2/2 images, [0-9.]+ images/s, 1 errors, [0-9.]+ s")), "\(r.stderr)")
            #expect(r.stderr.contains("1 unsupported format"), "errors counted by reason: \(r.stderr)")
        }
    }
}

@Suite("Tools: embed then fit")
struct EmbedThenFitToolTests {
    /// The score column of code-detect's csv for `data` with classifier file `c`.
    func scores(_ model: URL, _ c: URL, _ data: URL) throws -> [String] {
        let r = try Tool.run("code-detect", ["--model", model.path, "--classifier", c.path, "--format", "csv", "--threads", "1", data.path])
        #expect(r.status == 0, "\(r.stderr)")
        return try CSV.parse(r.stdout, source: "d").dropFirst().map { $0.fields[0] + " " + $0.fields[3] }
    }

    @Test("code-embed --data DATASET and --label real|fake write the label code-fit --embeddings needs; the fitted classifier equals code-fit --data's")
    func embedThenFit() throws {
        let model = try TinyDetector.model.get()
        let data = try #require(TinyDetector.dataset)
        let dir = try Tool.tempDir()
        // Batches of one image: embeddings do not depend on the batch's other images to the last bit.
        let base = ["--model", model.path, "--threads", "1", "--batch-size", "1"]
        // The reference: code-fit embedding the dataset itself.
        let direct = dir.appendingPathComponent("direct.safetensors")
        let d = try Tool.run("code-fit", base + ["--classifier", "linear", "--data", data.path, "--output", direct.path])
        #expect(d.status == 0, "\(d.stderr)")
        let reference = try scores(model, direct, data)
        #expect(reference.count == 4)
        // --data: labels from the folders.
        let fromData = dir.appendingPathComponent("data.jsonl")
        let e = try Tool.run("code-embed", base + ["--data", data.path, "--output", fromData.path])
        #expect(e.status == 0, "\(e.stderr)")
        let rows = try EmbeddingsJSONL.read(fromData)
        #expect(rows.map(\.label) == rows.map { $0.path.contains("/real/") ? .real : .fake } && rows.count == 4)
        // --label: one run per class, concatenated.
        let fromLabel = dir.appendingPathComponent("label.jsonl")
        var text = ""
        for label in ["real", "fake"] {
            let r = try Tool.run("code-embed", base + ["--label", label, data.appendingPathComponent(label).path])
            #expect(r.status == 0, "\(r.stderr)")
            text += r.stdout
        }
        try text.write(to: fromLabel, atomically: true, encoding: .utf8)
        for (name, jsonl) in [("data", fromData), ("label", fromLabel)] {
            let out = dir.appendingPathComponent("\(name).safetensors")
            let f = try Tool.run("code-fit", ["--classifier", "linear", "--embeddings", jsonl.path, "--output", out.path])
            #expect(f.status == 0, "\(name): \(f.stderr)")
            #expect(try scores(model, out, data) == reference, "\(name)")
        }
        let bad = try Tool.run("code-embed", base + ["--label", "maybe", data.path])
        #expect(bad.status == 2 && bad.stderr.contains("--label must be real or fake"), "\(bad.stderr)")
    }
}

@Suite("Tools: warnings on odd inputs")
struct InputWarningToolTests {
    @Test("an empty folder, a dangling symlink (in a folder, or given) and an image below the input size give warnings; errors are counted by reason")
    func warnings() throws {
        let model = try TinyDetector.model.get()
        let ws = try Tool.tempDir()
        let fm = FileManager.default
        try fm.createDirectory(at: ws.appendingPathComponent("empty"), withIntermediateDirectories: true)
        try fm.createDirectory(at: ws.appendingPathComponent("f"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: ws.appendingPathComponent("f/gone.jpg").path, withDestinationPath: "/nonexistent/gone.jpg")
        try fm.copyItem(at: Fixtures.url("images/png_rgb_227x229.png"), to: ws.appendingPathComponent("f/big.png"))
        try fm.createSymbolicLink(atPath: ws.appendingPathComponent("f/tiny.jpg").path, withDestinationPath: Fixtures.url("images/jpeg_1x1.jpg").path)
        try fm.createSymbolicLink(atPath: ws.appendingPathComponent("top.jpg").path, withDestinationPath: "/nonexistent/top.jpg")
        let r = try Tool.run("code-detect", ["--model", model.path, "--format", "csv", "--threads", "1", "empty", "f", "top.jpg"], cwd: ws)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("warning: empty holds no image files"), "\(r.stderr)")
        #expect(r.stderr.contains("warning: skipping f/gone.jpg, a dangling symbolic link (to /nonexistent/gone.jpg)"), "\(r.stderr)")
        #expect(r.stderr.contains("warning: top.jpg is a dangling symbolic link (to /nonexistent/top.jpg)"), "\(r.stderr)")
        #expect(r.stderr.contains("warning: 1 image is smaller than the encoder's 32x32 input and zero-padded (e.g. f/tiny.jpg is 1x1)"), "\(r.stderr)")
        #expect(r.stderr.contains("3 images: ") && r.stderr.contains("1 errors (1 cannot read file)"), "\(r.stderr)")
        // A symlink to an image is listed like the file; the dangling one in the folder is not a row.
        let paths = try CSV.parse(r.stdout, source: "d").dropFirst().map { $0.fields[0] }
        #expect(paths == ["f/big.png", "f/tiny.jpg", "top.jpg"])
        let e = try Tool.run("code-embed", ["--model", model.path, "--threads", "1", "empty"], cwd: ws)
        #expect(e.status == 0 && e.stdout.isEmpty, "\(e.stderr)")
        #expect(e.stderr.contains("warning: no images found in the inputs"), "\(e.stderr)")
    }
}
