import Foundation

/// What `code-train --objective` trains: the CoDE objective or one of the paper's comparisons
/// (its loss ablation and the supervised ViT-T baseline). See docs/training-objective.md.
public enum TrainingObjective: String, Sendable, CaseIterable, Equatable {
    /// L_real + L_fake with the global and multi-scale InfoNCE terms (``CoDEObjective``); the default.
    case code
    /// The two global terms only: InfoNCE(real, aug(real), aug(fake)) + InfoNCE(fake, aug(fake), aug(real)).
    case global
    /// The global term with real anchors only: InfoNCE(real, aug(real), aug(fake)) (the paper's
    /// "L_global only (real → fake)" rows).
    case globalReal = "global-real"
    /// Supervised baseline: a linear head on the CLS embedding, binary cross-entropy on the single
    /// heavily augmented views aug(real) (label 0) and aug(fake) (label 1) (``BinaryCrossEntropyHead``).
    case bce

    /// The view groups this objective reads, in ``CoDEView`` order; a trainer need not produce,
    /// embed or back-propagate the others.
    public var views: [CoDEView] {
        switch self {
        case .code: CoDEView.allCases
        case .global: [.real, .fake, .augmentedReal, .augmentedFake]
        case .globalReal: [.real, .augmentedReal, .augmentedFake]
        case .bce: [.augmentedReal, .augmentedFake]
        }
    }

    /// True for the InfoNCE objectives that ``CoDEObjective`` evaluates.
    public var isContrastive: Bool { self != .bce }

    /// Names of the loss parts the objective has (the others are reported as 0).
    public var parts: [String] {
        switch self {
        case .code: ["l_real_global", "l_real_local", "l_fake_global", "l_fake_local"]
        case .global: ["l_real_global", "l_fake_global"]
        case .globalReal: ["l_real_global"]
        case .bce: []
        }
    }
}

/// Binary cross-entropy of a linear head on embeddings: logits `z_i = w·e_i + b`, targets
/// `y_i ∈ {0 (real), 1 (fake)}`, loss `L = (1/N) Σ_i [softplus(z_i) − y_i z_i]`
/// (= `F.binary_cross_entropy_with_logits`, mean reduction), and its hand-written backward:
/// ```
/// ∂L/∂z_i = (σ(z_i) − y_i) / N,   ∂L/∂w = Σ_i ∂L/∂z_i e_i,   ∂L/∂b = Σ_i ∂L/∂z_i,   ∂L/∂e_i = ∂L/∂z_i w
/// ```
/// Sums and the softplus are in Double; softplus(z) = max(z, 0) + log1p(exp(−|z|)).
public enum BinaryCrossEntropyHead {
    /// Loss and gradients for `embeddings` `[N, d]` (row-major), `targets` (N values, 0 or 1),
    /// head `weight` (d values) and `bias`. Throws for shapes that disagree or non-finite input.
    @inlinable
    public static func lossAndGradients<T: ContrastiveScalar>(embeddings e: [T], rows n: Int, targets: [T], weight: [T], bias: T) throws
        -> (loss: Double, dEmbeddings: [T], dWeight: [T], dBias: T) {
        let d = weight.count
        guard n >= 1, d >= 1, e.count == n * d else {
            throw ContrastiveError.badShape(item: "BCE head", reason: "\(e.count) embedding values for \(n) rows of \(d)")
        }
        guard targets.count == n else {
            throw ContrastiveError.shapeMismatch(item: "BCE targets", expected: [n], found: [targets.count])
        }
        if let i = e.firstIndex(where: { !$0.isFinite }) { throw ContrastiveError.nonFinite(item: "BCE head input", row: i / d, column: i % d) }
        if let i = weight.firstIndex(where: { !$0.isFinite }) { throw ContrastiveError.nonFinite(item: "BCE head weight", row: 0, column: i) }
        guard bias.isFinite else { throw ContrastiveError.nonFinite(item: "BCE head bias", row: 0, column: 0) }
        var loss = 0.0
        var dE = [T](repeating: 0, count: n * d), dW = [Double](repeating: 0, count: d)
        var dB = 0.0
        let invN = 1 / Double(n)
        for i in 0..<n {
            var z = Double(bias)
            for c in 0..<d { z += Double(weight[c]) * Double(e[i * d + c]) }
            let y = Double(targets[i])
            loss += max(z, 0) + log1p(exp(-abs(z))) - y * z
            let sigma = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
            let dz = (sigma - y) * invN
            dB += dz
            for c in 0..<d {
                dW[c] += dz * Double(e[i * d + c])
                dE[i * d + c] = T(dz * Double(weight[c]))
            }
        }
        return (loss * invN, dE, dW.map { T($0) }, T(dB))
    }
}
