import CoDECore
import CoDEOneDNN

/// A Vision Transformer encoder whose embedding is the CLS row after the final LayerNorm
/// (CoDE's 192-d embedding for ``ViTConfiguration/tiny``).
///
/// Parameters live in one flat ``FloatBuffer`` laid out by ``ViTConfiguration/parameterLayout``
/// (timm names); gradients and optimizer moments use the same layout.
///
/// Forward, per block (pre-norm): `x += proj(attn(norm1(x)))`, `x += fc2(gelu(fc1(norm2(x))))`.
/// Not thread-safe: run one forward at a time per model (it threads internally).
public final class ViT: @unchecked Sendable {
    public let configuration: ViTConfiguration
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    let tensors: ViTTensors
    private var workspace: InferenceWorkspace?
    /// The `__metadata__` of the weights file the model was loaded from (empty otherwise).
    public internal(set) var metadata: [String: String] = [:]
    /// When set, forward passes add their time per layer kind to it.
    public var profile: LayerProfile?
    /// The oneDNN linear layers when ``precision`` is not fp32 (``setPrecision(_:isNative:)``).
    var reduced: ReducedLinears?

    /// A model with all parameters zero; load or initialise them before use.
    public init(configuration: ViTConfiguration) {
        if let p = configuration.problem { preconditionFailure("ViTConfiguration: \(p)") }
        self.configuration = configuration
        layout = configuration.parameterLayout
        parameters = layout.makeBuffer()
        tensors = ViTTensors(parameters.pointer, layout: layout, depth: configuration.depth)
    }

    /// A model initialised as timm initialises a ViT, from a seed.
    public convenience init(configuration: ViTConfiguration, seed: UInt64) {
        self.init(configuration: configuration)
        var rng = Xoshiro256(seed: seed)
        configuration.initialize(parameters, using: &rng)
    }

    /// Embedding width D.
    public var embeddingWidth: Int { configuration.width }

    /// Embeds `batch` images (planar `[batch, C, S, S]` floats, already normalised) into
    /// `out` (`[batch, D]`). Keeps only the activations the next layer needs.
    public func embed(_ images: UnsafePointer<Float>, batch: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(batch >= 0, "embed: negative batch")
        if batch == 0 { return }
        if workspace == nil || workspace!.capacity < batch {
            workspace = InferenceWorkspace(configuration, batch: batch)
        }
        let ws = workspace!
        let c = configuration
        let T = c.tokens, D = c.width, F = c.mlpWidth, M = batch * T
        let w = tensors
        let prof = profile
        let red = reduced
        // Patch embedding into the (larger) hidden buffer, then tokens.
        prof.measure(.patchEmbedding) {
            PatchEmbedding.im2col(images, ws.cols.pointer, batch: batch, config: c)
            // fp32 at every precision (see ``InferencePrecision``).
            Linear.forward(ws.cols.pointer, weight: w.patchW, bias: w.patchB, ws.hidden.pointer,
                           rows: batch * c.patchCount, inF: c.patchInputs, outF: D)
            PatchEmbedding.assemble(ws.hidden.pointer, cls: w.cls, pos: w.pos, tokens: ws.x.pointer, batch: batch, config: c)
        }
        let x = ws.x.pointer, ln = ws.ln.pointer, qkv = ws.qkv.pointer, att = ws.att.pointer, h = ws.hidden.pointer
        let eps = c.layerNormEps
        for (i, blk) in w.blocks.dropLast().enumerated() {
            let r = red?.blocks[i]
            prof.measure(.layerNorm) { LayerNorm.forward(x, ln, gamma: blk.norm1W, beta: blk.norm1B, mean: nil, rstd: nil, rows: M, dim: D, eps: eps) }
            prof.measure(.qkv) { linear(r?.qkv, ln, weight: blk.qkvW, bias: blk.qkvB, qkv, rows: M, inF: D, outF: 3 * D) }
            prof.measure(.attention) { Attention.forward(qkv: qkv, out: att, probs: nil, batch: batch, tokens: T, width: D, heads: c.heads) }
            prof.measure(.projection) { linear(r?.proj, att, weight: blk.projW, bias: blk.projB, x, rows: M, inF: D, outF: D, accumulate: true) }
            prof.measure(.layerNorm) { LayerNorm.forward(x, ln, gamma: blk.norm2W, beta: blk.norm2B, mean: nil, rstd: nil, rows: M, dim: D, eps: eps) }
            prof.measure(.fc1) { linear(r?.fc1, ln, weight: blk.fc1W, bias: blk.fc1B, h, rows: M, inF: D, outF: F, epilogue: .gelu) }
            prof.measure(.fc2) { linear(r?.fc2, h, weight: blk.fc2W, bias: blk.fc2B, x, rows: M, inF: F, outF: D, accumulate: true) }
        }
        // The last block only has to produce the CLS rows: every token's keys and values, but
        // attention for the CLS query alone, and the projection, MLP and final norm on B rows
        // instead of B*T (each is per row). Same embedding, 6.4% fewer FLOPs for `.tiny`
        // (``ViTConfiguration/embeddingFLOPs``). A configuration has at least one block.
        let blk = w.blocks[c.depth - 1]
        let r = red?.blocks[c.depth - 1]
        let cls = ws.cls.pointer, clsLN = ws.clsLN.pointer, clsAtt = ws.clsAtt.pointer
        prof.measure(.layerNorm) { LayerNorm.forward(x, ln, gamma: blk.norm1W, beta: blk.norm1B, mean: nil, rstd: nil, rows: M, dim: D, eps: eps) }
        prof.measure(.qkv) { linear(r?.qkv, ln, weight: blk.qkvW, bias: blk.qkvB, qkv, rows: M, inF: D, outF: 3 * D) }
        prof.measure(.attention) { Attention.forwardFirstQuery(qkv: qkv, out: clsAtt, batch: batch, tokens: T, width: D, heads: c.heads) }
        for b in 0..<batch { (cls + b * D).update(from: x + b * T * D, count: D) }
        prof.measure(.projection) { linear(r?.proj, clsAtt, weight: blk.projW, bias: blk.projB, cls, rows: batch, inF: D, outF: D, accumulate: true) }
        prof.measure(.layerNorm) { LayerNorm.forward(cls, clsLN, gamma: blk.norm2W, beta: blk.norm2B, mean: nil, rstd: nil, rows: batch, dim: D, eps: eps) }
        prof.measure(.fc1) { linear(r?.fc1, clsLN, weight: blk.fc1W, bias: blk.fc1B, h, rows: batch, inF: D, outF: F, epilogue: .gelu) }
        prof.measure(.fc2) { linear(r?.fc2, h, weight: blk.fc2W, bias: blk.fc2B, cls, rows: batch, inF: F, outF: D, accumulate: true) }
        prof.measure(.layerNorm) { LayerNorm.forward(cls, out, gamma: w.normW, beta: w.normB, mean: nil, rstd: nil, rows: batch, dim: D, eps: eps) }
    }

    /// One linear layer: the oneDNN one when there is one (``precision`` not fp32), else OpenBLAS.
    /// A oneDNN layer that cannot make a primitive for a new row count runs this call in fp32.
    @inline(__always)
    private func linear(_ reduced: InferenceLinear?, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        _ y: UnsafeMutablePointer<Float>, rows: Int, inF: Int, outF: Int, accumulate: Bool = false,
                        epilogue: Linear.Epilogue = .none) {
        if let reduced {
            do { try reduced.run(x, rows: rows, y); return } catch { self.reduced?.fallbacks += 1 }
        }
        Linear.forward(x, weight: weight, bias: bias, y, rows: rows, inF: inF, outF: outF, accumulate: accumulate, epilogue: epilogue)
    }

    /// Embeds images given as an array of `batch * C * S * S` planar floats; returns `[batch * D]`.
    public func embed(_ images: [Float], batch: Int) -> [Float] {
        precondition(images.count == batch * configuration.imageFloats,
                     "embed: \(images.count) floats for \(batch) images of \(configuration.imageFloats)")
        var out = [Float](repeating: 0, count: batch * configuration.width)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { embed(src.baseAddress!, batch: batch, into: $0.baseAddress!) }
        }
        return out
    }

    /// Frees the cached inference buffers (they are re-created on the next call).
    public func releaseWorkspace() { workspace = nil }
}

/// Buffers for one inference forward of up to `capacity` images; reused across calls.
final class InferenceWorkspace {
    let capacity: Int
    let cols, x, ln, qkv, att, hidden: FloatBuffer
    /// The last block's CLS rows: residual stream, its LayerNorm, attention output (`[B, D]` each).
    let cls, clsLN, clsAtt: FloatBuffer

    init(_ c: ViTConfiguration, batch: Int) {
        capacity = batch
        let M = batch * c.tokens
        cols = FloatBuffer(count: batch * c.patchCount * c.patchInputs)   // (B*Np, C*P*P)
        x = FloatBuffer(count: M * c.width)                                // (B*T, D)
        ln = FloatBuffer(count: M * c.width)                               // (B*T, D)
        qkv = FloatBuffer(count: M * 3 * c.width)                          // (B*T, 3D)
        att = FloatBuffer(count: M * c.width)                              // (B*T, D)
        hidden = FloatBuffer(count: max(M * c.mlpWidth, batch * c.patchCount * c.width))  // (B*T, F)
        cls = FloatBuffer(count: batch * c.width)
        clsLN = FloatBuffer(count: batch * c.width)
        clsAtt = FloatBuffer(count: batch * c.width)
    }
}
