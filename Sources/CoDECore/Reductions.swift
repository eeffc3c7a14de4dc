/// Parallel reductions used by the backward passes.
public enum Reductions {
    /// `dst[j] += Σ_i src[i * ld + j]` for `i < rows`, `j < cols` (bias gradients), accumulated
    /// in per-thread partial sums and then combined.
    public static func addColumnSums(_ src: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into dst: UnsafeMutablePointer<Float>) {
        let parts = max(1, min(Threading.count, rows / 64))
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: parts * cols)
        partial.initialize(repeating: 0, count: parts * cols)
        defer { partial.deallocate() }
        Threading.parallelFor(parts) { p in
            let acc = partial + p * cols
            for i in (rows * p / parts)..<(rows * (p + 1) / parts) {
                let row = src + i * ld
                var j = 0
                while j + 8 <= cols {
                    VectorMath.store(VectorMath.load(acc + j) + VectorMath.load(row + j), acc + j)
                    j += 8
                }
                while j < cols { acc[j] += row[j]; j += 1 }
            }
        }
        for p in 0..<parts {
            let acc = partial + p * cols
            for j in 0..<cols { dst[j] += acc[j] }
        }
    }
}
