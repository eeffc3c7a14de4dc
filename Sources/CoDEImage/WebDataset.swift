import Foundation

extension ImageDataset {
    /// WebDataset tar shards in the D3 layout: members `KEY.real.<ext>` (the real image) and
    /// `KEY.gen_<i>.<ext>` (its generations, generator `gen_<i>`); other members (`.caption.txt`,
    /// `.url.txt`, ...) are ignored. The key is the member path up to the first `.` of its file
    /// name, as in WebDataset; every sample's `record` is `<shard file name>/<key>` so that a real
    /// image and its fakes can be paired. Samples keep tar order, shards the given order.
    public static func webDataset(shards: [URL]) throws -> ImageDataset {
        var samples: [ImageSample] = []
        for shard in shards {
            let tar = try TarArchive(contentsOf: shard)
            for m in tar.members {
                guard let (key, ext) = splitKey(m.name) else { continue }
                let kind = ext.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ext
                let format = (ext as NSString).pathExtension.lowercased()
                guard imageExtensions.contains(format) else { continue }
                let location = SampleLocation.tarMember(shard: shard, member: m.name, offset: m.offset, size: m.size)
                let record = "\(shard.lastPathComponent)/\(key)"
                if kind == "real" {
                    samples.append(ImageSample(location: location, label: .real, record: record))
                } else if kind.hasPrefix("gen_") {
                    samples.append(ImageSample(location: location, label: .fake, generator: kind, record: record))
                }
            }
        }
        return ImageDataset(samples: samples)
    }

    /// `dir/abc.real.jpg` -> (`dir/abc`, `real.jpg`); nil without a dot in the file name.
    static func splitKey(_ name: String) -> (String, String)? {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: ".") else { return nil }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}
