import Foundation

/// Why `code-fit` will not write a classifier where it was asked to (or was not told where).
public enum FitOutputError: Error, CustomStringConvertible, Equatable {
    /// Neither `--output` nor `--model` was given: the only folder left is the bundled model.
    case noOutput(classifier: String, bundled: String)
    /// The file would land inside the bundled model (the package's resource, shared by every run).
    case insideBundledModel(file: String, bundled: String)
    /// The folder the file goes to is missing or not writable.
    case notWritable(folder: String, reason: String)

    public var description: String {
        switch self {
        case let .noOutput(c, b):
            "no output named, and code-fit never writes into the bundled model: pass --output FILE.safetensors "
                + "(or --output DIR to write DIR/\(c).safetensors), or --model DIR naming a model folder of your own "
                + "(a copy of the bundled one works: cp -r '\(b)' mymodel)"
        case let .insideBundledModel(f, b):
            "\(f) is inside the bundled model (\(b)), which a tool never writes: pass --output FILE.safetensors elsewhere, "
                + "or copy the model (cp -r '\(b)' mymodel) and pass --model mymodel"
        case let .notWritable(d, r):
            "cannot write into \(d): \(r)"
        }
    }
}

/// Where `code-fit` writes a fitted classifier, and which model folder it names.
public struct FitOutput: Sendable, Equatable {
    /// The classifier file to write.
    public let file: URL
    /// The model folder the output names: `--model DIR`, or `--output DIR` when DIR is a model
    /// folder (it holds `config.json`); nil for a plain file or folder.
    public let modelDirectory: URL?

    /// The folders that count as the bundled model: the built resource bundle's copy
    /// (``BundledModel/directory``) and the source tree's `Sources/CoDEKit/Resources/DefaultModel`.
    public static var bundledDirectories: [URL] {
        [BundledModel.directory, URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/DefaultModel")]
    }

    /// Resolves `--output` / `--model` for classifier `classifier`:
    /// - `--output FILE`: that file (its folder must exist);
    /// - `--output DIR` (an existing folder): `DIR/<classifier>.safetensors`;
    /// - no `--output`, `--model DIR`: `DIR/<classifier>.safetensors`;
    /// - neither: ``FitOutputError/noOutput(classifier:bundled:)``.
    /// A file inside one of `bundled` is refused (``FitOutputError/insideBundledModel(file:bundled:)``),
    /// whichever way it was named, as is a folder that is not writable.
    public static func resolve(classifier: String, output: String?, model: String?,
                               bundled: [URL] = bundledDirectories) throws -> FitOutput {
        let fm = FileManager.default
        let name = "\(classifier).safetensors"
        var file: URL, modelDir: URL?
        if let output {
            var isDir: ObjCBool = false
            let url = URL(fileURLWithPath: output)
            if fm.fileExists(atPath: output, isDirectory: &isDir), isDir.boolValue {
                file = url.appendingPathComponent(name)
                if fm.fileExists(atPath: url.appendingPathComponent("config.json").path) { modelDir = url }
            } else {
                file = url
            }
            if let model { modelDir = URL(fileURLWithPath: model) }
        } else if let model {
            modelDir = URL(fileURLWithPath: model)
            file = modelDir!.appendingPathComponent(name)
        } else {
            throw FitOutputError.noOutput(classifier: classifier, bundled: bundled[0].path)
        }
        let folder = file.deletingLastPathComponent()
        let real = canonical(folder)
        for b in bundled {
            let rb = canonical(b)
            if real == rb || real.hasPrefix(rb + "/") {
                throw FitOutputError.insideBundledModel(file: file.path, bundled: b.path)
            }
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
            throw FitOutputError.notWritable(folder: folder.path, reason: "no such folder")
        }
        guard access(folder.path, W_OK) == 0 else {
            throw FitOutputError.notWritable(folder: folder.path, reason: String(cString: strerror(errno)))
        }
        return FitOutput(file: file, modelDirectory: modelDir)
    }

    /// The absolute path with symbolic links resolved (as far as the path exists).
    static func canonical(_ url: URL) -> String {
        url.standardizedFileURL.resolvingSymlinksInPath().path
    }
}

extension ModelDirectory {
    /// Whether this is the bundled model (either of ``FitOutput/bundledDirectories``).
    public var isBundled: Bool {
        let me = FitOutput.canonical(url)
        return FitOutput.bundledDirectories.contains { FitOutput.canonical($0) == me }
    }
}
