import CoDECore
import Foundation

extension ImageDataset {
    /// A CSV manifest with a header row naming at least `path` and `label` columns, optionally
    /// `generator` and `split`; other columns are ignored (the format of shared/data manifests:
    /// `path,split,label,generator,...`). `path` is relative to the manifest's folder (or
    /// absolute); `label` is `real`/`fake`/`0`/`1`; a `generator` of `none` or empty is nil.
    /// Quoting follows RFC 4180. With `split` given, only rows whose `split` column equals it are kept.
    public static func manifest(_ url: URL, split: String? = nil) throws -> ImageDataset {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw DatasetError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let rows: [CSV.Row]
        do { rows = try CSV.parse(text, source: url.path) } catch let e as CSVError {
            throw DatasetError.badManifest(path: url.path, line: e.line, reason: e.reason)
        }
        guard let header = rows.first else { throw DatasetError.badManifest(path: url.path, line: 1, reason: "empty manifest") }
        func column(_ name: String) -> Int? { header.fields.firstIndex { $0.trimmingCharacters(in: .whitespaces).lowercased() == name } }
        guard let pathCol = column("path"), let labelCol = column("label") else {
            throw DatasetError.badManifest(path: url.path, line: 1, reason: "header must name 'path' and 'label' columns, found \(header.fields)")
        }
        let genCol = column("generator"), splitCol = column("split")
        if split != nil, splitCol == nil {
            throw DatasetError.badManifest(path: url.path, line: 1, reason: "no 'split' column to filter on")
        }
        let base = url.deletingLastPathComponent()
        var samples: [ImageSample] = []
        for row in rows.dropFirst() {
            if row.fields.count == 1, row.fields[0].isEmpty { continue }  // blank line
            guard row.fields.count == header.fields.count else {
                throw DatasetError.badManifest(path: url.path, line: row.line, reason: "\(row.fields.count) fields, header has \(header.fields.count)")
            }
            if let split, let splitCol, row.fields[splitCol] != split { continue }
            let path = row.fields[pathCol]
            guard !path.isEmpty else { throw DatasetError.badManifest(path: url.path, line: row.line, reason: "empty path") }
            guard let label = ImageLabel(text: row.fields[labelCol]) else {
                throw DatasetError.badManifest(path: url.path, line: row.line, reason: "label '\(row.fields[labelCol])' is not real/fake/0/1")
            }
            let g = genCol.map { row.fields[$0] }
            let generator = (g == nil || g!.isEmpty || g!.lowercased() == "none") ? nil : g
            let file = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
            samples.append(ImageSample(location: .file(file), label: label, generator: generator))
        }
        return ImageDataset(samples: samples)
    }
}
