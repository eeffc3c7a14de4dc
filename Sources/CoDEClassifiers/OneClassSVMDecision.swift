import CoDECore
import Foundation

extension OneClassSVM {
    /// `f(x) = Σ_s α_s K(sv_s, x) − ρ` for each row, in Double: one dgemm of a batch of queries
    /// against the support vectors `(batch, S)`, the kernel element-wise, then a dot with α.
    public func decisionFunction(_ x: EmbeddingMatrix) throws -> [Double] {
        try x.validate(dimension: dimension, source: "SVM input")
        let d = dimension, s = supportVectorCount
        var out = [Double](repeating: -rho, count: x.rows)
        if s == 0 || x.rows == 0 { return out }
        let svNorms = (0..<s).map { i in (0..<d).reduce(0.0) { $0 + supportVectors[i * d + $1] * supportVectors[i * d + $1] } }
        let bs = max(1, min(256, (4 << 20) / s))
        let q = x.doubles()
        out.withUnsafeMutableBufferPointer { o in
            let outp = o.baseAddress!
            Threading.parallelRanges(x.rows, minChunk: 16) { rows in
                let dots = UnsafeMutablePointer<Double>.allocate(capacity: bs * s)  // (bs, S)
                defer { dots.deallocate() }
                var start = rows.lowerBound
                while start < rows.upperBound {
                    let m = min(bs, rows.upperBound - start)
                    batch(q, start, m, dots, svNorms, outp)
                    start += m
                }
            }
        }
        return out
    }

    private func batch(_ q: [Double], _ start: Int, _ m: Int, _ dots: UnsafeMutablePointer<Double>, _ svNorms: [Double], _ out: UnsafeMutablePointer<Double>) {
        let d = dimension, s = supportVectorCount
        q.withUnsafeBufferPointer { qp in supportVectors.withUnsafeBufferPointer { sv in
            BLAS.dgemm(transA: false, transB: true, m: m, n: s, k: d, alpha: 1, a: qp.baseAddress! + start * d, lda: d,
                       b: sv.baseAddress!, ldb: d, beta: 0, c: dots, ldc: s)
            for r in 0..<m {
                var qn = 0.0
                if kernel.needsNorms { for t in 0..<d { qn += qp[(start + r) * d + t] * qp[(start + r) * d + t] } }
                var acc = 0.0
                let row = dots + r * s
                for k in 0..<s { acc += dualCoefficients[k] * kernel.apply(dot: row[k], normU: svNorms[k], normV: qn) }
                out[start + r] = acc - rho
            }
        } }
    }

    /// Decision value f(x) and verdict (real if f > 0, else fake).
    public func predict(_ x: EmbeddingMatrix) throws -> [Prediction] {
        try decisionFunction(x).map { Prediction(decision: $0, verdict: $0 > 0 ? .real : .fake) }
    }
}

extension OneClassSVM {
    public func encode() -> (tensors: SafeTensorsWriter, metadata: [String: String]) {
        var w = SafeTensorsWriter()
        w.add("support_vectors", shape: [supportVectorCount, dimension], doubles: supportVectors)
        w.add("dual_coef", shape: [supportVectorCount], doubles: dualCoefficients)
        w.add("rho", shape: [1], doubles: [rho])
        var m = ["kernel": kernel.name, "nu": "\(nu)"]
        switch kernel {
        case .linear: break
        case let .poly(degree, gamma, coef0): m["degree"] = "\(degree)"; m["gamma"] = "\(gamma)"; m["coef0"] = "\(coef0)"
        case let .rbf(gamma): m["gamma"] = "\(gamma)"
        }
        return (w, m)
    }

    public init(decoding file: SafeTensorsFile, metadata m: ClassifierMetadata) throws {
        let d = m.dimension
        let s = try m.leadingDimension(file, "support_vectors", rest: [d])
        let sv = try m.doubles(file, "support_vectors", shape: [s, d])
        let coef = try m.doubles(file, "dual_coef", shape: [s])
        let rho = try m.doubles(file, "rho", shape: [1])[0]
        guard sv.allSatisfy(\.isFinite), coef.allSatisfy(\.isFinite), rho.isFinite else {
            throw ClassifierError.badFile(file: m.source, reason: "non-finite support vectors, coefficients or rho")
        }
        let kernel: Kernel
        switch try m.string("kernel") {
        case "linear": kernel = .linear
        case "poly":
            let deg = try m.int("degree")
            guard deg >= 0 && deg <= 64 else { throw ClassifierError.badFile(file: m.source, reason: "degree \(deg) outside 0...64") }
            kernel = .poly(degree: deg, gamma: try m.double("gamma"), coef0: try m.double("coef0"))
        case "rbf": kernel = .rbf(gamma: try m.double("gamma"))
        case let k: throw ClassifierError.badFile(file: m.source, reason: "kernel '\(k)' is not supported (linear, poly, rbf)")
        }
        self.init(kernel: kernel, supportVectors: sv, dualCoefficients: coef, rho: rho, dimension: d,
                  nu: Double(m.values["nu"] ?? "") ?? .nan)
    }
}
