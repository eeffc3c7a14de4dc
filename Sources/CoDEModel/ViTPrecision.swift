import CoDECore
import CoDEOneDNN

/// The number format of the encoder's linear layers at inference (see docs/precision.md).
///
/// - ``fp32``: OpenBLAS sgemm, the default and the path that matches transformers to 1e-6.
/// - ``bf16``: oneDNN matmul on bfloat16 operands with fp32 accumulation and fp32 output.
/// - ``int8``: oneDNN matmul on s8 weights (one scale per output channel) and s8 activations
///   (one dynamic scale per call), s32 accumulation, fp32 output.
///
/// Only the blocks' linear layers (qkv, proj, fc1, fc2: 97% of the FLOPs) change; the patch
/// embedding, LayerNorm, softmax and the attention products stay fp32. The patch embedding stays
/// fp32 because its filters nearly cancel over flat regions (zero-padded borders, flat sky), where
/// rounding its weights or pixels is a large relative error that every later layer sees: on 300
/// cifake/val images (32 px, zero-padded) a bf16 patch embedding made the median embedding error
/// 2.8e-2 instead of 1.2e-3 (int8: 1.4e-2 instead of 7.5e-3), for 2.3% of the FLOPs.
public enum InferencePrecision: String, CaseIterable, Sendable, Codable {
    case fp32, bf16, int8
}

/// What ``ViT/setPrecision(_:)`` did: the precision asked for, the one now in use, and why they
/// differ when they do.
public struct PrecisionChoice: Sendable, Equatable, CustomStringConvertible {
    public let requested: InferencePrecision
    public let used: InferencePrecision
    /// Why ``used`` is not ``requested`` (nil when it is).
    public let reason: String?
    /// The oneDNN implementation of the layers (e.g. "brg:avx512_core_bf16"); empty for fp32.
    public let implementation: String

    /// One line for the tools' standard error when the precision fell back, nil otherwise.
    public var fallbackWarning: String? {
        reason.map { "warning: --precision \(requested.rawValue) unavailable, using \(used.rawValue): \($0)" }
    }

    public var description: String {
        used == requested ? "\(used.rawValue)\(implementation.isEmpty ? "" : " (\(implementation))")" : fallbackWarning!
    }
}

/// The oneDNN layers of a reduced-precision model (weights converted once, at ``ViT/setPrecision(_:)``).
final class ReducedLinears {
    struct Block { let qkv, proj, fc1, fc2: InferenceLinear }
    let context: OneDNNContext
    let blocks: [Block]
    /// Calls that fell back to fp32 because a primitive for a new row count could not be made.
    var fallbacks = 0

    init(_ c: ViTConfiguration, _ w: ViTTensors, operands: InferenceLinear.Operands) throws {
        let ctx = try OneDNNContext()
        context = ctx
        let M = 32 * c.tokens  // the primitives are probed at the tools' default batch of 32
        func layer(_ wt: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, out: Int, in k: Int, _ post: InferenceLinear.PostOp, rows: Int) throws -> InferenceLinear {
            try InferenceLinear(context: ctx, weights: wt, bias: b, outF: out, inF: k, operands: operands, postOp: post, probeRows: rows)
        }
        let D = c.width, F = c.mlpWidth
        blocks = try w.blocks.map { b in
            Block(qkv: try layer(b.qkvW, b.qkvB, out: 3 * D, in: D, .none, rows: M),
                  proj: try layer(b.projW, b.projB, out: D, in: D, .residual, rows: M),
                  fc1: try layer(b.fc1W, b.fc1B, out: F, in: D, .gelu, rows: M),
                  fc2: try layer(b.fc2W, b.fc2B, out: D, in: F, .residual, rows: M))
        }
    }

    /// Every layer's implementation string, distinct values joined.
    var implementations: [String] {
        var seen: [String] = []
        for l in blocks.flatMap({ [$0.qkv, $0.proj, $0.fc1, $0.fc2] }) where !seen.contains(l.implementation) {
            seen.append(l.implementation)
        }
        return seen
    }
}

extension ViT {
    /// Switches the linear layers to `precision`, converting the current weights once (call it
    /// after loading them; changing ``parameters`` later needs another call). Falls back to fp32
    /// when oneDNN cannot create the layers or would not run them natively (no bf16 or VNNI
    /// instructions, as `isNative` judges oneDNN's implementation string; tests inject another
    /// check). Returns what it did.
    @discardableResult
    public func setPrecision(_ precision: InferencePrecision,
                             isNative: (String, InferencePrecision) -> Bool = ViT.isNative) -> PrecisionChoice {
        let operands: InferenceLinear.Operands
        switch precision {
        case .fp32:
            reduced = nil
            return PrecisionChoice(requested: .fp32, used: .fp32, reason: nil, implementation: "")
        case .bf16: operands = .bf16
        case .int8: operands = .int8
        }
        do {
            let r = try ReducedLinears(configuration, tensors, operands: operands)
            let impls = r.implementations
            if let slow = impls.first(where: { !isNative($0, precision) }) {
                reduced = nil
                let need = operands == .bf16 ? "bf16 instructions (AVX512_BF16 or AMX)" : "VNNI instructions (AVX512_VNNI, AVX_VNNI or AMX)"
                return PrecisionChoice(requested: precision, used: .fp32,
                                       reason: "oneDNN has no native \(precision.rawValue) kernel here (it chose \(slow) on \(OneDNNContext.effectiveISA); needs \(need))",
                                       implementation: "")
            }
            reduced = r
            return PrecisionChoice(requested: precision, used: precision, reason: nil, implementation: impls.joined(separator: ", "))
        } catch {
            reduced = nil
            return PrecisionChoice(requested: precision, used: .fp32, reason: "\(error)", implementation: "")
        }
    }

    /// Whether oneDNN's implementation string names a native kernel for `precision` (bf16 needs
    /// a bf16 or AMX kernel, int8 a VNNI or AMX one; "ref:any" or an emulation is slower than fp32).
    public static func isNative(_ implementation: String, for precision: InferencePrecision) -> Bool {
        switch precision {
        case .fp32: return true
        case .bf16: return InferenceLinear.isNative(implementation, for: .bf16)
        case .int8: return InferenceLinear.isNative(implementation, for: .int8)
        }
    }

    /// oneDNN's instruction set here and whose threads run the reduced-precision layers (for
    /// benchmarks and logs), e.g. "oneDNN avx512_core_bf16, matmuls on codekit threads".
    public static var reducedPrecisionRuntime: String {
        "oneDNN \(OneDNNContext.effectiveISA), matmuls on \(OneDNNContext.threading.rawValue) threads"
    }

    /// The precision of the linear layers now (see ``setPrecision(_:isNative:)``).
    public var precision: InferencePrecision {
        guard let r = reduced else { return .fp32 }
        return r.blocks[0].qkv.operands == .bf16 ? .bf16 : .int8
    }
}
