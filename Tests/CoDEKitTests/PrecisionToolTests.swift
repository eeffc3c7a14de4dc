import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// `--precision` on the tools: what the rows record, the fallback, and the refusal to mix.
@Suite("Tools: --precision")
struct PrecisionToolTests {
    static let images = [Fixtures.url("images/jpeg_420_223x225.jpg").path, Fixtures.url("images/png_rgb_227x229.png").path]

    func embed(_ precision: String, env: [String: String] = [:]) throws -> (Tool.Run, [EmbeddingRecord]) {
        let out = try Tool.tempDir().appendingPathComponent("e.jsonl")
        let r = try Tool.run("code-embed", ["--precision", precision, "--output", out.path] + Self.images, env: env)
        let rows = r.status == 0 ? try EmbeddingsJSONL.read(out) : []
        return (r, rows)
    }

    @Test("code-embed --precision bf16 and int8: rows record it, embeddings within the format's error of fp32")
    func rowsRecordPrecision() throws {
        let (r32, fp32) = try embed("fp32")
        #expect(r32.status == 0 && fp32.allSatisfy { $0.precision == "fp32" }, "\(r32.stderr)")
        for (p, bound) in [("bf16", 2e-2), ("int8", 6e-2)] {
            let (r, rows) = try embed(p)
            #expect(r.status == 0 && !r.stderr.contains("--precision"), "no fallback: \(r.stderr)")
            #expect(rows.count == 2 && rows.allSatisfy { $0.precision == p })
            for (a, b) in zip(rows, fp32) {
                let d = TensorDiff(a.embedding!, b.embedding!)
                #expect(d.relative > 0 && d.relative < bound, "\(p) \(a.path): \(d)")
            }
        }
    }

    @Test("without bf16 instructions (ONEDNN_MAX_CPU_ISA=AVX2) code-embed falls back to fp32, says so in one line, and records fp32")
    func fallback() throws {
        let (r32, fp32) = try embed("fp32")
        #expect(r32.status == 0)
        for p in ["bf16", "int8"] {
            let (r, rows) = try embed(p, env: ["ONEDNN_MAX_CPU_ISA": "AVX2"])
            #expect(r.status == 0, "\(r.stderr)")
            let lines = r.stderr.split(separator: "\n").filter { $0.contains("--precision") }
            #expect(lines.count == 1 && lines[0].hasPrefix("code-embed: warning: --precision \(p) unavailable, using fp32"), "\(r.stderr)")
            #expect(rows.allSatisfy { $0.precision == "fp32" })
            #expect(rows.map(\.embedding) == fp32.map(\.embedding), "the fallback is the fp32 path")
        }
    }

    @Test("code-fit and code-detect --embeddings refuse rows of different precisions; --precision does not apply to --embeddings")
    func refuseMixed() throws {
        let (r32, fp32) = try embed("fp32"), (rb, bf16) = try embed("bf16")
        #expect(r32.status == 0 && rb.status == 0)
        let dir = try Tool.tempDir()
        let mixed = dir.appendingPathComponent("mixed.jsonl")
        func line(_ r: EmbeddingRecord, _ label: String) -> String {
            "{\"path\":\"\(r.path)\",\"status\":\"ok\",\"embedding\":[\(r.embedding!.map { "\($0)" }.joined(separator: ","))],"
                + "\"label\":\"\(label)\",\"crops\":\"center\",\"encoder_sha256\":\"\(r.encoderSHA256!)\",\"precision\":\"\(r.precision!)\"}\n"
        }
        try (line(fp32[0], "real") + line(bf16[1], "fake")).write(to: mixed, atomically: true, encoding: .utf8)
        let fit = try Tool.run("code-fit", ["--classifier", "knn", "--embeddings", mixed.path, "--output", dir.appendingPathComponent("k.safetensors").path])
        #expect(fit.status == 2 && fit.stderr.contains("rows disagree on \"precision\" (bf16, fp32)") && fit.stderr.contains("same code-embed --precision"), "\(fit.stderr)")
        let detect = try Tool.run("code-detect", ["--embeddings", mixed.path, "--classifier", "knn"])
        #expect(detect.status == 2 && detect.stderr.contains("rows disagree on \"precision\""), "\(detect.stderr)")
        let flag = try Tool.run("code-detect", ["--embeddings", mixed.path, "--precision", "bf16"])
        #expect(flag.status == 2 && flag.stderr.contains("--precision applies to images"), "\(flag.stderr)")
        // One precision throughout is fine; the classifier records a reduced one.
        let same = dir.appendingPathComponent("bf16.jsonl")
        try (line(bf16[0], "real") + line(bf16[1], "fake")).write(to: same, atomically: true, encoding: .utf8)
        let k = dir.appendingPathComponent("k.safetensors")
        let ok = try Tool.run("code-fit", ["--classifier", "knn", "--embeddings", same.path, "--output", k.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try ClassifierFile.open(k).1.values["precision"] == "bf16")
    }

    @Test("code-detect and code-eval take --precision and reject an unknown one")
    func detectAndEval() throws {
        let r = try Tool.run("code-detect", ["--precision", "bf16", "--format", "csv"] + Self.images)
        #expect(r.status == 0, "\(r.stderr)")
        let bad = try Tool.run("code-detect", ["--precision", "fp16"] + Self.images)
        #expect(bad.status == 2 && bad.stderr.contains("fp16"), "\(bad.stderr)")
        // code-eval records the precision in its JSON.
        let data = try Tool.tempDir()
        for (sub, img) in zip(["real", "fake"], Self.images) {
            try FileManager.default.createDirectory(at: data.appendingPathComponent(sub), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: img, toPath: data.appendingPathComponent(sub).appendingPathComponent(URL(fileURLWithPath: img).lastPathComponent).path)
        }
        let prefix = data.appendingPathComponent("eval").path
        let e = try Tool.run("code-eval", ["--data", data.path, "--precision", "int8", "--output", prefix])
        #expect(e.status == 0, "\(e.stderr)")
        let json = try String(contentsOfFile: prefix + ".json", encoding: .utf8)
        #expect(json.contains("\"precision\":\"int8\""), "\(json)")
    }
}
