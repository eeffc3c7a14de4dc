import Foundation

/// Exact t-SNE (van der Maaten & Hinton 2008) to 2-D, for the report's optional second
/// projection. O(n²) time and memory, so meant for at most a few thousand points.
///
/// - Affinities: `p_{j|i} ∝ exp(−β_i ‖x_i − x_j‖²)` with β_i found by bisection so that the
///   entropy of row i is `ln(perplexity)`; `P = (p_{j|i} + p_{i|j}) / 2n`.
/// - Map: `q_ij ∝ (1 + ‖y_i − y_j‖²)⁻¹`; gradient `4 Σ_j (P_ij − q_ij)(1 + ‖y_i − y_j‖²)⁻¹ (y_i − y_j)`.
/// - Optimisation as the reference implementation: Y₀ ~ N(0, 10⁻⁴) from the seeded generator,
///   learning rate 200, momentum 0.5 then 0.8 after 250 iterations, early exaggeration 12 for the
///   first 100, per-coordinate gains (+0.2 / ×0.8, floor 0.01), Y re-centred every step.
public enum TSNE {
    public struct Options: Sendable {
        public var perplexity = 30.0
        public var iterations = 1000
        public var learningRate = 200.0
        public var seed: UInt64 = 2024
        public init() {}
    }

    /// The 2-D map of `rows` (`n ≥ 2` vectors of equal width), `[n][2]`. Deterministic for a seed.
    public static func embed(_ rows: [[Float]], options: Options = .init()) -> [[Double]] {
        let n = rows.count
        precondition(n >= 2, "TSNE: need at least 2 rows")
        let p = affinities(squaredDistances(rows), n: n, perplexity: min(options.perplexity, Double(n - 1) / 3))
        var rng = Xoshiro256(seed: options.seed)
        var y = (0..<(2 * n)).map { _ in 1e-2 * rng.nextNormal() }
        var update = [Double](repeating: 0, count: 2 * n), gains = [Double](repeating: 1, count: 2 * n)
        var grad = [Double](repeating: 0, count: 2 * n)
        for it in 0..<options.iterations {
            gradient(p, y: y, n: n, exaggeration: it < 100 ? 12 : 1, into: &grad)
            let momentum = it < 250 ? 0.5 : 0.8
            for k in 0..<(2 * n) {
                gains[k] = (grad[k] > 0) != (update[k] > 0) ? gains[k] + 0.2 : max(0.01, gains[k] * 0.8)
                update[k] = momentum * update[k] - options.learningRate * gains[k] * grad[k]
                y[k] += update[k]
            }
            for c in 0..<2 {
                let mean = stride(from: c, to: 2 * n, by: 2).reduce(0.0) { $0 + y[$1] } / Double(n)
                for k in stride(from: c, to: 2 * n, by: 2) { y[k] -= mean }
            }
        }
        return (0..<n).map { [y[2 * $0], y[2 * $0 + 1]] }
    }

    /// `[n, n]` squared Euclidean distances, in Double.
    public static func squaredDistances(_ rows: [[Float]]) -> [Double] {
        let n = rows.count, d = rows[0].count
        var out = [Double](repeating: 0, count: n * n)
        out.withUnsafeMutableBufferPointer { o in
            Threading.parallelFor(n) { i in
                for j in 0..<n where j != i {
                    var s = 0.0
                    for k in 0..<d { let t = Double(rows[i][k]) - Double(rows[j][k]); s += t * t }
                    o[i * n + j] = s
                }
            }
        }
        return out
    }

    /// Row-conditional affinities calibrated to `perplexity`, symmetrised and normalised to sum 1.
    static func affinities(_ d2: [Double], n: Int, perplexity: Double) -> [Double] {
        var cond = [Double](repeating: 0, count: n * n)
        cond.withUnsafeMutableBufferPointer { c in
            Threading.parallelFor(n) { i in
                let row = conditionalRow(d2, i: i, n: n, perplexity: perplexity)
                for j in 0..<n { c[i * n + j] = row[j] }
            }
        }
        var p = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { p[i * n + j] = max((cond[i * n + j] + cond[j * n + i]) / (2 * Double(n)), 1e-12) } }
        for i in 0..<n { p[i * n + i] = 0 }
        return p
    }

    /// `p_{j|i}` for one row: bisection on β (up to 100 steps) until the row's entropy (nats) is
    /// within 1e-5 of `ln(perplexity)`.
    public static func conditionalRow(_ d2: [Double], i: Int, n: Int, perplexity: Double) -> [Double] {
        let target = log(perplexity)
        var beta = 1.0, lo = 0.0, hi = Double.infinity
        var row = [Double](repeating: 0, count: n)
        let dmin = (0..<n).filter { $0 != i }.map { d2[i * n + $0] }.min() ?? 0
        for _ in 0..<100 {
            var sum = 0.0, weighted = 0.0
            for j in 0..<n where j != i {
                let e = exp(-beta * (d2[i * n + j] - dmin))  // shifted by the minimum for stability
                row[j] = e; sum += e; weighted += e * (d2[i * n + j] - dmin)
            }
            let entropy = log(sum) + beta * weighted / sum
            if abs(entropy - target) < 1e-5 { break }
            if entropy > target { lo = beta; beta = hi.isFinite ? (beta + hi) / 2 : beta * 2 } else { hi = beta; beta = (beta + lo) / 2 }
        }
        let sum = row.reduce(0, +)
        return row.map { $0 / sum }
    }

    static func gradient(_ p: [Double], y: [Double], n: Int, exaggeration: Double, into grad: inout [Double]) {
        var num = [Double](repeating: 0, count: n * n)
        num.withUnsafeMutableBufferPointer { q in
            Threading.parallelFor(n) { i in
                for j in 0..<n where j != i {
                    let dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1]
                    q[i * n + j] = 1 / (1 + dx * dx + dy * dy)
                }
            }
        }
        let z = num.reduce(0, +)
        grad.withUnsafeMutableBufferPointer { g in
            Threading.parallelFor(n) { i in
                var gx = 0.0, gy = 0.0
                for j in 0..<n where j != i {
                    let w = num[i * n + j], m = (exaggeration * p[i * n + j] - w / z) * w
                    gx += m * (y[2 * i] - y[2 * j]); gy += m * (y[2 * i + 1] - y[2 * j + 1])
                }
                g[2 * i] = 4 * gx; g[2 * i + 1] = 4 * gy
            }
        }
    }
}
