import CoDEClassifiers
import CoDECore
import Foundation
import Testing
import _CoDETestSupport

@Suite struct NearestNeighborsTests {
    /// Imported k=1 and k=5 models: verdicts identical to scikit-learn's predict.
    @Test func importedModelsMatchScikitLearn() throws {
        let ref = try FixtureData.reference()
        let (x, _) = try FixtureData.test
        let knn1 = try NearestNeighbors.load(from: FixtureData.url("knn"))
        let knn5 = try NearestNeighbors.load(from: FixtureData.url("knn5"))
        #expect(knn1.k == 1 && knn5.k == 5)
        #expect(try knn1.verdicts(x) == FixtureData.verdicts(try ref.integers("knn.predict")))
        #expect(try knn5.verdicts(x) == FixtureData.verdicts(try ref.integers("knn5.predict")))
    }

    /// Fitted in Swift from the same data: the 3 nearest indices equal scikit-learn's kneighbors,
    /// and distances agree to 1e-5 (both computed in float32 from unit vectors: ~1e-7 per dot
    /// product over 192 terms, 100x margin).
    @Test func fittedNeighborsMatchScikitLearn() throws {
        let ref = try FixtureData.reference()
        let (tx, ty) = try FixtureData.train
        let (x, _) = try FixtureData.test
        let knn = try NearestNeighbors.fit(tx, labels: ty, hyperparameters: .init(k: 3))
        let res = try knn.neighbors(x)
        let ind = try ref.integers("knn.ind3"), dist = try ref.doubles("knn.dist3")
        #expect(res.flatMap(\.indices) == ind)
        let d = TensorDiff(res.flatMap(\.distances), dist)
        #expect(d.maxAbs <= 1e-5, "\(d)")
        let knn1 = try NearestNeighbors.fit(tx, labels: ty, hyperparameters: .init(k: 1))
        #expect(try knn1.verdicts(x) == FixtureData.verdicts(try ref.integers("knn.predict")))
    }

    /// Ties go to the lowest bank index: a bank with repeated (and rescaled, which cosine ignores)
    /// rows must return the first copy, in index order.
    @Test func tiesGoToLowestIndex() throws {
        let a: [Float] = [1, 0, 0, 0], b: [Float] = [0, 1, 0, 0]
        let bank = EmbeddingMatrix([b, a, a.map { $0 * 3 }, b, a.map { $0 * 0.5 }])
        let knn = try NearestNeighbors(bank: bank, labels: [.fake, .real, .fake, .real, .fake], k: 3)
        let r = try knn.neighbors(EmbeddingMatrix([a.map { $0 * 2 }]))[0]
        #expect(r.indices == [1, 2, 4])
        #expect(r.distances == [0, 0, 0])
        // k=1 on the same bank: nearest is index 1 (real) although fakes are equally close.
        let knn1 = try NearestNeighbors(bank: bank, labels: [.fake, .real, .fake, .real, .fake], k: 1)
        let p = try knn1.predict(EmbeddingMatrix([a]))[0]
        #expect(p.verdict == .real)
        #expect(p.decision == 0)  // equally near real and fake
    }

    /// The score is dist(nearest real) − dist(nearest fake), with distance clip(1 − cos, 0, 2):
    /// checked against a direct Double computation on the fixture data (1e-5: float32 dots).
    @Test func scoreIsDistanceDifference() throws {
        let (tx, ty) = try FixtureData.train
        let (x, _) = try FixtureData.test
        let knn = try NearestNeighbors.fit(tx, labels: ty, hyperparameters: .init())
        let scores = try knn.decisions(x)
        func unit(_ v: [Float]) -> [Double] { let n = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot(); return v.map { Double($0) / n } }
        let bank = (0..<tx.rows).map { unit(tx.row($0)) }
        var expected: [Double] = []
        for i in 0..<20 {
            let q = unit(x.row(i))
            var dr = 2.0, df = 2.0
            for j in 0..<bank.count {
                let dist = min(max(1 - zip(q, bank[j]).reduce(0) { $0 + $1.0 * $1.1 }, 0), 2)
                if ty[j] == .real { dr = min(dr, dist) } else { df = min(df, dist) }
            }
            expected.append(dr - df)
        }
        let d = TensorDiff(Array(scores[0..<20]), expected)
        #expect(d.maxAbs <= 1e-5, "\(d)")
    }

    /// Zero vectors stay zero (cos = 0, distance 1), as scikit-learn's normalize leaves them.
    @Test func zeroVectors() throws {
        let knn = try NearestNeighbors(bank: EmbeddingMatrix([[1, 0], [0, 0]]), labels: [.real, .fake])
        let r = try knn.neighbors(EmbeddingMatrix([[0, 0], [-1, 0]]))
        #expect(r[0].distances == [1] && r[0].indices == [0])   // both at distance 1: lowest index
        #expect(r[1].nearestReal == 2 && r[1].nearestFake == 1)
    }

    @Test func rejectsBadInput() throws {
        let knn = try NearestNeighbors.load(from: FixtureData.url("knn"))
        #expect(throws: ClassifierError.dimensionMismatch(source: "k-NN input", expected: 192, found: 384)) {
            try knn.predict(EmbeddingMatrix(rows: 1, dimension: 384, values: [Float](repeating: 0, count: 384)))
        }
        #expect(throws: ClassifierError.self) { try NearestNeighbors(bank: EmbeddingMatrix([[1, 0]]), labels: [.real]) }
        #expect(throws: ClassifierError.self) { try NearestNeighbors(bank: EmbeddingMatrix([[1, 0], [0, 1]]), labels: [.real, .fake], k: 0) }
    }
}
