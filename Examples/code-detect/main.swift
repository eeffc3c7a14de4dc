// code-detect: real-or-fake verdicts for images (encoder + classifier), or for embeddings JSONL
// (--embeddings, classifier only). One row per input: path, status, verdict, score, classifier.
// Exit codes: 0 all rows ok, 1 some rows failed, 2 usage, model or file error.
import ArgumentParser
import CoDEClassifiers
import CoDEKit
import CoDEMPI
import Foundation

struct CodeDetect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-detect",
        abstract: "Classify images (or CoDE embeddings) as real or fake.",
        discussion: """
        INPUT is image files, folders (walked recursively for image extensions) and .csv lists (a header whose first \
        column is 'path'; paths relative to the CSV's folder, so a dataset manifest works). Unreadable images are rows \
        with status error; a summary line (real / fake / errors) goes to standard error.
        --model DIR is an encoder folder (config.json + model.safetensors) holding fitted classifiers \
        linear.safetensors, knn.safetensors, svm.safetensors; without it the bundled model is used. \
        --classifier linear|knn|svm picks one of them, anything else is a classifier file path.
        score is the classifier's decision value: p(fake) for linear (fake when > threshold, default 0.5), \
        dist(nearest real) - dist(nearest fake) for knn (default: neighbour vote; with --threshold fake when > threshold), \
        the SVM decision for svm (real when > threshold, default 0). \
        Each image is embedded with the crops its classifier was fitted with (code-fit --crops): the authors' centre crop, \
        or the mean embedding of five crops (corners and centre, as the bundled model's classifiers). \
        A classifier that records the SHA-256 of its encoder's model.safetensors (code-fit writes it) is refused with \
        another encoder; with --embeddings, the rows' crops and encoder (code-embed writes them) must be the classifier's, \
        and all rows must share one precision. \
        Files without these fields (earlier versions) are used with a warning.
        Under mpirun (or srun) the ranks split the image list; rank 0 alone writes the rows, in input order, so the \
        output is the one-process output (docs/distributed.md).
        """,
        version: CoDEKitVersion.description)

    @Option(help: "Model directory (default: the bundled model).") var model: String?
    @Option(help: "linear, knn, svm (a classifier of the model directory) or a classifier file.") var classifier: String = "linear"
    @Option(parsing: .unconditional, help: "Decision threshold in the classifier's score scale (see above): p(fake) in [0, 1] for linear, in [-2, 2] for knn, any finite number for svm; negative values are accepted (--threshold -3).") var threshold: Double?
    @Option(help: "Output format: table, csv or jsonl (default: table for images, jsonl for --embeddings).") var format: String?
    @Option(help: "Write the rows to FILE instead of standard output: they stream to FILE.partial, renamed to FILE when the run completes.") var output: String?
    @Flag(help: "Continue an interrupted --output FILE run: keep the rows in FILE.partial (a torn last line is dropped) and process only the inputs after them (same inputs, same order; csv or jsonl).") var resume = false
    @Option(help: "Embeddings JSONL file (from code-embed) instead of images.") var embeddings: String?
    @Option(help: "center or five (default: the crops the classifier was fitted with; see code-fit --crops).") var crops: String?
    @Option(help: "Crops per forward pass (with five crops, batch-size / 5 images).") var batchSize: Int = 32
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Option(help: "fp32 (default), bf16 or int8: the number format of the encoder's linear layers (docs/precision.md); images only.") var precision: InferencePrecision?
    @Argument(help: "Image files, folders or .csv lists.") var inputs: [String] = []

    func execute() throws -> Int32 {
        let comm: Communicator
        do { comm = try MPICommunicator.world() } catch { note("code-detect: cannot join the MPI job: \(error)"); return 2 }
        if let t = threads { guard t >= 1 else { throw ValidationError("--threads must be at least 1") }; Threading.count = t }
        else if comm.size > 1 { Threading.count = MPICommunicator.threadsPerLocalRank }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        let fmt = try outputFormat()
        if resume {
            guard output != nil else { throw ValidationError("--resume needs --output FILE (it continues FILE.partial)") }
            guard fmt != .table else { throw ValidationError("--resume needs --format csv or jsonl: a table's columns are padded per batch, so a table cannot be continued") }
        }
        if comm.isRoot { Interruption.exitOnSignal(tool: "code-detect", partial: output.map { $0 + ".partial" }) }
        return embeddings != nil ? try detectEmbeddings(fmt) : try detectImages(fmt, comm)
    }

    /// Opens the output (rank 0), resuming it if asked: returns the sink, the paths of the rows
    /// kept, and their counts. The rows kept are whole batches of `align` rows (the rows after
    /// the last whole batch are cut off and done again), so that the batches, and their scores
    /// to the last bit, are those of an uninterrupted run.
    /// `settings` (what the rows depend on) are recorded in FILE.partial.settings and checked on resume.
    func openSink(_ fmt: DetectionFormat, align: Int, settings: ResumeSettings) throws -> (RowSink, [String], DetectionSummary) {
        var written: [String] = [], summary = DetectionSummary(), tail: [DetectionRow] = []
        var settings = settings
        settings.add("--format", fmt.rawValue)
        let sink = try RowSink(path: output, header: fmt.header, resume: resume, settings: output == nil ? nil : settings) { line in
            let row = try Self.parseRow(line, fmt)
            written.append(row.path)
            tail.append(row)
            if tail.count == align { for r in tail { summary.add(r) }; tail.removeAll() }
        }
        written.removeLast(tail.count)
        try sink.keepRows(written.count)
        for w in sink.warnings { note("code-detect: \(w)") }
        if let output, resume {
            note("code-detect: resuming \(output).partial: \(sink.resumedRows) rows kept"
                 + (sink.droppedBytes > 0 ? ", a torn last line (\(sink.droppedBytes) bytes) dropped" : "")
                 + (tail.isEmpty ? "" : ", the \(tail.count) rows of an unfinished batch redone"))
        }
        return (sink, written, summary)
    }

    /// A row line of a partial output (csv or jsonl) read back.
    static func parseRow(_ line: String, _ fmt: DetectionFormat) throws -> DetectionRow {
        let path: String, status: String, verdict: String?, error: String?
        if fmt == .jsonl {
            let (p, m) = try ResumeCheck.jsonPath(line)
            path = p
            if case let .string(s)? = m["status"] { status = s } else { status = "" }
            if case let .string(v)? = m["verdict"] { verdict = v } else { verdict = nil }
            if case let .string(e)? = m["error"] { error = e } else { error = nil }
        } else {
            guard let f = try CSV.parse(line, source: "row").first?.fields, f.count == 6 else { throw RowSinkError("not a row of this csv: \(line.prefix(80))") }
            (path, status, verdict, error) = (f[0], f[1], f[2].isEmpty ? nil : f[2], f[5].isEmpty ? nil : f[5])
        }
        guard status == "ok" || status == "error" else { throw RowSinkError("not a code-detect row: \(line.prefix(80))") }
        if status == "ok", let v = verdict.flatMap(Verdict.init(label:)) {
            return .ok(path: path, prediction: Prediction(decision: 0, verdict: v))
        }
        return .failed(path: path, error: error ?? "error")
    }

    /// Writes the rows of one batch (jsonl and csv lines, or the table's lines for the batch).
    final class Writer {
        let sink: RowSink, fmt: DetectionFormat, classifier: String
        var table = DetectionFormat.TableStream(), pending: [DetectionRow] = []
        init(_ sink: RowSink, _ fmt: DetectionFormat, _ classifier: String) { self.sink = sink; self.fmt = fmt; self.classifier = classifier }
        func add(_ r: DetectionRow) { if fmt == .table { pending.append(r) } else { sink.write(fmt.line(r, classifier: classifier)) } }
        func endBatch() {
            if fmt == .table, !pending.isEmpty { sink.write(table.render(pending, classifier: classifier)); pending.removeAll() }
            sink.flush()
        }
    }

    func detectEmbeddings(_ fmt: DetectionFormat) throws -> Int32 {
        guard let embeddings else { return 2 }
        guard inputs.isEmpty else { throw ValidationError("give either --embeddings or image inputs, not both") }
        guard crops == nil else { throw ValidationError("--crops applies to images, not to --embeddings") }
        guard precision == nil else { throw ValidationError("--precision applies to images, not to --embeddings (the rows record theirs)") }
        let file = try ModelDirectory.resolve(model).classifierURL(classifier)
        let (classifierFile, meta) = try ClassifierFile.open(file)
        let c = try AnyClassifier.load(classifierFile, metadata: meta)
        if let threshold { try c.kind.validateThreshold(threshold) }
        // A threshold calibrated by code-calibrate, unless --threshold is given.
        let recorded = try ThresholdCalibration.recordedThreshold(in: meta)
        if threshold == nil, let t = recorded { note("code-detect: note: using the calibrated threshold \(t) recorded in \(file.path) (code-calibrate)") }
        let threshold = self.threshold ?? recorded
        let classifierProvenance = try Provenance.of(classifierAt: file, metadata: meta)
        let chunk = 4 * batchSize
        var settings = ResumeSettings()
        settings.add("--batch-size", batchSize)
        settings.add("--classifier", classifier)
        settings.add("--classifier (SHA-256)", try SHA256.hex(ofFile: file), key: "classifier_sha256")
        settings.add("--threshold", threshold.map { "\($0)" } ?? "(the classifier's own)")
        let (sink, written, resumed) = try openSink(fmt, align: chunk, settings: settings)
        var summary = resumed
        let writer = Writer(sink, fmt, classifier)
        var first: Provenance?, index = 0
        // The rows stream a chunk at a time; the crops and encoder they were made with must be
        // the classifier's (checked on the first chunk), and the same on every later chunk.
        try EmbeddingsJSONL.forEachChunk(URL(fileURLWithPath: embeddings), rows: chunk) { records in
            let p = try Provenance.of(records: records, source: embeddings)
            if let f = first {
                if p.crops != f.crops || p.encoderSHA256 != f.encoderSHA256 || (p.precision ?? "fp32") != (f.precision ?? "fp32") {
                    let field = p.crops != f.crops ? "crops" : p.encoderSHA256 != f.encoderSHA256 ? Provenance.encoderKey : Provenance.precisionKey
                    let values = field == "crops" ? [f.crops, p.crops] : field == Provenance.encoderKey ? [f.encoderSHA256, p.encoderSHA256]
                        : [f.precision ?? "fp32", p.precision ?? "fp32"]
                    throw ProvenanceError.mixed(source: embeddings, field: field, values: values.map { $0 ?? "(none)" }.sorted())
                }
            } else {
                first = p
                for w in try Provenance.check(classifier: classifierProvenance, classifierName: file.path, embeddings: p, embeddingsName: embeddings) {
                    note("code-detect: \(w)")
                }
            }
            var rest = records[...]
            // Resuming: the rows already written are those of the first records.
            while index < written.count, let r = rest.first {
                guard r.path == written[index] else {
                    throw RowSinkError("\(output ?? "").partial row \(index + 1) is '\(written[index])' but row \(index + 1) of \(embeddings) is '\(r.path)': "
                        + "it is not a partial run of this file")
                }
                index += 1
                rest = rest.dropFirst()
            }
            guard !rest.isEmpty else { return }
            for r in rest where !r.isOK { note("\(embeddings):\(r.line): '\(r.path)' has no embedding: \(r.error ?? "error")") }
            for r in try thresholded(c.detect(Array(rest), source: embeddings), kind: c.kind, threshold: threshold) {
                summary.add(r)
                writer.add(r)
            }
            writer.endBatch()
        }
        if first == nil {
            for w in try Provenance.check(classifier: classifierProvenance, classifierName: file.path,
                                          embeddings: Provenance(crops: nil, encoderSHA256: nil), embeddingsName: embeddings) {
                note("code-detect: \(w)")
            }
        }
        guard index == written.count else {
            throw RowSinkError("\(output ?? "").partial holds \(written.count) rows but \(embeddings) has only \(index): it is not a partial run of this file")
        }
        writer.endBatch()
        try sink.finish()
        note("code-detect: \(summary)")
        return summary.errors > 0 ? 1 : 0
    }

    func detectImages(_ fmt: DetectionFormat, _ comm: Communicator) throws -> Int32 {
        guard !inputs.isEmpty else { throw ValidationError("give image files, folders or .csv lists (or --embeddings FILE)") }
        var inputWarnings: [String] = []
        let files = try DetectorInputs.expand(inputs, warnings: &inputWarnings)
        if comm.isRoot { for w in inputWarnings { note("code-detect: \(w)") } }
        let dir = try ModelDirectory.resolve(model)
        let detector = try Detector(model: dir, classifier: classifier, threshold: threshold, crops: cropLayout(crops))
        if comm.isRoot { for w in detector.warnings { note("code-detect: \(w)") } }
        detector.embedder.precision = precision ?? .fp32
        if comm.isRoot, let w = detector.embedder.precisionChoice?.fallbackWarning { note("code-detect: \(w)") }
        // Rank 0 alone writes (and resumes); every rank learns how many inputs are already done.
        var sink: RowSink?, summary = DetectionSummary(), skip = 0
        var failure: (any Error)?
        if comm.isRoot {
            do {
                let settings = output == nil ? ResumeSettings()
                    : try ResumeSettings.detector(detector, model: dir, classifier: classifier, batchSize: batchSize)
                let (s, written, resumed) = try openSink(fmt, align: detector.embedder.imagesPerBatch(batchSize: batchSize), settings: settings)
                // (Only when resuming: the inputs' path strings are a second copy of the file list.)
                if !written.isEmpty { try ResumeCheck.prefix(written, of: files.map(\.relativePath), file: (output ?? "") + ".partial") }
                (sink, summary, skip) = (s, resumed, written.count)
            } catch { failure = error }
        }
        // -1 tells the other ranks that rank 0 failed (it throws below).
        if comm.size > 1 { skip = try comm.broadcast(failure == nil ? skip : -1, root: 0) }
        if let failure { throw failure }
        guard skip >= 0 else { return 2 }
        let rest = Array(files[skip...])
        let writer = sink.map { Writer($0, fmt, classifier) }
        let progress = comm.isRoot ? ToolProgress(tool: "code-detect", total: files.count, initial: skip) : nil
        if comm.size == 1 {
            var n = 0
            try detector.detect(files: rest, batchSize: batchSize, batchDone: {
                writer?.endBatch()
                progress?.advance(by: n, errors: summary.errors)
                n = 0
            }) { r in
                summary.add(r)
                writer?.add(r)
                n += 1
            }
        } else {
            // The ranks split the list in rounds; every rank gets all rows, in input order, and
            // rank 0 writes each block as it arrives.
            try comm.orderedRounds(count: rest.count, perRank: 4 * detector.embedder.imagesPerBatch(batchSize: batchSize),
                                   work: { range in try detector.detect(files: Array(rest[range]), batchSize: batchSize) },
                                   deliver: { range, part in
                                       for r in part { summary.add(r); writer?.add(r) }
                                       writer?.endBatch()
                                       progress?.advance(by: range.count, errors: summary.errors)
                                   })
        }
        // Each rank warns about the small images it embedded.
        if let w = detector.embedder.smallImagesWarning { note("code-detect: \(w)\(comm.size > 1 ? " (rank \(comm.rank))" : "")") }
        // Under mpirun only rank 0 writes; every rank returns the same exit code.
        guard comm.isRoot, let sink else { return summary.errors > 0 ? 1 : 0 }
        try sink.finish()
        progress?.done(errors: summary.errors)
        note("code-detect: \(summary)")
        return summary.errors > 0 ? 1 : 0
    }

    func outputFormat() throws -> DetectionFormat {
        guard let f = DetectionFormat(rawValue: format ?? (embeddings == nil ? "table" : "jsonl")) else {
            throw ValidationError("--format must be table, csv or jsonl")
        }
        return f
    }

    func thresholded(_ rows: [DetectionRow], kind: ClassifierKind, threshold: Double?) -> [DetectionRow] {
        guard let t = threshold else { return rows }
        return rows.map { r in
            guard let s = r.score else { return r }
            return .ok(path: r.path, prediction: Prediction(decision: s, verdict: Detector.verdict(score: s, threshold: t, kind: kind)))
        }
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
    let command = try CodeDetect.parse()
    do { exit(try command.execute()) } catch let e as ValidationError {
        note(CodeDetect.fullMessage(for: e))
        exit(2)
    } catch {
        note("code-detect: \(error)")
        exit(2)
    }
} catch {
    if CodeDetect.exitCode(for: error) == .success { CodeDetect.exit(withError: error) }
    note(CodeDetect.fullMessage(for: error))
    exit(2)
}
