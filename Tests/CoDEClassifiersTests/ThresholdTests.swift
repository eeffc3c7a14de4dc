import CoDEClassifiers
import CoDECore
import Foundation
import Testing

/// `--threshold` validation against each classifier's score range (ClassifierKind.scoreRange).
@Suite struct ThresholdTests {
    @Test("NaN, infinities and values outside the score range are specific errors; negatives are fine where scores are negative")
    func validation() throws {
        #expect(throws: ClassifierError.badThreshold(kind: .linear, value: 1.5, reason: "its score, p(fake), lies in [0.0, 1.0]")) {
            try ClassifierKind.linear.validateThreshold(1.5)
        }
        #expect(throws: ClassifierError.badThreshold(kind: .head, value: -0.1, reason: "its score, p(fake), lies in [0.0, 1.0]")) {
            try ClassifierKind.head.validateThreshold(-0.1)
        }
        #expect(throws: ClassifierError.badThreshold(kind: .knn, value: -3, reason: "its score, dist(nearest real) - dist(nearest fake), lies in [-2.0, 2.0]")) {
            try ClassifierKind.knn.validateThreshold(-3)
        }
        for kind in ClassifierKind.allCases {
            for bad in [Double.infinity, -.infinity] {
                #expect(throws: ClassifierError.badThreshold(kind: kind, value: bad, reason: "it must be a finite number")) {
                    try kind.validateThreshold(bad)
                }
            }
            // NaN != NaN, so compare the case's fields.
            do { try kind.validateThreshold(.nan); Issue.record("NaN accepted") } catch let ClassifierError.badThreshold(k, v, reason) {
                #expect(k == kind && v.isNaN && reason == "it must be a finite number")
            }
        }
        try ClassifierKind.svm.validateThreshold(-3)
        try ClassifierKind.svm.validateThreshold(1e6)
        try ClassifierKind.knn.validateThreshold(-2)
        try ClassifierKind.knn.validateThreshold(-0.25)
        try ClassifierKind.linear.validateThreshold(0)
        try ClassifierKind.linear.validateThreshold(1)
        #expect("\(ClassifierError.badThreshold(kind: .linear, value: .nan, reason: "it must be a finite number"))"
            == "--threshold nan is not usable with the linear classifier: it must be a finite number")
    }

    @Test("the ranges are the ones the classifiers reach: knn scores attain -2 and 2, linear p(fake) stays in [0, 1]")
    func rangesAreAttained() throws {
        // Real at +e1, fake at -e1: a query at -e1 is distance 2 from the real and 0 from the fake.
        let bank = EmbeddingMatrix(rows: 2, dimension: 2, values: [1, 0, -1, 0])
        let knn = try NearestNeighbors(bank: bank, labels: [.real, .fake])
        let q = EmbeddingMatrix(rows: 3, dimension: 2, values: [-1, 0, 1, 0, 0, 1])
        let scores = try knn.decisions(q)
        #expect(scores == [2, -2, 0])
        for s in scores { #expect(ClassifierKind.knn.scoreRange!.contains(s)) }
        let lr = LogisticRegression(coefficients: [400, 0], intercept: 0)
        let p = try lr.decisions(EmbeddingMatrix(rows: 2, dimension: 2, values: [10, 0, -10, 0]))
        #expect(p[0] == 1 && p[1] == 0)
        #expect(ClassifierKind.svm.scoreRange == nil)
    }
}
