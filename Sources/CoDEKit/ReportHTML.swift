import CoDEAugment
import CoDEClassifiers
import CoDEImage
import Foundation

/// The `code-eval --report DIR` page: `index.html` with the results table and, per condition,
/// a confusion matrix, `roc-<condition>.svg`, `histogram-<condition>.svg` (threshold marked),
/// `pca-<condition>.svg`, with `tsne` `tsne-<condition>.svg`, and the misclassified files, worst
/// first, with thumbnails embedded in the page.
public enum EvaluationReport {
    /// Writes the page and its figures into `dir` (which must exist), atomically per file.
    public static func write(runs: [EvaluationRun], metrics: [EvaluationMetrics], context: EvaluationContext, to dir: URL,
                             tsne: Bool = false, misclassifiedLimit: Int = 24) throws {
        var figures = ""
        for run in runs {
            var files = [("roc-\(run.condition).svg", ReportFigures.roc(run)),
                         ("histogram-\(run.condition).svg", ReportFigures.histogram(run, threshold: context.fakenessThreshold))]
            if let p = ReportFigures.pca(run) { files.append(("pca-\(run.condition).svg", p)) }
            if tsne, let t = ReportFigures.tsne(run) { files.append(("tsne-\(run.condition).svg", t)) }
            for (name, svg) in files { try AtomicFile.write(svg, to: dir.appendingPathComponent(name)) }
            figures += "<h2>\(run.condition == "paper" ? "With test-time transforms" : "Without transforms")</h2>\n<div class=\"figs\">\n"
            figures += confusion(run.samples)
            figures += files.map { "<img src=\"\(xmlEscape($0.0))\" alt=\"\(xmlEscape($0.0))\">" }.joined(separator: "\n") + "\n</div>\n"
            figures += misclassified(run.samples, threshold: context.fakenessThreshold, limit: misclassifiedLimit)
        }
        try AtomicFile.write(html(table: EvaluationOutput.table(metrics), context: context, figures: figures), to: dir.appendingPathComponent("index.html"))
    }

    static func html(table: String, context: EvaluationContext, figures: String) -> String {
        let threshold = context.threshold.map { "\($0)" } ?? "classifier default"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>CoDE evaluation</title>
        <style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}.figs img{margin:4px;border:1px solid #ddd}table.cm{border-collapse:collapse;margin:1em 0}table.cm td,table.cm th{border:1px solid #bbb;padding:4px 10px;text-align:right}.mis{display:flex;flex-wrap:wrap}.mis figure{margin:6px;width:120px;font-size:11px}.mis img{max-width:96px;max-height:96px}</style>
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

    /// Counts of true label against verdict (error samples left out), as an HTML table.
    public static func confusion(_ samples: [ScoredSample]) -> String {
        func n(_ label: Verdict, _ verdict: Verdict) -> Int { samples.filter { $0.label == label && $0.verdict == verdict }.count }
        let rr = n(.real, .real), rf = n(.real, .fake), fr = n(.fake, .real), ff = n(.fake, .fake)
        return """
        <table class="cm"><caption>Confusion matrix (rows: true label; columns: verdict)</caption>
        <tr><th></th><th scope="col">called real</th><th scope="col">called fake</th></tr>
        <tr><th scope="row">real</th><td>\(rr)</td><td>\(rf)</td></tr>
        <tr><th scope="row">fake</th><td>\(fr)</td><td>\(ff)</td></tr>
        </table>

        """
    }

    /// The misclassified samples, worst first: by distance of the fakeness score from the
    /// threshold (from 0 without one), at most `limit`.
    public static func worstMisclassified(_ samples: [ScoredSample], threshold: Double?, limit: Int) -> [ScoredSample] {
        let wrong = samples.filter { $0.verdict != nil && $0.verdict != $0.label && $0.fakeness != nil }
        let t = threshold ?? 0
        return Array(wrong.sorted { abs($0.fakeness! - t) > abs($1.fakeness! - t) }.prefix(limit))
    }

    /// The worst misclassified files with 96-px thumbnails (JPEG data URIs, so the page stands
    /// alone); a file that cannot be read again is listed without one.
    public static func misclassified(_ samples: [ScoredSample], threshold: Double?, limit: Int) -> String {
        let worst = worstMisclassified(samples, threshold: threshold, limit: limit)
        let total = samples.filter { $0.verdict != nil && $0.verdict != $0.label }.count
        guard !worst.isEmpty else { return "<p>No misclassified files.</p>\n" }
        var h = "<h3>Misclassified files (\(worst.count) of \(total), worst first)</h3>\n<div class=\"mis\">\n"
        for s in worst {
            let thumb = thumbnail(s.path).map { "<img src=\"data:image/jpeg;base64,\($0)\" alt=\"\(xmlEscape(s.path))\">" } ?? "<span>(no thumbnail)</span>"
            h += "<figure>\(thumb)<figcaption>\(xmlEscape((s.path as NSString).lastPathComponent))<br>\(s.label.rawValue) (\(xmlEscape(s.group))) called \(s.verdict!.rawValue), score \(String(format: "%.4g", s.score ?? .nan))</figcaption></figure>\n"
        }
        return h + "</div>\n"
    }

    /// A JPEG of the image at `path` whose longer side is at most `size`, base64; nil if unreadable.
    public static func thumbnail(_ path: String, size: Int = 96) -> String? {
        guard let image = try? ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path)) else { return nil }
        let scale = Double(size) / Double(max(image.width, image.height))
        let small = scale >= 1 ? image : Resample.resize(image, width: max(1, Int((Double(image.width) * scale).rounded())),
                                                           height: max(1, Int((Double(image.height) * scale).rounded())), filter: .bilinear)
        return (try? ImageEncoder.jpeg(small, quality: 80))?.base64EncodedString()
    }
}
