import CoDECore
import Foundation

/// L2-regularised logistic regression on embeddings, with scikit-learn's semantics.
///
/// Model: `logit(x) = w·x + b`, `p(fake | x) = σ(logit) = 1 / (1 + e^-logit)`; verdict fake if
/// `logit > 0` (equivalently p > 0.5). Labels: real = 0, fake = 1.
///
/// Fitting minimises, in Double,
/// `F(w, b) = Σ_i s_i [log(1 + e^{f_i}) − y_i f_i] + ‖w‖² / (2C)`, `f_i = w·x_i + b`,
/// with the intercept unpenalised and per-sample weights `s_i` = 1 (`classWeight = .none`) or
/// `n / (2 n_{class(i)})` (`.balanced`), which is scikit-learn's `LogisticRegression(penalty="l2",
/// C=C, class_weight=...)` objective. It is solved by Newton's method with a backtracking line
/// search (the problem is strictly convex), to a much tighter gradient than scikit-learn's lbfgs
/// `tol=1e-4`.
///
/// ``predict(_:)`` returns p(fake) as the decision value; ``logits(_:)`` gives scikit-learn's
/// `decision_function`.
public struct LogisticRegression: EmbeddingClassifier {
    public enum ClassWeight: String, Sendable { case none, balanced }

    public struct Hyperparameters: Sendable {
        /// Inverse regularisation strength (scikit-learn's `C`). CoDE uses 0.316.
        public var C: Double
        public var classWeight: ClassWeight
        /// Newton stops when `max |∇F| ≤ gradientTolerance · max(1, Σ s_i)`.
        public var gradientTolerance: Double
        public var maxIterations: Int
        public init(C: Double = 0.316, classWeight: ClassWeight = .balanced, gradientTolerance: Double = 1e-10, maxIterations: Int = 100) {
            self.C = C
            self.classWeight = classWeight
            self.gradientTolerance = gradientTolerance
            self.maxIterations = maxIterations
        }
    }

    public static let kind = ClassifierKind.linear
    public static let fakeIsPositive = true

    /// `w`, `[dimension]`.
    public let coefficients: [Double]
    /// `b`.
    public let intercept: Double
    /// Hyperparameters recorded in the file (informational for imported models).
    public let hyperparameters: Hyperparameters

    public var dimension: Int { coefficients.count }

    public init(coefficients: [Double], intercept: Double, hyperparameters: Hyperparameters = .init()) {
        precondition(!coefficients.isEmpty, "LogisticRegression: empty coefficients")
        self.coefficients = coefficients
        self.intercept = intercept
        self.hyperparameters = hyperparameters
    }

    /// `w·x_i + b` for each row, in Double (scikit-learn's `decision_function`).
    public func logits(_ x: EmbeddingMatrix) throws -> [Double] {
        try x.validate(dimension: dimension, source: "linear classifier input")
        let xd = x.doubles()
        var out = [Double](repeating: intercept, count: x.rows)
        xd.withUnsafeBufferPointer { a in
            coefficients.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { y in
                    BLAS.dgemv(trans: false, m: x.rows, n: dimension, alpha: 1, a: a.baseAddress!, lda: dimension,
                               x: w.baseAddress!, beta: 1, y: y.baseAddress!)
                }
            }
        }
        return out
    }

    /// Decision value p(fake) = σ(logit); verdict fake if logit > 0.
    public func predict(_ x: EmbeddingMatrix) throws -> [Prediction] {
        try logits(x).map { Prediction(decision: Self.sigmoid($0), verdict: $0 > 0 ? .fake : .real) }
    }

    /// σ(t) = 1 / (1 + e^-t), computed without overflow for large |t|.
    @inline(__always)
    public static func sigmoid(_ t: Double) -> Double {
        t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t))
    }
}

// MARK: - File format

extension LogisticRegression {
    public func encode() -> (tensors: SafeTensorsWriter, metadata: [String: String]) {
        var w = SafeTensorsWriter()
        w.add("coef", shape: [dimension], doubles: coefficients)
        w.add("intercept", shape: [1], doubles: [intercept])
        return (w, ["C": "\(hyperparameters.C)", "class_weight": hyperparameters.classWeight.rawValue])
    }

    public init(decoding file: SafeTensorsFile, metadata m: ClassifierMetadata) throws {
        let d = m.dimension
        let coef = try m.doubles(file, "coef", shape: [d])
        let b = try m.doubles(file, "intercept", shape: [1])[0]
        guard coef.allSatisfy(\.isFinite), b.isFinite else { throw ClassifierError.badFile(file: m.source, reason: "non-finite coefficients") }
        var h = Hyperparameters()
        if let c = m.values["C"] { h.C = Double(c) ?? h.C }
        if let cw = m.values["class_weight"], let v = ClassWeight(rawValue: cw) { h.classWeight = v }
        self.init(coefficients: coef, intercept: b, hyperparameters: h)
    }
}
