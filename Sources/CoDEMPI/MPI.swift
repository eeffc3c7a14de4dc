// The only file in CoDEKit that calls Open MPI. Everything else goes through `Communicator`.
import COpenMPI
import CoDEDistributed
import Foundation

/// ``Communicator`` over Open MPI's `MPI_COMM_WORLD`, for programs started by `mpirun` (or
/// `srun` with Open MPI's PMIx). Collective calls return errors instead of aborting
/// (`MPI_ERRORS_RETURN`); a rank that dies still ends the job, because the launcher kills the
/// others.
///
/// Use ``world()``: it initialises MPI only when a launcher started the process, and returns
/// ``SingleProcess`` otherwise, so a tool behaves exactly as before when run on its own.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public let description: String
    let comm: MPI_Comm

    /// True when the environment shows a launcher's process manager (Open MPI's `mpirun` sets
    /// `OMPI_COMM_WORLD_SIZE`, PMIx launchers `PMIX_RANK`, PMI-1/2 launchers `PMI_SIZE`).
    public static var launched: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].contains { env[$0] != nil }
    }

    /// Threads for each rank when several share this machine: the active processors divided by
    /// the local rank count (`OMPI_COMM_WORLD_LOCAL_SIZE`, else `SLURM_NTASKS_PER_NODE`), at least 1.
    public static var threadsPerLocalRank: Int {
        let env = ProcessInfo.processInfo.environment
        let local = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? env["SLURM_NTASKS_PER_NODE"] ?? "") ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, local))
    }

    nonisolated(unsafe) private static var shared: Communicator?
    private static let lock = NSLock()

    /// The job's communicator: MPI's world when ``launched``, else ``SingleProcess``. MPI is
    /// initialised once (thread level `MPI_THREAD_SERIALIZED`: CoDEKit calls collectives from
    /// one thread at a time) and finalised when the process exits.
    public static func world() throws -> Communicator {
        lock.lock(); defer { lock.unlock() }
        if let shared { return shared }
        let c: Communicator = launched ? try MPICommunicator() : SingleProcess()
        shared = c
        return c
    }

    private init() throws {
        var provided: Int32 = 0
        var initialised: Int32 = 0
        MPI_Initialized(&initialised)
        if initialised == 0 {
            let rc = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
            guard rc == MPI_SUCCESS else { throw CommunicatorError.failed(operation: "MPI_Init_thread", reason: Self.errorString(rc)) }
            atexit {
                var finalized: Int32 = 0
                MPI_Finalized(&finalized)
                if finalized == 0 { MPI_Finalize() }
            }
        }
        comm = codekit_mpi_comm_world()
        MPI_Comm_set_errhandler(comm, codekit_mpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
        var major: Int32 = 0, minor: Int32 = 0
        MPI_Get_version(&major, &minor)
        var name = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var len: Int32 = 0
        MPI_Get_processor_name(&name, &len)
        let host = String(decoding: name.prefix(Int(len)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        description = "MPI \(major).\(minor) (Open MPI \(OMPI_MAJOR_VERSION).\(OMPI_MINOR_VERSION).\(OMPI_RELEASE_VERSION)), rank \(rank) of \(size) on \(host)"
    }

    static func errorString(_ code: Int32) -> String {
        var buf = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var len: Int32 = 0
        MPI_Error_string(code, &buf, &len)
        return String(decoding: buf.prefix(Int(len)).map { UInt8(bitPattern: $0) }, as: UTF8.self) + " (MPI error \(code))"
    }

    private func check(_ rc: Int32, _ op: String) throws {
        guard rc == MPI_SUCCESS else { throw CommunicatorError.failed(operation: op, reason: Self.errorString(rc)) }
    }

    private func count32(_ n: Int, _ op: String) throws -> Int32 {
        guard n >= 0, n <= Int(Int32.max) else {
            throw CommunicatorError.invalidArgument(operation: op, reason: "count \(n) outside 0...\(Int32.max)")
        }
        return Int32(n)
    }

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        let n = try count32(count, "allReduceSum")
        if n == 0 { return }
        try check(MPI_Allreduce(codekit_mpi_in_place(), buffer, n, codekit_mpi_float(), codekit_mpi_sum(), comm), "MPI_Allreduce")
    }

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        let n = try count32(count, "allReduceSum")
        if n == 0 { return }
        try check(MPI_Allreduce(codekit_mpi_in_place(), buffer, n, codekit_mpi_double(), codekit_mpi_sum(), comm), "MPI_Allreduce")
    }

    public func allGather(_ send: UnsafePointer<Float>, counts: [Int], into receive: UnsafeMutablePointer<Float>) throws {
        guard counts.count == size, counts.allSatisfy({ $0 >= 0 }) else {
            throw CommunicatorError.invalidArgument(operation: "allGather", reason: "counts \(counts) for \(size) ranks")
        }
        let c32 = try counts.map { try count32($0, "allGather") }
        var displs = [Int32](repeating: 0, count: size)
        var at = 0
        for r in 0..<size { displs[r] = try count32(at, "allGather"); at += counts[r] }
        _ = try count32(at, "allGather")
        try check(MPI_Allgatherv(send, c32[rank], codekit_mpi_float(), receive, c32, displs, codekit_mpi_float(), comm), "MPI_Allgatherv")
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) throws {
        guard (0..<size).contains(root) else {
            throw CommunicatorError.invalidArgument(operation: "broadcast", reason: "root \(root) outside 0..<\(size)")
        }
        let n = try count32(bytes, "broadcast")
        if n == 0 { return }
        try check(MPI_Bcast(buffer, n, codekit_mpi_byte(), Int32(root), comm), "MPI_Bcast")
    }

    public func barrier() throws { try check(MPI_Barrier(comm), "MPI_Barrier") }

    public func abort(code: Int32, message: String) -> Never {
        FileHandle.standardError.write(Data(("rank \(rank): " + message + "\n").utf8))
        MPI_Abort(comm, code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker
    }
}
