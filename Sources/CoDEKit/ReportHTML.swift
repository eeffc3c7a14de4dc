import CoDEClassifiers
import Foundation

/// The `code-eval --report DIR` page: `index.html` with the results table and, per condition,
/// `roc-<condition>.svg`, `histogram-<condition>.svg`, `pca-<condition>.svg` and, with `tsne`,
/// `tsne-<condition>.svg`.
public enum EvaluationReport {
    /// Writes the page and its figures into `dir` (which must exist), atomically per file.
    public static func write(runs: [EvaluationRun], metrics: [EvaluationMetrics], context: EvaluationContext, to dir: URL,
                             tsne: Bool = false) throws {
        var figures = ""
        for run in runs {
            var files = [("roc-\(run.condition).svg", ReportFigures.roc(run)), ("histogram-\(run.condition).svg", ReportFigures.histogram(run))]
            if let p = ReportFigures.pca(run) { files.append(("pca-\(run.condition).svg", p)) }
            if tsne, let t = ReportFigures.tsne(run) { files.append(("tsne-\(run.condition).svg", t)) }
            for (name, svg) in files { try AtomicFile.write(svg, to: dir.appendingPathComponent(name)) }
            figures += "<h2>\(run.condition == "paper" ? "With test-time transforms" : "Without transforms")</h2>\n<div class=\"figs\">\n"
            figures += files.map { "<img src=\"\(xmlEscape($0.0))\" alt=\"\(xmlEscape($0.0))\">" }.joined(separator: "\n") + "\n</div>\n"
        }
        try AtomicFile.write(html(table: EvaluationOutput.table(metrics), context: context, figures: figures), to: dir.appendingPathComponent("index.html"))
    }

    static func html(table: String, context: EvaluationContext, figures: String) -> String {
        let threshold = context.threshold.map { "\($0)" } ?? "classifier default"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>CoDE evaluation</title>
        <style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}.figs img{margin:4px;border:1px solid #ddd}</style>
        </head><body>
        <h1>CoDE evaluation</h1>
        <p>model: <code>\(xmlEscape(context.model))</code>, classifier: <code>\(xmlEscape(context.classifier))</code>,
        threshold: \(xmlEscape(threshold)), crops: \(context.crops.rawValue), data: <code>\(xmlEscape(context.data))</code>, transform seed: \(context.seed)</p>
        <p>Accuracy in percent; AUC and AP with fake as the positive class. Files: <a href="evaluation.csv">evaluation.csv</a>,
        <a href="evaluation.json">evaluation.json</a>.</p>
        <pre>\(xmlEscape(table))</pre>
        \(figures)</body></html>

        """
    }
}
