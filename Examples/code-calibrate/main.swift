// code-calibrate: picks a classifier's decision threshold for a target false-positive rate on the
// user's own real images, and stores it in the classifier file, where code-detect, code-eval and
// Detector use it. Exit codes: 0 calibrated, 1 calibrated but some images could not be read (named
// on standard error), 2 usage, model, file or data error.
import ArgumentParser
import CoDEClassifiers
import CoDEKit
import Foundation

struct CodeCalibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-calibrate",
        abstract: "Calibrate a classifier's threshold to a target false-positive rate on your own real images.",
        discussion: """
        Scores every image of --real (files, folders walked recursively, .csv lists) with --model and --classifier \
        exactly as code-detect would (same crops), then picks the threshold at which at most --fpr of these real \
        images are called fake, and writes the classifier with that threshold recorded (metadata threshold, \
        threshold_target_fpr, threshold_fpr, threshold_fpr_ci95, threshold_real_images). code-detect, code-eval and \
        Detector then use it unless --threshold is given. The report gives the false-positive rate achieved on these \
        images with its 95% Wilson interval: what to expect on new real images like them. Use real images like \
        the ones you will check (same cameras, sources, processing); a few hundred or more make the interval narrow.
        Output: --output FILE, or --output DIR (DIR/<classifier>.safetensors), or, without --output, the classifier \
        file in --model DIR itself. Never the bundled model: copy it first (cp -r) or pass --output.
        """,
        version: CoDEKitVersion.description)

    @Option(help: "Model directory (config.json + model.safetensors + classifiers; default: the bundled model).") var model: String?
    @Option(help: "linear, knn, svm, or a classifier file path.") var classifier: String = "linear"
    @Option(name: .customLong("real"), parsing: .upToNextOption, help: "Real images: files, folders or .csv lists.") var real: [String] = []
    @Option(help: "Target false-positive rate: the largest fraction of real images to call fake, in (0, 1).") var fpr: Double = 0.05
    @Option(help: "Classifier file to write, or a folder for <classifier>.safetensors (default: the classifier in --model DIR).") var output: String?
    @Option(help: "Crops per forward pass.") var batchSize: Int = 32
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    /// Checked in run(), after parsing, so that an unknown flag is reported before a missing option.
    func check() throws {
        guard fpr > 0 && fpr < 1 else { throw ValidationError("--fpr must lie strictly between 0 and 1 (got \(fpr)); for example --fpr 0.05") }
        guard !real.isEmpty else { throw ValidationError("give your real images with --real DIR (files, folders or .csv lists)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try check()
        if let t = threads { Threading.count = t }
        do { try calibrate() } catch let e as ExitCode { throw e } catch {
            note("code-calibrate: \(error)")
            throw ExitCode(2)
        }
    }

    func calibrate() throws {
        let dir = try ModelDirectory.resolve(model)
        let source = try dir.classifierURL(classifier)
        let (_, meta) = try ClassifierFile.open(source)
        let kind = meta.kind
        // Where the calibrated file goes (checked before the images are scored): --output, else the
        // classifier file itself when a model folder or file of the user's was named.
        guard output != nil || model != nil || ClassifierKind(rawValue: classifier) == nil else {
            throw ValidationError("no output named, and code-calibrate never writes into the bundled model: pass --output FILE.safetensors, "
                + "or --model DIR naming a model folder of your own (cp -r '\(BundledModel.directory.path)' mymodel)")
        }
        let target = try FitOutput.resolve(classifier: kind.rawValue, output: output ?? source.path, model: nil).file
        let files = try DetectorInputs.expand(real)
        guard !files.isEmpty else { throw ValidationError("--real \(real.joined(separator: " ")) holds no image files") }
        let detector = try Detector(model: dir, classifier: classifier, threshold: nil)
        for w in detector.warnings where !w.hasPrefix("note: using the calibrated threshold") { note("code-calibrate: \(w)") }
        let rows = try detector.detect(files: files, batchSize: batchSize)
        var scores: [Double] = []
        for r in rows {
            if let s = r.score { scores.append(s) } else { note("code-calibrate: skipping \(r.error ?? "\(r.path): error")") }
        }
        let failed = rows.count - scores.count
        let c = try ThresholdCalibration(kind: kind, realScores: scores, targetFalsePositiveRate: fpr)
        let classifierModel = try AnyClassifier.load(from: source)
        // Keep every entry of the source file (provenance, hyperparameters); replace an earlier calibration.
        try classifierModel.save(to: target, metadata: meta.values.merging(c.metadata) { _, new in new })
        print("code-calibrate: \(c)")
        print("code-calibrate: wrote \(target.path)" + (failed > 0 ? " (\(failed) of \(rows.count) images could not be read, named above)" : ""))
        if failed > 0 { throw ExitCode(1) }
    }
}

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

// Usage errors exit 2, as every outcome above documents (ArgumentParser's own code is 64);
// --help and --version exit 0.
do {
    var command = try CodeCalibrate.parseAsRoot()
    try command.run()
} catch {
    let code = CodeCalibrate.exitCode(for: error)
    if code == .success || (error is ExitCode && !(error is ValidationError)) { CodeCalibrate.exit(withError: error) }
    note(CodeCalibrate.fullMessage(for: error))
    exit(2)
}
