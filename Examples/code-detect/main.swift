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
        another encoder; with --embeddings, the rows' crops and encoder (code-embed writes them) must be the classifier's. \
        Files without these fields (earlier versions) are used with a warning.
        Under mpirun (or srun) the ranks split the image list; rank 0 alone writes the rows, in input order, so the \
        output is the one-process output (docs/distributed.md).
        """)

    @Option(help: "Model directory (default: the bundled model).") var model: String?
    @Option(help: "linear, knn, svm (a classifier of the model directory) or a classifier file.") var classifier: String = "linear"
    @Option(parsing: .unconditional, help: "Decision threshold in the classifier's score scale (see above): p(fake) in [0, 1] for linear, in [-2, 2] for knn, any finite number for svm; negative values are accepted (--threshold -3).") var threshold: Double?
    @Option(help: "Output format: table, csv or jsonl (default: table for images, jsonl for --embeddings).") var format: String?
    @Option(help: "Write the rows to this file (atomically) instead of standard output.") var output: String?
    @Option(help: "Embeddings JSONL file (from code-embed) instead of images.") var embeddings: String?
    @Option(help: "center or five (default: the crops the classifier was fitted with; see code-fit --crops).") var crops: String?
    @Option(help: "Crops per forward pass (with five crops, batch-size / 5 images).") var batchSize: Int = 32
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Argument(help: "Image files, folders or .csv lists.") var inputs: [String] = []

    func execute() throws -> Int32 {
        let comm: Communicator
        do { comm = try MPICommunicator.world() } catch { note("code-detect: cannot join the MPI job: \(error)"); return 2 }
        if let t = threads { guard t >= 1 else { throw ValidationError("--threads must be at least 1") }; Threading.count = t }
        else if comm.size > 1 { Threading.count = MPICommunicator.threadsPerLocalRank }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        let fmt = try outputFormat()
        let rows: [DetectionRow], text: String
        if let embeddings {
            guard inputs.isEmpty else { throw ValidationError("give either --embeddings or image inputs, not both") }
            guard crops == nil else { throw ValidationError("--crops applies to images, not to --embeddings") }
            let file = try ModelDirectory.resolve(model).classifierURL(classifier)
            let (classifierFile, meta) = try ClassifierFile.open(file)
            let c = try AnyClassifier.load(classifierFile, metadata: meta)
            if let threshold { try c.kind.validateThreshold(threshold) }
            let recorded = try ThresholdCalibration.recordedThreshold(in: meta)
            if threshold == nil, let t = recorded { note("code-detect: note: using the calibrated threshold \(t) recorded in \(file.path) (code-calibrate)") }
            let records = try EmbeddingsJSONL.read(URL(fileURLWithPath: embeddings))
            // The crops and encoder the rows were made with must be the classifier's.
            for w in try Provenance.check(classifier: Provenance.of(classifierAt: file, metadata: meta), classifierName: file.path,
                                          embeddings: Provenance.of(records: records, source: embeddings), embeddingsName: embeddings) {
                note("code-detect: \(w)")
            }
            for r in records where !r.isOK { note("\(embeddings):\(r.line): '\(r.path)' has no embedding: \(r.error ?? "error")") }
            rows = try thresholded(c.detect(records, source: embeddings), kind: c.kind, threshold: threshold ?? recorded)
            text = fmt.render(rows)
        } else {
            guard !inputs.isEmpty else { throw ValidationError("give image files, folders or .csv lists (or --embeddings FILE)") }
            let files = try DetectorInputs.expand(inputs)
            let detector = try Detector(model: ModelDirectory.resolve(model), classifier: classifier, threshold: threshold,
                                        crops: cropLayout(crops))
            for w in detector.warnings { note("code-detect: \(w)") }
            if comm.size == 1 {
                rows = try detector.detect(files: files, batchSize: batchSize)
            } else {
                // The ranks split the list in rounds; every rank gets all rows, in input order.
                var all: [DetectionRow] = []
                all.reserveCapacity(files.count)
                try comm.orderedRounds(count: files.count, perRank: 4 * detector.embedder.imagesPerBatch(batchSize: batchSize),
                                       work: { range in try detector.detect(files: Array(files[range]), batchSize: batchSize) },
                                       deliver: { _, part in all += part })
                rows = all
            }
            text = fmt.render(rows, classifier: classifier)
        }
        // Under mpirun only rank 0 writes; every rank returns the same exit code.
        guard comm.isRoot else { return rows.contains { $0.status != "ok" } ? 1 : 0 }
        if let output { try AtomicFile.write(text, to: URL(fileURLWithPath: output)) } else { FileHandle.standardOutput.write(Data(text.utf8)) }
        note("code-detect: \(DetectionSummary(rows))")
        return rows.contains { $0.status != "ok" } ? 1 : 0
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
