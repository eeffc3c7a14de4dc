import CoDECore
import CoDEModel
import Foundation
import Testing
import _CoDETestSupport

@Suite struct CheckpointTests {
    let tinyConfig = ViTConfiguration(imageSize: 32, patchSize: 8, width: 32, depth: 2, heads: 2, mlpWidth: 64, layerNormEps: 1e-6)

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// config.json values reach the configuration (eps, sizes, qkv bias).
    @Test func readsTransformersConfig() throws {
        let c = try ViT.readTransformersConfig(Fixtures.url("model/tiny-transformers/config.json"))
        #expect(c == tinyConfig)
    }

    /// What CoDEKit writes has exactly the tensor names and shapes transformers wrote (minus the
    /// pooler), and loads back bit for bit.
    @Test func saveRoundTripMatchesTransformersLayout() throws {
        let ref = try ViT.load(from: Fixtures.url("model/tiny-transformers"))
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ref.save(to: dir)
        let written = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors"))
        let hf = try SafeTensorsFile(contentsOf: Fixtures.url("model/tiny-transformers/model.safetensors"))
        #expect(Set(written.names) == Set(hf.names.filter { !$0.hasPrefix("pooler.") }))
        for n in written.names { #expect(written.entry(n)!.shape == hf.entry(n)!.shape, "\(n)") }
        let back = try ViT.load(from: dir)
        #expect(back.configuration == ref.configuration)
        #expect(back.parameters.array() == ref.parameters.array())
        // timm file round trip too.
        let timm = dir.appendingPathComponent("timm.safetensors")
        try ref.saveTimm(to: timm)
        #expect(try ViT.load(from: timm, configuration: tinyConfig).parameters.array() == ref.parameters.array())
    }

    func copyFixtureFolder() throws -> URL {
        let dir = try tempDir()
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: Fixtures.url("model/tiny-transformers/\(f)"), to: dir.appendingPathComponent(f))
        }
        return dir
    }

    func rewrite(_ dir: URL, _ edit: (inout [String: [Float]], inout [String: [Int]]) -> Void) throws {
        let f = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors"))
        var t: [String: [Float]] = [:], s: [String: [Int]] = [:]
        for n in f.names { t[n] = try f.floats(n); s[n] = f.entry(n)!.shape }
        edit(&t, &s)
        var w = SafeTensorsWriter()
        for n in t.keys.sorted() { w.add(n, shape: s[n]!, floats: t[n]!) }
        try w.write(to: dir.appendingPathComponent("model.safetensors"))
    }

    @Test func specificErrorsForBadCheckpoints() throws {
        func expectError(_ dir: URL, containing text: String) {
            do { _ = try ViT.load(from: dir); Issue.record("loaded a bad checkpoint") } catch {
                #expect("\(error)".contains(text), "\(error)")
            }
        }
        // Missing tensor.
        var dir = try copyFixtureFolder()
        try rewrite(dir) { t, _ in t["encoder.layer.1.output.dense.bias"] = nil }
        expectError(dir, containing: "missing tensor 'encoder.layer.1.output.dense.bias'")
        // Wrong shape.
        dir = try copyFixtureFolder()
        try rewrite(dir) { t, s in t["layernorm.weight"] = [Float](repeating: 1, count: 31); s["layernorm.weight"] = [31] }
        expectError(dir, containing: "'layernorm.weight' has shape [31], expected [32]")
        // Unexpected tensor (a classification head is not part of the encoder).
        dir = try copyFixtureFolder()
        try rewrite(dir) { t, s in t["classifier.weight"] = [0, 0]; s["classifier.weight"] = [2] }
        expectError(dir, containing: "unexpected tensor(s) classifier.weight")
        // Truncated weights file.
        dir = try copyFixtureFolder()
        let st = dir.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: st)
        try data.prefix(data.count - 10).write(to: st)
        expectError(dir, containing: "truncated")
        // Activation CoDEKit does not implement.
        dir = try copyFixtureFolder()
        let cfg = dir.appendingPathComponent("config.json")
        try String(contentsOf: cfg, encoding: .utf8).replacingOccurrences(of: "\"gelu\"", with: "\"gelu_new\"").write(to: cfg, atomically: true, encoding: .utf8)
        expectError(dir, containing: "hidden_act 'gelu_new'")
        // NaN or infinite weights (a diverged run): named on load, never reach the metrics.
        dir = try copyFixtureFolder()
        try rewrite(dir) { t, _ in t["encoder.layer.0.attention.attention.key.weight"]![7] = .nan }
        expectError(dir, containing: "tensor 'encoder.layer.0.attention.attention.key.weight' holds a non-finite weight (nan at element 7)")
        dir = try copyFixtureFolder()
        try rewrite(dir) { t, _ in t["layernorm.bias"]![0] = -.infinity }
        expectError(dir, containing: "tensor 'layernorm.bias' holds a non-finite weight (-inf at element 0)")
        // The timm single-file form is checked the same way.
        let timm = try tempDir().appendingPathComponent("timm.safetensors")
        let m = try ViT.load(from: copyFixtureFolder())
        m.parameters[m.layout.spec("cls_token")!.offset + 3] = .nan
        try m.saveTimm(to: timm)
        do { _ = try ViT.load(from: timm, configuration: m.configuration); Issue.record("loaded NaN weights") } catch {
            #expect("\(error)".contains("tensor 'cls_token' holds a non-finite weight (nan at element 3)"), "\(error)")
        }
        // Not there at all.
        expectError(dir.appendingPathComponent("nope"), containing: "checkpoint not found")
    }
}
