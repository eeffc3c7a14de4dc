import Foundation

/// Accuracy of verdicts against true labels.
public struct AccuracyReport: Sendable, Equatable {
    /// Fraction of real images called real (NaN if there are none).
    public let real: Double
    /// Fraction of fake images called fake (NaN if there are none).
    public let fake: Double
    /// Fraction of all images classified correctly.
    public let overall: Double
    public let realCount: Int
    public let fakeCount: Int
}

/// Evaluation metrics on fakeness scores (larger = more likely fake, see
/// ``EmbeddingClassifier/fakeness(_:)``) and labels, with scikit-learn's conventions.
///
/// The ROC curve is taken over the distinct score values, predicting fake when `score ≥ t`, so
/// tied scores move together (as `sklearn.metrics.roc_curve`).
public enum Metrics {
    /// Accuracy on real, on fake and overall.
    public static func accuracy(verdicts: [Verdict], labels: [Verdict]) -> AccuracyReport {
        precondition(verdicts.count == labels.count, "Metrics.accuracy: \(verdicts.count) verdicts for \(labels.count) labels")
        var rr = 0, ff = 0, nr = 0, nf = 0
        for (v, y) in zip(verdicts, labels) {
            if y == .real { nr += 1; if v == .real { rr += 1 } } else { nf += 1; if v == .fake { ff += 1 } }
        }
        let n = nr + nf
        return AccuracyReport(real: nr > 0 ? Double(rr) / Double(nr) : .nan, fake: nf > 0 ? Double(ff) / Double(nf) : .nan,
                              overall: n > 0 ? Double(rr + ff) / Double(n) : .nan, realCount: nr, fakeCount: nf)
    }

    /// Points of the ROC curve: for each distinct threshold (descending, starting above the
    /// maximum), cumulative false and true positive counts of `score ≥ threshold`.
    public struct ROCPoints: Sendable {
        /// Thresholds, first one +∞.
        public let thresholds: [Double]
        public let falsePositives: [Int]
        public let truePositives: [Int]
        public let negatives: Int
        public let positives: Int
        public var fpr: [Double] { falsePositives.map { Double($0) / Double(negatives) } }
        public var tpr: [Double] { truePositives.map { Double($0) / Double(positives) } }
    }

    /// The ROC points of fakeness `scores` for `labels` (fake = positive). Needs both classes.
    public static func roc(scores: [Double], labels: [Verdict]) -> ROCPoints {
        precondition(scores.count == labels.count, "Metrics.roc: \(scores.count) scores for \(labels.count) labels")
        precondition(!scores.contains { $0.isNaN }, "Metrics.roc: NaN score")
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var th = [Double.infinity], fp = [0], tp = [0]
        var f = 0, t = 0
        for (k, i) in order.enumerated() {
            if labels[i] == .fake { t += 1 } else { f += 1 }
            if k + 1 == order.count || scores[order[k + 1]] != scores[i] {
                th.append(scores[i]); fp.append(f); tp.append(t)
            }
        }
        return ROCPoints(thresholds: th, falsePositives: fp, truePositives: tp, negatives: f, positives: t)
    }

    /// Area under the ROC curve by the trapezoidal rule over distinct thresholds (ties count ½),
    /// equal to `sklearn.metrics.roc_auc_score`. NaN unless both classes are present.
    public static func rocAUC(scores: [Double], labels: [Verdict]) -> Double {
        let r = roc(scores: scores, labels: labels)
        guard r.positives > 0, r.negatives > 0 else { return .nan }
        var area = 0.0
        for k in 1..<r.thresholds.count {
            let dx = Double(r.falsePositives[k] - r.falsePositives[k - 1])
            area += dx * Double(r.truePositives[k] + r.truePositives[k - 1]) / 2
        }
        return area / (Double(r.positives) * Double(r.negatives))
    }

    /// Average precision `Σ_k (R_k − R_{k−1}) P_k` over distinct thresholds (no interpolation),
    /// equal to `sklearn.metrics.average_precision_score` with fake as the positive class.
    public static func averagePrecision(scores: [Double], labels: [Verdict]) -> Double {
        let r = roc(scores: scores, labels: labels)
        guard r.positives > 0 else { return .nan }
        var ap = 0.0
        for k in 1..<r.thresholds.count where r.truePositives[k] > r.truePositives[k - 1] {
            let dr = Double(r.truePositives[k] - r.truePositives[k - 1]) / Double(r.positives)
            let p = Double(r.truePositives[k]) / Double(r.truePositives[k] + r.falsePositives[k])
            ap += dr * p
        }
        return ap
    }

    /// The best overall accuracy over all thresholds (fake when `score ≥ threshold`, the
    /// thresholds being the ROC's, +∞ meaning "all real"), and the first threshold reaching it.
    public static func bestThresholdAccuracy(scores: [Double], labels: [Verdict]) -> (accuracy: Double, threshold: Double) {
        let r = roc(scores: scores, labels: labels)
        let n = Double(r.positives + r.negatives)
        var best = -1.0, bestT = Double.infinity
        for k in 0..<r.thresholds.count {
            let correct = Double(r.truePositives[k] + (r.negatives - r.falsePositives[k]))
            if correct / n > best { best = correct / n; bestT = r.thresholds[k] }
        }
        return (best, bestT)
    }

    /// Equal error rate: where the false-negative rate `1 − TPR` meets the false-positive rate
    /// on the ROC curve, linearly interpolated between the two ROC points that bracket the
    /// crossing. NaN unless both classes are present.
    public static func equalErrorRate(scores: [Double], labels: [Verdict]) -> Double {
        let r = roc(scores: scores, labels: labels)
        guard r.positives > 0, r.negatives > 0 else { return .nan }
        let fpr = r.fpr, fnr = r.tpr.map { 1 - $0 }
        for k in 0..<fpr.count where fnr[k] - fpr[k] <= 0 {
            let dk = fnr[k] - fpr[k]
            if dk == 0 || k == 0 { return fpr[k] }
            let dp = fnr[k - 1] - fpr[k - 1]
            let t = dp / (dp - dk)
            return fpr[k - 1] + t * (fpr[k] - fpr[k - 1])
        }
        return 1
    }

    /// A threshold on fakeness for a target false-positive rate on real reference images:
    /// with rule "fake if score > t", the smallest t among the real scores such that at most
    /// ⌊α·n⌋ of the n real scores exceed it (so the FPR on these images is ≤ α). Returns the
    /// threshold and the achieved false-positive rate.
    public static func calibrateThreshold(realScores: [Double], targetFalsePositiveRate alpha: Double) -> (threshold: Double, falsePositiveRate: Double) {
        precondition(!realScores.isEmpty, "Metrics.calibrateThreshold: no real scores")
        precondition(alpha >= 0 && alpha <= 1, "Metrics.calibrateThreshold: target rate \(alpha) outside [0, 1]")
        precondition(!realScores.contains { $0.isNaN }, "Metrics.calibrateThreshold: NaN score")
        let s = realScores.sorted()
        let n = s.count
        let allowed = Int((alpha * Double(n)).rounded(.down))
        if allowed >= n { return (-Double.infinity, 1) }
        let t = s[n - allowed - 1]
        let above = s.reduce(0) { $0 + ($1 > t ? 1 : 0) }
        return (t, Double(above) / Double(n))
    }
}
