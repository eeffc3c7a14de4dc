import Dispatch
import Foundation

/// CoDEKit's one threading knob.
///
/// All parallel work (row-partitioned GEMMs, element-wise kernels, per-image attention) runs on
/// `Threading.count` threads through ``parallelFor(_:_:)``. OpenBLAS's internal pool is kept at one
/// thread so BLAS calls never nest. The default is the number of active processors; the
/// environment variable `CODEKIT_THREADS` overrides it at start-up.
public enum Threading {
    nonisolated(unsafe) private static var _count: Int = {
        BLAS.setInternalThreads(1)
        if let s = ProcessInfo.processInfo.environment["CODEKIT_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// A thread count that holds for the current task only (see ``withCount(_:_:)``).
    @TaskLocal static var scoped: Int?

    /// Number of worker threads used by CoDEKit kernels (at least 1).
    /// Set it once at start-up, before any work runs; it is not synchronised. To use another
    /// count for one piece of work while other work runs, use ``withCount(_:_:)``.
    public static var count: Int {
        get { scoped ?? _count }
        set { _count = max(1, newValue); BLAS.setInternalThreads(1) }
    }

    /// Runs `body` with ``count`` equal to `threads` (at least 1) for the calling task only: work
    /// running concurrently in other tasks keeps the process-wide count. Threads that CoDEKit's own
    /// kernels start do not inherit it, so nested parallel loops inside `body`'s workers use the
    /// process-wide count.
    public static func withCount<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        try $scoped.withValue(max(1, threads)) { try body() }
    }

    /// Runs `body(i)` for `i` in `0..<n`, spread over up to ``count`` threads; returns when all finish.
    @inline(__always)
    public static func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        if n <= 0 { return }
        if n == 1 || count == 1 {
            for i in 0..<n { body(i) }
            return
        }
        // Kernels hand raw pointers to disjoint slices of one buffer to each iteration, which the
        // type system cannot see as Sendable; the partitioning is what makes it race-free.
        withoutActuallyEscaping(body) { body in
            let sendable = unsafeBitCast(body, to: (@Sendable (Int) -> Void).self)
            DispatchQueue.concurrentPerform(iterations: n, execute: sendable)
        }
    }

    /// Splits `0..<total` into at most ``count`` contiguous chunks (each at least `minChunk` long)
    /// and runs `body(range)` for each chunk in parallel.
    @inline(__always)
    public static func parallelRanges(_ total: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if total <= 0 { return }
        let parts = max(1, min(count, total / max(1, minChunk)))
        if parts == 1 { body(0..<total); return }
        parallelFor(parts) { p in
            body((total * p / parts)..<(total * (p + 1) / parts))
        }
    }
}
