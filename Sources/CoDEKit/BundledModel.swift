import CoDEClassifiers
import Foundation

/// The default model shipped inside this build of CoDEKit (a SwiftPM resource of the CoDEKit
/// target): a model directory at `Resources/DefaultModel`, used by the tools when no
/// `--model DIR` is given. A build may have no bundled model (the folder then holds only a
/// README); ``ModelDirectory/bundled()`` says so with ``ModelDirectoryError/noBundledModel``.
public enum BundledModel {
    /// URL of the bundled model folder (it exists in every build; it holds a model only once
    /// `code-train` has produced one and it was added).
    public static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("DefaultModel", isDirectory: true)
    }
}

/// Why a model directory or a classifier could not be used.
public enum ModelDirectoryError: Error, CustomStringConvertible, Equatable {
    case noBundledModel
    case notAModel(path: String, reason: String)
    case missingClassifier(path: String, name: String)
    /// `--classifier X` is neither a classifier kind nor an existing file.
    case unknownClassifier(spec: String)
    case dimensionMismatch(classifier: String, classifierDimension: Int, encoder: String, encoderDimension: Int)

    public var description: String {
        switch self {
        case .noBundledModel:
            "no bundled model in this build: pass --model DIR"
        case let .notAModel(p, r):
            "\(p): not a model directory: \(r)"
        case let .missingClassifier(p, n):
            FitOutput.bundledDirectories.contains(where: { FitOutput.canonical($0) == FitOutput.canonical(URL(fileURLWithPath: p)) })
                ? "\(p): the bundled model has no '\(n)' classifier (fit one with code-fit --classifier \(n) --data DATASET --output FILE.safetensors, "
                    + "then pass --classifier FILE.safetensors)"
                : "\(p): no '\(n)' classifier in this model directory (fit one with code-fit --classifier \(n) --data DATASET --output \(p))"
        case let .unknownClassifier(spec):
            "unknown classifier '\(spec)': give \(ClassifierKind.allCases.map(\.rawValue).joined(separator: ", ")) "
                + "(the classifier files of the model folder), or the path of a classifier file (code-fit writes them)"
        case let .dimensionMismatch(c, cd, e, ed):
            "classifier \(c) takes \(cd)-d embeddings but the encoder \(e) produces \(ed)-d embeddings"
        }
    }
}

/// A CoDEKit model directory: a transformers-layout encoder folder (`config.json` +
/// `model.safetensors`) that may also hold fitted classifiers `linear.safetensors`,
/// `knn.safetensors`, `svm.safetensors` (CoDEKit classifier files, see ``ClassifierFile``).
public struct ModelDirectory: Sendable, Equatable {
    public let url: URL

    /// A folder given on the command line; it must hold `config.json`.
    public init(_ url: URL) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ModelDirectoryError.notAModel(path: url.path, reason: "no such folder")
        }
        guard isDir.boolValue else {
            throw ModelDirectoryError.notAModel(path: url.path, reason: "a file, expected a folder with config.json + model.safetensors")
        }
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) else {
            throw ModelDirectoryError.notAModel(path: url.path, reason: "no config.json")
        }
        self.url = url
    }

    /// The bundled default model, or ``ModelDirectoryError/noBundledModel`` when this build has none.
    public static func bundled() throws -> ModelDirectory {
        let dir = BundledModel.directory
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) else {
            throw ModelDirectoryError.noBundledModel
        }
        return try ModelDirectory(dir)
    }

    /// `--model PATH` if given, else the bundled model.
    public static func resolve(_ path: String?) throws -> ModelDirectory {
        try path.map { try ModelDirectory(URL(fileURLWithPath: $0)) } ?? bundled()
    }

    /// The file a `--classifier` value names: `linear`, `knn` or `svm` is
    /// `<dir>/<name>.safetensors` (which must exist); anything else is a path to a classifier file.
    public func classifierURL(_ spec: String) throws -> URL {
        guard let kind = ClassifierKind(rawValue: spec) else {
            let file = URL(fileURLWithPath: spec)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw ModelDirectoryError.unknownClassifier(spec: spec)
            }
            return file
        }
        let file = url.appendingPathComponent("\(kind.rawValue).safetensors")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw ModelDirectoryError.missingClassifier(path: url.path, name: kind.rawValue)
        }
        return file
    }
}
