import CoDEKit
import Foundation
import Testing

/// Where code-fit writes (FitOutput.resolve): never into the bundled model.
@Suite struct FitOutputTests {
    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-fitout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    @Test("no --output and no --model is refused, naming what to pass")
    func noOutput() throws {
        #expect(throws: FitOutputError.noOutput(classifier: "knn", bundled: BundledModel.directory.path)) {
            try FitOutput.resolve(classifier: "knn", output: nil, model: nil)
        }
        let message = "\(FitOutputError.noOutput(classifier: "knn", bundled: "/b"))"
        #expect(message.contains("--output FILE.safetensors") && message.contains("--output DIR to write DIR/knn.safetensors")
            && message.contains("--model DIR"))
    }

    @Test("the bundled model is refused however it is named: --model, --output DIR, --output FILE, via a symlink")
    func bundledRefused() throws {
        let b = BundledModel.directory
        let source = FitOutput.bundledDirectories[1]
        #expect(FileManager.default.fileExists(atPath: source.appendingPathComponent("config.json").path), "\(source.path)")
        let link = try tempDir().appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: b)
        let cases: [(String?, String?, String)] = [
            (nil, b.path, b.appendingPathComponent("knn.safetensors").path),
            (b.path, nil, b.appendingPathComponent("knn.safetensors").path),
            (b.appendingPathComponent("mine.safetensors").path, nil, b.appendingPathComponent("mine.safetensors").path),
            (nil, source.path, source.appendingPathComponent("knn.safetensors").path),
            (nil, link.path, link.appendingPathComponent("knn.safetensors").path),
            (b.appendingPathComponent("eval/x.safetensors").path, nil, b.appendingPathComponent("eval/x.safetensors").path),
        ]
        for (output, model, file) in cases {
            do {
                _ = try FitOutput.resolve(classifier: "knn", output: output, model: model)
                Issue.record("accepted output \(output ?? "-") model \(model ?? "-")")
            } catch let FitOutputError.insideBundledModel(f, _) {
                #expect(f == file)
            }
        }
        #expect(try ModelDirectory.bundled().isBundled)
    }

    @Test("--output DIR writes DIR/<kind>.safetensors (and names DIR as the model when it is one); --output FILE and --model DIR as given")
    func resolved() throws {
        let d = try tempDir()
        var r = try FitOutput.resolve(classifier: "svm", output: d.path, model: nil)
        #expect(r.file.path == d.appendingPathComponent("svm.safetensors").path && r.modelDirectory == nil)
        try Data("{}".utf8).write(to: d.appendingPathComponent("config.json"))
        r = try FitOutput.resolve(classifier: "svm", output: d.path, model: nil)
        #expect(r.file.path == d.appendingPathComponent("svm.safetensors").path && r.modelDirectory?.path == d.path)
        r = try FitOutput.resolve(classifier: "linear", output: d.appendingPathComponent("x.safetensors").path, model: nil)
        #expect(r.file.lastPathComponent == "x.safetensors" && r.modelDirectory == nil)
        r = try FitOutput.resolve(classifier: "knn", output: nil, model: d.path)
        #expect(r.file.path == d.appendingPathComponent("knn.safetensors").path && r.modelDirectory?.path == d.path)
        #expect(throws: FitOutputError.notWritable(folder: d.appendingPathComponent("missing").path, reason: "no such folder")) {
            try FitOutput.resolve(classifier: "knn", output: d.appendingPathComponent("missing/k.safetensors").path, model: nil)
        }
    }

    @Test("code-detect's hint for a missing classifier is a command that works")
    func hint() throws {
        let d = try tempDir()
        let user = "\(ModelDirectoryError.missingClassifier(path: d.path, name: "knn"))"
        #expect(user.contains("code-fit --classifier knn --data DATASET --output \(d.path)"))
        _ = try FitOutput.resolve(classifier: "knn", output: d.path, model: nil)  // the hint's --output DIR resolves
        let bundled = "\(ModelDirectoryError.missingClassifier(path: BundledModel.directory.path, name: "knn"))"
        #expect(bundled.contains("--output FILE.safetensors") && !bundled.contains("--output \(BundledModel.directory.path)"))
    }
}
