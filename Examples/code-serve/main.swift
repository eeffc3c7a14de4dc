// code-serve: the CoDE detector as an HTTP service (Hummingbird 2). POST /v1/detect, POST /v1/embed,
// GET /v1/model, /healthz, /readyz, /metrics and a web page at /. docs/service.md describes the API.
// Concurrent requests are batched into encoder forwards (CoDEServe.BatchQueue); SIGTERM or SIGINT
// stops intake, finishes the requests in flight and exits 0. Exit code 2: usage or model error.
import ArgumentParser
import CoDEKit
import CoDEServe
import Foundation
import Logging

struct CodeServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-serve",
        abstract: "Serve real-or-fake detection over HTTP, batching concurrent requests.",
        discussion: """
        --model DIR is a model directory (config.json + model.safetensors and fitted classifiers linear/knn/svm/head.safetensors); \
        without it the bundled model is used. Each classifier embeds images with the crops it was fitted with. \
        The encoder runs one batch at a time on its own thread: up to --max-batch windows (crops) per forward, \
        waiting at most --max-wait-ms for images still being decoded. Images are decoded on --decode-threads worker threads. \
        Limits: --max-body-bytes (413), --max-images per multipart request (413), --max-pixels (422), \
        --timeout per request (503), --max-queue images in flight (503 with Retry-After).
        """)

    @Option(help: "Model directory (default: the bundled model).") var model: String?
    @Option(help: "Address to bind.") var host: String = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port, printed at start).") var port: Int = 8080
    @Option(help: "Encoder windows per forward pass (with five crops, max-batch / 5 images).") var maxBatch: Int = 32
    @Option(help: "Longest wait, in milliseconds, for a batch to fill with images still being decoded.") var maxWaitMs: Double = 10
    @Option(help: "Images in flight (reading, decoding, queued, in the encoder) before requests get 503.") var maxQueue: Int = 256
    @Option(help: "Largest request body in bytes.") var maxBodyBytes: Int = 32 << 20
    @Option(help: "Most images in one multipart request.") var maxImages: Int = 32
    @Option(help: "Largest decoded image, in pixels (width x height).") var maxPixels: Int = 50_000_000
    @Option(help: "Seconds a request may take.") var timeout: Double = 30
    @Option(help: "Worker threads of the encoder kernels (default: all cores).") var threads: Int?
    @Option(help: "Image decoding threads (default: --threads).") var decodeThreads: Int?
    @Option(help: "fp32 (default), bf16 or int8: the number format of the encoder's linear layers (docs/precision.md); GET /v1/model reports the one in use.") var precision: InferencePrecision = .fp32
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"

    func validate() throws {
        for (name, v) in [("--max-batch", maxBatch), ("--max-queue", maxQueue), ("--max-body-bytes", maxBodyBytes),
                          ("--max-images", maxImages), ("--max-pixels", maxPixels)] where v < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard maxWaitMs >= 0, maxWaitMs.isFinite else { throw ValidationError("--max-wait-ms must be a non-negative number") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if let t = decodeThreads, t < 1 { throw ValidationError("--decode-threads must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
    }

    func serve() async throws {
        if let t = threads { Threading.count = t }
        var logger = Logger(label: "code-serve")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let directory: ModelDirectory
        do { directory = try ModelDirectory.resolve(model) } catch {
            note("code-serve: \(error)")
            throw ExitCode(2)
        }
        let config = ServiceConfiguration(
            batch: BatchPolicy(maxBatch: maxBatch, maxWait: maxWaitMs / 1000, maxQueue: maxQueue),
            maxBodyBytes: maxBodyBytes, maxImages: maxImages, maxPixels: maxPixels, timeout: timeout,
            decodeThreads: decodeThreads ?? Threading.count, precision: precision)
        let service = DetectionService(configuration: config)
        let log = logger
        // The server answers /healthz at once and /readyz once the model is loaded.
        let app = CoDEServeRoutes.application(service: service, host: host, port: port, logger: logger) { channel in
            log.notice("code-serve: listening on \(channel.localAddress.map { "\($0)" } ?? "?")")
            Task.detached {
                do {
                    try service.load(directory)
                    if case let .ready(m, _) = service.state {
                        for w in m.warnings { note("code-serve: \(w)") }
                        log.notice("code-serve: model \(directory.url.path) ready (classifiers \(m.info.classifiers.map(\.name).joined(separator: ", ")); encoder sha256 \(m.info.encoder.sha256); precision \(m.info.encoder.precision))")
                    }
                } catch {
                    note("code-serve: cannot load the model: \(error)")
                    Foundation.exit(2)
                }
            }
        }
        try await app.runService()
        service.shutdown()
        log.notice("code-serve: stopped")
    }
}

extension InferencePrecision: ExpressibleByArgument {}

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

// Parsed here and served from the top level (an async main.swift), not through ArgumentParser's run().
do {
    let command = try CodeServe.parse()
    try await command.serve()
} catch {
    CodeServe.exit(withError: error)
}
