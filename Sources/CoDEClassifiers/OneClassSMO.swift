import CoDECore
import Foundation

/// The SMO solver for the one-class SVM dual (libsvm's `Solver` with `solve_one_class`'s start):
///
///   min_α ½ αᵀQα  subject to  0 ≤ α_i ≤ 1,  Σ α_i = ν·l,   Q_ij = K(x_i, x_j).
///
/// Every y_i is +1 and the linear term is 0, so libsvm's general solver reduces to what is
/// written here: second-order working-set selection (Fan, Chen & Lin 2005), the two-variable
/// analytic update clipped to the box, shrinking every min(l, 1000) iterations with gradient
/// reconstruction from Ḡ (the gradient part due to bounded α), and ρ from the free α.
/// Stops when `max_{i∈I_up} −G_i + max_{j∈I_low} G_j < eps`.
final class OneClassSMO {
    enum Status: UInt8 { case lower, upper, free }
    static let tau = 1e-12

    let l: Int
    let eps: Double
    let shrinking: Bool
    let cache: KernelCache
    var alpha: [Double], g: [Double], gBar: [Double]
    var status: [Status]
    var perm: [Int]                 // solver position -> original row
    var activeSize: Int
    var unshrink = false
    private(set) var iterations = 0

    init(cache: KernelCache, nu: Double, eps: Double, shrinking: Bool) {
        l = cache.l
        self.eps = eps
        self.shrinking = shrinking
        self.cache = cache
        alpha = Self.initialAlpha(l: cache.l, nu: nu)
        g = [Double](repeating: 0, count: l)
        gBar = [Double](repeating: 0, count: l)
        status = []
        perm = Array(0..<l)
        activeSize = l
        status = alpha.map(Self.status(of:))
        initGradient()
    }

    /// libsvm (scikit-learn fork): ν·l units of α spread as 1, 1, ..., the remainder, 0, ...
    /// (ν·l accumulated one row at a time, as the fork does with unit sample weights).
    static func initialAlpha(l: Int, nu: Double) -> [Double] {
        var nuL = 0.0
        for _ in 0..<l { nuL += nu }
        var a = [Double](repeating: 0, count: l)
        var i = 0
        while nuL > 0 && i < l { a[i] = min(1, nuL); nuL -= a[i]; i += 1 }
        return a
    }

    @inline(__always) static func status(of a: Double) -> Status { a >= 1 ? .upper : (a <= 0 ? .lower : .free) }

    /// G = Σ_{α_i > 0} α_i Q_i and Ḡ = Σ_{α_i = 1} Q_i. The columns are computed by blocks (one
    /// dgemm per block instead of one kernel column at a time) and stay in the cache.
    private func initGradient() {
        let cols = (0..<l).filter { status[$0] != .lower }
        g.withUnsafeMutableBufferPointer { gp in gBar.withUnsafeMutableBufferPointer { bp in
            let g = gp.baseAddress!, gBar = bp.baseAddress!
            cache.withColumns(cols) { i, q in
                let a = alpha[i]
                for j in 0..<l { g[j] += a * q[j] }
                if status[i] == .upper { for j in 0..<l { gBar[j] += q[j] } }
            }
        } }
    }

    /// Runs to convergence (or libsvm's iteration cap). Returns α in the original row order and ρ.
    func solve() -> (alpha: [Double], rho: Double) {
        let maxIter = max(10_000_000, 100 * l)
        var counter = min(l, 1000) + 1
        while iterations < maxIter {
            counter -= 1
            if counter == 0 {
                counter = min(l, 1000)
                if shrinking { shrink() }
            }
            var ws = selectWorkingSet()
            if ws == nil {
                reconstructGradient()
                activeSize = l
                ws = selectWorkingSet()
                if ws == nil { break }
                counter = 1
            }
            iterations += 1
            update(ws!.i, ws!.j)
        }
        if activeSize < l { reconstructGradient(); activeSize = l }
        var out = [Double](repeating: 0, count: l)
        for p in 0..<l { out[perm[p]] = alpha[p] }
        return (out, rho())
    }

    /// Second-order working-set selection; nil when the KKT gap is below eps.
    func selectWorkingSet() -> (i: Int, j: Int)? {
        var gmax = -Double.infinity, gmax2 = -Double.infinity
        var iSel = -1, jSel = -1
        var objMin = Double.infinity
        for t in 0..<activeSize where status[t] != .upper && -g[t] >= gmax { gmax = -g[t]; iSel = t }
        if iSel < 0 { return nil }
        let qi = cache.column(iSel, activeSize)
        let qdi = cache.diagonal[iSel]
        for j in 0..<activeSize where status[j] != .lower {
            let gj = g[j]
            if gj >= gmax2 { gmax2 = gj }
            let diff = gmax + gj
            if diff > 0 {
                let quad = qdi + cache.diagonal[j] - 2 * qi[j]
                let obj = -(diff * diff) / (quad > 0 ? quad : Self.tau)
                if obj <= objMin { jSel = j; objMin = obj }
            }
        }
        if gmax + gmax2 < eps || jSel < 0 { return nil }
        return (iSel, jSel)
    }

    /// The analytic two-variable step on (α_i, α_j), keeping α_i + α_j and the box [0, 1].
    func update(_ i: Int, _ j: Int) {
        let qi = cache.column(i, activeSize), qj = cache.column(j, activeSize)
        let oldI = alpha[i], oldJ = alpha[j]
        var quad = cache.diagonal[i] + cache.diagonal[j] - 2 * qi[j]
        if quad <= 0 { quad = Self.tau }
        let delta = (g[i] - g[j]) / quad
        let sum = oldI + oldJ
        var ai = oldI - delta, aj = oldJ + delta
        if sum > 1 { if ai > 1 { ai = 1; aj = sum - 1 } } else if aj < 0 { aj = 0; ai = sum }
        if sum > 1 { if aj > 1 { aj = 1; ai = sum - 1 } } else if ai < 0 { ai = 0; aj = sum }
        alpha[i] = ai; alpha[j] = aj
        let dI = ai - oldI, dJ = aj - oldJ
        g.withUnsafeMutableBufferPointer { gp in
            for k in 0..<activeSize { gp[k] += qi[k] * dI + qj[k] * dJ }
        }
        updateBar(i, wasUpper: status[i] == .upper)
        updateBar(j, wasUpper: status[j] == .upper)
    }

    /// Keeps Ḡ = Σ_{α_k = 1} Q_k in step when α_i enters or leaves the upper bound.
    private func updateBar(_ i: Int, wasUpper: Bool) {
        let s = Self.status(of: alpha[i])
        status[i] = s
        let isUpper = s == .upper
        if wasUpper == isUpper { return }
        let q = cache.column(i, l)
        let sign = isUpper ? 1.0 : -1.0
        gBar.withUnsafeMutableBufferPointer { gb in for k in 0..<l { gb[k] += sign * q[k] } }
    }
}

extension OneClassSMO {
    private func beShrunk(_ i: Int, _ gmax1: Double, _ gmax2: Double) -> Bool {
        switch status[i] {
        case .upper: return -g[i] > gmax1
        case .lower: return g[i] > gmax2
        case .free: return false
        }
    }

    /// Removes from the active set the α stuck at a bound that cannot move (libsvm `do_shrinking`).
    func shrink() {
        var gmax1 = -Double.infinity, gmax2 = -Double.infinity
        for i in 0..<activeSize {
            if status[i] != .upper, -g[i] >= gmax1 { gmax1 = -g[i] }
            if status[i] != .lower, g[i] >= gmax2 { gmax2 = g[i] }
        }
        if !unshrink && gmax1 + gmax2 <= eps * 10 {
            unshrink = true
            reconstructGradient()
            activeSize = l
        }
        var i = 0
        while i < activeSize {
            if beShrunk(i, gmax1, gmax2) {
                activeSize -= 1
                while activeSize > i {
                    if !beShrunk(activeSize, gmax1, gmax2) { swapIndex(i, activeSize); break }
                    activeSize -= 1
                }
            }
            i += 1
        }
    }

    private func swapIndex(_ i: Int, _ j: Int) {
        cache.swap(i, j)
        alpha.swapAt(i, j); g.swapAt(i, j); gBar.swapAt(i, j); status.swapAt(i, j); perm.swapAt(i, j)
    }

    /// Recomputes G for inactive rows: G = Ḡ + Σ_{free k} α_k Q_k.
    func reconstructGradient() {
        if activeSize == l { return }
        for j in activeSize..<l { g[j] = gBar[j] }
        let free = (0..<activeSize).filter { status[$0] == .free }
        if free.count * l > 2 * activeSize * (l - activeSize) {
            for i in activeSize..<l {
                let q = cache.column(i, activeSize)
                var s = 0.0
                for k in free { s += alpha[k] * q[k] }
                g[i] += s
            }
        } else {
            for k in free {
                let q = cache.column(k, l)
                let a = alpha[k]
                for j in activeSize..<l { g[j] += a * q[j] }
            }
        }
    }

    /// ρ: the mean gradient over free α, else the midpoint of the bounds the bounded α allow.
    func rho() -> Double {
        var ub = Double.infinity, lb = -Double.infinity, sum = 0.0, nFree = 0
        for i in 0..<activeSize {
            switch status[i] {
            case .upper: lb = max(lb, g[i])
            case .lower: ub = min(ub, g[i])
            case .free: nFree += 1; sum += g[i]
            }
        }
        return nFree > 0 ? sum / Double(nFree) : (ub + lb) / 2
    }
}
