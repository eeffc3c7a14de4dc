import Foundation

/// Cosine learning-rate schedule with linear warm-up, as timm's `CosineLRScheduler` computes it
/// (one cycle, `cycle_mul` 1, `k_decay` 1, no noise), as a pure function of the step t.
///
/// With base rate η, minimum η_min, warm-up start η_w, W warm-up steps and T cosine steps:
/// ```
/// t < W:   η(t) = η_w + t (η − η_w) / W
/// t ≥ W:   u = t − W if warmupPrefix else t
///          η(t) = η_min + ½ (η − η_min)(1 + cos(π u / T))   for u < T
///          η(t) = η_min                                     for u ≥ T
/// ```
/// Without the prefix (timm's default, and the authors' run) the warm-up overlaps the start of the
/// cosine, so the rate jumps from the end of the ramp onto the cosine curve at t = W.
/// The unit of t is the caller's: the authors step per epoch (`t_in_epochs`, 150 epochs,
/// 5 warm-up), timm's `sched_on_updates` steps per optimizer update. Computed in Double.
public struct CosineSchedule: Sendable, Equatable {
    /// η, the rate at the top of the cosine.
    public var baseLR: Double
    /// W, the length of the linear warm-up (0 for none).
    public var warmupSteps: Int
    /// T, the length of the cosine (timm `t_initial`).
    public var totalSteps: Int
    /// η_w, the rate at t = 0 (timm `warmup_lr_init`; the authors use 1e-6).
    public var warmupStartLR: Double
    /// η_min, the floor of the cosine (timm `lr_min`; the authors use 0).
    public var minLR: Double
    /// Whether the cosine starts after the warm-up (timm `warmup_prefix`) instead of at t = 0.
    public var warmupPrefix: Bool

    /// Traps on values ``validated(baseLR:totalSteps:warmupSteps:warmupStartLR:minLR:warmupPrefix:)``
    /// rejects (a programming error); use that function for values that come from users.
    public init(baseLR: Double, totalSteps: Int, warmupSteps: Int = 0, warmupStartLR: Double = 1e-6,
                minLR: Double = 0, warmupPrefix: Bool = false) {
        if let p = Self.problem(baseLR: baseLR, totalSteps: totalSteps, warmupSteps: warmupSteps, warmupStartLR: warmupStartLR, minLR: minLR) {
            preconditionFailure("CosineSchedule: \(p)")
        }
        self.baseLR = baseLR
        self.totalSteps = totalSteps
        self.warmupSteps = warmupSteps
        self.warmupStartLR = warmupStartLR
        self.minLR = minLR
        self.warmupPrefix = warmupPrefix
    }

    /// η(t) in Double; t < 0 is treated as 0.
    public func rate(at step: Int) -> Double {
        let t = max(0, step)
        if t < warmupSteps {
            return warmupStartLR + Double(t) * (baseLR - warmupStartLR) / Double(warmupSteps)
        }
        let u = warmupPrefix ? t - warmupSteps : t
        if u >= totalSteps { return minLR }
        return minLR + 0.5 * (baseLR - minLR) * (1 + cos(Double.pi * Double(u) / Double(totalSteps)))
    }

    /// η(t) rounded to Float, the value ``AdamW/step(parameters:gradients:learningRate:)`` takes.
    public func learningRate(at step: Int) -> Float { Float(rate(at: step)) }
}

extension CosineSchedule {
    /// The linear scaling rule of the authors' recipe: `lr = baseLR × batchSize / 256`
    /// (they use 2e-3 at a global batch of 256).
    public static func linearlyScaled(_ baseLR: Double, batchSize: Int, referenceBatch: Int = 256) -> Double {
        baseLR * Double(batchSize) / Double(referenceBatch)
    }
}

extension CosineSchedule {
    /// The first rule the values break (totalSteps > 0, warmupSteps >= 0, every rate a finite
    /// number >= 0), as a ``HyperparameterError``; nil when they are usable.
    public static func problem(baseLR: Double, totalSteps: Int, warmupSteps: Int = 0, warmupStartLR: Double = 1e-6,
                               minLR: Double = 0) -> HyperparameterError? {
        if totalSteps <= 0 { return HyperparameterError(name: "total steps", value: "\(totalSteps)", reason: "must be at least 1") }
        if warmupSteps < 0 { return HyperparameterError(name: "warm-up steps", value: "\(warmupSteps)", reason: "must be >= 0") }
        for (name, r) in [("learning rate", baseLR), ("minimum learning rate", minLR), ("warm-up start learning rate", warmupStartLR)]
        where !(r >= 0 && r.isFinite) {
            return HyperparameterError(name: name, value: "\(r)", reason: "must be a finite number >= 0")
        }
        return nil
    }

    /// The schedule, or the ``HyperparameterError`` naming the first bad value (the initialiser
    /// would trap on it).
    public static func validated(baseLR: Double, totalSteps: Int, warmupSteps: Int = 0, warmupStartLR: Double = 1e-6,
                                 minLR: Double = 0, warmupPrefix: Bool = false) throws -> CosineSchedule {
        if let p = problem(baseLR: baseLR, totalSteps: totalSteps, warmupSteps: warmupSteps, warmupStartLR: warmupStartLR, minLR: minLR) {
            throw p
        }
        return CosineSchedule(baseLR: baseLR, totalSteps: totalSteps, warmupSteps: warmupSteps, warmupStartLR: warmupStartLR,
                              minLR: minLR, warmupPrefix: warmupPrefix)
    }
}

/// A training hyperparameter outside its allowed range (negative, NaN or infinite, ...).
public struct HyperparameterError: Error, CustomStringConvertible, Equatable, Sendable {
    public let name: String
    public let value: String
    public let reason: String
    public init(name: String, value: String, reason: String) {
        self.name = name
        self.value = value
        self.reason = reason
    }
    public var description: String { "\(name) \(value) \(reason)" }
}
