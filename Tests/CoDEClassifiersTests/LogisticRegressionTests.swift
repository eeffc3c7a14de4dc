import CoDEClassifiers
import CoDECore
import Foundation
import Testing
import _CoDETestSupport

@Suite struct LogisticRegressionTests {
    /// The scikit-learn model converted by tools/export_sklearn.py gives scikit-learn's decisions.
    @Test func importedModelMatchesScikitLearn() throws {
        let ref = try FixtureData.reference()
        let model = try LogisticRegression.load(from: FixtureData.url("linear"))
        let (x, _) = try FixtureData.test
        // Same float64 dot products in a different summation order: ~1e-15 relative; 1e-9 is the bar.
        let logits = TensorDiff(try model.logits(x), try ref.doubles("lr.decision"))
        #expect(logits.relative <= 1e-9, "\(logits)")
        let p = try model.predict(x)
        let proba = TensorDiff(p.map(\.decision), try ref.doubles("lr.proba"))
        #expect(proba.relative <= 1e-9, "\(proba)")
        #expect(p.map(\.verdict) == FixtureData.verdicts(try ref.integers("lr.predict")))
    }

    /// Newton converges to the optimum of scikit-learn's objective: it matches scikit-learn's own
    /// exact solver (newton-cholesky, tol 1e-12) to 1e-7 relative (both stop at a gradient of
    /// ~1e-10; the Hessian's conditioning turns that into ≲1e-9 in the coefficients, 100x margin).
    /// CoDE's lbfgs fit (tol 1e-4) stops early; Swift must be within scikit-learn's own distance
    /// from the optimum of it (its tolerance), with 1% slack for the optimum's own rounding.
    @Test func fitMatchesScikitLearnCoefficients() throws {
        let ref = try FixtureData.reference()
        let (x, y) = try FixtureData.train
        let model = try LogisticRegression.fit(x, labels: y, hyperparameters: .init(C: 0.316, classWeight: .balanced))
        let swift = model.coefficients + [model.intercept]
        let exact = try ref.doubles("lr.tight_coef") + ref.doubles("lr.tight_intercept")
        let lbfgs = try ref.doubles("lr.coef") + ref.doubles("lr.intercept")
        let toExact = TensorDiff(swift, exact)
        #expect(toExact.relative <= 1e-7, "vs newton-cholesky: \(toExact)")
        let toLBFGS = TensorDiff(swift, lbfgs), sklearnOwn = TensorDiff(lbfgs, exact)
        #expect(toLBFGS.maxAbs <= 1.01 * sklearnOwn.maxAbs + 1e-9, "vs lbfgs: \(toLBFGS); lbfgs vs exact: \(sklearnOwn)")
        // Verdicts on held-out points agree exactly with scikit-learn's.
        #expect(try model.verdicts(try FixtureData.test.0) == FixtureData.verdicts(try ref.integers("lr.predict")))
    }

    /// class_weight=None (first 300 rows) against scikit-learn's exact solver; tolerance as above.
    @Test func fitWithoutClassWeights() throws {
        let ref = try FixtureData.reference()
        let (x, y) = try FixtureData.train
        let sub = x.select(Array(0..<300))
        let model = try LogisticRegression.fit(sub, labels: Array(y[0..<300]), hyperparameters: .init(C: 0.316, classWeight: .none))
        let w = TensorDiff(model.coefficients + [model.intercept], try ref.doubles("lr.none_coef") + ref.doubles("lr.none_intercept"))
        #expect(w.relative <= 1e-7, "\(w)")
    }

    /// Balanced weights on unbalanced data equal duplicating the minority class to balance it
    /// (a stated property of the weighted objective: Σ s_i ℓ_i with s = n / (2 n_c)).
    @Test func balancedWeightsEqualDuplication() throws {
        let (x, y) = try FixtureData.train
        let idx = Array(0..<100) + (100..<300).filter { y[$0] == .real }  // 50 fake, 150 real
        let xs = x.select(idx), ys = idx.map { y[$0] }
        let fakes = idx.filter { y[$0] == .fake }
        let dup = idx + fakes + fakes                                      // 150 fake, 150 real
        let balanced = try LogisticRegression.fit(xs, labels: ys, hyperparameters: .init(C: 0.5, classWeight: .balanced))
        // Duplicated data (n = 300 instead of 200) has weights 1 and loss scaled by 300/200 = 1.5
        // relative to the balanced objective, so C must scale by 200/300 to keep the same optimum.
        let duplicated = try LogisticRegression.fit(x.select(dup), labels: dup.map { y[$0] },
                                                    hyperparameters: .init(C: 0.5 * 200 / 300, classWeight: .none))
        let d = TensorDiff(balanced.coefficients + [balanced.intercept], duplicated.coefficients + [duplicated.intercept])
        // Both are solved to a gradient of 1e-10·n; the optima agree to ~1e-9 relative.
        #expect(d.relative <= 1e-7, "\(d)")
    }

    @Test func rejectsBadTrainingData() throws {
        let (x, y) = try FixtureData.train
        let reals = (0..<x.rows).filter { y[$0] == .real }
        #expect(throws: ClassifierError.self) {
            try LogisticRegression.fit(x.select(reals), labels: reals.map { y[$0] }, hyperparameters: .init())
        }
        #expect(throws: ClassifierError.badHyperparameter(name: "C", value: "0.0", reason: "must be a positive number")) {
            try LogisticRegression.fit(x, labels: y, hyperparameters: .init(C: 0))
        }
        var v = x.values; v[5] = .nan
        #expect(throws: ClassifierError.nonFinite(source: "training embeddings", row: 0)) {
            try LogisticRegression.fit(EmbeddingMatrix(rows: x.rows, dimension: x.dimension, values: v), labels: y, hyperparameters: .init())
        }
    }
}
