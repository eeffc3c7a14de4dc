import CoDEClassifiers
import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// code-eval's metrics and the report's PCA against numpy / scikit-learn
/// (Tests/Fixtures/make_eval_fixtures.py; the inputs are regenerated here from the same seeds).
@Suite struct EvaluationReferenceTests {
    static let n = 60, d = 8

    static func rows() -> [[Float]] {
        let u = fixtureUniform(seed: 61, count: n * d)
        return (0..<n).map { i in (0..<d).map { j in u[i * d + j] * Float(1 + j) } }
    }

    static func samples() -> [ScoredSample] {
        let u = fixtureUniform(seed: 62, count: n)
        return (0..<n).map { i in
            let group = ["real", "genA", "genB"][i % 3]
            let label: Verdict = group == "real" ? .real : .fake
            let f = Double(u[i]) + (label == .fake ? 0.5 : 0)
            return ScoredSample(path: "\(i)", label: label, group: group, verdict: f > 0.3 ? .fake : .real, score: f, fakeness: f)
        }
    }

    /// Accuracies are ratios of the same integer counts (exact up to one rounding); AUC and AP are
    /// sums of a few dozen rationals in both implementations: 1e-12 absolute.
    @Test func metricsMatchScikitLearn() throws {
        let ref = try Fixtures.open("eval/reference.safetensors")
        let m = EvaluationMetrics(condition: "none", samples: Self.samples())
        let acc = try ref.doubles("accuracy"), aucAP = try ref.doubles("auc_ap")
        let got = [m.accuracy.real, m.accuracy.fake, m.accuracy.overall]
        #expect(zip(got, acc).allSatisfy { abs($0 - $1) < 1e-12 }, "\(got) vs \(acc)")
        #expect(abs(m.auc - aucAP[0]) < 1e-12 && abs(m.ap - aucAP[1]) < 1e-12, "\(m.auc), \(m.ap) vs \(aucAP)")
        #expect(m.generators.map(\.name) == ["genA", "genB"])
        let ga = try ref.doubles("generator_accuracy"), gauc = try ref.doubles("generator_auc"), gap = try ref.doubles("generator_ap")
        for k in 0..<2 {
            let g = m.generators[k]
            #expect(abs(g.accuracy - ga[k]) < 1e-12 && abs(g.auc - gauc[k]) < 1e-12 && abs(g.ap - gap[k]) < 1e-12, "\(g)")
        }
    }

    /// Same float32 rows, both sides in float64 (DGEMM + dsyev here, np.cov + eigh there): the
    /// results differ by summation order only, ~1e-15 relative; 1e-9 leaves margin for the axes,
    /// whose error grows with 1 / (eigenvalue gap) (gaps here are > 0.5).
    @Test func pcaMatchesNumpy() throws {
        let ref = try Fixtures.open("eval/reference.safetensors")
        let p = PCA.project(Self.rows())
        let vars = try ref.doubles("pca_variances", shape: [2]), axes = try ref.doubles("pca_axes", shape: [2, Self.d])
        let coords = try ref.doubles("pca_coordinates", shape: [Self.n, 2])
        #expect(TensorDiff(p.variances, vars).relative < 1e-9)
        #expect(TensorDiff(p.axes.flatMap { $0 }, axes).relative < 1e-9)
        #expect(TensorDiff(p.coordinates.flatMap { $0 }, coords).relative < 1e-9)
    }
}
