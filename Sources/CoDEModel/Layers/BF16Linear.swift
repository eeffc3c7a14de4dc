import CoDECore
import CoDEOneDNN

/// What the linear layers' GEMMs of a training forward and backward compute in.
public enum TrainingPrecision: String, Sendable, CaseIterable {
    /// Everything in fp32 (OpenBLAS sgemm): the default, and the path that matches PyTorch.
    case fp32
    /// Mixed precision: every linear layer's forward GEMM and both backward GEMMs (dX and dW) take
    /// bf16 operands (weights rounded from the fp32 masters once per forward, activations and
    /// output gradients rounded as they enter the GEMM), accumulate and write in fp32 on oneDNN.
    /// Biases, LayerNorm, attention, GELU, the loss, the gradients and AdamW stay fp32.
    case bf16

    /// Whether this CPU runs the bf16 GEMMs natively, and the implementation oneDNN picks for them
    /// (e.g. `brg:avx512_core_amx_bf16`); probed once.
    public static let bf16Support: (native: Bool, implementation: String) = BF16TrainingGEMM.probe()
}

/// The bf16 side of a ``TrainingCache``: the oneDNN GEMMs, the weights of every linear layer
/// rounded to bf16 (refreshed by each forward), and two bf16 scratch buffers for the activations
/// and output gradients entering a GEMM.
final class BF16Workspace {
    let gemm: BF16TrainingGEMM
    let weights: UnsafeMutablePointer<UInt16>
    let weightCount: Int
    let a, b: UnsafeMutablePointer<UInt16>
    let scratchCount: Int
    /// Offsets into `weights`: the patch projection, then qkv, proj, fc1, fc2 of each block.
    let patchW: UnsafeMutablePointer<UInt16>
    let qkvW, projW, fc1W, fc2W: [UnsafeMutablePointer<UInt16>]

    init(configuration c: ViTConfiguration, capacity B: Int) throws {
        gemm = try BF16TrainingGEMM()
        let D = c.width, F = c.mlpWidth, M = B * c.tokens
        let perBlock = 3 * D * D + D * D + 2 * F * D
        weightCount = D * c.patchInputs + c.depth * perBlock
        weights = .allocate(capacity: weightCount)
        patchW = weights
        var off = D * c.patchInputs
        var q = [UnsafeMutablePointer<UInt16>](), p = q, f1 = q, f2 = q
        for _ in 0..<c.depth {
            q.append(weights + off); off += 3 * D * D
            p.append(weights + off); off += D * D
            f1.append(weights + off); off += F * D
            f2.append(weights + off); off += F * D
        }
        qkvW = q; projW = p; fc1W = f1; fc2W = f2
        scratchCount = max(B * c.patchCount * max(c.patchInputs, D), M * max(3 * D, F, D))
        a = .allocate(capacity: scratchCount)
        b = .allocate(capacity: scratchCount)
    }

    deinit { weights.deallocate(); a.deallocate(); b.deallocate() }

    var bytes: Int { 2 * (weightCount + 2 * scratchCount) }

    /// Rounds `n` floats to bf16, spread over the threads.
    func convert(_ x: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int) {
        Threading.parallelRanges(n, minChunk: 1 << 15) { r in bf16Convert(x + r.lowerBound, dst + r.lowerBound, count: r.count) }
    }

    /// Rounds the weights of every linear layer of `w` (the fp32 masters) to bf16.
    func refreshWeights(_ w: ViTTensors, configuration c: ViTConfiguration) {
        let D = c.width, F = c.mlpWidth
        convert(w.patchW, patchW, count: D * c.patchInputs)
        for (l, blk) in w.blocks.enumerated() {
            convert(blk.qkvW, qkvW[l], count: 3 * D * D)
            convert(blk.projW, projW[l], count: D * D)
            convert(blk.fc1W, fc1W[l], count: F * D)
            convert(blk.fc2W, fc2W[l], count: F * D)
        }
    }

    func run(_ body: () throws -> Void) {
        do { try body() } catch { fatalError("bf16 training: \(error)") }
    }

    /// ``Linear/forward(_:weight:bias:_:rows:inF:outF:accumulate:residual:epilogue:)`` with a bf16
    /// GEMM: `y = residual + b + bf16(x) bf16(W)^T`, then the epilogue, all in fp32 but the operands.
    func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<UInt16>, bias: UnsafePointer<Float>?,
                 _ y: UnsafeMutablePointer<Float>, rows: Int, inF: Int, outF: Int,
                 residual: UnsafePointer<Float>? = nil, epilogue: Linear.Epilogue = .none) {
        convert(x, a, count: rows * inF)
        Threading.parallelRanges(rows, minChunk: 16) { r in
            for i in r { Linear.initializeRow(y + i * outF, residual: residual.map { $0 + i * outF }, bias: bias, count: outF) }
        }
        run { try gemm.gemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: a, lda: inF, b: weight, ldb: inF,
                            accumulate: true, c: y, ldc: outF) }
        switch epilogue {
        case .none: break
        case .gelu: GELU.forward(y, y, count: rows * outF)
        case let .geluWithDerivative(dst):
            Threading.parallelRanges(rows * outF, minChunk: 1 << 14) { r in
                GELU.forwardWithDerivative(y + r.lowerBound, derivative: dst + r.lowerBound, count: r.count)
            }
        }
    }

    /// ``Linear/backward(_:_:weight:dx:dxBeta:dweight:dbias:rows:inF:outF:)`` with bf16 GEMMs:
    /// `dX = bf16(dY) bf16(W)` (overwritten), `dW += bf16(dY)^T bf16(x)`, `db += Σ_rows dY` (fp32).
    func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<UInt16>,
                  dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
                  rows: Int, inF: Int, outF: Int) {
        convert(dy, a, count: rows * outF)
        if let dx {
            run { try gemm.gemm(transA: false, transB: false, m: rows, n: inF, k: outF, a: a, lda: outF, b: weight, ldb: inF,
                                accumulate: false, c: dx, ldc: inF) }
        }
        convert(x, b, count: rows * inF)
        run { try gemm.gemm(transA: true, transB: false, m: outF, n: inF, k: rows, a: a, lda: outF, b: b, ldb: inF,
                            accumulate: true, c: dweight, ldc: inF) }
        if let dbias { Reductions.addColumnSums(dy, rows: rows, cols: outF, ld: outF, into: dbias) }
    }
}
