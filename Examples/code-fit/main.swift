// code-fit: fits a CoDE classifier (linear | knn | svm) on embeddings JSONL, or on a labelled
// image dataset embedded with a model directory (--data DATASET --model DIR), and writes a CoDEKit
// classifier file. Exit codes: 0 all rows ok, 1 some rows were error rows (skipped), 2 usage,
// data or file error.
import ArgumentParser
import CoDEClassifiers
import CoDEKit
import Foundation

struct CodeFit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-fit",
        abstract: "Fit a classifier on CoDE embeddings (JSONL from code-embed with a \"label\": \"real\"|\"fake\" per row).",
        discussion: """
        linear: logistic regression (L2, class_weight balanced); knn: cosine k-nearest neighbours; \
        svm: one-class SVM fitted on the real (or unlabelled) rows only. Rows with status "error" are skipped.
        With --data DATASET (folder with real/ and fake/, FILE.csv[#split] manifest, or .tar shards) the images are \
        embedded with --model DIR (default: the bundled model, or --output DIR when DIR is a model folder) first, exactly \
        as code-embed would.
        Output: --output FILE, or --output DIR (writes DIR/<classifier>.safetensors), or, without --output, \
        --model DIR/<classifier>.safetensors, where code-detect and code-eval find it. code-fit never writes into the \
        bundled model: with neither --output nor --model it stops (exit 2) and says what to pass.
        """,
        version: CoDEKitVersion.description)

    @Option(name: .customLong("classifier"), help: "Classifier kind: linear, knn or svm (required).") var classifierOption: String?
    var classifier: String { classifierOption ?? "" }
    @Option(help: "Embeddings JSONL file.") var embeddings: String?
    @Option(help: "Labelled image dataset to embed and fit on (instead of --embeddings).") var data: String?
    @Option(help: "Model directory that embeds --data (default: the bundled model).") var model: String?
    @Option(help: "Crops per forward pass (--data).") var batchSize: Int = 32
    @Option(help: "center or five: with --data, embed each image as its centre crop (default) or as the mean of five crops (corners and centre); with --embeddings, how they were made (default: what the rows record; it must agree). Recorded in the classifier file with the encoder's SHA-256, where code-detect and code-eval check them.")
    var crops: String?
    @Option(help: "Classifier file to write (.safetensors), or a folder to write <classifier>.safetensors into (default: --model DIR/<classifier>.safetensors; never the bundled model).") var output: String?
    @Option(name: .customLong("C"), help: "linear: inverse regularisation strength.") var C: Double = 0.316
    @Option(help: "linear: class weights, balanced or none.") var classWeight: String = "balanced"
    @Option(help: "knn: number of neighbours.") var k: Int = 1
    @Option(help: "svm: nu in (0, 1].") var nu: Double = 0.1
    @Option(help: "svm: kernel, poly, rbf or linear.") var kernel: String = "poly"
    @Option(help: "svm: polynomial degree.") var degree: Int = 3
    @Option(help: "svm: gamma, auto (1/d), scale or a number.") var gamma: String = "auto"
    @Option(help: "svm: kernel coef0.") var coef0: Double = 0
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func options() throws -> FitOptions {
        guard let kind = ClassifierKind(rawValue: classifier) else {
            throw ValidationError("--classifier must be linear, knn or svm (got '\(classifier)')")
        }
        guard let cw = LogisticRegression.ClassWeight(rawValue: classWeight) else { throw ValidationError("--class-weight must be balanced or none") }
        guard let g = GammaSpec(gamma) else { throw ValidationError("--gamma must be auto, scale or a positive number (got '\(gamma)')") }
        var o = FitOptions(kind: kind)
        o.linear = .init(C: C, classWeight: cw)
        o.knn = .init(k: k)
        o.svm = .init(nu: nu, kernel: kernel, degree: degree, gamma: g, coef0: coef0)
        return o
    }

    func execute() throws -> Int32 {
        // Checked here, after the parse (which reports an unknown option as such first).
        if let t = threads { guard t >= 1 else { throw ValidationError("--threads must be at least 1") }; Threading.count = t }
        if classifierOption == nil { throw ValidationError("missing --classifier linear|knn|svm") }
        let opts = try options()
        var layout: CropLayout?
        if let crops {
            guard let l = CropLayout(rawValue: crops) else { throw ValidationError("--crops must be center or five (got '\(crops)')") }
            layout = l
        }
        let target = try FitOutput.resolve(classifier: classifier, output: output, model: model)
        let (records, source, provenance) = try inputs(layout, target)
        let output = target.file.path
        for r in records where !r.isOK { note("\(data == nil ? "\(source):\(r.line)" : source): skipping '\(r.path)': \(r.error ?? "error")") }
        let (model, report) = try AnyClassifier.fit(records, options: opts, source: source)
        try model.save(to: URL(fileURLWithPath: output), metadata: provenance.classifierMetadata)
        var msg = String(format: "code-fit: %@ classifier on %d rows (%d-d) in %.2f s -> %@", report.kind.rawValue, report.fittedRows,
                         report.dimension, report.seconds, output)
        if let a = report.accuracy {
            msg += String(format: "\n  training accuracy: real %.4f (%d), fake %.4f (%d), overall %.4f", a.real, a.realCount, a.fake, a.fakeCount, a.overall)
        }
        if let auc = report.auc { msg += String(format: ", ROC AUC %.4f", auc) }
        print(msg)
        return report.skippedErrorRows > 0 ? 1 : 0
    }

    /// The labelled records to fit on, the name of their source, and how they were made (recorded
    /// in the classifier file).
    func inputs(_ layout: CropLayout?, _ target: FitOutput) throws -> ([EmbeddingRecord], String, Provenance) {
        switch (embeddings, data) {
        case let (e?, nil):
            let records = try EmbeddingsJSONL.read(URL(fileURLWithPath: e))
            var p = try Provenance.of(records: records, source: e)
            if let layout, let rows = p.crops, rows != layout.rawValue {
                throw ProvenanceError.cropsMismatch(classifier: "--crops", classifierCrops: layout.rawValue, embeddings: e, embeddingsCrops: rows)
            }
            if p.crops == nil {
                p.crops = (layout ?? .center).rawValue
                note("code-fit: warning: \(e) records no crop layout (made by an earlier version?); recording --crops \(p.crops!)")
            }
            if p.encoderSHA256 == nil {
                note("code-fit: warning: \(e) records no encoder SHA-256 (made by an earlier version?); the classifier will not record one, so its encoder cannot be checked")
            }
            return (records, e, p)
        case let (nil, d?):
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
            let dir = try ModelDirectory.resolve(model ?? target.modelDirectory?.path)
            let embedder = try Embedder(modelAt: dir.url)
            embedder.crops = layout ?? .center
            let p = Provenance(crops: embedder.crops.rawValue, encoderSHA256: try EncoderIdentity.sha256(modelAt: dir.url))
            let dataset = try DatasetSpec.open(d)
            var items: [SampleEmbedding] = []
            items.reserveCapacity(dataset.count)
            let progress = ToolProgress(tool: "code-fit", total: dataset.count)
            let perBatch = embedder.imagesPerBatch(batchSize: batchSize)
            var errors = 0
            try embedder.embed(samples: dataset.samples, reader: SampleReader(), batchSize: batchSize) { it in
                items.append(it)
                if it.error != nil { errors += 1 }
                if items.count % perBatch == 0 || items.count == dataset.count {
                    progress.advance(by: items.count % perBatch == 0 ? perBatch : items.count % perBatch, errors: errors)
                }
            }
            progress.done(errors: errors)
            return (try SampleEmbedding.records(items, source: d), d, p)
        default:
            throw ValidationError("give exactly one of --embeddings FILE or --data DATASET")
        }
    }
}

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

do {
    let command = try CodeFit.parse()
    do { exit(try command.execute()) } catch let e as ValidationError {
        note(CodeFit.fullMessage(for: e))
        exit(2)
    } catch {
        note("code-fit: \(error)")
        exit(2)
    }
} catch {
    if CodeFit.exitCode(for: error) == .success { CodeFit.exit(withError: error) }
    note(CodeFit.fullMessage(for: error))
    exit(2)
}
