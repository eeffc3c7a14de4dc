import CoDECore
import Foundation

extension LogisticRegression {
    /// Fits by Newton's method (see the type's documentation for the objective).
    /// Throws for empty data, a missing class, non-finite values or C ≤ 0.
    public static func fit(_ x: EmbeddingMatrix, labels: [Verdict], hyperparameters h: Hyperparameters) throws -> LogisticRegression {
        guard h.C > 0, h.C.isFinite else { throw ClassifierError.badHyperparameter(name: "C", value: "\(h.C)", reason: "must be a positive number") }
        guard labels.count == x.rows else { throw ClassifierError.badTrainingData("\(labels.count) labels for \(x.rows) embeddings") }
        try x.validateFinite(source: "training embeddings")
        let nFake = labels.filter { $0 == .fake }.count, nReal = labels.count - nFake
        guard nFake > 0, nReal > 0 else { throw ClassifierError.badTrainingData("logistic regression needs real and fake examples (got \(nReal) real, \(nFake) fake)") }
        var problem = NewtonProblem(x: x, labels: labels, weights: sampleWeights(labels, h.classWeight, nReal: nReal, nFake: nFake), C: h.C)
        let theta = problem.solve(tolerance: h.gradientTolerance, maxIterations: h.maxIterations)
        return LogisticRegression(coefficients: Array(theta[0..<x.dimension]), intercept: theta[x.dimension], hyperparameters: h)
    }

    /// scikit-learn's `class_weight="balanced"`: `n / (n_classes · n_c)` per sample of class c.
    static func sampleWeights(_ labels: [Verdict], _ cw: ClassWeight, nReal: Int, nFake: Int) -> [Double] {
        let n = Double(labels.count)
        let wReal = cw == .balanced ? n / (2 * Double(nReal)) : 1
        let wFake = cw == .balanced ? n / (2 * Double(nFake)) : 1
        return labels.map { $0 == .fake ? wFake : wReal }
    }
}

/// The penalised logistic loss over θ = (w, b), with value, gradient and Hessian in Double.
struct NewtonProblem {
    let n: Int, d: Int, p: Int          // p = d + 1 parameters
    let z: [Double]                     // (n, p): rows [x_i, 1]
    let y: [Double], s: [Double]        // (n) labels 0/1, sample weights
    let lambda: Double                  // 1 / C

    init(x: EmbeddingMatrix, labels: [Verdict], weights: [Double], C: Double) {
        n = x.rows; d = x.dimension; p = d + 1
        var z = [Double](repeating: 1, count: n * p)
        for i in 0..<n { for j in 0..<d { z[i * p + j] = Double(x.values[i * d + j]) } }
        self.z = z
        y = labels.map { $0 == .fake ? 1 : 0 }
        s = weights
        lambda = 1 / C
    }

    /// f = Z θ.
    func scores(_ theta: [Double]) -> [Double] {
        var f = [Double](repeating: 0, count: n)
        z.withUnsafeBufferPointer { a in theta.withUnsafeBufferPointer { t in f.withUnsafeMutableBufferPointer { o in
            BLAS.dgemv(trans: false, m: n, n: p, alpha: 1, a: a.baseAddress!, lda: p, x: t.baseAddress!, beta: 0, y: o.baseAddress!)
        } } }
        return f
    }

    /// F(θ) from precomputed scores.
    func value(_ theta: [Double], _ f: [Double]) -> Double {
        var v = 0.0
        for i in 0..<n {
            let t = f[i]
            let softplus = t > 0 ? t + log1p(exp(-t)) : log1p(exp(t))
            v += s[i] * (softplus - y[i] * t)
        }
        var r = 0.0
        for j in 0..<d { r += theta[j] * theta[j] }
        return v + 0.5 * lambda * r
    }

    /// Gradient and Hessian at θ (scores f given): `g = Zᵀ r + λ w`, `H = Zᵀ diag(s σ(1−σ)) Z + λ I_w`,
    /// with the rows split over threads (one dgemv + dgemm per block, partial sums added at the end).
    func derivatives(_ theta: [Double], _ f: [Double]) -> (g: [Double], h: [Double]) {
        let parts = max(1, min(Threading.count, n / 4096))
        var gp = [Double](repeating: 0, count: parts * p)        // (parts, p)
        var hp = [Double](repeating: 0, count: parts * p * p)    // (parts, p, p)
        z.withUnsafeBufferPointer { zb in gp.withUnsafeMutableBufferPointer { gb in hp.withUnsafeMutableBufferPointer { hb in
            let zp = zb.baseAddress!, gpp = gb.baseAddress!, hpp = hb.baseAddress!
            Threading.parallelFor(parts) { part in
                let r0 = n * part / parts, rows = n * (part + 1) / parts - r0
                var r = [Double](repeating: 0, count: rows)       // s_i (σ_i − y_i)
                var zw = [Double](repeating: 0, count: rows * p)  // rows √(s_i σ_i (1−σ_i)) z_i
                for i in 0..<rows {
                    let sg = LogisticRegression.sigmoid(f[r0 + i])
                    r[i] = s[r0 + i] * (sg - y[r0 + i])
                    let c = (s[r0 + i] * sg * (1 - sg)).squareRoot()
                    for j in 0..<p { zw[i * p + j] = c * zp[(r0 + i) * p + j] }
                }
                BLAS.dgemv(trans: true, m: rows, n: p, alpha: 1, a: zp + r0 * p, lda: p, x: r, beta: 0, y: gpp + part * p)
                zw.withUnsafeBufferPointer { a in
                    BLAS.dgemm(transA: true, transB: false, m: p, n: p, k: rows, alpha: 1, a: a.baseAddress!, lda: p,
                               b: a.baseAddress!, ldb: p, beta: 0, c: hpp + part * p * p, ldc: p)
                }
            }
        } } }
        var g = Array(gp[0..<p]), h = Array(hp[0..<(p * p)])
        for part in 1..<max(1, parts) {
            for j in 0..<p { g[j] += gp[part * p + j] }
            for j in 0..<(p * p) { h[j] += hp[part * p * p + j] }
        }
        for j in 0..<d {
            g[j] += lambda * theta[j]
            h[j * p + j] += lambda
        }
        return (g, h)
    }

    /// Damped Newton iterations from θ = 0.
    mutating func solve(tolerance: Double, maxIterations: Int) -> [Double] {
        var theta = [Double](repeating: 0, count: p)
        var f = scores(theta)
        var fval = value(theta, f)
        let scale = max(1, s.reduce(0, +))
        for _ in 0..<maxIterations {
            let (g, h0) = derivatives(theta, f)
            var h = h0
            if g.map(abs).max()! <= tolerance * scale { break }
            var step = g
            let ok = h.withUnsafeMutableBufferPointer { hp in step.withUnsafeMutableBufferPointer { sp in
                BLAS.dposv(n: p, nrhs: 1, a: hp.baseAddress!, b: sp.baseAddress!)
            } }
            if !ok { step = g }  // not positive definite numerically: fall back to gradient descent
            let slope = zip(g, step).reduce(0) { $0 + $1.0 * $1.1 }
            var t = 1.0, accepted = false
            for _ in 0..<50 {
                let cand = zip(theta, step).map { $0 - t * $1 }
                let fc = scores(cand)
                let vc = value(cand, fc)
                if vc <= fval - 1e-4 * t * slope || (vc <= fval && t < 1e-3) {
                    theta = cand; f = fc; fval = vc; accepted = true
                    break
                }
                t *= 0.5
            }
            if !accepted { break }  // no decrease possible at double precision: converged
        }
        return theta
    }
}
