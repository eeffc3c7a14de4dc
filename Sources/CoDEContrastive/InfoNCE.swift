import Foundation

/// What ``InfoNCE/forward(query:positive:negatives:)`` keeps for the backward pass.
public struct InfoNCECache<T: ContrastiveScalar>: Sendable {
    /// Softmax of the logits, `[n, 1 + m]`; column 0 is the positive.
    public let probabilities: [T]
    public let queries: Int
    public let negatives: Int

    @inlinable
    public init(probabilities: [T], queries: Int, negatives: Int) {
        precondition(probabilities.count == queries * (negatives + 1), "InfoNCECache: \(probabilities.count) probabilities for [\(queries), \(negatives + 1)]")
        self.probabilities = probabilities
        self.queries = queries
        self.negatives = negatives
    }
}

/// InfoNCE with "unpaired" negatives and mean reduction (the authors' `info_nce`,
/// `negative_mode='unpaired'`), on rows that are already L2-normalised.
///
/// For queries Q `[n, d]`, positives P `[n, d]` and one shared negative set N `[m, d]`:
/// ```
/// ℓ_i    = [q_i·p_i, q_i·n_1, …, q_i·n_m] / τ            (the positive is class 0)
/// L      = (1/n) Σ_i ( logsumexp(ℓ_i) − ℓ_i0 )
/// ∂L/∂ℓ  = (softmax(ℓ_i) − e_0) / n =: G
/// ∂L/∂q_i = (G_i0 p_i + Σ_j G_ij n_j) / τ,   ∂L/∂p_i = G_i0 q_i / τ,   ∂L/∂n_j = Σ_i G_ij q_i / τ
/// ```
/// The similarity matrix Q·Nᵀ is one GEMM; logsumexp is max-shifted with the sum in Double.
/// ``lossAndGradients(query:positive:negatives:)`` composes it with ``L2Normalization`` for raw rows.
public struct InfoNCE: Sendable, Equatable {
    /// τ; the CoDE recipe uses 0.1.
    public let temperature: Double

    public init(temperature: Double = 0.1) {
        precondition(temperature > 0 && temperature.isFinite, "InfoNCE: temperature must be positive and finite")
        self.temperature = temperature
    }

    /// The loss L (Double) and the softmax cache. Shapes must agree (checked by precondition;
    /// ``CoDEObjective`` validates user input before calling this).
    @inlinable
    public func forward<T: ContrastiveScalar>(query q: Embeddings<T>, positive p: Embeddings<T>, negatives neg: Embeddings<T>)
        -> (loss: Double, cache: InfoNCECache<T>) {
        precondition(p.shape == q.shape && neg.dim == q.dim, "InfoNCE.forward: shapes \(q.shape), \(p.shape), \(neg.shape)")
        let n = q.rows, m = neg.rows, d = q.dim, w = m + 1
        var logits = [T](repeating: 0, count: n * w)
        let invTau = 1 / temperature
        q.values.withUnsafeBufferPointer { qp in
            p.values.withUnsafeBufferPointer { pp in
                neg.values.withUnsafeBufferPointer { np in
                    logits.withUnsafeMutableBufferPointer { lp in
                        // ℓ[:, 1:] = Q Nᵀ / τ, written into columns 1… of the [n, m+1] matrix.
                        T.gemm(transA: false, transB: true, m: n, n: m, k: d, alpha: T(invTau),
                               a: qp.baseAddress!, lda: d, b: np.baseAddress!, ldb: d,
                               beta: 0, c: lp.baseAddress! + 1, ldc: w)
                        for i in 0..<n {
                            var s = 0.0
                            for c in 0..<d { s += Double(qp[i * d + c]) * Double(pp[i * d + c]) }
                            lp[i * w] = T(s * invTau)
                        }
                    }
                }
            }
        }
        let total = Self.softmaxInPlace(&logits, rows: n, width: w)
        return (total / Double(n), InfoNCECache(probabilities: logits, queries: n, negatives: m))
    }

    /// Replaces each row of logits by its softmax; returns Σ_i (logsumexp(ℓ_i) − ℓ_i0) in Double.
    @inlinable
    static func softmaxInPlace<T: ContrastiveScalar>(_ logits: inout [T], rows: Int, width w: Int) -> Double {
        var total = 0.0
        logits.withUnsafeMutableBufferPointer { lp in
            for i in 0..<rows {
                let row = lp.baseAddress! + i * w
                var mx = -Double.infinity
                for j in 0..<w { mx = max(mx, Double(row[j])) }
                var s = 0.0
                for j in 0..<w { s += Foundation.exp(Double(row[j]) - mx) }
                let lse = mx + Foundation.log(s)
                total += lse - Double(row[0])
                for j in 0..<w { row[j] = T(Foundation.exp(Double(row[j]) - lse)) }
            }
        }
        return total
    }

    /// Accumulates `scale · ∂L/∂(Q, P, N)` into `dQuery`, `dPositive`, `dNegatives` (same shapes as
    /// the forward inputs). `scale` is the upstream gradient dTotal/dL.
    @inlinable
    public func backward<T: ContrastiveScalar>(
        _ cache: InfoNCECache<T>, query q: Embeddings<T>, positive p: Embeddings<T>, negatives neg: Embeddings<T>,
        scale: Double = 1, dQuery: inout Embeddings<T>, dPositive: inout Embeddings<T>, dNegatives: inout Embeddings<T>
    ) {
        let n = cache.queries, m = cache.negatives, d = q.dim, w = m + 1
        precondition(q.rows == n && neg.rows == m && dQuery.shape == q.shape && dPositive.shape == p.shape
                     && dNegatives.shape == neg.shape, "InfoNCE.backward: shapes do not match the cache")
        // G = (softmax − e0) · scale / n, then every gradient carries a further 1/τ.
        let gScale = scale / Double(n)
        var g = cache.probabilities
        for i in 0..<n {
            g[i * w] = T((Double(g[i * w]) - 1) * gScale)
            for j in 1..<w { g[i * w + j] = T(Double(g[i * w + j]) * gScale) }
        }
        let invTau = 1 / temperature
        g.withUnsafeBufferPointer { gp in
            q.values.withUnsafeBufferPointer { qp in
                p.values.withUnsafeBufferPointer { pp in
                    neg.values.withUnsafeBufferPointer { np in
                        dQuery.values.withUnsafeMutableBufferPointer { dq in
                            dPositive.values.withUnsafeMutableBufferPointer { dp in
                                dNegatives.values.withUnsafeMutableBufferPointer { dn in
                                    let G = gp.baseAddress!
                                    // dQ += G[:, 1:] N / τ ;  dN += G[:, 1:]ᵀ Q / τ
                                    T.gemm(transA: false, transB: false, m: n, n: d, k: m, alpha: T(invTau),
                                           a: G + 1, lda: w, b: np.baseAddress!, ldb: d, beta: 1, c: dq.baseAddress!, ldc: d)
                                    T.gemm(transA: true, transB: false, m: m, n: d, k: n, alpha: T(invTau),
                                           a: G + 1, lda: w, b: qp.baseAddress!, ldb: d, beta: 1, c: dn.baseAddress!, ldc: d)
                                    for i in 0..<n {
                                        let g0 = T(Double(G[i * w]) * invTau)
                                        for c in 0..<d {
                                            dq[i * d + c] += g0 * pp[i * d + c]
                                            dp[i * d + c] += g0 * qp[i * d + c]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The full authors' `info_nce` on raw (un-normalised) rows: normalise, InfoNCE, and the
    /// gradients with respect to the raw inputs. Throws on mismatched shapes or non-finite values.
    @inlinable
    public func lossAndGradients<T: ContrastiveScalar>(query: Embeddings<T>, positive: Embeddings<T>, negatives: Embeddings<T>) throws
        -> (loss: Double, dQuery: Embeddings<T>, dPositive: Embeddings<T>, dNegatives: Embeddings<T>) {
        guard positive.shape == query.shape else { throw ContrastiveError.shapeMismatch(item: "positive", expected: query.shape, found: positive.shape) }
        guard negatives.dim == query.dim else { throw ContrastiveError.shapeMismatch(item: "negatives", expected: [negatives.rows, query.dim], found: negatives.shape) }
        guard query.rows >= 1, negatives.rows >= 1 else {
            throw ContrastiveError.badShape(item: "InfoNCE", reason: "\(query.rows) queries and \(negatives.rows) negatives; both must be positive")
        }
        try query.checkFinite(name: "query")
        try positive.checkFinite(name: "positive")
        try negatives.checkFinite(name: "negatives")
        let (q, qn) = L2Normalization.forward(query)
        let (p, pn) = L2Normalization.forward(positive)
        let (k, kn) = L2Normalization.forward(negatives)
        let (loss, cache) = forward(query: q, positive: p, negatives: k)
        var dq = Embeddings<T>(zerosRows: q.rows, dim: q.dim), dp = dq
        var dk = Embeddings<T>(zerosRows: k.rows, dim: k.dim)
        backward(cache, query: q, positive: p, negatives: k, dQuery: &dq, dPositive: &dp, dNegatives: &dk)
        var rq = Embeddings<T>(zerosRows: q.rows, dim: q.dim), rp = rq
        var rk = Embeddings<T>(zerosRows: k.rows, dim: k.dim)
        L2Normalization.backward(dy: dq, y: q, norms: qn, dx: &rq)
        L2Normalization.backward(dy: dp, y: p, norms: pn, dx: &rp)
        L2Normalization.backward(dy: dk, y: k, norms: kn, dx: &rk)
        return (loss, rq, rp, rk)
    }
}
