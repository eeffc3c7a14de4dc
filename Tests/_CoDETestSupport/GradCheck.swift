// Finite-difference gradient checking for any op with an analytic backward (test-only).
import CoDECore

/// Central-difference gradient checker in Double.
///
/// For an op y = f(x₁, …, x_k) (all flattened to `[Double]`) it draws a fixed random cotangent
/// r ∈ [−1, 1)^|y| and compares, input by input, the analytic gradient `backward(x, r)` — which
/// must return ∂L/∂x_j for L = Σ y ⊙ r — with the central differences
/// `(L(x + h e_i) − L(x − h e_i)) / 2h` for every element i of every input.
/// With h = 1e-6 and O(1) values the numerical error is about h² + ε/h ≈ 1e-10, so a correct
/// backward agrees to ~1e-8 relative and a wrong one is off by O(1).
public enum GradCheck {
    /// The cotangent r used for a given output length and seed: uniform in [−1, 1) from SplitMix64.
    public static func cotangent(count: Int, seed: UInt64) -> [Double] {
        var g = SplitMix64(seed: seed)
        return (0..<count).map { _ in 2 * g.nextUnitDouble() - 1 }
    }

    /// One ``TensorDiff`` per input: analytic gradient versus central differences.
    /// - Parameters:
    ///   - inputs: the point x at which to check (each input flattened).
    ///   - forward: y = f(x), flattened.
    ///   - backward: given x and r = ∂L/∂y, the gradients ∂L/∂x_j (same shapes as the inputs).
    public static func check(
        inputs: [[Double]], seed: UInt64 = 0x5EED, step h: Double = 1e-6,
        forward: ([[Double]]) throws -> [Double],
        backward: ([[Double]], [Double]) throws -> [[Double]]
    ) rethrows -> [TensorDiff] {
        let r = cotangent(count: try forward(inputs).count, seed: seed)
        func loss(_ x: [[Double]]) throws -> Double {
            let y = try forward(x)
            precondition(y.count == r.count, "GradCheck: output size changed from \(r.count) to \(y.count)")
            var s = 0.0
            for i in 0..<y.count { s += y[i] * r[i] }
            return s
        }
        let analytic = try backward(inputs, r)
        precondition(analytic.count == inputs.count, "GradCheck: backward returned \(analytic.count) gradients for \(inputs.count) inputs")
        var diffs: [TensorDiff] = []
        for j in 0..<inputs.count {
            var numeric = [Double](repeating: 0, count: inputs[j].count)
            var x = inputs
            for i in 0..<inputs[j].count {
                let x0 = inputs[j][i]
                x[j][i] = x0 + h
                let plus = try loss(x)
                x[j][i] = x0 - h
                let minus = try loss(x)
                x[j][i] = x0
                numeric[i] = (plus - minus) / (2 * h)
            }
            diffs.append(TensorDiff(analytic[j], numeric))
        }
        return diffs
    }
}
