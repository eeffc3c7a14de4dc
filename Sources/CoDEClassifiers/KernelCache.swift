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
    init(rows: [Double], count l: Int, dimension d: Int, kernel: Kernel, budgetBytes: Int) {
        self.l = l; self.d = d; self.kernel = kernel
        let xp = UnsafeMutablePointer<Double>.allocate(capacity: max(1, l * d))
        rows.withUnsafeBufferPointer { xp.initialize(from: $0.baseAddress!, count: l * d) }
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
        x.deallocate(); norms.deallocate(); diagonal.deallocate()
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

    /// Entries `[a, b)` of column i: one dgemv of rows a..<b against x_i, then the kernel.
    private func fill(_ col: UnsafeMutablePointer<Double>, column i: Int, from a: Int, to b: Int) {
        let xi = x + i * d
        Threading.parallelRanges(b - a, minChunk: 2048) { r in
            let lo = a + r.lowerBound
            BLAS.dgemv(trans: false, m: r.count, n: d, alpha: 1, a: x + lo * d, lda: d, x: xi, beta: 0, y: col + lo)
            let ni = norms[i]
            for j in lo..<(lo + r.count) { col[j] = kernel.apply(dot: col[j], normU: ni, normV: norms[j]) }
        }
    }

    /// Exchanges positions i and j (training rows, diagonal, cached columns and entries).
    func swap(_ i: Int, _ j: Int) {
        if i == j { return }
        for t in 0..<d { Swift.swap(&x[i * d + t], &x[j * d + t]) }
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
