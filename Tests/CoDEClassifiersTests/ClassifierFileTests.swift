import CoDEClassifiers
import CoDECore
import Foundation
import Testing
import _CoDETestSupport

@Suite struct ClassifierFileTests {
    func withTemp(_ body: (URL) throws -> Void) rethrows {
        let url = FixtureData.temporaryURL("model.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try body(url)
    }

    /// Save then load gives bit-identical decisions for each kind, and AnyClassifier dispatches.
    @Test func roundTrip() throws {
        let (tx, ty) = try FixtureData.train
        let (x, _) = try FixtureData.test
        let models: [AnyClassifier] = [
            .linear(try LogisticRegression.fit(tx, labels: ty, hyperparameters: .init())),
            .knn(try NearestNeighbors.fit(tx, labels: ty, hyperparameters: .init(k: 3))),
            .svm(try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init())),
        ]
        for m in models {
            try withTemp { url in
                try m.save(to: url)
                let back = try AnyClassifier.load(from: url)
                #expect(back.kind == m.kind && back.dimension == 192)
                #expect(try back.predict(x) == m.predict(x), "\(m.kind)")
                let (_, meta) = try ClassifierFile.open(url)
                #expect(meta.values["format"] == "codekit-classifier" && meta.values["version"] == "1")
            }
        }
    }

    /// Hyperparameters travel in the metadata.
    @Test func metadataHoldsHyperparameters() throws {
        let (tx, ty) = try FixtureData.train
        let svm = try OneClassSVM.fit(tx, labels: ty, hyperparameters: .init(nu: 0.2, kernel: "poly", degree: 2, gamma: .value(0.01), coef0: 0.5))
        try withTemp { url in
            try svm.save(to: url)
            let (_, meta) = try ClassifierFile.open(url)
            #expect(meta.values["kernel"] == "poly" && meta.values["degree"] == "2" && meta.values["gamma"] == "0.01")
            #expect(meta.values["coef0"] == "0.5" && meta.values["nu"] == "0.2" && meta.values["kind"] == "svm")
            let back = try OneClassSVM.load(from: url)
            #expect(back.kernel == .poly(degree: 2, gamma: 0.01, coef0: 0.5))
        }
    }

    @Test func wrongKindAndDimension() throws {
        #expect(throws: ClassifierError.badFile(file: FixtureData.url("linear").path, reason: "holds a 'linear' classifier, expected 'svm'")) {
            try OneClassSVM.load(from: FixtureData.url("linear"))
        }
        let lr = try LogisticRegression.load(from: FixtureData.url("linear"))
        let wide = EmbeddingMatrix(rows: 1, dimension: 384, values: [Float](repeating: 0.1, count: 384))
        #expect(throws: ClassifierError.dimensionMismatch(source: "linear classifier input", expected: 192, found: 384)) { try lr.predict(wide) }
        #expect(ClassifierError.dimensionMismatch(source: "a.jsonl", expected: 192, found: 384).description
                == "a.jsonl: embeddings have 384 dimensions but the classifier expects 192")
    }

    /// Malformed files: each is refused with a badFile error naming the file and the reason.
    @Test func malformedFiles() throws {
        func expectBad(_ data: Data, _ fragment: String) throws {
            try withTemp { url in
                try data.write(to: url)
                do { _ = try AnyClassifier.load(from: url); Issue.record("accepted: \(fragment)") } catch let e as ClassifierError {
                    guard case let .badFile(file, reason) = e else { Issue.record("wrong error \(e)"); return }
                    #expect(file == url.path)
                    #expect(reason.contains(fragment), "\(reason)")
                }
            }
        }
        func file(_ meta: [String: String], _ build: (inout SafeTensorsWriter) -> Void) -> Data {
            var w = SafeTensorsWriter(metadata: meta)
            build(&w)
            return w.serialized()
        }
        let base = ["format": "codekit-classifier", "version": "1", "kind": "linear", "dimension": "4"]
        let coef: (inout SafeTensorsWriter) -> Void = { $0.add("coef", shape: [4], doubles: [1, 2, 3, 4]); $0.add("intercept", shape: [1], doubles: [0]) }
        try expectBad(Data("not a safetensors file".utf8), "safetensors")
        try expectBad(file(base.merging(["format": "other"]) { $1 }, coef), "'format'")
        try expectBad(file(base.merging(["version": "7"]) { $1 }, coef), "unsupported version 7")
        try expectBad(file(base.merging(["kind": "forest"]) { $1 }, coef), "'kind'")
        try expectBad(file(base.merging(["dimension": "-3"]) { $1 }, coef), "'dimension'")
        try expectBad(file(base.merging(["dimension": "5"]) { $1 }, coef), "shape [4], expected [5]")
        try expectBad(file(base) { $0.add("coef", shape: [4], doubles: [1, 2, 3, 4]) }, "missing tensor 'intercept'")
        try expectBad(file(base) { $0.add("coef", shape: [4], doubles: [1, .nan, 3, 4]); $0.add("intercept", shape: [1], doubles: [0]) }, "non-finite")
        let svm = ["format": "codekit-classifier", "version": "1", "kind": "svm", "dimension": "2", "kernel": "sigmoid"]
        try expectBad(file(svm) { $0.add("support_vectors", shape: [1, 2], doubles: [1, 2]); $0.add("dual_coef", shape: [1], doubles: [1]); $0.add("rho", shape: [1], doubles: [0]) }, "kernel 'sigmoid'")
        try expectBad(file(svm.merging(["kernel": "poly", "degree": "3", "gamma": "x", "coef0": "0"]) { $1 }) {
            $0.add("support_vectors", shape: [1, 2], doubles: [1, 2]); $0.add("dual_coef", shape: [1], doubles: [1]); $0.add("rho", shape: [1], doubles: [0])
        }, "'gamma'")
        try expectBad(file(svm.merging(["kernel": "linear"]) { $1 }) {
            $0.add("support_vectors", shape: [2, 2], doubles: [1, 2, 3, 4]); $0.add("dual_coef", shape: [1], doubles: [1]); $0.add("rho", shape: [1], doubles: [0])
        }, "'dual_coef'")
        let knn = ["format": "codekit-classifier", "version": "1", "kind": "knn", "dimension": "2", "k": "1"]
        try expectBad(file(knn) { $0.add("bank", shape: [2, 2], floats: [1, 0, 0, 1]); $0.add("labels", shape: [2], int64s: [0, 2]) }, "labels must be 0")
        try expectBad(file(knn) { $0.add("bank", shape: [2, 2], floats: [1, 0, 0, 1]); $0.add("labels", shape: [3], int64s: [0, 1, 1]) }, "different row counts")
        try expectBad(file(knn) { $0.add("bank", shape: [2, 2], floats: [1, 0, 0, 1]); $0.add("labels", shape: [2], int64s: [0, 0]) }, "real and fake")
        // Truncated copy of a real fixture.
        let good = try Data(contentsOf: FixtureData.url("svm_poly"))
        try expectBad(good.prefix(good.count - 10), "truncated")
    }
}
