import Foundation

/// Expands command-line inputs into an ordered list of image files.
///
/// A file argument is always taken (its format is decided later by its magic bytes). A folder is
/// walked recursively by ``ImageDataset/listImages(_:)``: files with a common image extension
/// (``ImageDataset/imageExtensions``, any case), hidden entries skipped, sorted by path, so a
/// folder that also holds manifests or notes does not produce error rows for them.
public enum InputFiles {
    public struct Missing: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "no such file or folder: \(path)" }
    }

    public static func expand(_ inputs: [String]) throws -> [URL] {
        var warnings: [String] = []
        return try expand(inputs, warnings: &warnings)
    }

    /// As ``expand(_:)``, collecting what the tools warn about: a folder with no image files, a
    /// dangling symbolic link (skipped in a folder; given by name, it stays an input and becomes
    /// an error row), and an empty result.
    public static func expand(_ inputs: [String], warnings: inout [String]) throws -> [URL] {
        var out: [URL] = []
        let fm = FileManager.default
        for input in inputs {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: input, isDirectory: &isDir) else {
                if let target = try? fm.destinationOfSymbolicLink(atPath: input) {
                    warnings.append("warning: \(input) is a dangling symbolic link (to \(target))")
                    out.append(URL(fileURLWithPath: input))
                    continue
                }
                throw Missing(path: input)
            }
            let url = URL(fileURLWithPath: input)
            if !isDir.boolValue { out.append(url); continue }
            var dangling: [String] = []
            let found = try ImageDataset.listImages(url, dangling: &dangling)
            for d in dangling {
                let target = (try? fm.destinationOfSymbolicLink(atPath: url.appendingPathComponent(d).path)) ?? "?"
                warnings.append("warning: skipping \(url.appendingPathComponent(d).relativePath), a dangling symbolic link (to \(target))")
            }
            if found.isEmpty { warnings.append("warning: \(input) holds no image files (extensions \(ImageDataset.imageExtensions.sorted().joined(separator: ", ")))") }
            out += found.map { url.appendingPathComponent($0) }
        }
        if out.isEmpty && !inputs.isEmpty { warnings.append("warning: no images found in the inputs") }
        return out
    }
}
