import Foundation

/// What a data-parallel job needs from its processes ("ranks"): who am I, how many are we, and
/// four collective operations. Every rank must call the same collectives in the same order with
/// matching sizes, as in MPI.
///
/// CoDEKit's ``SingleProcess`` is the communicator of a program that was not started by a
/// launcher; `CoDEMPI.MPICommunicator` runs the same calls over Open MPI. The library
/// (``Trainer`` in CoDEKit) only sees this protocol, so a program that never uses MPI needs
/// neither Open MPI nor any change.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, `0 ..< size`.
    var rank: Int { get }
    /// Number of processes in the job (at least 1).
    var size: Int { get }
    /// A short description for logs ("single process", "Open MPI 4.1.4, rank 0 of 2 on host").
    var description: String { get }

    /// Replaces `buffer[0 ..< count]` on every rank with the element-wise sum over ranks.
    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    /// Double-precision variant (for counters and losses that must not round).
    func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws
    /// Concatenates every rank's `counts[rank]` floats from `send` into `receive`, in rank
    /// order (`receive` holds `counts.reduce(0, +)` floats). Every rank passes the same `counts`.
    func allGather(_ send: UnsafePointer<Float>, counts: [Int], into receive: UnsafeMutablePointer<Float>) throws
    /// Copies `bytes` bytes at `buffer` on rank `root` to `buffer` on every other rank.
    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) throws
    /// Returns once every rank has called it.
    func barrier() throws
    /// Ends the whole job at once (every rank) with `code`, after printing `message` on this
    /// rank's standard error. For failures one rank sees and the others cannot (a signal, a file
    /// error): the others would otherwise wait in their next collective for ever.
    func abort(code: Int32, message: String) -> Never
}

/// The contiguous share of `0 ..< n` that rank `rank` of `size` owns:
/// `n rank / size ..< n (rank + 1) / size`. Shares differ in length by at most one and cover
/// `0 ..< n` in rank order.
public func dataParallelShare(of n: Int, rank: Int, size: Int) -> Range<Int> {
    (n * rank / size)..<(n * (rank + 1) / size)
}

/// Errors of a collective call.
public enum CommunicatorError: Error, CustomStringConvertible, Equatable {
    /// The transport reported a failure (the MPI error string).
    case failed(operation: String, reason: String)
    /// Arguments that cannot describe a collective (negative count, root out of range, ...).
    case invalidArgument(operation: String, reason: String)

    public var description: String {
        switch self {
        case let .failed(op, r): "\(op) failed: \(r)"
        case let .invalidArgument(op, r): "\(op): \(r)"
        }
    }
}

extension Communicator {
    /// Rank 0 writes logs, probes and checkpoints.
    public var isRoot: Bool { rank == 0 }

    /// The contiguous share of `0 ..< n` this rank owns: `n r / size ..< n (r + 1) / size`, so
    /// shares differ in length by at most one and cover `0 ..< n` in rank order.
    public func share(of n: Int) -> Range<Int> { dataParallelShare(of: n, rank: rank, size: size) }

    /// Sum over ranks of one value.
    public func allReduceSum(_ value: Double) throws -> Double {
        var v = value
        try allReduceSum(&v, count: 1)
        return v
    }

    /// Element-wise sum over ranks of `values` (every rank passes the same count).
    public func allReduceSum(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try allReduceSum($0.baseAddress!, count: $0.count) }
        return v
    }

    /// Every rank's `values` concatenated in rank order; `counts[r]` is rank r's count.
    public func allGather(_ values: [Float], counts: [Int]) throws -> [Float] {
        guard counts.count == size, counts.allSatisfy({ $0 >= 0 }), counts[rank] == values.count else {
            throw CommunicatorError.invalidArgument(operation: "allGather",
                                                    reason: "counts \(counts) do not fit \(size) ranks with \(values.count) values on rank \(rank)")
        }
        let total = counts.reduce(0, +)
        var out = [Float](repeating: 0, count: total)
        try values.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                var dummy: Float = 0
                try allGather(s.baseAddress ?? UnsafePointer(&dummy), counts: counts, into: r.baseAddress ?? UnsafeMutablePointer(&dummy))
            }
        }
        return out
    }

    /// Rank `root`'s bytes on every rank (the length is broadcast first).
    public func broadcast(_ data: Data, root: Int) throws -> Data {
        var n = Int64(data.count)
        try broadcast(&n, bytes: 8, root: root)
        guard n >= 0 else { throw CommunicatorError.invalidArgument(operation: "broadcast", reason: "negative length \(n)") }
        var bytes = [UInt8](repeating: 0, count: Int(n))
        if rank == root { bytes = [UInt8](data) }
        if n > 0 { try bytes.withUnsafeMutableBytes { try broadcast($0.baseAddress!, bytes: Int(n), root: root) } }
        return Data(bytes)
    }
}

/// The communicator of a program that runs alone: rank 0 of 1, every collective the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var description: String { "single process" }
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        guard count >= 0 else { throw CommunicatorError.invalidArgument(operation: "allReduceSum", reason: "negative count \(count)") }
    }
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        guard count >= 0 else { throw CommunicatorError.invalidArgument(operation: "allReduceSum", reason: "negative count \(count)") }
    }
    public func allGather(_ send: UnsafePointer<Float>, counts: [Int], into receive: UnsafeMutablePointer<Float>) throws {
        guard counts.count == 1, counts[0] >= 0 else {
            throw CommunicatorError.invalidArgument(operation: "allGather", reason: "counts \(counts) for 1 rank")
        }
        if counts[0] > 0 && UnsafePointer(receive) != send { receive.update(from: send, count: counts[0]) }
    }
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) throws {
        guard root == 0, bytes >= 0 else {
            throw CommunicatorError.invalidArgument(operation: "broadcast", reason: "root \(root), \(bytes) bytes for 1 rank")
        }
    }
    public func barrier() throws {}
    public func abort(code: Int32, message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
}

extension Communicator {
    /// Rank `root`'s integer on every rank.
    public func broadcast(_ value: Int, root: Int) throws -> Int {
        var v = Int64(value)
        try broadcast(&v, bytes: 8, root: root)
        return Int(v)
    }

    /// Every rank's bytes, in rank order, on every rank (each rank broadcasts its own in turn).
    public func allGather(_ data: Data) throws -> [Data] {
        try (0..<size).map { r in try broadcast(r == rank ? data : Data(), root: r) }
    }

    /// Splits the items `0 ..< count` across the ranks, in rounds, and hands every rank the
    /// results of all of them in item order.
    ///
    /// Round k covers the `perRank · size` items from `k · perRank · size`: rank r runs `work` on
    /// the r-th block of `perRank` of them (the last round's blocks are shorter or empty). A
    /// block starts at a multiple of `perRank`, so when `perRank` is a multiple of a batch size,
    /// every batch holds the items it would hold in one process, and batched arithmetic gives
    /// the same bits. The results are all-gathered (JSON-encoded), and `deliver` is called on
    /// every rank once per rank's block, in rank order, so in item order overall. Memory is
    /// bounded by one round. All ranks must make the same call with the same `count` and
    /// `perRank`. One process calls `work` and `deliver` directly, without encoding.
    ///
    /// An error thrown by `work` on one rank cannot be answered by the others, which wait in the
    /// gather: it ends the job (``abort(code:message:)``, exit code 2) with the error's message.
    public func orderedRounds<T: Codable>(count: Int, perRank: Int, work: (Range<Int>) throws -> T,
                                          deliver: (Range<Int>, T) throws -> Void) throws {
        precondition(perRank >= 1, "orderedRounds: perRank must be positive")
        let round = perRank * size
        var start = 0
        while start < count {
            let end = min(count, start + round)
            func block(_ r: Int) -> Range<Int> { min(end, start + r * perRank)..<min(end, start + (r + 1) * perRank) }
            if size == 1 {
                try deliver(start..<end, try work(start..<end))
            } else {
                let range = block(rank)
                let payload: Data
                do { payload = try JSONEncoder().encode(try work(range)) } catch {
                    abort(code: 2, message: "items \(range.lowerBound)..<\(range.upperBound): \(error)")
                }
                for (r, data) in try allGather(payload).enumerated() {
                    try deliver(block(r), try JSONDecoder().decode(T.self, from: data))
                }
            }
            start = end
        }
    }
}
