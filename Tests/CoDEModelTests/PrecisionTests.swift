import CoDECore
import CoDEModel
import Foundation
import Testing
import _CoDETestSupport

/// Reduced-precision inference (``ViT/setPrecision(_:isNative:)``) against
/// Tests/Fixtures/make_precision_fixtures.py's emulation of the documented arithmetic, and the
/// whole embedding's error against fp32.
@Suite struct PrecisionTests {
    static let tinyConfig = ViTConfiguration(imageSize: 32, patchSize: 8, width: 32, depth: 2, heads: 2, mlpWidth: 64, layerNormEps: 1e-6)

    func tiny() throws -> (ViT, [Float]) {
        let model = try ViT.load(from: Fixtures.url("model/tiny-timm.safetensors"), configuration: Self.tinyConfig)
        return (model, try Fixtures.open("model/tiny-io.safetensors").floats("images"))
    }

    /// The tiny ViT at bf16 and int8 against the emulated forward. Identical rounding rules, but a
    /// float32 difference in an activation can move it across a bf16 (or s8) rounding boundary,
    /// which the following layers carry: so the bound is a tenth of the format's own error vs fp32
    /// (measured by the script: bf16 1.5e-3, int8 6.7e-3).
    @Test(arguments: [InferencePrecision.bf16, .int8]) func tinyMatchesEmulation(precision: InferencePrecision) throws {
        let (model, images) = try tiny()
        let ref = try Fixtures.open("precision/tiny-vit.safetensors")
        let fp32 = model.embed(images, batch: 3)
        let choice = model.setPrecision(precision)
        #expect(choice.used == precision, "\(choice)")
        #expect(model.precision == precision)
        let e = model.embed(images, batch: 3)
        let emulated = try ref.floats("embedding.\(precision.rawValue)")
        let own = TensorDiff(fp32, try ref.floats("embedding.fp32")), vsEmulation = TensorDiff(e, emulated)
        let vsFP32 = TensorDiff(e, fp32), formatError = TensorDiff(emulated, try ref.floats("embedding.fp32"))
        #expect(own.relative < 2e-5, "fp32 vs the script's fp32: \(own)")
        #expect(vsEmulation.relative < formatError.relative / 10, "\(precision) vs emulation: \(vsEmulation); format error \(formatError)")
        #expect(vsFP32.relative > 0 && vsFP32.relative < 2 * formatError.relative, "\(precision) vs fp32: \(vsFP32)")
        // Back to fp32: bit for bit the fp32 path again.
        #expect(model.setPrecision(.fp32).used == .fp32)
        #expect(model.embed(images, batch: 3) == fp32)
    }

    /// The full ViT-Tiny (fixture weights, two 224x224 inputs and a batch of 5 so the cached
    /// primitives see other row counts): embedding relative error vs fp32 (max |diff| / max |fp32|)
    /// under 1.5e-2 for bf16 and 8e-2 for int8 (measured 7.4e-3 and 5.4e-2 on these synthetic
    /// uniform weights, which have no trained structure; the bundled model's figures, 10x smaller
    /// for int8, are in docs/precision.md); and batch independence
    /// within the same bounds (int8's scales are per batch).
    @Test func fullTinyErrorBound() throws {
        let model = ViT(configuration: .tiny)
        fillFixtureWeights(model, base: 7000)
        let n = ViTConfiguration.tiny.imageFloats
        let x = (0..<5).flatMap { i in fixtureUniform(seed: 7990 + UInt64(i), count: n).map { 2 * $0 } }
        let fp32 = model.embed(x, batch: 5)
        for (p, bound) in [(InferencePrecision.bf16, 1.5e-2), (.int8, 8e-2)] {
            #expect(model.setPrecision(p).used == p)
            let e = model.embed(x, batch: 5)
            let d = TensorDiff(e, fp32)
            print("full ViT-Tiny \(p.rawValue) vs fp32: \(d)")
            #expect(d.relative < bound, "\(p): \(d)")
            let one = model.embed(Array(x[(2 * n)..<(3 * n)]), batch: 1)
            let d1 = TensorDiff(one, Array(fp32[(2 * 192)..<(3 * 192)]))
            #expect(d1.relative < bound, "\(p) batch of one: \(d1)")
        }
    }

    /// An injected check that rejects every oneDNN kernel (as on a CPU without bf16 or VNNI):
    /// the model stays fp32, says why, and embeds exactly as fp32.
    @Test func fallsBackWhenNotNative() throws {
        let (model, images) = try tiny()
        let fp32 = model.embed(images, batch: 3)
        for p in [InferencePrecision.bf16, .int8] {
            let choice = model.setPrecision(p, isNative: { _, _ in false })
            #expect(choice.used == .fp32 && choice.requested == p)
            #expect(choice.reason?.contains("no native \(p.rawValue) kernel") == true, "\(choice)")
            #expect(choice.fallbackWarning?.hasPrefix("warning: --precision \(p.rawValue) unavailable, using fp32") == true)
            #expect(model.precision == .fp32)
            #expect(model.embed(images, batch: 3) == fp32)
        }
    }
}
