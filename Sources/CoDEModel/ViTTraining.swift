import CoDECore

/// Activations one training forward keeps for the backward pass, for up to `capacity` images.
/// Shapes per block l (M = B*T): `xIn`, `ln1`, `att`, `xMid`, `ln2` `[M, D]`; `qkv` `[M, 3D]`;
/// `probs` `[B, H, T, T]`; `g` (GELU output) and `gp` (GELU derivative at fc1's output) `[M, F]`;
/// LayerNorm `mean`/`rstd` `[M]`. Keeping the derivative (computed in the forward's fc1 epilogue
/// with the output, sharing one exp) means backward evaluates no erf.
/// The last block, like ``ViT/embed(_:batch:into:)``, computes everything after its qkv
/// projection for the CLS rows only, so its `probs` hold `[B, H, T]` and its `att`, `xMid`, `ln2`,
/// `g`, `gp`, `mean2`, `rstd2` and `xFinal` hold B compact rows.
/// About 92 MB per block at B = 32 for ViT-Tiny; allocate once and reuse.
/// With ``TrainingPrecision/bf16`` it also holds the bf16 copies of the linear layers' weights
/// (refreshed by every ``ViT/forward(_:batch:cache:into:)``) and bf16 scratch for the GEMM
/// operands, about 30 MB more at B = 32.
public final class TrainingCache: @unchecked Sendable {
    public let configuration: ViTConfiguration
    public let capacity: Int
    /// What the linear layers' GEMMs of forward and backward with this cache compute in.
    public let precision: TrainingPrecision
    let bf16: BF16Workspace?
    let cols: FloatBuffer                          // (B*Np, C*P*P)
    let xIn, ln1, qkv, probs, att, xMid, ln2, g, gp: [FloatBuffer]
    let mean1, rstd1, mean2, rstd2: [FloatBuffer]
    let xFinal: FloatBuffer                        // (B, D) CLS rows of the residual stream after the last block
    let clsIn: FloatBuffer                         // (B, D) CLS rows entering the last block
    let meanF, rstdF: FloatBuffer                  // (B)
    // Backward scratch.
    let dx, dln, datt: FloatBuffer                 // (B*T, D)
    let dqkv: FloatBuffer                          // (B*T, 3D)
    let dh: FloatBuffer                            // (B*T, F)
    let dproj: FloatBuffer                         // (B*Np, D)
    let dcls: FloatBuffer                          // (B, D) gradient of the last block's CLS rows
    var batch = 0

    /// A cache for up to `capacity` images. `precision` `.bf16` runs on oneDNN whatever the CPU
    /// (check ``TrainingPrecision/bf16Support`` first: without native bf16 it is slow).
    public init(configuration c: ViTConfiguration, capacity B: Int, precision: TrainingPrecision = .fp32) {
        configuration = c
        capacity = B
        self.precision = precision
        if precision == .bf16 {
            do { bf16 = try BF16Workspace(configuration: c, capacity: B) } catch {
                fatalError("TrainingCache: cannot set up the bf16 GEMMs on oneDNN (\(error)); train with precision fp32")
            }
        } else {
            bf16 = nil
        }
        let M = B * c.tokens, D = c.width, L = c.depth
        func per(_ n: Int) -> [FloatBuffer] { (0..<L).map { _ in FloatBuffer(count: n) } }
        cols = FloatBuffer(count: B * c.patchCount * c.patchInputs)
        xIn = per(M * D); ln1 = per(M * D); qkv = per(M * 3 * D); probs = per(B * c.heads * c.tokens * c.tokens)
        att = per(M * D); xMid = per(M * D); ln2 = per(M * D); g = per(M * c.mlpWidth); gp = per(M * c.mlpWidth)
        mean1 = per(M); rstd1 = per(M); mean2 = per(M); rstd2 = per(M)
        xFinal = FloatBuffer(count: B * D)
        clsIn = FloatBuffer(count: B * D)
        meanF = FloatBuffer(count: B); rstdF = FloatBuffer(count: B)
        dx = FloatBuffer(count: M * D); dln = FloatBuffer(count: M * D); datt = FloatBuffer(count: M * D)
        dqkv = FloatBuffer(count: M * 3 * D)
        dh = FloatBuffer(count: M * c.mlpWidth)
        dproj = FloatBuffer(count: B * c.patchCount * D)
        dcls = FloatBuffer(count: B * D)
    }

    /// The oneDNN implementation of each bf16 GEMM shape run with this cache so far (empty in fp32).
    public var bf16Implementations: [String] { bf16?.gemm.implementations ?? [] }

    /// Bytes held by the cache.
    public var bytes: Int {
        let all = [cols, xFinal, clsIn, meanF, rstdF, dx, dln, datt, dqkv, dh, dproj, dcls] + xIn + ln1 + qkv + probs + att + xMid + ln2 + g + gp + mean1 + rstd1 + mean2 + rstd2
        return all.reduce(0) { $0 + $1.count * 4 } + (bf16?.bytes ?? 0)
    }
}

extension ViT {
    /// Training forward: the same arithmetic as ``embed(_:batch:into:)``, keeping every
    /// activation the backward pass needs in `cache`. Writes the `[batch, D]` embeddings.
    public func forward(_ images: UnsafePointer<Float>, batch B: Int, cache: TrainingCache, into out: UnsafeMutablePointer<Float>) {
        let c = configuration
        precondition(cache.configuration == c, "forward: cache built for another configuration")
        precondition(B >= 1 && B <= cache.capacity, "forward: batch \(B) outside 1...\(cache.capacity)")
        cache.batch = B
        let T = c.tokens, D = c.width, F = c.mlpWidth, M = B * T, eps = c.layerNormEps
        let w = tensors
        // bf16: the GEMMs take the weights rounded once here, the activations as they enter.
        let bf = cache.bf16
        bf?.refreshWeights(w, configuration: c)
        func linear(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ weight16: UnsafePointer<UInt16>?,
                    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, rows: Int, inF: Int, outF: Int,
                    residual: UnsafePointer<Float>? = nil, epilogue: Linear.Epilogue = .none) {
            if let bf, let weight16 {
                bf.forward(x, weight: weight16, bias: bias, y, rows: rows, inF: inF, outF: outF, residual: residual, epilogue: epilogue)
            } else {
                Linear.forward(x, weight: weight, bias: bias, y, rows: rows, inF: inF, outF: outF, residual: residual, epilogue: epilogue)
            }
        }
        PatchEmbedding.im2col(images, cache.cols.pointer, batch: B, config: c)
        linear(cache.cols.pointer, w.patchW, bf?.patchW, bias: w.patchB, cache.dproj.pointer,
               rows: B * c.patchCount, inF: c.patchInputs, outF: D)
        PatchEmbedding.assemble(cache.dproj.pointer, cls: w.cls, pos: w.pos, tokens: cache.xIn[0].pointer, batch: B, config: c)
        for (l, blk) in w.blocks.enumerated() {
            let x = cache.xIn[l].pointer, xm = cache.xMid[l].pointer
            let last = l == c.depth - 1
            LayerNorm.forward(x, cache.ln1[l].pointer, gamma: blk.norm1W, beta: blk.norm1B,
                              mean: cache.mean1[l].pointer, rstd: cache.rstd1[l].pointer, rows: M, dim: D, eps: eps)
            linear(cache.ln1[l].pointer, blk.qkvW, bf?.qkvW[l], bias: blk.qkvB, cache.qkv[l].pointer, rows: M, inF: D, outF: 3 * D)
            // The last block continues on the CLS rows only (B rows instead of B*T).
            let rows = last ? B : M
            let residual: UnsafePointer<Float>
            if last {
                Attention.forwardFirstQuery(qkv: cache.qkv[l].pointer, out: cache.att[l].pointer, probs: cache.probs[l].pointer,
                                            batch: B, tokens: T, width: D, heads: c.heads)
                for b in 0..<B { (cache.clsIn.pointer + b * D).update(from: x + b * T * D, count: D) }
                residual = UnsafePointer(cache.clsIn.pointer)
            } else {
                Attention.forward(qkv: cache.qkv[l].pointer, out: cache.att[l].pointer, probs: cache.probs[l].pointer,
                                  batch: B, tokens: T, width: D, heads: c.heads)
                residual = UnsafePointer(x)
            }
            let xOut = last ? cache.xFinal.pointer : cache.xIn[l + 1].pointer
            linear(cache.att[l].pointer, blk.projW, bf?.projW[l], bias: blk.projB, xm, rows: rows, inF: D, outF: D, residual: residual)
            LayerNorm.forward(xm, cache.ln2[l].pointer, gamma: blk.norm2W, beta: blk.norm2B,
                              mean: cache.mean2[l].pointer, rstd: cache.rstd2[l].pointer, rows: rows, dim: D, eps: eps)
            linear(cache.ln2[l].pointer, blk.fc1W, bf?.fc1W[l], bias: blk.fc1B, cache.g[l].pointer, rows: rows, inF: D, outF: F,
                   epilogue: .geluWithDerivative(into: cache.gp[l].pointer))
            linear(cache.g[l].pointer, blk.fc2W, bf?.fc2W[l], bias: blk.fc2B, xOut, rows: rows, inF: F, outF: D, residual: xm)
        }
        LayerNorm.forward(cache.xFinal.pointer, out, gamma: w.normW, beta: w.normB,
                          mean: cache.meanF.pointer, rstd: cache.rstdF.pointer, rows: B, dim: D, eps: eps)
    }

    /// Backward from `dEmbedding` (`[batch, D]`, dLoss/dEmbedding of the last ``forward``),
    /// accumulating into `gradients` (laid out like ``parameters``; zero it once per step).
    /// Reads as the forward upside down.
    public func backward(_ dEmbedding: UnsafePointer<Float>, cache: TrainingCache, gradients: FloatBuffer) {
        let c = configuration
        precondition(gradients.count == layout.totalCount, "backward: gradient buffer does not match the layout")
        let B = cache.batch
        precondition(B >= 1, "backward: call forward first")
        let T = c.tokens, D = c.width, F = c.mlpWidth, M = B * T
        let w = tensors
        let gw = ViTTensors(gradients.pointer, layout: layout, depth: c.depth)
        let dx = cache.dx.pointer
        dx.update(repeating: 0, count: M * D)
        // bf16: the weights rounded by the forward (the masters have not changed since).
        let bf = cache.bf16
        func linear(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ weight16: UnsafePointer<UInt16>?,
                    dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
                    rows: Int, inF: Int, outF: Int) {
            if let bf, let weight16 {
                bf.backward(dy, x, weight: weight16, dx: dx, dweight: dweight, dbias: dbias, rows: rows, inF: inF, outF: outF)
            } else if let dx {
                Linear.backward(dy, x, weight: weight, dx: dx, dxBeta: 0, dweight: dweight, dbias: dbias, rows: rows, inF: inF, outF: outF)
            } else {
                Linear.backward(dy, x, weight: weight, dx: nil, dweight: dweight, dbias: dbias, rows: rows, inF: inF, outF: outF)
            }
        }
        // Final norm: only the CLS rows reach the loss; the last block's work after its qkv
        // projection is on those B rows (see forward).
        let dcls = cache.dcls.pointer
        dcls.update(repeating: 0, count: B * D)
        LayerNorm.backward(dEmbedding, cache.xFinal.pointer, mean: cache.meanF.pointer, rstd: cache.rstdF.pointer,
                           gamma: w.normW, dx: dcls, dgamma: gw.normW, dbeta: gw.normB, rows: B, dim: D)
        for l in (0..<c.depth).reversed() {
            let blk = w.blocks[l], gb = gw.blocks[l]
            let last = l == c.depth - 1
            let rows = last ? B : M
            let dr = last ? dcls : dx  // gradient of the block's output rows
            // x_out = x_mid + fc2(gelu(fc1(norm2(x_mid))))
            linear(dr, cache.g[l].pointer, blk.fc2W, bf?.fc2W[l], dx: cache.dh.pointer,
                   dweight: gb.fc2W, dbias: gb.fc2B, rows: rows, inF: F, outF: D)
            GELU.backward(cache.dh.pointer, derivative: cache.gp[l].pointer, dx: cache.dh.pointer, rows: rows, cols: F,
                          biasGradient: gb.fc1B)
            linear(cache.dh.pointer, cache.ln2[l].pointer, blk.fc1W, bf?.fc1W[l], dx: cache.dln.pointer,
                   dweight: gb.fc1W, dbias: nil, rows: rows, inF: D, outF: F)
            LayerNorm.backward(cache.dln.pointer, cache.xMid[l].pointer, mean: cache.mean2[l].pointer, rstd: cache.rstd2[l].pointer,
                               gamma: blk.norm2W, dx: dr, dgamma: gb.norm2W, dbeta: gb.norm2B, rows: rows, dim: D)
            // x_mid = x_in + proj(attn(norm1(x_in)))
            linear(dr, cache.att[l].pointer, blk.projW, bf?.projW[l], dx: cache.datt.pointer,
                   dweight: gb.projW, dbias: gb.projB, rows: rows, inF: D, outF: D)
            if last {
                Attention.backwardFirstQuery(dout: cache.datt.pointer, qkv: cache.qkv[l].pointer, probs: cache.probs[l].pointer,
                                             dqkv: cache.dqkv.pointer, batch: B, tokens: T, width: D, heads: c.heads)
                // The residual path: x_in's CLS rows get x_mid's gradient, the other rows none.
                for b in 0..<B { (dx + b * T * D).update(from: dcls + b * D, count: D) }
            } else {
                Attention.backward(dout: cache.datt.pointer, qkv: cache.qkv[l].pointer, probs: cache.probs[l].pointer,
                                   dqkv: cache.dqkv.pointer, batch: B, tokens: T, width: D, heads: c.heads)
            }
            linear(cache.dqkv.pointer, cache.ln1[l].pointer, blk.qkvW, bf?.qkvW[l], dx: cache.dln.pointer,
                   dweight: gb.qkvW, dbias: gb.qkvB, rows: M, inF: D, outF: 3 * D)
            LayerNorm.backward(cache.dln.pointer, cache.xIn[l].pointer, mean: cache.mean1[l].pointer, rstd: cache.rstd1[l].pointer,
                               gamma: blk.norm1W, dx: dx, dgamma: gb.norm1W, dbeta: gb.norm1B, rows: M, dim: D)
        }
        // Tokens: CLS, positions, patch projections (the input images get no gradient).
        PatchEmbedding.disassemble(dx, dproj: cache.dproj.pointer, dcls: gw.cls, dpos: gw.pos, batch: B, config: c)
        linear(cache.dproj.pointer, cache.cols.pointer, w.patchW, bf?.patchW, dx: nil, dweight: gw.patchW, dbias: gw.patchB,
               rows: B * c.patchCount, inF: c.patchInputs, outF: D)
    }
}
