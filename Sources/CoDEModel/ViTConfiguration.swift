/// The shape of a Vision Transformer encoder (pre-norm blocks, CLS token, learned positions).
///
/// `.tiny` is CoDE's encoder, timm's `vit_tiny_patch16_224`: 224x224x3 input, 16x16 patches
/// (196 patches + 1 CLS = 197 tokens), width 192, 12 blocks, 3 heads of 64, MLP 768, exact GELU,
/// qkv bias, LayerNorm eps 1e-6 — 5,524,416 parameters.
public struct ViTConfiguration: Sendable, Equatable, Codable {
    public var imageSize: Int
    public var patchSize: Int
    public var channels: Int
    /// Token width D.
    public var width: Int
    /// Number of transformer blocks.
    public var depth: Int
    /// Attention heads H; the head dimension is `width / heads`.
    public var heads: Int
    /// Hidden width F of the MLP.
    public var mlpWidth: Int
    public var layerNormEps: Float
    public var qkvBias: Bool

    public init(imageSize: Int, patchSize: Int, channels: Int = 3, width: Int, depth: Int, heads: Int,
                mlpWidth: Int, layerNormEps: Float = 1e-6, qkvBias: Bool = true) {
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.channels = channels
        self.width = width
        self.depth = depth
        self.heads = heads
        self.mlpWidth = mlpWidth
        self.layerNormEps = layerNormEps
        self.qkvBias = qkvBias
    }

    /// CoDE's encoder: timm `vit_tiny_patch16_224` (eps 1e-6 as in timm).
    public static let tiny = ViTConfiguration(imageSize: 224, patchSize: 16, width: 192, depth: 12, heads: 3, mlpWidth: 768)

    /// A ViT-Tiny-shaped encoder for 32x32 images (CIFAKE): patch 4, 64 patches + CLS.
    public static let tiny32 = ViTConfiguration(imageSize: 32, patchSize: 4, width: 192, depth: 12, heads: 3, mlpWidth: 768)

    public var gridSize: Int { imageSize / patchSize }
    public var patchCount: Int { gridSize * gridSize }
    /// Tokens per image T = patches + CLS.
    public var tokens: Int { patchCount + 1 }
    public var headDim: Int { width / heads }
    /// Inputs per patch: channels x patch x patch.
    public var patchInputs: Int { channels * patchSize * patchSize }
    /// Floats per input image: channels x imageSize x imageSize.
    public var imageFloats: Int { channels * imageSize * imageSize }

    /// Checks internal consistency; returns a description of the first problem, or nil.
    public var problem: String? {
        if imageSize <= 0 || patchSize <= 0 || channels <= 0 || width <= 0 || depth <= 0 || heads <= 0 || mlpWidth <= 0 {
            return "all sizes must be positive"
        }
        if imageSize % patchSize != 0 { return "image size \(imageSize) is not a multiple of patch size \(patchSize)" }
        if width % heads != 0 { return "width \(width) is not divisible by \(heads) heads" }
        if !(layerNormEps > 0) { return "LayerNorm eps must be positive" }
        return nil
    }

    /// Multiply-add FLOPs (2 per MAC) of one image's forward pass through the GEMMs and the
    /// attention products — the count behind the sgemm-bound ceiling (2.507 GFLOP for `.tiny`).
    public var forwardFLOPs: Double {
        let T = Double(tokens), D = Double(width), F = Double(mlpWidth), P = Double(patchCount)
        let patch = 2 * P * Double(patchInputs) * D
        let perBlock = 2 * T * D * 3 * D + 2 * T * T * D * 2 + 2 * T * D * D + 2 * T * D * F * 2
        return patch + Double(depth) * perBlock
    }

    /// FLOPs of one image's embedding as ``ViT/embed(_:batch:into:)`` computes it: the last block
    /// needs every token's keys and values but the CLS row of everything after them (attention
    /// for one query, projection, MLP), so it costs its qkv projection plus per-row work
    /// (2.347 GFLOP for `.tiny`, 6.4% less than ``forwardFLOPs``).
    public var embeddingFLOPs: Double {
        let T = Double(tokens), D = Double(width), F = Double(mlpWidth), P = Double(patchCount)
        let patch = 2 * P * Double(patchInputs) * D
        let perBlock = 2 * T * D * 3 * D + 2 * T * T * D * 2 + 2 * T * D * D + 2 * T * D * F * 2
        let last = 2 * T * D * 3 * D + 2 * T * D * 2 + 2 * D * D + 2 * D * F * 2
        return patch + Double(depth - 1) * perBlock + last
    }
}
