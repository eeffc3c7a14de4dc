import CoDEClassifiers
import Foundation

/// What an evaluation ran on, recorded in its JSON output.
public struct EvaluationContext: Sendable {
    public var model: String
    public var classifier: String
    public var data: String
    public var threshold: Double?
    public var seed: UInt64
    /// The crops the images were embedded with.
    public var crops: CropLayout
    /// The verdicts' threshold on the fakeness score (``ScoredSample/fakeness``): the report
    /// marks it on the histogram and ranks misclassified files by their distance from it. Nil
    /// when the verdict is not a threshold (k-NN's neighbour vote).
    public var fakenessThreshold: Double?
    /// The precision of the encoder's linear layers (the one used, after any fallback).
    public var precision: InferencePrecision
    public init(model: String, classifier: String, data: String, threshold: Double? = nil, seed: UInt64 = TestTimeTransforms.defaultSeed,
                crops: CropLayout = .center, fakenessThreshold: Double? = nil, precision: InferencePrecision = .fp32) {
        self.model = model; self.classifier = classifier; self.data = data; self.threshold = threshold; self.seed = seed
        self.crops = crops; self.fakenessThreshold = fakenessThreshold; self.precision = precision
    }
}

/// The paper-style table of one or two conditions, as text, CSV and JSON.
///
/// Rows: `real` (accuracy on real photos), one row per generator (accuracy on its fakes),
/// `fake (all)`, `overall`, then `AUC` and `AP` (over all samples) and the error count. One
/// accuracy column per condition (`none` = without transforms, `paper` = with them). Accuracies
/// are printed in percent; AUC and AP as fractions.
public enum EvaluationOutput {
    public static func table(_ conditions: [EvaluationMetrics]) -> String {
        guard let first = conditions.first else { return "" }
        let title = ["none": "W/O TRANSFORMS", "paper": "W/ TRANSFORMS"]
        let header = ["GROUP", "N"] + conditions.map { title[$0.condition] ?? $0.condition }
        func pct(_ v: Double) -> String { v.isNaN ? "-" : String(format: "%.2f", 100 * v) }
        func frac(_ v: Double) -> String { v.isNaN ? "-" : String(format: "%.4f", v) }
        var rows: [[String]] = [["real", "\(first.accuracy.realCount)"] + conditions.map { pct($0.accuracy.real) }]
        for g in first.generators {
            rows.append(["  " + g.name, "\(g.count)"] + conditions.map { c in pct(c.generators.first { $0.name == g.name }?.accuracy ?? .nan) })
        }
        rows.append(["fake (all)", "\(first.accuracy.fakeCount)"] + conditions.map { pct($0.accuracy.fake) })
        rows.append(["overall", "\(first.accuracy.realCount + first.accuracy.fakeCount)"] + conditions.map { pct($0.accuracy.overall) })
        rows.append(["AUC", ""] + conditions.map { frac($0.auc) })
        rows.append(["AP", ""] + conditions.map { frac($0.ap) })
        rows.append(["errors", ""] + conditions.map { "\($0.errors)" })
        return TextTable.render(header: header, rows: rows, lastColumnFree: false)
    }

    /// `condition,group,count,accuracy,auc,ap` with one row per group plus `fake`, `overall`
    /// (accuracy, and AUC/AP over all samples) and `errors` (count only); fractions in [0, 1].
    public static func csv(_ conditions: [EvaluationMetrics]) -> String {
        var s = "condition,group,count,accuracy,auc,ap\n"
        func n(_ v: Double?) -> String { v.map { $0.isNaN ? "" : "\($0)" } ?? "" }
        for c in conditions {
            let a = c.accuracy
            s += "\(c.condition),real,\(a.realCount),\(n(a.real)),,\n"
            for g in c.generators { s += "\(c.condition),\(CSV.field(g.name)),\(g.count),\(n(g.accuracy)),\(n(g.auc)),\(n(g.ap))\n" }
            s += "\(c.condition),fake,\(a.fakeCount),\(n(a.fake)),,\n"
            s += "\(c.condition),overall,\(a.realCount + a.fakeCount),\(n(a.overall)),\(n(c.auc)),\(n(c.ap))\n"
            s += "\(c.condition),errors,\(c.errors),,,\n"
        }
        return s
    }

    /// One JSON object: the context and, per condition, `real`, `fake`, `overall` accuracy,
    /// counts, `auc`, `ap`, `errors` and `generators` {name: {count, accuracy, auc, ap}}. NaN is null.
    public static func json(_ conditions: [EvaluationMetrics], context: EvaluationContext) -> String {
        func n(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }
        func q(_ s: String) -> String { StrictJSON.quote(s) }
        let conds = conditions.map { c -> String in
            let a = c.accuracy
            let gens = c.generators.map { g in
                "\(q(g.name)):{\"count\":\(g.count),\"accuracy\":\(n(g.accuracy)),\"auc\":\(n(g.auc)),\"ap\":\(n(g.ap))}"
            }.joined(separator: ",")
            return "\(q(c.condition)):{\"real\":\(n(a.real)),\"fake\":\(n(a.fake)),\"overall\":\(n(a.overall)),"
                + "\"real_count\":\(a.realCount),\"fake_count\":\(a.fakeCount),\"auc\":\(n(c.auc)),\"ap\":\(n(c.ap)),"
                + "\"errors\":\(c.errors),\"generators\":{\(gens)}}"
        }.joined(separator: ",")
        var ctx = "\"model\":\(q(context.model)),\"classifier\":\(q(context.classifier)),\"data\":\(q(context.data)),"
        ctx += "\"threshold\":\(context.threshold.map(n) ?? "null"),\"transform_seed\":\(context.seed),\"crops\":\(q(context.crops.rawValue))"
        ctx += ",\"precision\":\(q(context.precision.rawValue))"
        return "{\(ctx),\"conditions\":{\(conds)}}\n"
    }
}
