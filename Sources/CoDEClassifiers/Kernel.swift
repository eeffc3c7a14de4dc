import Foundation

/// How the kernel width γ is chosen (scikit-learn's `gamma`).
public enum GammaSpec: Sendable, Equatable, CustomStringConvertible {
    /// γ = 1 / n_features.
    case auto
    /// γ = 1 / (n_features · Var(X)), the variance over all training values.
    case scale
    /// A given positive γ.
    case value(Double)

    /// Parses `auto`, `scale` or a positive number.
    public init?(_ s: String) {
        switch s {
        case "auto": self = .auto
        case "scale": self = .scale
        default:
            guard let v = Double(s), v > 0, v.isFinite else { return nil }
            self = .value(v)
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .scale: "scale"
        case let .value(v): "\(v)"
        }
    }

    /// The numeric γ for training data `x` (`[rows, d]`, Double).
    func resolve(_ x: [Double], dimension d: Int) -> Double {
        switch self {
        case .auto: return 1 / Double(d)
        case let .value(v): return v
        case .scale:
            let n = Double(x.count)
            let mean = x.reduce(0, +) / n
            let v = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            return v > 0 ? 1 / (Double(d) * v) : 1
        }
    }
}

/// A kernel function with resolved parameters (libsvm's kernels, in Double).
///
/// - linear: `K(u, v) = u·v`
/// - poly: `K(u, v) = (γ u·v + coef0)^degree`
/// - rbf: `K(u, v) = exp(−γ ‖u − v‖²)`, with `‖u − v‖² = ‖u‖² + ‖v‖² − 2 u·v`
public enum Kernel: Sendable, Equatable {
    case linear
    case poly(degree: Int, gamma: Double, coef0: Double)
    case rbf(gamma: Double)

    public var name: String {
        switch self {
        case .linear: "linear"
        case .poly: "poly"
        case .rbf: "rbf"
        }
    }

    /// K from the dot product `dot = u·v` and the squared norms (used by rbf only).
    @inline(__always)
    func apply(dot: Double, normU: Double, normV: Double) -> Double {
        switch self {
        case .linear: return dot
        case let .poly(degree, gamma, coef0): return Kernel.powi(gamma * dot + coef0, degree)
        case let .rbf(gamma): return exp(-gamma * max(0, normU + normV - 2 * dot))
        }
    }

    /// `base^n` by repeated squaring, as libsvm's `powi`.
    @inline(__always)
    static func powi(_ base: Double, _ n: Int) -> Double {
        var r = 1.0, b = base, e = n
        while e > 0 {
            if e & 1 == 1 { r *= b }
            b *= b
            e >>= 1
        }
        return r
    }

    var needsNorms: Bool { if case .rbf = self { true } else { false } }
}
