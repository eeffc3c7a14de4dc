import CoDEClassifiers
import CoDECore
import Foundation
import _CoDETestSupport

/// The embeddings and scikit-learn references written by Tests/Fixtures/make_classifier_fixtures.py.
enum FixtureData {
    static let dimension = 192

    static func data() throws -> SafeTensorsFile { try Fixtures.open("classifiers/data.safetensors") }
    static func reference() throws -> SafeTensorsFile { try Fixtures.open("classifiers/reference.safetensors") }
    static func url(_ name: String) -> URL { Fixtures.url("classifiers/\(name).safetensors") }

    static func matrix(_ name: String) throws -> EmbeddingMatrix {
        let f = try data()
        let e = try f.require(name)
        return EmbeddingMatrix(rows: e.shape[0], dimension: e.shape[1], values: try f.floats(name))
    }

    static func labels(_ name: String) throws -> [Verdict] { verdicts(try data().integers(name)) }

    static func verdicts(_ ints: [Int]) -> [Verdict] { ints.map { $0 == 1 ? .fake : .real } }

    static var train: (EmbeddingMatrix, [Verdict]) { get throws { (try matrix("train_x"), try labels("train_y")) } }
    static var test: (EmbeddingMatrix, [Verdict]) { get throws { (try matrix("test_x"), try labels("test_y")) } }

    /// Pearson correlation.
    static func correlation(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(a.count)
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in 0..<a.count { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb) }
        return sab / (saa * sbb).squareRoot()
    }

    /// A temporary file path, removed by the caller.
    static func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("codekit-cls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)")
    }
}
