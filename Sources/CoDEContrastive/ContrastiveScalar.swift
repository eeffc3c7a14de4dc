import CoDECore

/// The element types the contrastive ops run in: `Float` for training, `Double` for
/// finite-difference gradient checks of the very same code.
///
/// The one requirement is a row-major GEMM, `C = alpha · op(A) · op(B) + beta · C` with `op(A)`
/// `[m, k]`, `op(B)` `[k, n]`, `C` `[m, n]` and row strides `lda`, `ldb`, `ldc`.
public protocol ContrastiveScalar: BinaryFloatingPoint, Sendable {
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: ContrastiveScalar {
    /// Threaded over ``Threading/count`` through ``BLAS/matmul(_:_:_:m:n:k:alpha:beta:transA:transB:lda:ldb:ldc:)``.
    @inlinable
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        BLAS.matmul(a, b, c, m: m, n: n, k: k, alpha: alpha, beta: beta, transA: transA, transB: transB,
                    lda: lda, ldb: ldb, ldc: ldc)
    }
}

extension Double: ContrastiveScalar {
    /// Single-threaded `cblas_dgemm` (Double is for tests on tiny shapes).
    @inlinable
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        BLAS.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}
