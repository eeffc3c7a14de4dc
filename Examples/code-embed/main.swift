// code-embed: CoDE embeddings for image files and folders, as JSONL or CSV.
import ArgumentParser
import CoDEKit
import CoDEMPI
import Foundation

struct CodeEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-embed",
        abstract: "Embed images with a CoDE encoder (192-d CLS embedding of ViT-Tiny).",
        discussion: """
        INPUT is image files or folders (walked recursively for .jpg/.jpeg/.png/.webp/.gif/.bmp/.tif/.tiff), or, with \
        --data, a labelled dataset. With --label real|fake (or --data) every row carries "label", so the output feeds \
        code-fit --embeddings directly (CSV: a label column after status).
        Each output row is {"path", "status": "ok", "embedding": [...]} or {"path", "status": "error", "error"}, with \
        "crops", "encoder_sha256" (SHA-256 of the encoder's model.safetensors) and "precision" (the one used, after any \
        fallback), which code-detect and code-fit check.
        --precision bf16 or int8 runs the encoder's linear layers on oneDNN (docs/precision.md); where the CPU lacks bf16 \
        (or VNNI for int8) it falls back to fp32 and says so on standard error.
        Exit code: 0 when every input was embedded, 1 when some failed, 2 on a usage or model error, 130 on Ctrl-C \
        (every finished row is in FILE.partial; continue with --resume).
        Under mpirun (or srun) the ranks split the input list; rank 0 alone writes the rows, in input order, so the \
        output is the one-process output (docs/distributed.md).
        """,
        version: CoDEKitVersion.description)

    @Option(help: "Encoder: a transformers ViTModel folder (config.json + model.safetensors) or a timm .safetensors file (default: the bundled model).")
    var model: String?

    @Option(help: "Output format: jsonl or csv.")
    var format: OutputFormat = .jsonl

    @Option(help: "Write to FILE instead of standard output (rows stream to FILE.partial, renamed to FILE when the run completes).")
    var output: String?

    @Flag(help: "Continue an interrupted --output FILE run: keep the rows in FILE.partial (a torn last line is dropped) and embed only the inputs after them (same inputs, same order, same --format).")
    var resume = false

    @Option(help: "center (the authors' preprocessing) or five: each embedding is the mean of five crops (corners and centre).")
    var crops: CropLayout = .center

    @Option(help: "Crops per forward pass (with five crops, batch-size / 5 images).")
    var batchSize: Int = 32

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: "fp32 (default), bf16 or int8: the number format of the encoder's linear layers (docs/precision.md).")
    var precision: InferencePrecision = .fp32

    @Option(help: "Add \"label\": real or fake to every row (the label code-fit --embeddings needs).")
    var label: String?

    @Option(help: "Embed a labelled dataset instead of INPUT files: a folder with real/ and fake/, a CSV manifest FILE.csv[#split] (path,label[,generator]) or .tar shards; each row gets the sample's label.")
    var data: String?

    @Argument(help: "Image files or folders.")
    var inputs: [String] = []

    enum OutputFormat: String, ExpressibleByArgument { case jsonl, csv }

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if resume && output == nil { throw ValidationError("--resume needs --output FILE (it continues FILE.partial)") }
    }

    func execute() throws -> Int32 {
        // Checked here, after the parse (which reports an unknown option as such first).
        if data != nil {
            guard inputs.isEmpty else { throw ValidationError("give either --data DATASET or image inputs, not both") }
            guard label == nil else { throw ValidationError("--label applies to image inputs; --data takes each sample's own label") }
        } else if inputs.isEmpty { throw ValidationError("give at least one image file or folder (or --data DATASET)") }
        if let label, Verdict(label: label) == nil { throw ValidationError("--label must be real or fake (got '\(label)')") }
        let comm: Communicator
        do { comm = try MPICommunicator.world() } catch {
            note("code-embed: cannot join the MPI job: \(error)")
            return 2
        }
        if let t = threads { Threading.count = t } else if comm.size > 1 { Threading.count = MPICommunicator.threadsPerLocalRank }
        // The inputs: files (with --label's label, if any) or the samples of --data (with theirs).
        let files: [URL], samples: [ImageSample]
        if let data {
            samples = try DatasetSpec.open(data).samples
            files = []
            if samples.isEmpty { throw RowSinkError("dataset '\(data)' has no samples") }
        } else {
            var inputWarnings: [String] = []
            files = try InputFiles.expand(inputs, warnings: &inputWarnings)
            if comm.isRoot { for w in inputWarnings { note("code-embed: \(w)") } }
            samples = []
        }
        let names = data == nil ? files.map(\.relativePath) : samples.map(\.location.name)
        let labelled = data != nil || label != nil
        let fixedLabel = label
        let modelURL = try model.map { URL(fileURLWithPath: $0) } ?? ModelDirectory.bundled().url
        let embedder = try Embedder(modelAt: modelURL)
        embedder.crops = crops
        embedder.precision = precision
        if let w = embedder.precisionChoice?.fallbackWarning, comm.isRoot { note("code-embed: \(w)") }
        let sha = try EncoderIdentity.sha256(modelAt: modelURL)
        let provenance = ",\"crops\":\"\(crops.rawValue)\",\"encoder_sha256\":\"\(sha)\",\"precision\":\"\(embedder.precision.rawValue)\"}\n"
        let reader = SampleReader()
        /// Embeds inputs `range`, calling `body` per input in order, with its label.
        func embedRange(_ range: Range<Int>, _ body: (EmbeddingResult, String?) -> Void) throws {
            if data == nil {
                embedder.embed(files: Array(files[range]), batchSize: batchSize) { body($0, fixedLabel) }
            } else {
                try embedder.embed(samples: Array(samples[range]), reader: reader, batchSize: batchSize) { it in
                    body(EmbeddingResult(path: it.path, embedding: it.embedding, error: it.error), it.verdictLabel.rawValue)
                }
            }
        }
        let width = embedder.width
        let format = self.format
        // Only rank 0 writes and resumes (the other ranks' rows reach it in input order; they
        // learn how many inputs are already done).
        let root = comm.isRoot
        if root { Interruption.exitOnSignal(tool: "code-embed", partial: output.map { $0 + ".partial" }) }
        var out: RowSink?, failed = 0, skip = 0, failure: (any Error)?, reasons = ErrorReasons()
        let perBatch = embedder.imagesPerBatch(batchSize: batchSize)
        if root {
            do {
                // Whole batches are kept (see code-detect's openSink): the rows after the last
                // one are done again, so the batches are those of an uninterrupted run.
                var written: [String] = [], tail: [String?] = []
                func endOfRow(_ error: String?) {
                    tail.append(error)
                    if tail.count == perBatch {
                        for (k, e) in tail.enumerated() { if let e { failed += 1; reasons.add(e, path: written[written.count - tail.count + k]) } }
                        tail.removeAll()
                    }
                }
                let extra = labelled ? 1 : 0
                let header = format == .csv ? "path,status," + (labelled ? "label," : "") + (0..<width).map { "e\($0)" }.joined(separator: ",") + ",error\n" : nil
                // What the rows depend on, recorded in FILE.partial.settings and checked by --resume.
                var settings = ResumeSettings()
                settings.add("--batch-size", batchSize)
                settings.add("--model (encoder SHA-256)", sha, key: "encoder_sha256")
                settings.add("--crops", crops.rawValue)
                settings.add("--precision", embedder.precision.rawValue, absentMeans: "fp32")
                settings.add("--format", format.rawValue)
                settings.add("--label", label ?? (data != nil ? "(each sample's, from --data)" : "(none)"))
                let sink = try RowSink(path: output, header: header, resume: resume, settings: output == nil ? nil : settings) { line in
                    if format == .jsonl {
                        let (p, m) = try ResumeCheck.jsonPath(line)
                        written.append(p)
                        if case .string("error")? = m["status"] {
                            if case let .string(e)? = m["error"] { endOfRow(e) } else { endOfRow("error") }
                        } else { endOfRow(nil) }
                    } else {
                        guard let f = try CSV.parse(line, source: "row").first?.fields, f.count == width + 3 + extra else {
                            throw RowSinkError("not a row of this csv: \(line.prefix(80))")
                        }
                        written.append(f[0])
                        endOfRow(f[1] == "error" ? f[width + 2 + extra] : nil)
                    }
                }
                written.removeLast(tail.count)
                try sink.keepRows(written.count)
                try ResumeCheck.prefix(written, of: names, file: (output ?? "") + ".partial")
                for w in sink.warnings { note("code-embed: \(w)") }
                if let output, resume {
                    note("code-embed: resuming \(output).partial: \(sink.resumedRows) rows kept"
                         + (sink.droppedBytes > 0 ? ", a torn last line (\(sink.droppedBytes) bytes) dropped" : "")
                         + (tail.isEmpty ? "" : ", the \(tail.count) rows of an unfinished batch redone"))
                }
                (out, skip) = (sink, written.count)
            } catch { failure = error }
        }
        // -1 tells the other ranks that rank 0 failed (it throws below).
        if comm.size > 1 { skip = try comm.broadcast(failure == nil ? skip : -1, root: 0) }
        if let failure { throw failure }
        guard skip >= 0 else { return 2 }
        let count = names.count - skip
        let progress: ToolProgress? = root ? ToolProgress(tool: "code-embed", total: names.count, initial: skip) : nil
        func row(_ r: EmbeddingResult, _ label: String?) -> String {
            format == .jsonl ? String(jsonl(r).dropLast(2)) + (label.map { ",\"label\":\"\($0)\"" } ?? "") + provenance
                             : csv(r, width: width, label: label)
        }
        if comm.size == 1 {
            var n = 0
            try embedRange(skip..<names.count) { r, label in
                if let e = r.error { failed += 1; reasons.add(e, path: r.path) }
                out?.write(row(r, label))
                n += 1
                // The end of an encoder batch: its rows go to the file now.
                if n % perBatch == 0 || n == count {
                    out?.flush()
                    progress?.advance(by: n % perBatch == 0 ? perBatch : n % perBatch, errors: failed)
                }
            }
        } else {
            // Rounds of four batches per rank (batches as in one process): rank 0 writes them all.
            try comm.orderedRounds(count: count, perRank: 4 * perBatch, work: { range -> RankRows in
                var part = RankRows(text: "", failed: 0, errors: [])
                try embedRange((range.lowerBound + skip)..<(range.upperBound + skip)) { r, label in
                    if let e = r.error { part.failed += 1; part.errors.append([r.path, e]) }
                    part.text += row(r, label)
                }
                return part
            }, deliver: { range, part in
                failed += part.failed
                for e in part.errors { reasons.add(e[1], path: e[0]) }
                out?.write(part.text)
                out?.flush()
                progress?.advance(by: range.count, errors: failed)
            })
        }
        if let w = embedder.smallImagesWarning { note("code-embed: \(w)\(comm.size > 1 ? " (rank \(comm.rank))" : "")") }
        try out?.finish()
        progress?.done(errors: failed)
        if root && failed > 0 { note("code-embed: \(failed) errors: \(reasons)") }
        return failed > 0 ? 1 : 0
    }

    struct RankRows: Codable { var text: String; var failed: Int; var errors: [[String]] }

    func jsonl(_ r: EmbeddingResult) -> String {
        if let e = r.embedding {
            return "{\"path\":\(StrictJSON.quote(r.path)),\"status\":\"ok\",\"embedding\":[\(e.map { "\($0)" }.joined(separator: ","))]}\n"
        }
        return "{\"path\":\(StrictJSON.quote(r.path)),\"status\":\"error\",\"error\":\(StrictJSON.quote(r.error ?? ""))}\n"
    }

    func csv(_ r: EmbeddingResult, width: Int, label: String?) -> String {
        let field = CSV.field
        let l = label.map { $0 + "," } ?? ""
        if let e = r.embedding { return field(r.path) + ",ok," + l + e.map { "\($0)" }.joined(separator: ",") + ",\n" }
        return field(r.path) + ",error," + l + String(repeating: ",", count: width - 1) + "," + field(r.error ?? "") + "\n"
    }
}

extension CropLayout: ExpressibleByArgument {}
extension InferencePrecision: ExpressibleByArgument {}

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

// Usage errors exit 2 (ArgumentParser's own default is 64), run-time errors 2 with the message.
do {
    let command = try CodeEmbed.parse()
    do { exit(try command.execute()) } catch let e as ValidationError {
        note(CodeEmbed.fullMessage(for: e))
        exit(2)
    } catch {
        note("code-embed: \(error)")
        exit(2)
    }
} catch {
    if CodeEmbed.exitCode(for: error) == .success { CodeEmbed.exit(withError: error) }
    note(CodeEmbed.fullMessage(for: error))
    exit(2)
}
