import CoDECore
import Foundation

/// The linear head of an encoder trained with `code-train --objective bce` (the paper's supervised
/// ViT-T baseline): `logit(x) = w·x + b`, `p(fake | x) = σ(logit)`, fake if `logit > 0`, exactly as
/// ``LogisticRegression`` scores, but its weights were learned with the encoder by binary
/// cross-entropy on augmented views instead of being fitted on fixed embeddings. So it cannot
/// be fitted here: ``fit(_:labels:hyperparameters:)`` throws and says what to run.
///
/// File: kind `head`, tensors `coef` F64 `[D]` and `intercept` F64 `[1]` (the linear layout),
/// metadata `objective` = `bce`.
public struct LinearHead: EmbeddingClassifier {
    public struct Hyperparameters: Sendable { public init() {} }

    public static let kind = ClassifierKind.head
    public static let fakeIsPositive = true

    /// The head as a logistic model (its scoring).
    public let logistic: LogisticRegression

    public var dimension: Int { logistic.dimension }

    /// A head with weight `coefficients` and bias `intercept` (e.g. ``Trainer``'s `head` buffer).
    public init(coefficients: [Double], intercept: Double) {
        logistic = LogisticRegression(coefficients: coefficients, intercept: intercept)
    }

    public static func fit(_ embeddings: EmbeddingMatrix, labels: [Verdict], hyperparameters: Hyperparameters) throws -> LinearHead {
        throw ClassifierError.badTrainingData("a 'head' classifier is trained together with its encoder by `code-train --objective bce`; to fit a logistic regression on fixed embeddings use --classifier linear")
    }

    /// Decision value p(fake) = σ(w·x + b); verdict fake if w·x + b > 0.
    public func predict(_ x: EmbeddingMatrix) throws -> [Prediction] {
        try x.validate(dimension: dimension, source: "head classifier input")
        return try logistic.predict(x)
    }

    public func encode() -> (tensors: SafeTensorsWriter, metadata: [String: String]) {
        var w = SafeTensorsWriter()
        w.add("coef", shape: [dimension], doubles: logistic.coefficients)
        w.add("intercept", shape: [1], doubles: [logistic.intercept])
        return (w, ["objective": "bce"])
    }

    public init(decoding file: SafeTensorsFile, metadata m: ClassifierMetadata) throws {
        let coef = try m.doubles(file, "coef", shape: [m.dimension])
        let b = try m.doubles(file, "intercept", shape: [1])[0]
        guard coef.allSatisfy({ $0.isFinite }), b.isFinite else { throw ClassifierError.badFile(file: m.source, reason: "non-finite head weights") }
        self.init(coefficients: coef, intercept: b)
    }
}
