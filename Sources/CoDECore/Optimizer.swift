import CKernels
import Foundation

/// Hyper-parameters of ``AdamW`` (PyTorch `torch.optim.AdamW` names and defaults).
public struct AdamWConfiguration: Sendable, Equatable {
    /// β₁, decay of the first moment (PyTorch default 0.9).
    public var beta1: Float
    /// β₂, decay of the second moment (PyTorch default 0.999).
    public var beta2: Float
    /// ε added to the bias-corrected √v (PyTorch default 1e-8).
    public var eps: Float
    /// Decoupled weight decay λ, applied only to tensors whose ``ParameterSpec/decay`` is true.
    /// The authors' timm recipe uses its default 2e-5.
    public var weightDecay: Float

    /// Traps on values ``validated(beta1:beta2:eps:weightDecay:)`` rejects (a programming error);
    /// use that function for values that come from users.
    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 2e-5) {
        if let p = Self.problem(beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay) { preconditionFailure("AdamW: \(p)") }
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

extension AdamWConfiguration {
    /// The first rule the values break (betas in [0, 1), eps > 0, weight decay >= 0, all
    /// finite), as a ``HyperparameterError``; nil when they are usable.
    public static func problem(beta1: Float, beta2: Float, eps: Float, weightDecay: Float) -> HyperparameterError? {
        for (name, b) in [("beta1", beta1), ("beta2", beta2)] where !(b >= 0 && b < 1) {
            return HyperparameterError(name: name, value: "\(b)", reason: "must be in [0, 1)")
        }
        if !(eps > 0 && eps.isFinite) { return HyperparameterError(name: "eps", value: "\(eps)", reason: "must be a finite number > 0") }
        if !(weightDecay >= 0 && weightDecay.isFinite) {
            return HyperparameterError(name: "weight decay", value: "\(weightDecay)", reason: "must be a finite number >= 0")
        }
        return nil
    }

    /// The configuration, or the ``HyperparameterError`` naming the first bad value (the
    /// initialiser would trap on it).
    public static func validated(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 2e-5) throws -> AdamWConfiguration {
        if let p = problem(beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay) { throw p }
        return AdamWConfiguration(beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
    }
}

/// A specific reason an optimizer state could not be restored.
public enum OptimizerStateError: Error, CustomStringConvertible, Equatable {
    case badStep(source: String, reason: String)
    /// A moment tensor holds NaN or an infinity (element `index`).
    case nonFinite(source: String, tensor: String, index: Int)

    public var description: String {
        switch self {
        case let .badStep(s, r): "\(s): bad AdamW step count: \(r)"
        case let .nonFinite(s, t, i): "\(s): AdamW state tensor '\(t)' holds a non-finite (or, for v, negative) value at element \(i)"
        }
    }
}

/// AdamW (Loshchilov & Hutter) with PyTorch `torch.optim.AdamW` semantics, over one flat
/// ``ParameterLayout``.
///
/// For step t = 1, 2, … with learning rate η, per element of every tensor:
/// ```
/// θ ← θ · (1 − η λ)                      (only where spec.decay; decoupled from the gradient)
/// m ← m + (1 − β₁)(g − m)
/// v ← β₂ v + (1 − β₂) g²
/// θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
/// The bias corrections are computed in Double, the element-wise update in Float, in PyTorch's
/// order of operations. The moments `m`, `v` are buffers with the same layout as the parameters.
/// The update is split over ``Threading/count`` threads in contiguous ranges.
public final class AdamW {
    public let layout: ParameterLayout
    public var configuration: AdamWConfiguration
    /// First moment, same layout as the parameters.
    public let m: FloatBuffer
    /// Second moment, same layout as the parameters.
    public let v: FloatBuffer
    /// Number of steps taken (t of the last update; 0 before the first).
    public private(set) var stepCount: Int = 0

    public init(layout: ParameterLayout, configuration: AdamWConfiguration = AdamWConfiguration()) {
        self.layout = layout
        self.configuration = configuration
        m = layout.makeBuffer()
        v = layout.makeBuffer()
    }

    /// One update of `parameters` in place with `gradients` (both laid out as ``layout``).
    public func step(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float) {
        precondition(parameters.count == layout.totalCount && gradients.count == layout.totalCount,
                     "AdamW.step: buffers have \(parameters.count)/\(gradients.count) elements, layout \(layout.totalCount)")
        stepCount += 1
        let c = configuration
        let t = Double(stepCount)
        let lr = Double(learningRate)
        let k = AdamWKernel(
            decayFactor: Float(1 - lr * Double(c.weightDecay)),
            oneMinusBeta1: 1 - c.beta1, beta2: c.beta2, oneMinusBeta2: 1 - c.beta2,
            stepSize: Float(lr / (1 - pow(Double(c.beta1), t))),
            biasCorrection2Sqrt: Float((1 - pow(Double(c.beta2), t)).squareRoot()),
            eps: c.eps)
        let specs = layout.specs
        let p = parameters.pointer, g = gradients.pointer, m = m.pointer, v = v.pointer
        Threading.parallelRanges(layout.totalCount, minChunk: 1 << 16) { range in
            for spec in specs {
                let lo = max(range.lowerBound, spec.offset), hi = min(range.upperBound, spec.offset + spec.count)
                if lo < hi { k.apply(p + lo, g + lo, m + lo, v + lo, count: hi - lo, decay: spec.decay) }
            }
        }
    }

    /// Resets the moments to zero and the step count to 0.
    public func reset() {
        m.zero()
        v.zero()
        stepCount = 0
    }

    /// Adds the state to a checkpoint: tensors `<prefix>m.<name>`, `<prefix>v.<name>` (Float32,
    /// each with its parameter's shape) and the metadata entry `<prefix>step`.
    public func save(into writer: inout SafeTensorsWriter, prefix: String = "adamw.") {
        for s in layout.specs {
            writer.add(prefix + "m." + s.name, shape: s.shape, floats: UnsafeBufferPointer(start: m.pointer + s.offset, count: s.count))
            writer.add(prefix + "v." + s.name, shape: s.shape, floats: UnsafeBufferPointer(start: v.pointer + s.offset, count: s.count))
        }
        writer.metadata[prefix + "step"] = String(stepCount)
    }

    /// Restores a state written by ``save(into:prefix:)``; every tensor of the layout must be
    /// present with its shape. Throws (leaving this optimizer unchanged) if anything is missing or wrong.
    public func restore(from file: SafeTensorsFile, prefix: String = "adamw.") throws {
        guard let s = file.metadata[prefix + "step"] else {
            throw OptimizerStateError.badStep(source: file.source, reason: "metadata key '\(prefix)step' is missing")
        }
        guard let step = Int(s), step >= 0 else {
            throw OptimizerStateError.badStep(source: file.source, reason: "'\(s)' is not a non-negative integer")
        }
        let newM = layout.makeBuffer(), newV = layout.makeBuffer()
        for spec in layout.specs {
            try file.copy(file.require(prefix + "m." + spec.name, shape: spec.shape), into: newM.pointer + spec.offset)
            try file.copy(file.require(prefix + "v." + spec.name, shape: spec.shape), into: newV.pointer + spec.offset)
            for (buffer, name) in [(newM, "m."), (newV, "v.")] {
                let p = buffer.pointer + spec.offset
                if let i = (0..<spec.count).first(where: { !p[$0].isFinite || (name == "v." && p[$0] < 0) }) {
                    throw OptimizerStateError.nonFinite(source: file.source, tensor: prefix + name + spec.name, index: i)
                }
            }
        }
        m.copy(from: newM)
        v.copy(from: newV)
        stepCount = step
    }
}

/// The per-step constants of an AdamW update and its element-wise loop.
struct AdamWKernel {
    let decayFactor: Float, oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float
    let stepSize: Float, biasCorrection2Sqrt: Float, eps: Float

    /// The update in the C kernels (`ck_adamw`): the same Float operations in the same order as
    /// PyTorch's AdamW (no fused multiply-adds), 16 lanes at a time in the widest variant the CPU
    /// runs; a plain build otherwise compiles this loop for baseline x86-64 (4-lane square roots
    /// and divides).
    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
               _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, count: Int, decay: Bool) {
        ck_adamw(p, g, m, v, count, decay ? decayFactor : 1, oneMinusBeta1, beta2, oneMinusBeta2,
                 stepSize, biasCorrection2Sqrt, eps)
    }
}

/// Scales `gradients` in place so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does: with n = ‖g‖₂ over all elements, g ← g · min(1, maxNorm / (n + 1e-6)).
/// - Returns: the norm before clipping, accumulated in Double. If it is NaN or infinite the
///   gradients are left unchanged (torch would spread the NaN), so the caller can skip the step.
@discardableResult
public func clipGlobalNorm(_ gradients: FloatBuffer, maxNorm: Float) -> Float {
    precondition(maxNorm > 0, "clipGlobalNorm: maxNorm must be positive")
    let n = globalNorm(gradients)
    let coef = Double(maxNorm) / (n + 1e-6)
    if coef < 1 {
        let c = Float(coef), g = gradients.pointer
        Threading.parallelRanges(gradients.count, minChunk: 1 << 16) { r in
            for i in r { g[i] *= c }
        }
    }
    return Float(n)
}

/// The L2 norm of all elements of `buffer`, accumulated in Double (one partial sum per thread).
public func globalNorm(_ buffer: FloatBuffer) -> Double {
    let parts = max(1, min(Threading.count, buffer.count >> 16))
    var partial = [Double](repeating: 0, count: parts)
    let x = buffer.pointer, n = buffer.count
    partial.withUnsafeMutableBufferPointer { out in
        let o = out.baseAddress!
        Threading.parallelFor(parts) { p in
            var s = 0.0
            for i in (n * p / parts)..<(n * (p + 1) / parts) { let v = Double(x[i]); s += v * v }
            o[p] = s
        }
    }
    return partial.reduce(0, +).squareRoot()
}

/// Whether timm's optimizer factory (`param_groups_weight_decay`) would apply weight decay to a
/// tensor: no decay for tensors with at most one dimension, names ending in `.bias`, and names in
/// the model's `no_weight_decay()` set (for a ViT: `pos_embed`, `cls_token`, `reg_token`, `dist_token`).
public func timmAppliesWeightDecay(name: String, shape: [Int],
                                   noWeightDecay: Set<String> = ["pos_embed", "cls_token", "reg_token", "dist_token"]) -> Bool {
    !(shape.count <= 1 || name.hasSuffix(".bias") || noWeightDecay.contains(name))
}
