import CoDECore
import CoDEContrastive
import Testing
import _CoDETestSupport

/// Stated properties of the objective, the roll index and input validation.
@Suite struct ObjectivePropertyTests {
    func views(batch b: Int, dim d: Int, seed: UInt64) throws -> CoDEViewEmbeddings<Float> {
        try CoDEViewEmbeddings((0..<8).map { try Embeddings(rows: b, dim: d, values: fixtureUniform(seed: seed + UInt64($0), count: b * d)) })
    }

    @Test func identityRollEqualsNoRoll() throws {
        let x = try views(batch: 5, dim: 7, seed: 1)
        let a = try CoDEObjective()(x)
        let b = try CoDEObjective()(x, rollReal: Array(0..<5), rollFake: Array(0..<5))
        // The identity gather/scatter changes nothing: bit-identical results.
        #expect(a.total == b.total && a.gradients == b.gradients)
        #expect(a.total == a.lReal + a.lFake)
    }

    @Test func lossIsInvariantToEmbeddingScale() throws {
        // Every row is L2-normalised first, so scaling a view's rows by c > 0 leaves the loss unchanged
        // and scales that view's gradient by 1/c (∂(x/‖x‖)/∂x is homogeneous of degree −1).
        let x = try views(batch: 4, dim: 6, seed: 9)
        var y = x
        y[.localFake].values = x[.localFake].values.map { $0 * 8 }
        let a = try CoDEObjective()(x), b = try CoDEObjective()(y)
        // Powers of two: normalisation of the scaled rows is exact, so only summation order differs.
        #expect(abs(a.total - b.total) < 1e-6)
        let d = TensorDiff(b.gradients[.localFake].values.map { $0 * 8 }, a.gradients[.localFake].values)
        #expect(d.relative < 1e-5, "\(d)")
    }

    @Test func rejectsBadInput() throws {
        var x = try views(batch: 3, dim: 4, seed: 2)
        #expect(throws: ContrastiveError.badRollIndex(item: "rollReal", reason: "1 appears twice")) {
            try CoDEObjective()(x, rollReal: [1, 1, 0])
        }
        #expect(throws: ContrastiveError.badRollIndex(item: "rollFake", reason: "2 entries for a batch of 3")) {
            try CoDEObjective()(x, rollFake: [1, 0])
        }
        #expect(throws: ContrastiveError.badRollIndex(item: "rollFake", reason: "entry 2 is 3, outside 0..<3")) {
            try CoDEObjective()(x, rollFake: [1, 0, 3])
        }
        x[.globalFake].values[5] = .nan
        #expect(throws: ContrastiveError.nonFinite(item: "globalFake", row: 1, column: 1)) { try CoDEObjective()(x) }
        var views = x.views
        views[3] = try Embeddings(rows: 2, dim: 4, values: [Float](repeating: 1, count: 8))
        #expect(throws: ContrastiveError.shapeMismatch(item: "augmentedFake", expected: [3, 4], found: [2, 4])) {
            try CoDEViewEmbeddings(views)
        }
        #expect(throws: ContrastiveError.badShape(item: "e", reason: "5 values for [2, 3]")) {
            try Embeddings<Float>(rows: 2, dim: 3, values: [1, 2, 3, 4, 5], name: "e")
        }
        #expect(throws: ContrastiveError.badShape(item: "CoDE views", reason: "batch 0 and dim 4 must be positive")) {
            try CoDEObjective()(CoDEViewEmbeddings<Float>(zerosRows: 0, dim: 4))
        }
        #expect(throws: ContrastiveError.self) {
            try InfoNCE().lossAndGradients(query: x[.real], positive: x[.fake], negatives: Embeddings<Float>(zerosRows: 2, dim: 3))
        }
    }
}

@Suite struct DerangementTests {
    @Test func isAPermutationWithoutFixedPoints() throws {
        var g = Xoshiro256(seed: 3)
        for n in 2...64 {
            for _ in 0..<20 {
                let r = try derangement(n, using: &g)
                #expect(r.sorted() == Array(0..<n), "n=\(n): not a permutation: \(r)")
                #expect(!r.enumerated().contains { $0.offset == $0.element }, "n=\(n): fixed point in \(r)")
            }
        }
        #expect(try derangement(0, using: &g) == [])
        #expect(throws: ContrastiveError.noDerangement(count: 1)) { try derangement(1, using: &g) }
    }

    @Test func sameSeedSameResult() throws {
        var a = Xoshiro256(seed: 77), b = Xoshiro256(seed: 77)
        #expect(try (0..<10).map { _ in try derangement(33, using: &a) } == (0..<10).map { _ in try derangement(33, using: &b) })
    }

    @Test func isUniformOverDerangements() throws {
        // n = 4 has D(4) = 9 derangements; with 9,000 draws each count is Binomial(9000, 1/9):
        // mean 1000, sd ≈ 29.8. ±150 is 5 sd (a false failure has probability < 1e-5 per count),
        // while the authors' shift-by-one fallback would put ~63% of the mass on [3, 0, 1, 2].
        var g = Xoshiro256(seed: 2024)
        var counts: [[Int]: Int] = [:]
        for _ in 0..<9000 { counts[try derangement(4, using: &g), default: 0] += 1 }
        #expect(counts.count == 9)
        for (perm, c) in counts { #expect(abs(c - 1000) < 150, "\(perm): \(c)") }
    }
}
