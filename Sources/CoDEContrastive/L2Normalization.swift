/// Row-wise L2 normalisation, `y_i = x_i / max(‖x_i‖₂, ε)` with ε = 1e-12 (PyTorch `F.normalize`).
///
/// Forward writes the unit rows and keeps the clamped norms for backward. Backward, for a row with
/// n = ‖x‖ > ε: `dx += (dy − y (y·dy)) / n`; for n ≤ ε the clamp is constant, so `dx += dy / ε`.
/// Norms and dot products are accumulated in Double.
public enum L2Normalization {
    public static let epsilon = 1e-12

    /// - Returns: the normalised rows `[rows, dim]` and the clamped row norms `[rows]`.
    @inlinable
    public static func forward<T: ContrastiveScalar>(_ x: Embeddings<T>) -> (y: Embeddings<T>, norms: [Double]) {
        var y = x
        var norms = [Double](repeating: 0, count: x.rows)
        let d = x.dim
        x.values.withUnsafeBufferPointer { xp in
            y.values.withUnsafeMutableBufferPointer { yp in
                for r in 0..<x.rows {
                    var s = 0.0
                    for c in 0..<d { let v = Double(xp[r * d + c]); s += v * v }
                    let n = max(s.squareRoot(), epsilon)
                    norms[r] = n
                    for c in 0..<d { yp[r * d + c] = T(Double(xp[r * d + c]) / n) }
                }
            }
        }
        return (y, norms)
    }

    /// Accumulates dLoss/dx into `dx` given dLoss/dy, the forward output `y` and its `norms`.
    @inlinable
    public static func backward<T: ContrastiveScalar>(dy: Embeddings<T>, y: Embeddings<T>, norms: [Double], dx: inout Embeddings<T>) {
        precondition(dy.shape == y.shape && dx.shape == y.shape && norms.count == y.rows, "L2Normalization.backward: shape mismatch")
        let d = y.dim
        dy.values.withUnsafeBufferPointer { gp in
            y.values.withUnsafeBufferPointer { yp in
                dx.values.withUnsafeMutableBufferPointer { dp in
                    for r in 0..<y.rows {
                        let n = norms[r]
                        var dot = 0.0
                        if n > epsilon { for c in 0..<d { dot += Double(yp[r * d + c]) * Double(gp[r * d + c]) } }
                        for c in 0..<d {
                            let g = Double(gp[r * d + c]) - Double(yp[r * d + c]) * dot
                            dp[r * d + c] += T(g / n)
                        }
                    }
                }
            }
        }
    }
}
