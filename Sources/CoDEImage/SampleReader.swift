import Foundation

/// Reads a sample's encoded bytes and decodes it. Each tar shard is opened once; members are
/// read with `pread` (thread-safe, no mapping, so a shard that shrinks gives an error, not a crash).
public final class SampleReader: @unchecked Sendable {
    public let limits: ImageLimits
    private let lock = NSLock()
    private var shards: [URL: Int32] = [:]  // open file descriptors, guarded by lock

    public init(limits: ImageLimits = .init()) { self.limits = limits }

    deinit { for fd in shards.values { close(fd) } }

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
            guard offset >= 0, size >= 0 else { throw ImageError.truncated(source: sample.location.name, format: nil, detail: "bad member range") }
            if size > limits.maxFileBytes { throw ImageError.fileTooLarge(source: sample.location.name, bytes: size, limit: limits.maxFileBytes) }
            let fd = try descriptor(shard)
            var data = Data(count: size)
            let got = data.withUnsafeMutableBytes { buf -> Int in
                var done = 0
                while done < size {
                    let n = pread(fd, buf.baseAddress! + done, size - done, off_t(offset + done))
                    if n <= 0 { break }
                    done += n
                }
                return done
            }
            guard got == size else {
                throw ImageError.truncated(source: sample.location.name, format: nil, detail: "shard ends inside the member (\(got) of \(size) bytes)")
            }
            return data
        }
    }

    /// Decodes `sample` to RGB (errors name the file or `shard:member`).
    public func image(_ sample: ImageSample) throws -> RGBImage {
        try ImageDecoder.decode(data: data(sample), source: sample.location.name, limits: limits)
    }

    private func descriptor(_ url: URL) throws -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let fd = shards[url] { return fd }
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError.unreadable(source: url.path, reason: String(cString: strerror(errno))) }
        shards[url] = fd
        return fd
    }
}
