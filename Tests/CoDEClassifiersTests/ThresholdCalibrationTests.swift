import CoDEClassifiers
import Foundation
import Testing
import _CoDETestSupport

/// ThresholdCalibration against numpy (thresholds, counts) and scipy's Wilson interval
/// (Tests/Fixtures/make_calibration_fixtures.py).
@Suite("Threshold calibration")
struct ThresholdCalibrationTests {
    struct Case { let alpha: Double; let scores: [Double]; let reference: [String: [String: Any]] }

    static func cases() throws -> [Case] {
        let data = try Data(contentsOf: Fixtures.url("calibration/reference.json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(doc["cases"] as? [[String: Any]])
        // Numbers are stored as strings (Double(String) rounds correctly; JSON number parsing may not).
        return try cases.map { c in
            Case(alpha: try #require((c["alpha"] as? String).flatMap(Double.init)),
                 scores: try #require(c["scores"] as? [String]).map { try #require(Double($0)) },
                 reference: ["linear": try #require(c["linear"] as? [String: Any]), "svm": try #require(c["svm"] as? [String: Any])])
        }
    }

    @Test("thresholds, false positives and Wilson intervals equal numpy's and scipy's", arguments: [ClassifierKind.linear, .svm])
    func matchesReference(kind: ClassifierKind) throws {
        let all = try Self.cases()
        #expect(all.count == 5)
        for c in all {
            let ref = try #require(c.reference[kind.rawValue])
            let r = try ThresholdCalibration(kind: kind, realScores: c.scores, targetFalsePositiveRate: c.alpha)
            #expect(r.threshold == (ref["threshold"] as? String).flatMap(Double.init), "\(kind) alpha \(c.alpha) n \(c.scores.count)")
            #expect(r.falsePositives == ref["false_positives"] as? Int)
            #expect(r.falsePositiveRate <= c.alpha)
            let w = try #require(ref["wilson"] as? [String]).compactMap(Double.init)
            try #require(w.count == 2)
            #expect(abs(r.interval.lowerBound - w[0]) < 1e-12 && abs(r.interval.upperBound - w[1]) < 1e-12, "\(r.interval) vs \(w)")
            // The verdict rule of the tools agrees with the count.
            let calledFake = c.scores.filter { Self.isFake($0, r.threshold, kind) }.count
            #expect(calledFake == r.falsePositives)
        }
    }

    static func isFake(_ s: Double, _ t: Double, _ kind: ClassifierKind) -> Bool { kind == .svm ? !(s > t) : s > t }

    @Test("bad targets and scores are specific errors")
    func errors() {
        #expect(throws: ThresholdCalibration.Failure.badTarget(0)) { try ThresholdCalibration(kind: .linear, realScores: [0.1], targetFalsePositiveRate: 0) }
        #expect(throws: ThresholdCalibration.Failure.badTarget(1)) { try ThresholdCalibration(kind: .linear, realScores: [0.1], targetFalsePositiveRate: 1) }
        #expect(throws: ThresholdCalibration.Failure.noScores) { try ThresholdCalibration(kind: .svm, realScores: [], targetFalsePositiveRate: 0.05) }
        #expect(throws: ThresholdCalibration.Failure.nonFinite(count: 1)) {
            try ThresholdCalibration(kind: .knn, realScores: [0.1, .nan], targetFalsePositiveRate: 0.05)
        }
    }
}
