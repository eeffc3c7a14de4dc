import CoDECore

/// Patch embedding (a stride-P convolution) as im2col + one GEMM, and the token assembly:
/// `x[b, 0] = cls + pos[0]`, `x[b, 1 + p] = patches[b, p] W^T + bias + pos[1 + p]`.
/// Shapes: images `[B, C, S, S]` planar; columns `[B*Np, C*P*P]` in the order (c, ky, kx) of
/// PyTorch's conv weight `[D, C, P, P]`; tokens `[B*T, D]`.
enum PatchEmbedding {
    /// im2col: row `b*Np + gy*G + gx`, column `c*P*P + ky*P + kx`.
    static func im2col(_ images: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>, batch B: Int, config c: ViTConfiguration) {
        let S = c.imageSize, P = c.patchSize, G = c.gridSize, C = c.channels, K = c.patchInputs
        Threading.parallelRanges(B * c.patchCount, minChunk: 32) { range in
            for row in range {
                let b = row / c.patchCount, g = row % c.patchCount
                let gy = g / G, gx = g % G
                let dst = cols + row * K
                for ch in 0..<C {
                    let plane = images + (b * C + ch) * S * S
                    for ky in 0..<P {
                        (dst + (ch * P + ky) * P).update(from: plane + (gy * P + ky) * S + gx * P, count: P)
                    }
                }
            }
        }
    }

    /// Tokens from patch projections (`proj` `[B*Np, D]`, bias already added), CLS token and positions.
    static func assemble(_ proj: UnsafePointer<Float>, cls: UnsafePointer<Float>, pos: UnsafePointer<Float>,
                         tokens x: UnsafeMutablePointer<Float>, batch B: Int, config c: ViTConfiguration) {
        let T = c.tokens, D = c.width, Np = c.patchCount
        Threading.parallelRanges(B * T, minChunk: 64) { range in
            for row in range {
                let b = row / T, t = row % T
                let src = t == 0 ? cls : proj + (b * Np + t - 1) * D
                let dst = x + row * D, pr = pos + t * D
                for j in 0..<D { dst[j] = src[j] + pr[j] }
            }
        }
    }

    /// Backward of `assemble`: `dcls += Σ_b dx[b,0]`, `dpos[t] += Σ_b dx[b,t]`, `dproj[b,p] = dx[b,1+p]`.
    static func disassemble(_ dx: UnsafePointer<Float>, dproj: UnsafeMutablePointer<Float>,
                            dcls: UnsafeMutablePointer<Float>, dpos: UnsafeMutablePointer<Float>,
                            batch B: Int, config c: ViTConfiguration) {
        let T = c.tokens, D = c.width, Np = c.patchCount
        Threading.parallelRanges(T, minChunk: 8) { range in
            for t in range {
                let dp = dpos + t * D
                for b in 0..<B {
                    let src = dx + (b * T + t) * D
                    for j in 0..<D { dp[j] += src[j] }
                    if t == 0 {
                        for j in 0..<D { dcls[j] += src[j] }
                    } else {
                        (dproj + (b * Np + t - 1) * D).update(from: src, count: D)
                    }
                }
            }
        }
    }
}
