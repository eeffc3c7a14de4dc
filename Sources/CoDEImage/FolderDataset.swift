import Foundation

extension ImageDataset {
    /// File name extensions listed as images by folder datasets (case-insensitive). The decoder
    /// still identifies each file by its magic bytes; the extension only filters the listing.
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "gif", "webp", "tif", "tiff", "bmp"]

    /// A folder with `real/` and `fake/` subfolders, searched recursively.
    ///
    /// Every image file under `real/` is `.real`; under `fake/` it is `.fake` with `generator` the
    /// name of its first-level subfolder of `fake/` (nil for files directly in `fake/`). Hidden
    /// files and folders (names starting with `.`) are skipped; symbolic links are not followed.
    /// Samples are sorted by path (byte order), so the listing is the same on every machine.
    public static func folder(_ root: URL) throws -> ImageDataset {
        var samples: [ImageSample] = []
        for label in [ImageLabel.real, .fake] {
            let dir = root.appendingPathComponent(label == .real ? "real" : "fake")
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
                throw DatasetError.badLayout(path: root.path, reason: "missing folder \(dir.lastPathComponent)/ (expected real/ and fake/)")
            }
            for relative in try listImages(dir) {
                let parts = relative.split(separator: "/")
                let generator = label == .fake && parts.count > 1 ? String(parts[0]) : nil
                samples.append(ImageSample(location: .file(dir.appendingPathComponent(relative)), label: label, generator: generator))
            }
        }
        return ImageDataset(samples: samples)
    }

    /// Relative paths of the image files under `dir` (recursive, by extension, hidden entries and
    /// symbolic links skipped), sorted by UTF-8 bytes.
    public static func listImages(_ dir: URL) throws -> [String] {
        var dangling: [String] = []
        return try listImages(dir, dangling: &dangling)
    }

    /// As ``listImages(_:)``; symbolic links to image files are listed like the files, and links
    /// whose target does not exist (relative paths) are collected in `dangling`. Links to folders
    /// are not followed (no cycles).
    public static func listImages(_ dir: URL, dangling: inout [String]) throws -> [String] {
        var out: [String] = []
        var stack = [""]
        let fm = FileManager.default
        while let rel = stack.popLast() {
            let here = rel.isEmpty ? dir : dir.appendingPathComponent(rel)
            let names: [String]
            do { names = try fm.contentsOfDirectory(atPath: here.path) } catch {
                throw DatasetError.unreadable(path: here.path, reason: error.localizedDescription)
            }
            for name in names where !name.hasPrefix(".") {
                let child = rel.isEmpty ? name : rel + "/" + name
                let attrs = try? fm.attributesOfItem(atPath: dir.appendingPathComponent(child).path)
                let type = attrs?[.type] as? FileAttributeType
                let isImageName = imageExtensions.contains((name as NSString).pathExtension.lowercased())
                if type == .typeDirectory { stack.append(child) }
                else if type == .typeRegular, isImageName { out.append(child) }
                else if type == .typeSymbolicLink {
                    var isDir: ObjCBool = false
                    if !fm.fileExists(atPath: dir.appendingPathComponent(child).path, isDirectory: &isDir) { dangling.append(child) }
                    else if !isDir.boolValue, isImageName { out.append(child) }
                }
            }
        }
        return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
