// The only file in CoDEKit that calls OpenBLAS / LAPACKE. Every other module goes through `BLAS`.
import COpenBLAS
import Foundation

/// Thin, Int-taking wrappers over the CBLAS routines CoDEKit uses. All matrices are row-major.
///
/// OpenBLAS's own thread pool is pinned to one thread by ``Threading``: CoDEKit partitions work
/// across threads itself (see ``BLAS/matmul(_:_:_:m:n:k:alpha:beta:transA:transB:lda:ldb:ldc:)``),
/// so BLAS calls never nest inside each other's thread pools.
public enum BLAS {
    @inline(__always) static func i32(_ v: Int) -> blasint { blasint(truncatingIfNeeded: v) }

    /// One-time set-up before the first BLAS call: kernel check (see ``kernelSelection``) and
    /// OpenBLAS's own pool pinned to one thread.
    static let setup: Void = {
        _kernelSelection = selectKernel()
        openblas_set_num_threads(1)
    }()

    /// What the start-up kernel check did, for logs and benchmark reports.
    public static var kernelSelection: String {
        _ = setup
        return _kernelSelection
    }
    nonisolated(unsafe) private static var _kernelSelection = ""

    /// OpenBLAS 0.3.21 (Debian 12) does not recognise recent Intel server CPUs (e.g. family 6
    /// model 207) and falls back to its generic "Prescott" SSE3 kernel, about 5x slower at
    /// CoDE's GEMM shapes. When (and only when) OpenBLAS chose Prescott by itself, the user has
    /// not set `OPENBLAS_CORETYPE`, and the CPU (as the kernel reports in /proc/cpuinfo) has the
    /// AVX-512 F/BW/VL/DQ/CD or AVX2+FMA instructions the SkylakeX or Haswell kernels need,
    /// re-run OpenBLAS's own dynamic-arch initialisation with that core named. Set
    /// `CODEKIT_OPENBLAS_KERNEL=keep` to leave OpenBLAS's choice alone.
    static func selectKernel() -> String {
        let env = ProcessInfo.processInfo.environment
        let chosen = coreName
        let flags = cpuFlags()
        if let forced = env["OPENBLAS_CORETYPE"] {
            _kernelAdvice = advice(forcedCore: forced, chosen: chosen, flags: flags ?? [])
            return "OpenBLAS \(chosen) (OPENBLAS_CORETYPE set by the user)"
        }
        if env["CODEKIT_OPENBLAS_KERNEL"] == "keep" || chosen != "Prescott" { return "OpenBLAS \(chosen) (its own choice)" }
        guard let flags else { return "OpenBLAS \(chosen) (its own choice; CPU flags unavailable)" }
        guard let target = widestCore(flags: flags) else { return "OpenBLAS \(chosen) (its own choice)" }
        guard let h = dlopen(nil, RTLD_NOW), let qs = dlsym(h, "gotoblas_dynamic_quit"), let isym = dlsym(h, "gotoblas_dynamic_init") else {
            return "OpenBLAS \(chosen) (not a dynamic-arch build; kernel left as is)"
        }
        typealias Fn = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(qs, to: Fn.self)()
        unsafeBitCast(isym, to: Fn.self)()
        unsetenv("OPENBLAS_CORETYPE")
        return "OpenBLAS \(coreName) (CoDEKit replaced the generic \(chosen) fallback; CODEKIT_OPENBLAS_KERNEL=keep disables this)"
    }

    /// Set when `OPENBLAS_CORETYPE` names a core narrower than the CPU: advice for logs and tools.
    ///
    /// CoDEKit never overrides a core type the user set. It only notes, here, when the named
    /// core's kernels use AVX2 at most while the CPU has AVX-512: on this project's AMD EPYC
    /// machines (family 26), whose environment sets `OPENBLAS_CORETYPE=Haswell`, the SkylakeX
    /// kernels ran ViT-Tiny's projection and MLP GEMMs 1.7-1.9x and its batch-32 forward 1.6x
    /// faster (docs/performance.md, "Kernel on AMD EPYC").
    public static var kernelAdvice: String? {
        _ = setup
        return _kernelAdvice
    }
    nonisolated(unsafe) private static var _kernelAdvice: String?

    /// OpenBLAS core names whose kernels use AVX-512.
    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]

    /// The widest OpenBLAS core these CPU flags can run: SkylakeX (AVX-512 F/BW/VL/DQ/CD),
    /// Haswell (AVX2 + FMA) or nil.
    static func widestCore(flags: Set<String>) -> String? {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// The advice ``kernelAdvice`` gives when the user forced `forcedCore` and OpenBLAS runs
    /// `chosen`, on a CPU with these flags; nil when there is nothing to say.
    static func advice(forcedCore: String, chosen: String, flags: Set<String>) -> String? {
        guard widestCore(flags: flags) == "SkylakeX", !avx512Cores.contains(chosen) else { return nil }
        return "OPENBLAS_CORETYPE=\(forcedCore) runs OpenBLAS's \(chosen) kernels, which use AVX2 at most, "
            + "but this CPU has AVX-512: OPENBLAS_CORETYPE=SkylakeX (or leaving it unset) is usually faster "
            + "(a 1.6x faster ViT-Tiny forward on an AMD EPYC, see docs/performance.md)"
    }

    /// The `flags` line of /proc/cpuinfo, or nil where there is none.
    static func cpuFlags() -> Set<String>? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        return Set(flagsLine.split(separator: " ").map(String.init))
    }

    /// `C = alpha * op(A) * op(B) + beta * C`, single precision, row-major, on the calling thread.
    /// - Parameters: `op(A)` is `[m, k]`, `op(B)` is `[k, n]`, `C` is `[m, n]`; `lda`, `ldb`, `ldc`
    ///   are the row strides of the matrices as stored.
    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = setup
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension")
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            i32(m), i32(n), i32(k), alpha, a, i32(lda), b, i32(ldb), beta, c, i32(ldc))
    }

    /// `C = alpha * op(A) * op(B) + beta * C`, double precision, row-major, on the calling thread.
    @inline(__always)
    public static func dgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        _ = setup
        precondition(m >= 0 && n >= 0 && k >= 0, "dgemm: negative dimension")
        if m == 0 || n == 0 { return }
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            i32(m), i32(n), i32(k), alpha, a, i32(lda), b, i32(ldb), beta, c, i32(ldc))
    }

    /// `y = alpha * op(A) * x + beta * y`, double precision, row-major. `A` is `[m, n]` as stored.
    public static func dgemv(
        trans: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>
    ) {
        _ = setup
        if m == 0 || n == 0 { return }
        cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, i32(m), i32(n), alpha, a, i32(lda), x, 1, beta, y, 1)
    }

    /// Dot product of two float vectors of length `n` (unit stride).
    @inline(__always)
    public static func sdot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        _ = setup
        return cblas_sdot(i32(n), x, 1, y, 1)
    }

    /// Dot product of two double vectors of length `n` (unit stride).
    @inline(__always)
    public static func ddot(_ n: Int, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        _ = setup
        return cblas_ddot(i32(n), x, 1, y, 1)
    }

    /// Sets OpenBLAS's internal thread count. CoDEKit keeps it at 1 and threads above BLAS.
    public static func setInternalThreads(_ n: Int) {
        _ = setup
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// OpenBLAS's build configuration string (kernel chosen at run time, threading model).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The name of the CPU core kernel OpenBLAS selected at run time (e.g. "SkylakeX").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Solves the symmetric positive-definite system `A x = b` in place (LAPACKE dposv, row-major).
    /// `a` is `[n, n]` (overwritten by its Cholesky factor), `b` is `[n, nrhs]` (overwritten by x).
    /// - Returns: `false` if `A` is not positive definite.
    public static func dposv(n: Int, nrhs: Int, a: UnsafeMutablePointer<Double>, b: UnsafeMutablePointer<Double>) -> Bool {
        _ = setup
        return LAPACKE_dposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), Int32(nrhs), a, Int32(n), b, Int32(nrhs)) == 0
    }

    /// Eigenvalues and eigenvectors of a symmetric matrix (LAPACKE dsyev, row-major, upper triangle).
    /// `a` is `[n, n]`; on success column `j` of `a` (row-major) is the unit eigenvector of `w[j]`,
    /// and `w` (`[n]`) holds the eigenvalues in ascending order.
    /// - Returns: `false` if the QR iteration did not converge.
    public static func dsyev(n: Int, a: UnsafeMutablePointer<Double>, w: UnsafeMutablePointer<Double>) -> Bool {
        _ = setup
        return LAPACKE_dsyev(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(n), a, Int32(n), w) == 0
    }
}

extension BLAS {
    /// Partitioned GEMM across ``Threading/count`` threads: `C = alpha * op(A) * op(B) + beta * C`.
    ///
    /// The rows of `C` (or, when it has too few rows, its columns) are split into contiguous
    /// blocks, one single-threaded sgemm per block (a transposed `A` is split by its columns).
    /// This is how CoDEKit uses every core without nesting thread pools; problems too small to
    /// split run on the calling thread.
    public static func matmul(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0,
        transA: Bool = false, transB: Bool = false,
        lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
    ) {
        let lda = lda ?? (transA ? m : k)
        let ldb = ldb ?? (transB ? k : n)
        let ldc = ldc ?? n
        let threads = Threading.count
        // Below ~32 rows or columns per block the split costs more than it gains. Rows of C are
        // rows of op(A): row r0 starts at a + r0 * lda, or at column r0 (a + r0) when A is transposed.
        let rowParts = min(threads, m / 32)
        let colParts = min(threads, n / 32)
        if rowParts >= threads || (rowParts > 1 && rowParts >= colParts) {
            Threading.parallelFor(rowParts) { p in
                let r0 = m * p / rowParts, r1 = m * (p + 1) / rowParts
                sgemm(transA: transA, transB: transB, m: r1 - r0, n: n, k: k, alpha: alpha,
                      a: a + (transA ? r0 : r0 * lda), lda: lda, b: b, ldb: ldb, beta: beta, c: c + r0 * ldc, ldc: ldc)
            }
        } else if colParts > 1 {
            Threading.parallelFor(colParts) { p in
                let j0 = n * p / colParts, j1 = n * (p + 1) / colParts
                sgemm(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha,
                      a: a, lda: lda, b: b + (transB ? j0 * ldb : j0), ldb: ldb,
                      beta: beta, c: c + j0, ldc: ldc)
            }
        } else {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }
}
