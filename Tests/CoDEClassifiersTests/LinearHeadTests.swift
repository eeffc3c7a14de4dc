import CoDEClassifiers
import Foundation
import Testing

/// The `head` classifier kind (code-train --objective bce): scores as σ(w·x + b), round-trips
/// through the classifier file, and refuses to be fitted.
@Suite struct LinearHeadTests {
    @Test func scoresRoundTripsAndRefusesFit() throws {
        let head = LinearHead(coefficients: [0.5, -2, 1], intercept: 0.25)
        let x = EmbeddingMatrix([[1, 0, 0], [0, 1, 0], [0, 0, -1]], dimension: 3)
        let p = try head.predict(x)
        // logits 0.75, -1.75, -0.75 by hand.
        for (pred, logit) in zip(p, [0.75, -1.75, -0.75]) {
            #expect(abs(pred.decision - 1 / (1 + exp(-logit))) < 1e-15)
            #expect(pred.verdict == (logit > 0 ? .fake : .real))
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("head-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try head.save(to: url)
        let loaded = try AnyClassifier.load(from: url)
        #expect(loaded.kind == .head)
        #expect(try loaded.predict(x).map(\.decision) == p.map(\.decision))
        #expect(throws: ClassifierError.self) { try LinearHead.fit(x, labels: [.real, .fake, .real], hyperparameters: .init()) }
        #expect(throws: ClassifierError.self) { try LinearRegressionGuard.linearLoad(url) }
    }
}

/// A head file is not a `linear` file: loading it as LogisticRegression fails by kind.
enum LinearRegressionGuard {
    static func linearLoad(_ url: URL) throws { _ = try LogisticRegression.load(from: url) }
}
