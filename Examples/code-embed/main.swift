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
        INPUT is image files or folders (walked recursively for .jpg/.jpeg/.png/.webp/.gif/.bmp/.tif/.tiff).
        Each output row is {"path", "status": "ok", "embedding": [...]} or {"path", "status": "error", "error"}, with \
        "crops" and "encoder_sha256" (SHA-256 of the encoder's model.safetensors), which code-detect and code-fit check.
        Exit code: 0 when every input was embedded, 1 when some failed, 2 on a usage or model error.
        Under mpirun (or srun) the ranks split the input list; rank 0 alone writes the rows, in input order, so the \
        output is the one-process output (docs/distributed.md).
        """)

    @Option(help: "Encoder: a transformers ViTModel folder (config.json + model.safetensors) or a timm .safetensors file.")
    var model: String

    @Option(help: "Output format: jsonl or csv.")
    var format: OutputFormat = .jsonl

    @Option(help: "Write to FILE instead of standard output (rows stream to FILE.partial, renamed at the end).")
    var output: String?

    @Option(help: "center (the authors' preprocessing) or five: each embedding is the mean of five crops (corners and centre).")
    var crops: CropLayout = .center

    @Option(help: "Crops per forward pass (with five crops, batch-size / 5 images).")
    var batchSize: Int = 32

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Argument(help: "Image files or folders.")
    var inputs: [String]

    enum OutputFormat: String, ExpressibleByArgument { case jsonl, csv }

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if inputs.isEmpty { throw ValidationError("give at least one image file or folder") }
    }

    func run() throws {
        let comm: Communicator
        do { comm = try MPICommunicator.world() } catch {
            FileHandle.standardError.write(Data("code-embed: cannot join the MPI job: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let t = threads { Threading.count = t } else if comm.size > 1 { Threading.count = MPICommunicator.threadsPerLocalRank }
        let files: [URL]
        let embedder: Embedder
        let provenance: String
        do {
            files = try InputFiles.expand(inputs)
            embedder = try Embedder(modelAt: URL(fileURLWithPath: model))
            embedder.crops = crops
            let sha = try EncoderIdentity.sha256(modelAt: URL(fileURLWithPath: model))
            provenance = ",\"crops\":\"\(crops.rawValue)\",\"encoder_sha256\":\"\(sha)\"}\n"
        } catch {
            FileHandle.standardError.write(Data("code-embed: \(error)\n".utf8))
            throw ExitCode(2)
        }
        // Only rank 0 writes (the other ranks' rows reach it in input order).
        let root = comm.isRoot
        let out: RowSink? = root ? try RowSink(path: output) : nil
        let width = embedder.width
        if format == .csv { out?.write("path,status," + (0..<width).map { "e\($0)" }.joined(separator: ",") + ",error\n") }
        let progress: Progress? = root ? Progress(total: files.count) : nil
        var failed = 0
        let format = self.format
        func row(_ r: EmbeddingResult) -> String {
            format == .jsonl ? String(jsonl(r).dropLast(2)) + provenance : csv(r, width: width)
        }
        if comm.size == 1 {
            embedder.embed(files: files, batchSize: batchSize) { r in
                if r.error != nil { failed += 1 }
                out?.write(row(r))
                progress?.step(errors: failed)
            }
        } else {
            // Rounds of four batches per rank (batches as in one process): rank 0 writes them all.
            try comm.orderedRounds(count: files.count, perRank: 4 * embedder.imagesPerBatch(batchSize: batchSize), work: { range -> RankRows in
                var part = RankRows(text: "", failed: 0)
                embedder.embed(files: Array(files[range]), batchSize: batchSize) { r in
                    if r.error != nil { part.failed += 1 }
                    part.text += row(r)
                }
                return part
            }, deliver: { range, part in
                failed += part.failed
                out?.write(part.text)
                progress?.advance(by: range.count, errors: failed)
            })
        }
        try out?.finish()
        progress?.done(errors: failed)
        if failed > 0 { throw ExitCode(1) }
    }

    struct RankRows: Codable { var text: String; var failed: Int }

    func jsonl(_ r: EmbeddingResult) -> String {
        if let e = r.embedding {
            return "{\"path\":\(StrictJSON.quote(r.path)),\"status\":\"ok\",\"embedding\":[\(e.map { "\($0)" }.joined(separator: ","))]}\n"
        }
        return "{\"path\":\(StrictJSON.quote(r.path)),\"status\":\"error\",\"error\":\(StrictJSON.quote(r.error ?? ""))}\n"
    }

    func csv(_ r: EmbeddingResult, width: Int) -> String {
        let field = CSV.field
        if let e = r.embedding { return field(r.path) + ",ok," + e.map { "\($0)" }.joined(separator: ",") + ",\n" }
        return field(r.path) + ",error" + String(repeating: ",", count: width) + "," + field(r.error ?? "") + "\n"
    }
}

/// Standard output, or FILE.partial renamed to FILE by `finish()`: rows written before a crash
/// stay in FILE.partial, and FILE itself is only ever complete.
final class RowSink {
    let handle: FileHandle
    let path: String?
    var buffer = ""

    init(path: String?) throws {
        self.path = path
        guard let path else { handle = .standardOutput; return }
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let h = FileHandle(forWritingAtPath: partial) else {
            FileHandle.standardError.write(Data("code-embed: cannot write \(partial)\n".utf8))
            throw ExitCode(2)
        }
        handle = h
    }

    func write(_ s: String) {
        buffer += s
        if buffer.utf8.count > 1 << 16 { flush() }
    }

    func flush() {
        handle.write(Data(buffer.utf8))
        buffer = ""
    }

    func finish() throws {
        flush()
        guard let path else { return }
        try handle.synchronize()
        try handle.close()
        if rename(path + ".partial", path) != 0 {
            FileHandle.standardError.write(Data("code-embed: cannot rename \(path).partial to \(path)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// A progress line on standard error: rewritten in place on a terminal, every 10 s otherwise.
final class Progress {
    let total: Int
    let start = Date()
    var count = 0
    var last = Date.distantPast
    let tty = isatty(2) != 0

    init(total: Int) { self.total = total }

    func line(_ errors: Int) -> String {
        let t = Date().timeIntervalSince(start)
        return String(format: "code-embed: %d/%d images, %.1f images/s, %d errors", count, total, t > 0 ? Double(count) / t : 0, errors)
    }

    func step(errors: Int) { advance(by: 1, errors: errors) }

    func advance(by n: Int, errors: Int) {
        count += n
        let now = Date()
        if now.timeIntervalSince(last) >= (tty ? 0.2 : 10) {
            last = now
            FileHandle.standardError.write(Data((tty ? "\r" + line(errors) : line(errors) + "\n").utf8))
        }
    }

    func done(errors: Int) {
        FileHandle.standardError.write(Data(((tty ? "\r" : "") + line(errors) + "\n").utf8))
    }
}

extension CropLayout: ExpressibleByArgument {}

CodeEmbed.main()
