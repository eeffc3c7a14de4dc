import CoDECore

extension ViTConfiguration {
    /// The ordered parameter table, with timm's names and timm's weight-decay rule (no decay for
    /// tensors of rank <= 1, the position embedding and the CLS token). Parameters, gradients and
    /// both AdamW moments all use this layout.
    public var parameterLayout: ParameterLayout {
        let D = width, F = mlpWidth
        var e: [(name: String, shape: [Int], decay: Bool)] = [
            ("cls_token", [1, 1, D], false),
            ("pos_embed", [1, tokens, D], false),
            ("patch_embed.proj.weight", [D, channels, patchSize, patchSize], true),
            ("patch_embed.proj.bias", [D], false),
        ]
        for i in 0..<depth {
            let p = "blocks.\(i)."
            e += [
                (p + "norm1.weight", [D], false), (p + "norm1.bias", [D], false),
                (p + "attn.qkv.weight", [3 * D, D], true),
            ]
            if qkvBias { e.append((p + "attn.qkv.bias", [3 * D], false)) }
            e += [
                (p + "attn.proj.weight", [D, D], true), (p + "attn.proj.bias", [D], false),
                (p + "norm2.weight", [D], false), (p + "norm2.bias", [D], false),
                (p + "mlp.fc1.weight", [F, D], true), (p + "mlp.fc1.bias", [F], false),
                (p + "mlp.fc2.weight", [D, F], true), (p + "mlp.fc2.bias", [D], false),
            ]
        }
        e += [("norm.weight", [D], false), ("norm.bias", [D], false)]
        return ParameterLayout(e)
    }

    /// Number of parameters (5,524,416 for `.tiny`).
    public var parameterCount: Int { parameterLayout.totalCount }
}

/// Pointers to one block's tensors inside a flat buffer laid out by
/// ``ViTConfiguration/parameterLayout`` (parameters or gradients alike).
struct BlockTensors {
    let norm1W, norm1B, qkvW: UnsafeMutablePointer<Float>
    let qkvB: UnsafeMutablePointer<Float>?
    let projW, projB, norm2W, norm2B, fc1W, fc1B, fc2W, fc2B: UnsafeMutablePointer<Float>
}

/// Pointers to every tensor of a flat parameter (or gradient) buffer.
struct ViTTensors {
    let cls, pos, patchW, patchB, normW, normB: UnsafeMutablePointer<Float>
    let blocks: [BlockTensors]

    init(_ base: UnsafeMutablePointer<Float>, layout: ParameterLayout, depth: Int) {
        func p(_ n: String) -> UnsafeMutablePointer<Float> { base + layout[n].offset }
        cls = p("cls_token"); pos = p("pos_embed")
        patchW = p("patch_embed.proj.weight"); patchB = p("patch_embed.proj.bias")
        normW = p("norm.weight"); normB = p("norm.bias")
        blocks = (0..<depth).map { i in
            let q = "blocks.\(i)."
            return BlockTensors(
                norm1W: p(q + "norm1.weight"), norm1B: p(q + "norm1.bias"), qkvW: p(q + "attn.qkv.weight"),
                qkvB: layout.spec(q + "attn.qkv.bias").map { base + $0.offset },
                projW: p(q + "attn.proj.weight"), projB: p(q + "attn.proj.bias"),
                norm2W: p(q + "norm2.weight"), norm2B: p(q + "norm2.bias"),
                fc1W: p(q + "mlp.fc1.weight"), fc1B: p(q + "mlp.fc1.bias"),
                fc2W: p(q + "mlp.fc2.weight"), fc2B: p(q + "mlp.fc2.bias"))
        }
    }
}

extension ViTConfiguration {
    /// Fills `parameters` (laid out by ``parameterLayout``) the way timm initialises a ViT
    /// (`init_weights` with mode ''): position embedding ~ N(0, 0.02) truncated at ±2 (absolute),
    /// CLS token ~ N(0, 1e-6), Linear weights ~ N(0, 0.02) truncated at ±2 with zero biases,
    /// LayerNorm weights 1 and biases 0, and the patch-embedding convolution left at PyTorch's
    /// default (kaiming-uniform with a = sqrt 5, i.e. U(±1/sqrt(fan_in)) for weight and bias).
    public func initialize(_ parameters: FloatBuffer, using rng: inout some RandomNumberGenerator) {
        let layout = parameterLayout
        precondition(parameters.count == layout.totalCount, "initialize: buffer has \(parameters.count) floats, layout needs \(layout.totalCount)")
        let fanIn = Double(patchInputs)
        for s in layout.specs {
            let p = parameters.pointer + s.offset
            let name = s.name
            if name == "pos_embed" || (name.hasSuffix(".weight") && s.shape.count == 2) {
                for i in 0..<s.count { p[i] = Float(rng.nextTruncatedNormal(std: 0.02, a: -2, b: 2)) }
            } else if name == "cls_token" {
                for i in 0..<s.count { p[i] = Float(rng.nextNormal() * 1e-6) }
            } else if name.hasPrefix("patch_embed.") {
                let bound = 1 / fanIn.squareRoot()
                for i in 0..<s.count { p[i] = Float((rng.nextUnitDouble() * 2 - 1) * bound) }
            } else if name.hasSuffix("norm1.weight") || name.hasSuffix("norm2.weight") || name == "norm.weight" {
                for i in 0..<s.count { p[i] = 1 }
            } else {
                for i in 0..<s.count { p[i] = 0 }
            }
        }
    }
}
