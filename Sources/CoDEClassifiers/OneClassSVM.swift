import CoDECore
import Foundation

/// One-class SVM (ν formulation) on real embeddings, with scikit-learn / libsvm semantics.
///
/// Decision: `f(x) = Σ_s α_s K(sv_s, x) − ρ`, computed in Double; verdict real if `f(x) > 0`,
/// otherwise fake (0 → fake). Larger f means "more like the real training images".
/// CoDE's configuration: ν = 0.1, poly kernel, degree 3, γ = 1/192 (`auto`), coef0 = 0.
///
/// Fitting (``fit(_:labels:hyperparameters:)``) uses only the rows labelled real and solves the
/// dual `min ½ αᵀQα, 0 ≤ α_i ≤ 1, Σα_i = ν·l` with ``OneClassSMO`` (libsvm's algorithm), with
/// kernel columns in a memory-bounded cache.
public struct OneClassSVM: EmbeddingClassifier {
    public struct Hyperparameters: Sendable {
        public var nu: Double
        /// Kernel name: `linear`, `poly` or `rbf`.
        public var kernel: String
        public var degree: Int
        public var gamma: GammaSpec
        public var coef0: Double
        /// KKT-gap tolerance (scikit-learn's `tol`, libsvm's `eps`).
        public var tolerance: Double
        public var shrinking: Bool
        /// Byte budget of the kernel-column cache (scikit-learn's `cache_size` is 200 MB).
        public var cacheBytes: Int
        public init(nu: Double = 0.1, kernel: String = "poly", degree: Int = 3, gamma: GammaSpec = .auto, coef0: Double = 0,
                    tolerance: Double = 1e-3, shrinking: Bool = true, cacheBytes: Int = 200 << 20) {
            self.nu = nu; self.kernel = kernel; self.degree = degree; self.gamma = gamma; self.coef0 = coef0
            self.tolerance = tolerance; self.shrinking = shrinking; self.cacheBytes = cacheBytes
        }

        /// The kernel with γ resolved on training data `x` (`[rows, d]`).
        func resolveKernel(_ x: [Double], dimension d: Int) throws -> Kernel {
            let g = gamma.resolve(x, dimension: d)
            switch kernel {
            case "linear": return .linear
            case "poly":
                guard degree >= 0 && degree <= 64 else { throw ClassifierError.badHyperparameter(name: "degree", value: "\(degree)", reason: "must be in 0...64") }
                return .poly(degree: degree, gamma: g, coef0: coef0)
            case "rbf": return .rbf(gamma: g)
            default: throw ClassifierError.badHyperparameter(name: "kernel", value: kernel, reason: "expected linear, poly or rbf")
            }
        }
    }

    public static let kind = ClassifierKind.svm
    public static let fakeIsPositive = false

    public let kernel: Kernel
    /// Support vectors `[count, dimension]`, Double.
    public let supportVectors: [Double]
    /// α_s per support vector (scikit-learn's `dual_coef_`).
    public let dualCoefficients: [Double]
    /// ρ (scikit-learn's `-intercept_`).
    public let rho: Double
    public let dimension: Int
    /// ν the model was fitted with (informational).
    public let nu: Double
    /// SMO iterations of the fit (0 for imported models).
    public let iterations: Int

    public var supportVectorCount: Int { dualCoefficients.count }

    public init(kernel: Kernel, supportVectors: [Double], dualCoefficients: [Double], rho: Double, dimension: Int, nu: Double, iterations: Int = 0) {
        precondition(dimension > 0 && supportVectors.count == dualCoefficients.count * dimension, "OneClassSVM: support vectors do not match coefficients")
        self.kernel = kernel
        self.supportVectors = supportVectors
        self.dualCoefficients = dualCoefficients
        self.rho = rho
        self.dimension = dimension
        self.nu = nu
        self.iterations = iterations
    }

    /// Fits on the rows labelled real (the others are ignored).
    public static func fit(_ x: EmbeddingMatrix, labels: [Verdict], hyperparameters h: Hyperparameters) throws -> OneClassSVM {
        guard labels.count == x.rows else { throw ClassifierError.badTrainingData("\(labels.count) labels for \(x.rows) embeddings") }
        let real = x.select(labels.indices.filter { labels[$0] == .real })
        return try fit(real: real, hyperparameters: h)
    }

    /// Fits on real embeddings only (`[rows, d]`).
    public static func fit(real x: EmbeddingMatrix, hyperparameters h: Hyperparameters) throws -> OneClassSVM {
        guard h.nu > 0 && h.nu <= 1 else { throw ClassifierError.badHyperparameter(name: "nu", value: "\(h.nu)", reason: "must be in (0, 1]") }
        guard h.tolerance > 0 else { throw ClassifierError.badHyperparameter(name: "tolerance", value: "\(h.tolerance)", reason: "must be positive") }
        guard x.rows >= 1 else { throw ClassifierError.badTrainingData("the one-class SVM needs at least one real embedding") }
        try x.validateFinite(source: "training embeddings")
        let xd = x.doubles()
        let kernel = try h.resolveKernel(xd, dimension: x.dimension)
        let cache = KernelCache(rows: x.values, count: x.rows, dimension: x.dimension, kernel: kernel, budgetBytes: h.cacheBytes)
        let solver = OneClassSMO(cache: cache, nu: h.nu, eps: h.tolerance, shrinking: h.shrinking)
        let (alpha, rho) = solver.solve()
        var sv: [Double] = [], coef: [Double] = []
        for i in 0..<x.rows where alpha[i] > 0 {
            sv.append(contentsOf: xd[(i * x.dimension)..<((i + 1) * x.dimension)])
            coef.append(alpha[i])
        }
        return OneClassSVM(kernel: kernel, supportVectors: sv, dualCoefficients: coef, rho: rho,
                           dimension: x.dimension, nu: h.nu, iterations: solver.iterations)
    }
}
