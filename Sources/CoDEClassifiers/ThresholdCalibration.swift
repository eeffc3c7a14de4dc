import Foundation

/// A decision threshold chosen for a target false-positive rate on a user's own real images
/// (`code-calibrate`), and how well it met the target.
///
/// The false-positive rate is the fraction of real images called fake. For the linear, k-NN and
/// head classifiers (fake when `score > t`), ``Metrics/calibrateThreshold(realScores:targetFalsePositiveRate:)``
/// gives the smallest real score `t` with at most ⌊α·n⌋ real scores above it. For the one-class
/// SVM (fake when `score <= t`), `t` is just below the (⌊α·n⌋ + 1)-th smallest real score, so at
/// most ⌊α·n⌋ real scores are at or below it. Either way the rate achieved on these images is at
/// most α. The 95 % interval of the achieved rate is Wilson's score interval: how far the rate on
/// new real images of the same kind may lie from it.
///
/// The result is stored in the classifier file's metadata (``metadata``), and ``Detector`` uses a
/// stored threshold when none is given.
public struct ThresholdCalibration: Sendable, Equatable, CustomStringConvertible {
    public let kind: ClassifierKind
    public let threshold: Double
    public let targetFalsePositiveRate: Double
    public let falsePositives: Int
    public let realImages: Int
    /// Wilson 95 % score interval of the achieved false-positive rate.
    public let interval: ClosedRange<Double>

    public var falsePositiveRate: Double { Double(falsePositives) / Double(realImages) }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case noScores
        case nonFinite(count: Int)
        case badTarget(Double)

        public var description: String {
            switch self {
            case .noScores: "no real image could be scored, so there is nothing to calibrate on"
            case let .nonFinite(n): "\(n) real scores are not finite numbers"
            case let .badTarget(a): "the target false-positive rate \(a) must lie strictly between 0 and 1 (for example 0.05)"
            }
        }
    }

    /// Calibrates `kind`'s threshold on the decision values of real images.
    public init(kind: ClassifierKind, realScores: [Double], targetFalsePositiveRate alpha: Double) throws {
        guard alpha > 0 && alpha < 1 else { throw Failure.badTarget(alpha) }
        guard !realScores.isEmpty else { throw Failure.noScores }
        let bad = realScores.filter { !$0.isFinite }.count
        guard bad == 0 else { throw Failure.nonFinite(count: bad) }
        let n = realScores.count
        let t: Double, fp: Int
        switch kind {
        case .linear, .knn, .head:
            t = Metrics.calibrateThreshold(realScores: realScores, targetFalsePositiveRate: alpha).threshold
            fp = realScores.filter { $0 > t }.count
        case .svm:
            let s = realScores.sorted()
            let allowed = Int((alpha * Double(n)).rounded(.down))
            t = s[allowed].nextDown
            fp = realScores.filter { $0 <= t }.count
        }
        self.kind = kind
        self.threshold = t
        self.targetFalsePositiveRate = alpha
        self.falsePositives = fp
        self.realImages = n
        self.interval = Self.wilson(successes: fp, trials: n)
    }

    /// Wilson's score interval for a binomial proportion at 95 % (z = 1.959963984540054).
    public static func wilson(successes k: Int, trials n: Int, z: Double = 1.959963984540054) -> ClosedRange<Double> {
        precondition(n > 0 && k >= 0 && k <= n, "wilson: need 0 <= k <= n, n > 0")
        let p = Double(k) / Double(n), nn = Double(n), z2 = z * z
        let centre = (p + z2 / (2 * nn)) / (1 + z2 / nn)
        let half = z / (1 + z2 / nn) * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot()
        return max(0, centre - half)...min(1, centre + half)
    }

    /// Metadata keys of a calibrated classifier file.
    public static let thresholdKey = "threshold"
    public static let targetKey = "threshold_target_fpr"
    public static let achievedKey = "threshold_fpr"
    public static let intervalKey = "threshold_fpr_ci95"
    public static let realImagesKey = "threshold_real_images"

    /// The entries ``Detector`` and `code-detect` read back (the numbers in full precision).
    public var metadata: [String: String] {
        [Self.thresholdKey: "\(threshold)", Self.targetKey: "\(targetFalsePositiveRate)", Self.achievedKey: "\(falsePositiveRate)",
         Self.intervalKey: "\(interval.lowerBound),\(interval.upperBound)", Self.realImagesKey: String(realImages)]
    }

    /// The calibrated threshold a classifier file records, validated against its kind's score
    /// range; nil when it records none.
    public static func recordedThreshold(in meta: ClassifierMetadata) throws -> Double? {
        guard let s = meta.values[thresholdKey] else { return nil }
        guard let t = Double(s), t.isFinite else {
            throw ClassifierError.badFile(file: meta.source, reason: "metadata '\(thresholdKey)' is '\(s)', not a finite number")
        }
        try meta.kind.validateThreshold(t)
        return t
    }

    /// One line for a tool: the threshold, achieved rate and interval.
    public var description: String {
        "threshold \(threshold) for the \(kind.rawValue) classifier: \(falsePositives) of \(realImages) real images called fake, "
            + String(format: "false-positive rate %.4f (target %.4f; 95%% interval %.4f-%.4f)", falsePositiveRate,
                     targetFalsePositiveRate, interval.lowerBound, interval.upperBound)
    }
}
