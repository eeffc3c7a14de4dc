import CoDEClassifiers
import CoDECore
import Foundation
import Testing
import _CoDETestSupport

@Suite struct OneClassSVMTests {
    /// Imported scikit-learn models (poly as CoDE, rbf with gamma=scale, linear): decisions equal
    /// to 1e-9 relative (the same float64 kernel sums, only the summation order differs: ~1e-14).
    @Test(arguments: ["svm_poly", "svm_rbf", "svm_linear"])
    func importedModelMatchesScikitLearn(_ name: String) throws {
        let ref = try FixtureData.reference()
        let model = try OneClassSVM.load(from: FixtureData.url(name))
        #expect(model.supportVectorCount == (try ref.integers("\(name).n_sv"))[0])
        let (x, _) = try FixtureData.test
        let expected = try ref.doubles("\(name).decision")
        let p = try model.predict(x)
        let d = TensorDiff(p.map(\.decision), expected)
        #expect(d.relative <= 1e-9, "\(d)")
        #expect(p.map(\.verdict) == expected.map { $0 > 0 ? .real : .fake })
    }

    /// Fitted in Swift on the real training rows with the same hyperparameters: the bars
    /// are verdict agreement ≥ 99.5% and decision correlation ≥ 0.999 with scikit-learn (both stop
    /// at a KKT gap of 1e-3, so the solutions differ slightly). ρ is also compared, to 1e-2 relative.
    @Test(arguments: [("svm_poly", OneClassSVM.Hyperparameters(nu: 0.1, kernel: "poly", degree: 3, gamma: .auto, coef0: 0)),
                      ("svm_rbf", OneClassSVM.Hyperparameters(nu: 0.2, kernel: "rbf", gamma: .scale)),
                      ("svm_linear", OneClassSVM.Hyperparameters(nu: 0.3, kernel: "linear"))])
    func fitMatchesScikitLearn(_ name: String, _ h: OneClassSVM.Hyperparameters) throws {
        let ref = try FixtureData.reference()
        let (tx, ty) = try FixtureData.train
        let model = try OneClassSVM.fit(tx, labels: ty, hyperparameters: h)
        let (x, _) = try FixtureData.test
        let expected = try ref.doubles("\(name).decision")
        let p = try model.predict(x)
        let agree = zip(p, expected).filter { ($0.decision > 0) == ($1 > 0) }.count
        let corr = FixtureData.correlation(p.map(\.decision), expected)
        #expect(Double(agree) / Double(x.rows) >= 0.995, "\(name): \(agree)/\(x.rows) verdicts agree")
        #expect(corr >= 0.999, "\(name): correlation \(corr)")
        let rho = (try ref.doubles("\(name).rho"))[0]
        #expect(abs(model.rho - rho) <= 1e-2 * abs(rho), "\(name): rho \(model.rho) vs \(rho)")
    }

    /// The dual solution satisfies its constraints: 0 ≤ α ≤ 1 and Σα = ν·l (to rounding).
    @Test func dualConstraints() throws {
        let (tx, ty) = try FixtureData.train
        let model = try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init())
        let l = ty.filter { $0 == .real }.count
        #expect(model.dualCoefficients.allSatisfy { $0 > 0 && $0 <= 1 })
        #expect(abs(model.dualCoefficients.reduce(0, +) - 0.1 * Double(l)) <= 1e-9)
        #expect(model.supportVectorCount >= Int(0.1 * Double(l)))  // ν lower-bounds the SV fraction
    }

    /// The cache only stores kernel columns: a budget of two columns, which evicts constantly,
    /// must give the identical solution to an unbounded one. Shrinking changes the path but
    /// not the optimum beyond the 1e-3 KKT tolerance (correlation ≥ 0.9999).
    @Test func cacheAndShrinkingDoNotChangeTheSolution() throws {
        let (tx, ty) = try FixtureData.train
        let (x, _) = try FixtureData.test
        let big = try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init(cacheBytes: 1 << 30))
        let tiny = try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init(cacheBytes: 1))
        // Column entries are the same dot products, but BLAS may round a row differently depending
        // on which block of rows it is computed in (~1e-16), so compare to 1e-9 relative.
        let same = TensorDiff(try tiny.decisions(x), try big.decisions(x))
        #expect(tiny.supportVectorCount == big.supportVectorCount)
        #expect(same.relative <= 1e-9, "\(same)")
        let noShrink = try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init(shrinking: false))
        let corr = FixtureData.correlation(try big.decisions(x), try noShrink.decisions(x))
        #expect(corr >= 0.9999, "correlation \(corr)")
    }

    @Test func rejectsBadInput() throws {
        let (tx, ty) = try FixtureData.train
        #expect(throws: ClassifierError.badHyperparameter(name: "nu", value: "0.0", reason: "must be in (0, 1]")) {
            try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init(nu: 0))
        }
        #expect(throws: ClassifierError.self) { try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init(kernel: "sigmoid")) }
        #expect(throws: ClassifierError.self) {
            try OneClassSVM.fit(tx.select([1, 3]), labels: [.fake, .fake], hyperparameters: .init())
        }
        let model = try OneClassSVM.load(from: FixtureData.url("svm_poly"))
        #expect(throws: ClassifierError.dimensionMismatch(source: "SVM input", expected: 192, found: 384)) {
            try model.predict(EmbeddingMatrix(rows: 2, dimension: 384, values: [Float](repeating: 0, count: 768)))
        }
    }
}
