import CoDECore

/// Kernel columns `Q[i][0..<len]` of the SMO solver, computed on demand and kept in a
/// least-recently-used cache bounded by a byte budget (libsvm's `Cache`).
///
/// Rows of the training matrix are kept in the solver's current (shrinking) order; a column is
/// extended lazily when a longer prefix is asked for, and ``swap(_:_:)`` mirrors the solver's
/// index swaps so cached entries stay valid (a column holding only one of the two is dropped).
final class KernelCache {
    let l: Int, d: Int
    let kernel: Kernel
    /// Training rows in solver order, `(l, d)`, and their squared norms `(l)`.
    let x: UnsafeMutablePointer<Double>
    /// The same rows as Float `(l, d)`: exact, since embeddings are Float. Column fills read these
    /// (half the memory traffic) and multiply-accumulate in Double, where each Float×Float
    /// product is exact, so the columns are as accurate as a Double dot product.
    let xf: UnsafeMutablePointer<Float>
    let norms: UnsafeMutablePointer<Double>
    /// Diagonal `K(x_i, x_i)` in solver order.
    let diagonal: UnsafeMutablePointer<Double>
    private let maxColumns: Int
    private var slot: [Int]          // column i -> slot or -1
    private var owner: [Int]         // slot -> column
    private var length: [Int]        // column i -> computed prefix length
    private var lastUse: [UInt64]    // slot -> clock
    private var storage: [UnsafeMutablePointer<Double>] = []
    private var clock: UInt64 = 0
    private(set) var misses = 0

    /// `rows`: `(l, d)` Double; `budgetBytes` bounds the column storage (at least two columns).
    init(rows: [Float], count l: Int, dimension d: Int, kernel: Kernel, budgetBytes: Int) {
        self.l = l; self.d = d; self.kernel = kernel
        let xp = UnsafeMutablePointer<Double>.allocate(capacity: max(1, l * d))
        let fp = UnsafeMutablePointer<Float>.allocate(capacity: max(1, l * d))
        rows.withUnsafeBufferPointer { src in
            fp.initialize(from: src.baseAddress!, count: l * d)
            for t in 0..<(l * d) { xp[t] = Double(src[t]) }
        }
        xf = fp
        let np = UnsafeMutablePointer<Double>.allocate(capacity: max(1, l))
        let dp = UnsafeMutablePointer<Double>.allocate(capacity: max(1, l))
        for i in 0..<l {
            var s = 0.0
            for j in 0..<d { s += xp[i * d + j] * xp[i * d + j] }
            np[i] = s
            dp[i] = kernel.apply(dot: s, normU: s, normV: s)
        }
        x = xp; norms = np; diagonal = dp
        maxColumns = min(l, max(2, budgetBytes / max(1, 8 * l)))
        slot = [Int](repeating: -1, count: l)
        length = [Int](repeating: 0, count: l)
        owner = []; lastUse = []
    }

    deinit {
        x.deallocate(); xf.deallocate(); norms.deallocate(); diagonal.deallocate()
        for p in storage { p.deallocate() }
    }

    /// Column i with at least `len` valid entries: `Q[i][j] = K(x_i, x_j)` for `j < len`.
    func column(_ i: Int, _ len: Int) -> UnsafeMutablePointer<Double> {
        clock &+= 1
        var s = slot[i]
        if s < 0 {
            s = acquireSlot()
            slot[i] = s; owner[s] = i; length[i] = 0
        }
        lastUse[s] = clock
        let col = storage[s]
        if length[i] < len {
            fill(col, column: i, from: length[i], to: len)
            length[i] = len
            misses += 1
        }
        return col
    }

    private func acquireSlot() -> Int {
        if storage.count < maxColumns {
            storage.append(.allocate(capacity: l))
            owner.append(-1); lastUse.append(0)
            return storage.count - 1
        }
        var victim = 0
        for s in 1..<storage.count where lastUse[s] < lastUse[victim] { victim = s }
        let old = owner[victim]
        if old >= 0 { slot[old] = -1; length[old] = 0 }
        return victim
    }

    /// Entries `[a, b)` of column i: Float rows against the Double x_i, accumulated in Double.
    private func fill(_ col: UnsafeMutablePointer<Double>, column i: Int, from a: Int, to b: Int) {
        let xi = x + i * d, ni = norms[i]
        Threading.parallelRanges(b - a, minChunk: 2048) { r in
            for j in (a + r.lowerBound)..<(a + r.upperBound) {
                col[j] = kernel.apply(dot: Self.dot(xf + j * d, xi, d), normU: ni, normV: norms[j])
            }
        }
    }

    /// Σ_t Double(u_t) · v_t, eight lanes at a time.
    @inline(__always)
    static func dot(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Double>, _ d: Int) -> Double {
        var a0 = SIMD4<Double>(), a1 = SIMD4<Double>()
        var t = 0
        while t + 8 <= d {
            let w = UnsafeRawPointer(u + t).loadUnaligned(as: SIMD8<Float>.self)
            a0 += SIMD4<Double>(Double(w[0]), Double(w[1]), Double(w[2]), Double(w[3])) * UnsafeRawPointer(v + t).loadUnaligned(as: SIMD4<Double>.self)
            a1 += SIMD4<Double>(Double(w[4]), Double(w[5]), Double(w[6]), Double(w[7])) * UnsafeRawPointer(v + t + 4).loadUnaligned(as: SIMD4<Double>.self)
            t += 8
        }
        var s = (a0 + a1).sum()
        while t < d { s += Double(u[t]) * v[t]; t += 1 }
        return s
    }

    /// Full columns (length l) for many indices at once, by blocks: one dgemm `X_B · Xᵀ` per block
    /// (columns split over threads), stored in the cache, then `body(i, column)` per index.
    func withColumns(_ cols: [Int], _ body: (Int, UnsafeMutablePointer<Double>) -> Void) {
        let block = max(1, min(256, maxColumns / 2))
        let xb = UnsafeMutablePointer<Double>.allocate(capacity: block * d)  // (block, d)
        let tmp = UnsafeMutablePointer<Double>.allocate(capacity: block * l) // (block, l)
        defer { xb.deallocate(); tmp.deallocate() }
        var start = 0
        while start < cols.count {
            let c = Array(cols[start..<min(cols.count, start + block)])
            for (k, i) in c.enumerated() { (xb + k * d).update(from: x + i * d, count: d) }
            Threading.parallelRanges(l, minChunk: 1024) { r in
                BLAS.dgemm(transA: false, transB: true, m: c.count, n: r.count, k: d, alpha: 1, a: xb, lda: d,
                           b: x + r.lowerBound * d, ldb: d, beta: 0, c: tmp + r.lowerBound, ldc: l)
                for (k, i) in c.enumerated() {
                    let row = tmp + k * l, ni = norms[i]
                    for j in r { row[j] = kernel.apply(dot: row[j], normU: ni, normV: norms[j]) }
                }
            }
            for (k, i) in c.enumerated() {
                let col = store(i, from: tmp + k * l)
                body(i, col)
            }
            start += block
        }
    }

    /// Puts a complete column into the cache (evicting the least recently used) and returns it.
    private func store(_ i: Int, from src: UnsafePointer<Double>) -> UnsafeMutablePointer<Double> {
        clock &+= 1
        var s = slot[i]
        if s < 0 { s = acquireSlot(); slot[i] = s; owner[s] = i }
        lastUse[s] = clock
        length[i] = l
        storage[s].update(from: src, count: l)
        misses += 1
        return storage[s]
    }

    /// Exchanges positions i and j (training rows, diagonal, cached columns and entries).
    func swap(_ i: Int, _ j: Int) {
        if i == j { return }
        for t in 0..<d { Swift.swap(&x[i * d + t], &x[j * d + t]); Swift.swap(&xf[i * d + t], &xf[j * d + t]) }
        Swift.swap(&norms[i], &norms[j])
        Swift.swap(&diagonal[i], &diagonal[j])
        slot.swapAt(i, j); length.swapAt(i, j)
        if slot[i] >= 0 { owner[slot[i]] = i }
        if slot[j] >= 0 { owner[slot[j]] = j }
        let lo = min(i, j), hi = max(i, j)
        for s in 0..<storage.count {
            let c = owner[s]
            if c < 0 || length[c] <= lo { continue }
            if length[c] > hi {
                Swift.swap(&storage[s][lo], &storage[s][hi])
            } else {   // holds lo but not hi: drop it
                slot[c] = -1; length[c] = 0; owner[s] = -1; lastUse[s] = 0
            }
        }
    }
}
