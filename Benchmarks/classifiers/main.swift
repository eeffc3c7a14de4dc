// code-bench-classifiers: OC-SVM fit time (poly kernel, CoDE's hyperparameters) on 10,000 x 192
// synthetic real embeddings, and k-NN queries/s against a 50,000-row bank, and the
// logistic-regression fit on that bank (labels alternate real/fake). Writes the synthetic
// data to a safetensors file that Benchmarks/classifiers/sklearn_peer.py times scikit-learn on.
import ArgumentParser
import CoDEClassifiers
import CoDECore
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "code-bench-classifiers",
                                                    abstract: "Benchmark the CoDE classifiers (run the release build).")
    @Option(help: "Rows of the OC-SVM training set.") var svmRows = 10_000
    @Option(help: "Rows of the k-NN bank.") var bank = 50_000
    @Option(help: "k-NN queries.") var queries = 2_000
    @Option(help: "Where to write the synthetic data for sklearn_peer.py.") var data = "/tmp/codekit-bench-classifiers.safetensors"
    @Option(help: "Where to write the fitted OC-SVM (sklearn_peer.py compares its decisions).") var svmModel = "/tmp/codekit-bench-svm.safetensors"
    @Option(help: "Write the results as JSON to this file.") var output: String?

    /// Embedding-like rows: a mean, an 8-dimensional low-rank part and uniform noise, all from
    /// fixtureUniform (SplitMix64), so the data is the same on every machine.
    static func synthetic(rows n: Int, seed: UInt64, d: Int = 192) -> [Float] {
        let z = fixtureUniform(seed: seed, count: n * 8)
        let basis = fixtureUniform(seed: 2, count: 8 * d)
        let noise = fixtureUniform(seed: seed &+ 1, count: n * d)
        let mean = fixtureUniform(seed: 4, count: d)
        var x = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            for j in 0..<d {
                var s = 0.5 * mean[j] + 0.5 * noise[i * d + j]
                for r in 0..<8 { s += z[i * 8 + r] * basis[r * d + j] }
                x[i * d + j] = s
            }
        }
        return x
    }

    /// Wall-clock seconds of `body`, and the CPU seconds the process used meanwhile (all threads):
    /// on a shared machine the CPU time is the steadier figure.
    func time<T>(_ body: () throws -> T) rethrows -> (T, Double, Double) {
        func cpu() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpu()
        let r = try body()
        return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, cpu() - c0)
    }

    func run() throws {
        let d = 192
        let svmX = Self.synthetic(rows: svmRows, seed: 10)
        let bankX = Self.synthetic(rows: bank, seed: 20)
        let bankLabels = (0..<bank).map { $0 % 2 == 0 ? Verdict.real : .fake }
        let qX = Self.synthetic(rows: queries, seed: 30)
        var w = SafeTensorsWriter(metadata: ["generator": "code-bench-classifiers"])
        w.add("svm_x", shape: [svmRows, d], floats: svmX)
        w.add("bank_x", shape: [bank, d], floats: bankX)
        w.add("bank_y", shape: [bank], int64s: bankLabels.map { $0 == .fake ? 1 : 0 })
        w.add("query_x", shape: [queries, d], floats: qX)
        try w.write(to: URL(fileURLWithPath: data))

        let (svm, svmSeconds, svmCPU) = try time {
            try OneClassSVM.fit(real: EmbeddingMatrix(rows: svmRows, dimension: d, values: svmX), hyperparameters: .init())
        }
        try svm.save(to: URL(fileURLWithPath: svmModel))
        let knn = try NearestNeighbors(bank: EmbeddingMatrix(rows: bank, dimension: d, values: bankX), labels: bankLabels)
        let q = EmbeddingMatrix(rows: queries, dimension: d, values: qX)
        _ = try knn.predict(q.select(Array(0..<min(64, queries))))  // warm-up
        let (_, knnSeconds, knnCPU) = try time { try knn.predict(q) }
        let (lr, lrSeconds, lrCPU) = try time {
            try LogisticRegression.fit(EmbeddingMatrix(rows: bank, dimension: d, values: bankX), labels: bankLabels, hyperparameters: .init())
        }
        let qps = Double(queries) / knnSeconds

        print("code-bench-classifiers (threads \(Threading.count), OpenBLAS \(BLAS.coreName))")
        print(String(format: "  %@ %8.3f s wall %8.3f s CPU  (%d iterations, %d SVs, rho %.6f)", pad("OC-SVM fit, poly, \(svmRows) x \(d)"),
                     svmSeconds, svmCPU, svm.iterations, svm.supportVectorCount, svm.rho))
        print(String(format: "  %@ %8.0f queries/s (%.3f s wall, %.3f s CPU)", pad("k-NN (k=1, cosine), bank \(bank)"), qps, knnSeconds, knnCPU))
        print(String(format: "  %@ %8.3f s wall %8.3f s CPU  (intercept %.6f)", pad("LR fit (Newton), \(bank) x \(d)"), lrSeconds, lrCPU, lr.intercept))
        print("  data and model for sklearn_peer.py: \(data), \(svmModel)")
        if let output {
            let json = """
            {"threads": \(Threading.count), "openblas_core": \(StrictJSON.quote(BLAS.coreName)),
             "svm_fit": {"rows": \(svmRows), "dimension": \(d), "seconds": \(svmSeconds), "cpu_seconds": \(svmCPU), "iterations": \(svm.iterations), "support_vectors": \(svm.supportVectorCount), "rho": \(svm.rho)},
             "knn": {"bank": \(bank), "queries": \(queries), "seconds": \(knnSeconds), "cpu_seconds": \(knnCPU), "queries_per_second": \(qps)},
             "lr_fit": {"rows": \(bank), "seconds": \(lrSeconds), "cpu_seconds": \(lrCPU)}}

            """
            try AtomicFile.write(json, to: URL(fileURLWithPath: output))
        }
    }
}

/// A label padded to 40 columns, as an NSString for %@.
func pad(_ s: String) -> NSString { s.padding(toLength: 40, withPad: " ", startingAt: 0) as NSString }

Bench.main()
