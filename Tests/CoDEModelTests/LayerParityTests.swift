@testable import CoDEModel
import CoDECore
import Testing
import _CoDETestSupport

/// Each layer's forward against timm's module on the same inputs (Tests/Fixtures/model/layers.safetensors,
/// written by make_model_fixtures.py). All in float32; tolerances are relative to max |reference|.
@Suite struct LayerParityTests {
    let f: SafeTensorsFile
    init() throws { f = try Fixtures.open("model/layers.safetensors") }

    func t(_ n: String) throws -> [Float] { try f.floats(n) }

    @Test func layerNorm() throws {
        let x = try t("ln.x"), g = try t("ln.gamma"), b = try t("ln.beta")
        var y = [Float](repeating: 0, count: x.count)
        LayerNorm.forward(x, &y, gamma: g, beta: b, mean: nil, rstd: nil, rows: 5, dim: 32, eps: 1e-6)
        // Two-pass mean/variance in Float over 32 values: a few ulp of the output.
        let d = TensorDiff(y, try t("ln.y"))
        #expect(d.relative < 2e-6, "\(d)")
    }

    @Test func linear() throws {
        let x = try t("linear.x"), w = try t("linear.w"), b = try t("linear.b")
        var y = [Float](repeating: 0, count: 7 * 48)
        Linear.forward(x, weight: w, bias: b, &y, rows: 7, inF: 32, outF: 48)
        let d = TensorDiff(y, try t("linear.y"))
        #expect(d.relative < 2e-6, "\(d)")  // same sums in a different order: float32 rounding only
    }

    @Test func gelu() throws {
        let x = try t("gelu.x")
        var y = [Float](repeating: 0, count: x.count)
        GELU.forward(x, &y, count: x.count)
        // A&S erf is within 1.5e-7 absolute; times 0.5|x| <= 3 plus rounding.
        let d = TensorDiff(y, try t("gelu.y"))
        #expect(d.maxAbs < 1e-6, "\(d)")
    }

    /// timm Attention = qkv Linear, the attention core, proj Linear.
    @Test func attention() throws {
        let (B, T, D, H) = (2, 17, 32, 2)
        let x = try t("attn.x")
        var qkv = [Float](repeating: 0, count: B * T * 3 * D), o = [Float](repeating: 0, count: B * T * D)
        var y = [Float](repeating: 0, count: B * T * D)
        Linear.forward(x, weight: try t("attn.qkv.weight"), bias: try t("attn.qkv.bias"), &qkv, rows: B * T, inF: D, outF: 3 * D)
        Attention.forward(qkv: qkv, out: &o, probs: nil, batch: B, tokens: T, width: D, heads: H)
        Linear.forward(o, weight: try t("attn.proj.weight"), bias: try t("attn.proj.bias"), &y, rows: B * T, inF: D, outF: D)
        let d = TensorDiff(y, try t("attn.y"))
        #expect(d.relative < 1e-5, "\(d)")  // softmax through the polynomial exp: ~1e-7 per probability
    }

    @Test func patchEmbedding() throws {
        let c = ViTConfiguration(imageSize: 32, patchSize: 8, width: 32, depth: 1, heads: 2, mlpWidth: 64)
        let imgs = try t("patch.images")
        var cols = [Float](repeating: 0, count: 2 * 16 * c.patchInputs), y = [Float](repeating: 0, count: 2 * 16 * 32)
        PatchEmbedding.im2col(imgs, &cols, batch: 2, config: c)
        Linear.forward(cols, weight: try t("patch.proj.weight"), bias: try t("patch.proj.bias"), &y, rows: 32, inF: c.patchInputs, outF: 32)
        let d = TensorDiff(y, try t("patch.y"))
        #expect(d.relative < 2e-6, "\(d)")
    }

    /// One pre-norm block, composed exactly as ViT.embed composes it.
    @Test func block() throws {
        let (B, T, D, H, F) = (2, 17, 32, 2, 64)
        var x = try t("block.x")
        var ln = [Float](repeating: 0, count: B * T * D), qkv = [Float](repeating: 0, count: B * T * 3 * D)
        var o = [Float](repeating: 0, count: B * T * D), h = [Float](repeating: 0, count: B * T * F)
        let M = B * T
        LayerNorm.forward(x, &ln, gamma: try t("block.norm1.weight"), beta: try t("block.norm1.bias"), mean: nil, rstd: nil, rows: M, dim: D, eps: 1e-6)
        Linear.forward(ln, weight: try t("block.attn.qkv.weight"), bias: try t("block.attn.qkv.bias"), &qkv, rows: M, inF: D, outF: 3 * D)
        Attention.forward(qkv: qkv, out: &o, probs: nil, batch: B, tokens: T, width: D, heads: H)
        Linear.forward(o, weight: try t("block.attn.proj.weight"), bias: try t("block.attn.proj.bias"), &x, rows: M, inF: D, outF: D, accumulate: true)
        LayerNorm.forward(x, &ln, gamma: try t("block.norm2.weight"), beta: try t("block.norm2.bias"), mean: nil, rstd: nil, rows: M, dim: D, eps: 1e-6)
        Linear.forward(ln, weight: try t("block.mlp.fc1.weight"), bias: try t("block.mlp.fc1.bias"), &h, rows: M, inF: D, outF: F)
        GELU.forward(h, &h, count: M * F)
        Linear.forward(h, weight: try t("block.mlp.fc2.weight"), bias: try t("block.mlp.fc2.bias"), &x, rows: M, inF: F, outF: D, accumulate: true)
        let d = TensorDiff(x, try t("block.y"))
        #expect(d.relative < 1e-5, "\(d)")
    }
}
