import Foundation

/// How the tools name a dataset on the command line (`--data`, `--val`):
/// - a folder with `real/` and `fake/` subfolders (generator = subfolder of `fake/`);
/// - a CSV manifest `FILE.csv` with `path,label[,generator][,split]` columns, optionally
///   restricted to one split as `FILE.csv#SPLIT` (e.g. `../shared/data/photos/manifest.csv#val`);
/// - WebDataset shards in the D3 layout: one `.tar` file, or a folder of them (sorted by name).
/// Several specs joined with commas are concatenated in order.
public enum DatasetSpec {
    public struct Invalid: Error, CustomStringConvertible {
        public let spec: String
        public let reason: String
        public var description: String { "dataset '\(spec)': \(reason)" }
    }

    public static func open(_ spec: String) throws -> ImageDataset {
        let parts = spec.split(separator: ",").map(String.init)
        if parts.count > 1 { return ImageDataset(samples: try parts.flatMap { try open($0).samples }) }
        var path = spec, split: String?
        if let hash = spec.lastIndex(of: "#"), spec[..<hash].lowercased().hasSuffix(".csv") {
            path = String(spec[..<hash])
            split = String(spec[spec.index(after: hash)...])
        }
        let url = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw Invalid(spec: spec, reason: "no such file or folder")
        }
        let fm = FileManager.default
        if isDir.boolValue {
            if fm.fileExists(atPath: url.appendingPathComponent("real").path) || fm.fileExists(atPath: url.appendingPathComponent("fake").path) {
                return try ImageDataset.folder(url)
            }
            let shards = (try fm.contentsOfDirectory(atPath: path)).filter { $0.hasSuffix(".tar") }.sorted()
            if !shards.isEmpty { return try ImageDataset.webDataset(shards: shards.map { url.appendingPathComponent($0) }) }
            throw Invalid(spec: spec, reason: "a dataset folder needs real/ and fake/ subfolders or .tar shards")
        }
        switch url.pathExtension.lowercased() {
        case "csv": return try ImageDataset.manifest(url, split: split)
        case "tar": return try ImageDataset.webDataset(shards: [url])
        default: throw Invalid(spec: spec, reason: "expected a folder, a .csv manifest or a .tar shard")
        }
    }
}
