import CoDECore
import CoDEModel
import Foundation
import Testing
import _CoDETestSupport

/// The fixture weight rule of make_model_fixtures.py (`fill_fixture_weights`): tensor i of the
/// layout gets fixtureUniform(base + i), scaled by kind.
func fillFixtureWeights(_ model: ViT, base: UInt64) {
    for (i, s) in model.layout.specs.enumerated() {
        let u = fixtureUniform(seed: base + UInt64(i), count: s.count)
        let parts = s.name.split(separator: ".")
        let isNorm = parts.count >= 2 && parts[parts.count - 2].hasPrefix("norm")
        let v: [Float] = if isNorm && s.name.hasSuffix("weight") { u.map { 1 + 0.1 * $0 } }
            else if isNorm { u.map { 0.1 * $0 } }
            else if s.name.hasSuffix("bias") { u.map { 0.05 * $0 } }
            else { u.map { 0.06 * $0 } }
        v.withUnsafeBufferPointer { (model.parameters.pointer + s.offset).update(from: $0.baseAddress!, count: s.count) }
    }
}

@Suite struct ModelParityTests {
    @Test func tinyShapeMatchesTimm() {
        #expect(ViTConfiguration.tiny.parameterCount == 5_524_416)
        #expect(ViTConfiguration.tiny.tokens == 197)
        #expect(abs(ViTConfiguration.tiny.forwardFLOPs / 1e9 - 2.507) < 0.0005)  // SPEC section 1
    }

    /// A 2-block model loaded three ways (transformers folder with pooler, the same with a `vit.`
    /// prefix, timm state dict) embeds like both references. float32 vs float32 in a different
    /// summation order: 2e-5 relative (the two references differ from each other by ~1e-6).
    @Test(arguments: ["model/tiny-transformers", "model/tiny-transformers-prefixed", "model/tiny-timm.safetensors"])
    func tinyEndToEnd(path: String) throws {
        let io = try Fixtures.open("model/tiny-io.safetensors")
        let config = ViTConfiguration(imageSize: 32, patchSize: 8, width: 32, depth: 2, heads: 2, mlpWidth: 64, layerNormEps: 1e-6)
        let model = try ViT.load(from: Fixtures.url(path), configuration: config)
        #expect(model.configuration == config)
        let e = model.embed(try io.floats("images"), batch: 3)
        for ref in ["embedding.transformers", "embedding.timm"] {
            let d = TensorDiff(e, try io.floats(ref))
            #expect(d.relative < 2e-5, "\(path) vs \(ref): \(d)")
        }
    }

    /// The full ViT-Tiny on two 224x224 inputs against transformers in float64 (weights from the
    /// shared generator). The issue asks 1e-4 relative; measured 7.2e-7 (float64) and 1.1e-6
    /// (transformers float32), so 1e-5 leaves a 10x margin for BLAS kernel differences.
    @Test func fullTinyAgainstTransformers() throws {
        let io = try Fixtures.open("model/full-tiny-io.safetensors")
        let model = ViT(configuration: .tiny)
        fillFixtureWeights(model, base: 7000)
        let n = ViTConfiguration.tiny.imageFloats
        let x = (fixtureUniform(seed: 7999, count: n) + fixtureUniform(seed: 7998, count: n)).map { 2 * $0 }
        let e = model.embed(x, batch: 2)
        let d64 = TensorDiff(e, try io.doubles("embedding.f64"))
        let d32 = TensorDiff(e, try io.floats("embedding.f32"))
        #expect(d64.relative < 1e-5, "vs float64: \(d64)")
        #expect(d32.relative < 1e-5, "vs transformers float32: \(d32)")
        // Batch independence: the second image alone gives the same embedding. A batching bug
        // (rows mixed across images) shows as an O(1) difference; what remains is float32 rounding
        // of GEMMs whose row counts differ, which OpenBLAS may run with different kernels (measured
        // 1.02e-6 on an AMD EPYC, family 26, with the Haswell kernels), so the bound is 1e-5.
        let alone = model.embed(Array(x[n...]), batch: 1)
        let db = TensorDiff(alone, Array(e[192...]))
        #expect(db.relative < 1e-5, "batch of 1 vs 2: \(db)")
    }
}
