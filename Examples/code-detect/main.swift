// code-detect --embeddings: applies a CoDEKit classifier file to embeddings JSONL and writes one
// row per input (path, verdict, score, status) as jsonl, csv or a table.
// Exit codes: 0 all rows ok, 1 some rows failed, 2 usage, model or file error.
import ArgumentParser
import CoDEClassifiers
import CoDECore
import Foundation

struct CodeDetect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code-detect",
        abstract: "Classify CoDE embeddings as real or fake with a classifier file.",
        discussion: """
        score is the classifier's decision value: p(fake) for linear, dist(nearest real) - dist(nearest fake) \
        for knn (both: larger = more fake), the SVM decision for svm (larger = more real).
        """)

    @Option(help: "Classifier file (.safetensors from code-fit or tools/export_sklearn.py).") var classifier: String
    @Option(help: "Embeddings JSONL file (from code-embed).") var embeddings: String
    @Option(help: "Output format: jsonl, csv or table.") var format: String = "jsonl"
    @Option(help: "Write the rows to this file (atomically) instead of standard output.") var output: String?

    func execute() throws -> Int32 {
        guard let fmt = DetectionFormat(rawValue: format) else { throw ValidationError("--format must be jsonl, csv or table") }
        let model = try AnyClassifier.load(from: URL(fileURLWithPath: classifier))
        let records = try EmbeddingsJSONL.read(URL(fileURLWithPath: embeddings))
        for r in records where !r.isOK { note("\(embeddings):\(r.line): '\(r.path)' has no embedding: \(r.error ?? "error")") }
        let rows = try model.detect(records, source: embeddings)
        let text = fmt.render(rows)
        if let output { try AtomicFile.write(text, to: URL(fileURLWithPath: output)) } else { FileHandle.standardOutput.write(Data(text.utf8)) }
        return rows.contains { $0.status != "ok" } ? 1 : 0
    }
}

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

do {
    let command = try CodeDetect.parse()
    do { exit(try command.execute()) } catch {
        note("code-detect: \(error)")
        exit(2)
    }
} catch {
    if CodeDetect.exitCode(for: error) == .success { CodeDetect.exit(withError: error) }
    note(CodeDetect.fullMessage(for: error))
    exit(2)
}
