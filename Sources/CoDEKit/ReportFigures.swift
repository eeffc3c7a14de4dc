import CoDEClassifiers
import Foundation

/// The scored samples and embeddings of one evaluation condition, the input of the report.
public struct EvaluationRun: Sendable {
    public let condition: String
    public let samples: [ScoredSample]
    /// One per sample, nil for error samples.
    public let embeddings: [[Float]?]
    public init(condition: String, samples: [ScoredSample], embeddings: [[Float]?]) {
        self.condition = condition; self.samples = samples; self.embeddings = embeddings
    }
}

/// The report's SVG figures, each a standalone SVG document.
public enum ReportFigures {
    /// Colour of a group: `real` first colour, generators the next ones in sorted order.
    static func colors(_ groups: [String]) -> [String: String] {
        var m = ["real": SVGPlot.palette[0]]
        for (i, g) in groups.filter({ $0 != "real" }).sorted().enumerated() { m[g] = SVGPlot.palette[1 + i % (SVGPlot.palette.count - 1)] }
        return m
    }

    static func ok(_ s: [ScoredSample]) -> [ScoredSample] { s.filter { $0.fakeness != nil } }

    /// ROC curves (TPR against FPR) of each generator's fakes against all real photos, with the
    /// chance diagonal; the legend gives each curve's AUC.
    public static func roc(_ run: EvaluationRun) -> String {
        var p = SVGPlot(title: "ROC per generator (\(run.condition))", xLabel: "false positive rate (reals called fake)",
                        yLabel: "true positive rate", x: 0...1, y: 0...1)
        p.line([(0, 0), (1, 1)], color: "#999", dashed: true)
        let s = ok(run.samples), reals = s.filter { $0.label == .real }
        let gens = Set(s.filter { $0.label == .fake }.map(\.group)).sorted(), col = colors(gens)
        guard !reals.isEmpty else { return p.render() }
        for g in gens {
            let part = reals + s.filter { $0.label == .fake && $0.group == g }
            let scores = part.map { $0.fakeness! }, labels = part.map(\.label)
            let r = Metrics.roc(scores: scores, labels: labels)
            let auc = Metrics.rocAUC(scores: scores, labels: labels)
            p.line(Array(zip(r.fpr, r.tpr)), color: col[g]!, label: String(format: "%@ (AUC %.3f)", g, auc))
        }
        return p.render()
    }

    /// Histograms of the fakeness score (larger = more fake) of real and fake images, each
    /// normalised to fractions of its class, over `bins` equal bins spanning all scores (and the
    /// threshold), with the verdicts' `threshold` (fakeness scale) as a dashed vertical line.
    public static func histogram(_ run: EvaluationRun, bins: Int = 30, threshold: Double? = nil) -> String {
        let s = ok(run.samples), v = s.map { $0.fakeness! } + (threshold.map { [$0] } ?? [])
        let lo = v.min() ?? 0, hi = max(v.max() ?? 1, lo + 1e-9)
        let width = (hi - lo) / Double(bins)
        func hist(_ label: Verdict) -> [(x0: Double, x1: Double, h: Double)] {
            let xs = s.filter { $0.label == label }.map { $0.fakeness! }
            var c = [Double](repeating: 0, count: bins)
            for x in xs { c[min(bins - 1, Int((x - lo) / width))] += 1 / Double(xs.count) }
            return (0..<bins).map { (lo + Double($0) * width, lo + Double($0 + 1) * width, c[$0]) }
        }
        let real = hist(.real), fake = hist(.fake)
        let top = max(real.map(\.h).max() ?? 0, fake.map(\.h).max() ?? 0)
        var p = SVGPlot(title: "Score histogram, real vs fake (\(run.condition))", xLabel: "fakeness score (larger = more fake)",
                        yLabel: "fraction of class", x: lo...hi, y: 0...max(top * 1.05, 1e-9))
        p.bars(real, color: SVGPlot.palette[0], label: "real (\(s.filter { $0.label == .real }.count))")
        p.bars(fake, color: SVGPlot.palette[1], label: "fake (\(s.filter { $0.label == .fake }.count))")
        if let t = threshold {
            p.line([(t, 0), (t, max(top * 1.05, 1e-9))], color: "#333", dashed: true, label: String(format: "threshold %.4g", t))
        }
        return p.render()
    }

    /// The t-SNE map (``TSNE``, default options) of at most `maxPoints` embedded samples (every
    /// k-th, as for the PCA), one colour per group. Nil with fewer than 4 embedded samples.
    public static func tsne(_ run: EvaluationRun, maxPoints: Int = 2000) -> String? {
        let all = run.embeddings.indices.filter { run.embeddings[$0] != nil }
        guard all.count >= 4 else { return nil }
        let idx = Swift.stride(from: 0, to: all.count, by: (all.count + maxPoints - 1) / maxPoints).map { all[$0] }
        let map = TSNE.embed(idx.map { run.embeddings[$0]! })
        return scatter(title: "t-SNE of embeddings (\(run.condition))", xLabel: "t-SNE 1", yLabel: "t-SNE 2",
                       points: map.map { ($0[0], $0[1]) }, groups: idx.map { run.samples[$0].group })
    }

    static func scatter(title: String, xLabel: String, yLabel: String, points: [(Double, Double)], groups: [String]) -> String {
        func pad(_ a: [Double]) -> ClosedRange<Double> {
            let lo = a.min()!, hi = a.max()!, m = max(hi - lo, 1e-9) * 0.05
            return (lo - m)...(hi + m)
        }
        var p = SVGPlot(title: title, xLabel: xLabel, yLabel: yLabel, x: pad(points.map(\.0)), y: pad(points.map(\.1)))
        let col = colors(Array(Set(groups)))
        for g in ["real"] + Set(groups).subtracting(["real"]).sorted() where groups.contains(g) {
            let pts = groups.indices.filter { groups[$0] == g }.map { points[$0] }
            p.points(pts, color: col[g]!, label: "\(g) (\(pts.count))")
        }
        return p.render()
    }

    /// The embeddings projected on their first two principal components (``PCA``, fitted on all
    /// of them), one colour per group (real photos and each generator). At most `maxPoints` are
    /// drawn (every k-th sample, k = ⌈n / maxPoints⌉) to keep the SVG small. Needs two embedded samples.
    public static func pca(_ run: EvaluationRun, maxPoints: Int = 4000) -> String? {
        let all = run.embeddings.indices.filter { run.embeddings[$0] != nil }
        guard all.count >= 2 else { return nil }
        let proj = PCA.project(all.map { run.embeddings[$0]! })
        let stride = (all.count + maxPoints - 1) / maxPoints
        let keep = Swift.stride(from: 0, to: all.count, by: stride).map { $0 }
        let idx = keep.map { all[$0] }
        return scatter(title: "PCA of embeddings (\(run.condition))",
                       xLabel: String(format: "PC1 (variance %.3g)", proj.variances[0]),
                       yLabel: String(format: "PC2 (variance %.3g)", proj.variances[1]),
                       points: keep.map { (proj.coordinates[$0][0], proj.coordinates[$0][1]) }, groups: idx.map { run.samples[$0].group })
    }
}
