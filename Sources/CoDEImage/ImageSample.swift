import Foundation

/// Real photo (0) or generated image (1), the classifiers' label convention.
public enum ImageLabel: Int, Sendable, Hashable, Codable {
    case real = 0
    case fake = 1

    /// Parses `real`/`fake` (any case) or `0`/`1`.
    public init?(text: String) {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "real", "0": self = .real
        case "fake", "1": self = .fake
        default: return nil
        }
    }
}

/// Where a sample's encoded bytes live.
public enum SampleLocation: Sendable, Hashable {
    /// A file on disk.
    case file(URL)
    /// A member of a tar shard: its data is `shard[offset ..< offset + size]`.
    case tarMember(shard: URL, member: String, offset: Int, size: Int)

    /// A human-readable name for logs and errors: the path, or `shard.tar:member`.
    public var name: String {
        switch self {
        case let .file(url): url.path
        case let .tarMember(shard, member, _, _): "\(shard.path):\(member)"
        }
    }
}

/// One labelled image of a dataset.
public struct ImageSample: Sendable, Hashable {
    public var location: SampleLocation
    public var label: ImageLabel
    /// Generator name for fakes when known (folder name, manifest column, or D3 `gen_i`); nil otherwise.
    public var generator: String?
    /// Record key grouping a real image with the fakes generated from it (D3 shards); nil otherwise.
    public var record: String?

    public init(location: SampleLocation, label: ImageLabel, generator: String? = nil, record: String? = nil) {
        self.location = location
        self.label = label
        self.generator = generator
        self.record = record
    }
}

/// A list of labelled samples, in a deterministic order (sorted paths, manifest order, or tar order).
public struct ImageDataset: Sendable {
    public var samples: [ImageSample]
    public init(samples: [ImageSample]) { self.samples = samples }

    public var count: Int { samples.count }
    public var realCount: Int { samples.lazy.filter { $0.label == .real }.count }
    public var fakeCount: Int { samples.lazy.filter { $0.label == .fake }.count }

    /// Samples from several datasets, in order.
    public static func concatenating(_ parts: [ImageDataset]) -> ImageDataset {
        ImageDataset(samples: parts.flatMap(\.samples))
    }
}

/// Why a dataset could not be listed. Messages name the file (and line or member) and the reason.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    case unreadable(path: String, reason: String)
    case badManifest(path: String, line: Int, reason: String)
    case badTar(path: String, offset: Int, reason: String)
    case truncatedTar(path: String, offset: Int, reason: String)
    case badLayout(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): "\(p): cannot read: \(r)"
        case let .badManifest(p, l, r): "\(p):\(l): \(r)"
        case let .badTar(p, o, r): "\(p): bad tar header at byte \(o): \(r)"
        case let .truncatedTar(p, o, r): "\(p): truncated tar at byte \(o): \(r)"
        case let .badLayout(p, r): "\(p): \(r)"
        }
    }
}
