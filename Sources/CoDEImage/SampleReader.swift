import Foundation

/// Reads a sample's encoded bytes and decodes it. Tar shards are memory-mapped once and shared.
public final class SampleReader: @unchecked Sendable {
    public let limits: ImageLimits
    private let lock = NSLock()
    private var shards: [URL: Data] = [:]  // guarded by lock

    public init(limits: ImageLimits = .init()) { self.limits = limits }

    /// The encoded bytes of `sample`.
    public func data(_ sample: ImageSample) throws -> Data {
        switch sample.location {
        case let .file(url):
            let attrs = try? FileManager.default.attributesOfItem(atPath: url.path)
            if let size = attrs?[.size] as? Int, size > limits.maxFileBytes {
                throw ImageError.fileTooLarge(source: url.path, bytes: size, limit: limits.maxFileBytes)
            }
            do { return try Data(contentsOf: url) } catch {
                throw ImageError.unreadable(source: url.path, reason: error.localizedDescription)
            }
        case let .tarMember(shard, _, offset, size):
            let archive = try mapped(shard)
            guard offset >= 0, size >= 0, offset <= archive.count, size <= archive.count - offset else {
                throw ImageError.truncated(source: sample.location.name, format: nil, detail: "member outside the shard")
            }
            return archive.subdata(in: archive.startIndex + offset..<archive.startIndex + offset + size)
        }
    }

    /// Decodes `sample` to RGB (errors name the file or `shard:member`).
    public func image(_ sample: ImageSample) throws -> RGBImage {
        try ImageDecoder.decode(data: data(sample), source: sample.location.name, limits: limits)
    }

    private func mapped(_ url: URL) throws -> Data {
        lock.lock()
        defer { lock.unlock() }
        if let d = shards[url] { return d }
        do {
            let d = try Data(contentsOf: url, options: .alwaysMapped)
            shards[url] = d
            return d
        } catch {
            throw ImageError.unreadable(source: url.path, reason: error.localizedDescription)
        }
    }
}
