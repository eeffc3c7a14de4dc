import CoDECore
import CoDEModel
import Foundation
import Testing

/// timm's ViT initialisation (init_weights mode ''), checked by its distributions on a 2-block
/// ViT-Tiny (same tensor shapes; 37K-147K draws per tensor, so the sample statistics are tight)
/// and by determinism per seed.
@Suite struct InitializationTests {
    func stats(_ v: ArraySlice<Float>) -> (mean: Double, std: Double, maxAbs: Double) {
        let n = Double(v.count)
        let m = v.reduce(0.0) { $0 + Double($1) } / n
        let s = (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / n).squareRoot()
        return (m, s, Double(v.map { abs($0) }.max()!))
    }

    @Test func distributionsMatchTimm() {
        let config = ViTConfiguration(imageSize: 224, patchSize: 16, width: 192, depth: 2, heads: 3, mlpWidth: 768)
        let model = ViT(configuration: config, seed: 42)
        let p = model.parameters.array()
        func t(_ name: String) -> ArraySlice<Float> { p[model.layout[name].range] }
        // Linear weights and the position embedding: N(0, 0.02) (truncation at ±2 is inert at this std).
        for name in ["blocks.0.attn.qkv.weight", "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc2.weight", "pos_embed"] {
            let s = stats(t(name))
            #expect(abs(s.mean) < 0.002 && abs(s.std - 0.02) < 0.001, "\(name): \(s)")
        }
        // CLS token N(0, 1e-6).
        #expect(stats(t("cls_token")).maxAbs < 1e-5)
        // Patch conv: PyTorch default U(±1/sqrt(768)) for weight and bias: std = bound / sqrt 3.
        let bound = 1 / 768.0.squareRoot()
        let pw = stats(t("patch_embed.proj.weight"))
        #expect(pw.maxAbs <= bound && abs(pw.std - bound / 3.0.squareRoot()) < 0.001, "\(pw)")
        #expect(stats(t("patch_embed.proj.bias")).maxAbs <= bound)
        // Norm weights 1, every other bias 0.
        for s in model.layout.specs where s.name.hasSuffix("norm1.weight") || s.name.hasSuffix("norm2.weight") || s.name == "norm.weight" {
            #expect(t(s.name).allSatisfy { $0 == 1 }, "\(s.name)")
        }
        for s in model.layout.specs where s.name.hasSuffix(".bias") && !s.name.hasPrefix("patch_embed") {
            #expect(t(s.name).allSatisfy { $0 == 0 }, "\(s.name)")
        }
        #expect(ViT(configuration: config, seed: 42).parameters.array() == p)
        #expect(ViT(configuration: config, seed: 43).parameters.array() != p)
    }

    @Test func weightDecayFlagsMatchTimmsRule() {
        for s in ViTConfiguration.tiny.parameterLayout.specs {
            #expect(s.decay == timmAppliesWeightDecay(name: s.name, shape: s.shape), "\(s.name)")
        }
    }
}
