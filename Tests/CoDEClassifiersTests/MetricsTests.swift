import CoDEClassifiers
import CoDECore
import Foundation
import Testing
import _CoDETestSupport

@Suite struct MetricsTests {
    func fixture() throws -> (scores: [Double], labels: [Verdict], ref: SafeTensorsFile) {
        let ref = try FixtureData.reference()
        return (try ref.doubles("metrics.scores"), FixtureData.verdicts(try ref.integers("metrics.labels")), ref)
    }

    /// Scores rounded to 0.1 (many ties) against scikit-learn's roc_auc_score and
    /// average_precision_score; both are sums of ≤ 301 terms: 1e-12 absolute.
    @Test func aucAndAveragePrecisionMatchScikitLearn() throws {
        let (s, y, ref) = try fixture()
        #expect(Set(s).count < s.count / 5)  // the fixture really has ties
        #expect(abs(Metrics.rocAUC(scores: s, labels: y) - (try ref.doubles("metrics.auc"))[0]) <= 1e-12)
        #expect(abs(Metrics.averagePrecision(scores: s, labels: y) - (try ref.doubles("metrics.ap"))[0]) <= 1e-12)
    }

    /// EER from scikit-learn's roc_curve (interpolated crossing, see Metrics.equalErrorRate) and
    /// the best-threshold accuracy by brute force over every threshold, in the fixture script.
    @Test func eerAndBestThresholdAccuracy() throws {
        let (s, y, ref) = try fixture()
        #expect(abs(Metrics.equalErrorRate(scores: s, labels: y) - (try ref.doubles("metrics.eer"))[0]) <= 1e-12)
        let best = Metrics.bestThresholdAccuracy(scores: s, labels: y)
        #expect(abs(best.accuracy - (try ref.doubles("metrics.best_accuracy"))[0]) <= 1e-12)
        // The returned threshold reproduces the accuracy it reports.
        let acc = zip(s, y).filter { ($0 >= best.threshold) == ($1 == .fake) }.count
        #expect(abs(Double(acc) / Double(s.count) - best.accuracy) <= 1e-12)
    }

    /// Accuracies at threshold 0.5 against numpy's per-class means in the fixture script (exact
    /// ratios of counts).
    @Test func accuracyAtThreshold() throws {
        let (s, y, ref) = try fixture()
        let r = Metrics.accuracy(verdicts: s.map { $0 > 0.5 ? .fake : .real }, labels: y)
        #expect(r.real == (try ref.doubles("metrics.acc_real"))[0])
        #expect(r.fake == (try ref.doubles("metrics.acc_fake"))[0])
        #expect(r.overall == (try ref.doubles("metrics.acc_overall"))[0])
        #expect(r.realCount + r.fakeCount == s.count)
    }

    /// Stated properties of the calibrated threshold: the FPR on the reference set is at most
    /// the target, and the next lower distinct score would exceed it (the threshold is minimal).
    @Test(arguments: [0.0, 0.01, 0.05, 0.1, 0.333, 1.0])
    func calibrationProperties(_ alpha: Double) throws {
        let (s, y, _) = try fixture()
        let real = zip(s, y).filter { $1 == .real }.map(\.0)
        let (t, fpr) = Metrics.calibrateThreshold(realScores: real, targetFalsePositiveRate: alpha)
        let above = real.filter { $0 > t }.count
        #expect(fpr == Double(above) / Double(real.count))
        #expect(fpr <= alpha)
        if let lower = real.filter({ $0 < t }).max() {
            #expect(Double(real.filter { $0 > lower }.count) / Double(real.count) > alpha)
        }
    }

    /// Perfectly separated and perfectly inverted scores: AUC 1 and 0, EER 0 and 1, AP 1.
    @Test func extremes() {
        let y: [Verdict] = [.real, .real, .fake, .fake]
        #expect(Metrics.rocAUC(scores: [0, 1, 2, 3], labels: y) == 1)
        #expect(Metrics.rocAUC(scores: [3, 2, 1, 0], labels: y) == 0)
        #expect(Metrics.rocAUC(scores: [1, 1, 1, 1], labels: y) == 0.5)
        #expect(Metrics.equalErrorRate(scores: [0, 1, 2, 3], labels: y) == 0)
        #expect(Metrics.equalErrorRate(scores: [3, 2, 1, 0], labels: y) == 1)
        #expect(Metrics.averagePrecision(scores: [0, 1, 2, 3], labels: y) == 1)
        #expect(Metrics.rocAUC(scores: [0, 1], labels: [.real, .real]).isNaN)
    }
}

/// The orientation of each classifier's decision for ranking: ROC AUC of `fakeness(decision)` on
/// the held-out labels equals scikit-learn's roc_auc_score of p(fake) (linear) and of −decision
/// (SVM) from the fixture script (exact ranks of the same values: 1e-12).
@Suite struct FakenessOrientationTests {
    @Test(arguments: [("linear", "lr.auc"), ("svm_poly", "svm_poly.auc"), ("svm_rbf", "svm_rbf.auc")])
    func aucOfImportedModels(_ file: String, _ key: String) throws {
        let model = try AnyClassifier.load(from: FixtureData.url(file))
        let (x, y) = try FixtureData.test
        let scores = try model.predict(x).map { model.fakeness($0.decision) }
        let expected = (try FixtureData.reference().doubles(key))[0]
        #expect(abs(Metrics.rocAUC(scores: scores, labels: y) - expected) <= 1e-12)
    }
}
