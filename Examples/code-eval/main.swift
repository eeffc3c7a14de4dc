// code-eval: the CoDE paper's table for a model + classifier on a labelled dataset: accuracy on
// real, fake, overall and per generator, without and/or with the fixed test-time transforms,
// plus ROC AUC and AP. Prints the table; writes CSV + JSON (and, with --report, an HTML page with
// SVG figures). Exit codes: 0 every image evaluated, 1 some images failed, 2 usage/model/data error.
import ArgumentParser
import CoDEClassifiers
import CoDEKit
import Foundation

struct CodeEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-eval",
        abstract: "Evaluate a CoDE model and classifier on a labelled dataset (the paper's table).",
        discussion: """
        DATASET is a folder with real/ and fake/<generator>/, a CSV manifest FILE.csv[#split] (path,label[,generator]), \
        or WebDataset .tar shards. --transforms paper applies one seeded transform per image (JPEG 50-90, resize \
        0.5-1.5, crop 60-90%, blur 0.5-2) before the crops; see docs/evaluation.md. --model DIR and --classifier \
        work as in code-detect (default: the bundled model, linear).
        """,
        version: CoDEKitVersion.description)

    @Option(help: "Model directory (default: the bundled model).") var model: String?
    @Option(help: "linear, knn, svm (a classifier of the model directory) or a classifier file.") var classifier: String = "linear"
    @Option(parsing: .unconditional, help: "Decision threshold in the classifier's score scale (default: the classifier's own).") var threshold: Double?
    @Option(name: .customLong("data"), help: "Labelled dataset: folder, FILE.csv[#split] or .tar shards (required).") var dataOption: String?
    var data: String { dataOption ?? "" }
    @Option(help: "none, paper or both.") var transforms: String = "none"
    @Option(help: "Seed of the test-time transforms.") var seed: UInt64 = TestTimeTransforms.defaultSeed
    @Option(help: "Write an HTML report with SVG figures (and evaluation.csv/.json) to this folder.") var report: String?
    @Flag(help: "Add t-SNE maps of the embeddings to the report (exact t-SNE on at most 2000 points).") var tsne = false
    @Option(help: "Write PREFIX.csv and PREFIX.json.") var output: String?
    @Option(help: "Write one CSV row per image (condition,path,label,group,status,verdict,score,error), streamed as each batch is scored, to FILE.partial, renamed to FILE at the end.") var scores: String?
    @Flag(help: "Continue an interrupted --scores FILE run: keep the rows in FILE.partial (a torn last line is dropped), score only the rest, and report on all rows (same dataset, --transforms, --batch-size, model and classifier; checked against FILE.partial.settings).") var resume = false
    @Option(help: "center or five (default: the crops the classifier was fitted with).") var crops: String?
    @Option(help: "Crops per forward pass (with five crops, batch-size / 5 images).") var batchSize: Int = 32
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Option(help: "fp32 (default), bf16 or int8: the number format of the encoder's linear layers (docs/precision.md); recorded in the JSON output.") var precision: InferencePrecision = .fp32

    func execute() throws -> Int32 {
        // Checked here, after the parse (which reports an unknown option as such first).
        if let t = threads { guard t >= 1 else { throw ValidationError("--threads must be at least 1") }; Threading.count = t }
        if dataOption == nil { throw ValidationError("missing --data DATASET") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        let conditions: [String]
        switch transforms {
        case "none", "paper": conditions = [transforms]
        case "both": conditions = ["none", "paper"]
        default: throw ValidationError("--transforms must be none, paper or both (got '\(transforms)')")
        }
        if resume, scores == nil { throw ValidationError("--resume needs --scores FILE (it continues FILE.partial)") }
        let dir = try ModelDirectory.resolve(model)
        let detector = try Detector(model: dir, classifier: classifier, threshold: threshold, crops: cropLayout(crops))
        for w in detector.warnings { note("code-eval: \(w)") }
        detector.embedder.precision = precision
        if let w = detector.embedder.precisionChoice?.fallbackWarning { note("code-eval: \(w)") }
        let dataset = try DatasetSpec.open(data)
        guard dataset.count > 0 else { throw ValidationError("dataset '\(data)' has no samples") }
        let total = dataset.count
        var metrics: [EvaluationMetrics] = [], runs: [EvaluationRun] = []
        let partial = scores.map { $0 + ".partial" }
        Interruption.exitOnSignal(tool: "code-eval", partial: partial)
        // What the rows depend on, recorded in FILE.partial.settings and checked by --resume.
        var settings = ResumeSettings()
        if scores != nil {
            settings = try ResumeSettings.detector(detector, model: dir, classifier: classifier, batchSize: batchSize)
            settings.add("--transforms", transforms)
            settings.add("--seed", seed)
        }
        // Resuming: the rows already written, read back (the metrics and the report use them).
        var resumed: [ScoredSample] = []
        let classifierModel = detector.classifier
        let rows = try scores.map {
            try RowSink(path: $0, header: EvaluationScores.header, resume: resume, settings: settings,
                        hint: "resume with the --data and --transforms of the interrupted run") { line in
                let (c, s) = try EvaluationScores.parse(line, fakeness: classifierModel.fakeness)
                // Row k is condition k / total, sample k % total.
                let k = resumed.count
                guard k < conditions.count * total else {
                    throw RowSinkError("more rows than \(conditions.count) condition(s) x \(total) samples")
                }
                let (ec, ep) = (conditions[k / total], dataset.samples[k % total].location.name)
                guard c == ec && s.path == ep else {
                    throw RowSinkError("row (\(c), \(s.path)) but this run's row \(k + 1) is (\(ec), \(ep)): it is not a partial run of "
                        + "this dataset with these --transforms")
                }
                resumed.append(s)
            }
        }
        for w in rows?.warnings ?? [] { note("code-eval: \(w)") }
        // With --report, the rows' embeddings (for the figures) are kept next to FILE.partial.
        let sidecar = try partial.flatMap { p in
            try report.map { _ in try EmbeddingSidecar(partial: p, width: detector.embedder.width, resume: resume, rows: resumed.count) }
        }
        // Whole batches are kept (the rows after the last one are done again, as code-detect
        // does), so every batch, and its scores to the last bit, is an uninterrupted run's.
        let perBatch = detector.embedder.imagesPerBatch(batchSize: batchSize)
        let found = min(resumed.count, sidecar?.records.count ?? .max)
        let kept = found / total * total + found % total / perBatch * perBatch
        if let rows, let partial, resume {
            let torn = rows.droppedBytes > 0 ? ", a torn last line (\(rows.droppedBytes) bytes) dropped" : ""
            try rows.keepRows(kept)
            try sidecar?.keep(kept)
            note("code-eval: resuming \(partial): \(kept) rows kept\(torn)"
                 + (resumed.count > kept ? ", the \(resumed.count - kept) rows of an unfinished batch redone" : ""))
            resumed.removeSubrange(kept...)
        }
        for (ci, c) in conditions.enumerated() {
            let start = Date()
            // The samples of this condition already in FILE.partial.
            let done = max(0, min(total, kept - ci * total))
            let priorRange = done > 0 ? (ci * total)..<(ci * total + done) : 0..<0
            let prior = Array(resumed[priorRange])
            let priorEmbeddings: [[Float]?] = sidecar.map { Array($0.records[priorRange]) } ?? Array(repeating: nil, count: done)
            let progress = ToolProgress(tool: "code-eval [\(c)]", total: total, initial: done)
            var n = 0, errors = 0, reasons = ErrorReasons()
            for s in prior { if let e = s.error { errors += 1; reasons.add(e, path: s.path) } }
            // Embeddings are kept only for the report's figures.
            let (scored, emb) = try Evaluation.score(dataset, from: done, detector: detector, transforms: c == "paper" ? TestTimeTransforms(seed: seed) : nil,
                                                     batchSize: batchSize, keepEmbeddings: report != nil) { s, embedding in
                if let e = s.error { errors += 1; reasons.add(e, path: s.path); note("code-eval: [\(c)] \(s.path): \(e)") }
                sidecar?.append(embedding)
                rows?.write(EvaluationScores.line(condition: c, s))
                n += 1
                // The end of a batch: its embeddings, then its rows, go to the files.
                if n % perBatch == 0 || n == total - done {
                    sidecar?.flush()
                    rows?.flush()
                    progress.advance(by: n % perBatch == 0 ? perBatch : n % perBatch, errors: errors)
                }
            }
            progress.done(errors: errors)
            if errors > 0 { note("code-eval: [\(c)] \(errors) errors: \(reasons)") }
            note(String(format: "code-eval: [%@] %d images in %.1f s", c, scored.count, Date().timeIntervalSince(start))
                 + (done > 0 ? " (and \(done) rows from \(partial ?? ""))" : ""))
            metrics.append(EvaluationMetrics(condition: c, samples: prior + scored))
            runs.append(EvaluationRun(condition: c, samples: prior + scored, embeddings: priorEmbeddings + emb))
        }
        try rows?.finish()
        sidecar?.finish()
        // A sidecar of an earlier --report run, not continued by this one.
        if sidecar == nil, let partial { try? FileManager.default.removeItem(atPath: EmbeddingSidecar.file(ofPartial: partial)) }
        print(EvaluationOutput.table(metrics), terminator: "")
        let context = EvaluationContext(model: model ?? "(bundled)", classifier: classifier, data: data, threshold: detector.threshold, seed: seed,
                                        crops: detector.embedder.crops, fakenessThreshold: detector.fakenessThreshold,
                                        precision: detector.embedder.precision)
        let csv = EvaluationOutput.csv(metrics), json = EvaluationOutput.json(metrics, context: context)
        if let output {
            try AtomicFile.write(csv, to: URL(fileURLWithPath: output + ".csv"))
            try AtomicFile.write(json, to: URL(fileURLWithPath: output + ".json"))
        }
        if let report {
            let url = URL(fileURLWithPath: report, isDirectory: true)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            try AtomicFile.write(csv, to: url.appendingPathComponent("evaluation.csv"))
            try AtomicFile.write(json, to: url.appendingPathComponent("evaluation.json"))
            try EvaluationReport.write(runs: runs, metrics: metrics, context: context, to: url, tsne: tsne)
            note("code-eval: report written to \(url.appendingPathComponent("index.html").path)")
        }
        return metrics.contains { $0.errors > 0 } ? 1 : 0
    }
}

/// `--crops`: nil keeps the classifier's recorded layout.
func cropLayout(_ s: String?) throws -> CropLayout? {
    guard let s else { return nil }
    guard let c = CropLayout(rawValue: s) else { throw ValidationError("--crops must be center or five (got '\(s)')") }
    return c
}

extension InferencePrecision: ExpressibleByArgument {}

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

do {
    let command = try CodeEval.parse()
    do { exit(try command.execute()) } catch let e as ValidationError {
        note(CodeEval.fullMessage(for: e))
        exit(2)
    } catch {
        note("code-eval: \(error)")
        exit(2)
    }
} catch {
    if CodeEval.exitCode(for: error) == .success { CodeEval.exit(withError: error) }
    note(CodeEval.fullMessage(for: error))
    exit(2)
}
