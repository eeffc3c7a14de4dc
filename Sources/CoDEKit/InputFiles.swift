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
        var out: [URL] = []
        let fm = FileManager.default
        for input in inputs {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: input, isDirectory: &isDir) else { throw Missing(path: input) }
            let url = URL(fileURLWithPath: input)
            if !isDir.boolValue { out.append(url); continue }
            out += try ImageDataset.listImages(url).map { url.appendingPathComponent($0) }
        }
        return out
    }
}
