import Foundation

/// Errors from writing files.
public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Writes files so that a reader (or a crash) never sees a partial file: the bytes go to a
/// temporary file in the same folder, are flushed with `fsync`, then `rename(2)` replaces the
/// destination in one step.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileWriteError(path: url.path, reason: String(cString: strerror(errno))) }
        var ok = false
        defer {
            if !ok { unlink(tmp.path) }
        }
        let written: Int = data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { if errno == EINTR { continue }; return -1 }
                off += n
            }
            return off
        }
        let err = written < 0 ? String(cString: strerror(errno)) : nil
        let syncOK = fsync(fd) == 0
        close(fd)
        if let err { throw FileWriteError(path: url.path, reason: err) }
        if !syncOK { throw FileWriteError(path: url.path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
        if rename(tmp.path, url.path) != 0 {
            throw FileWriteError(path: url.path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        ok = true
        // Make the rename itself durable.
        let dfd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    public static func write(_ string: String, to url: URL) throws {
        try write(Data(string.utf8), to: url)
    }
}
