import Foundation

/// Expands command-line inputs into an ordered list of image files.
///
/// A file argument is always taken (its format is decided later by its magic bytes). A folder is
/// walked recursively and contributes the files whose extension is a common image extension
/// (jpg, jpeg, png, webp, gif, bmp, tif, tiff; any case), skipping hidden entries, sorted by path,
/// so a folder that also holds manifests or notes does not produce error rows for them.
public enum InputFiles {
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]

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
            var found: [URL] = []
            if let e = fm.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) {
                for case let f as URL in e where imageExtensions.contains(f.pathExtension.lowercased()) {
                    if (try? f.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { found.append(f) }
                }
            }
            out += found.sorted { $0.path < $1.path }
        }
        return out
    }
}
