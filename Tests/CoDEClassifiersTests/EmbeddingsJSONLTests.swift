import CoDEClassifiers
import CoDECore
import Foundation
import Testing
import _CoDETestSupport

@Suite struct EmbeddingsJSONLTests {
    /// JSONL lines as code-embed writes them, from the fixture rows (labels optional).
    func jsonl(_ x: EmbeddingMatrix, _ y: [Verdict]?, errorsAt: Set<Int> = []) -> Data {
        var s = ""
        for i in 0..<x.rows {
            if errorsAt.contains(i) { s += "{\"path\": \"img\(i).jpg\", \"status\": \"error\", \"error\": \"cannot decode\"}\n"; continue }
            let e = x.row(i).map { "\($0)" }.joined(separator: ", ")
            s += "{\"path\": \"img\(i).jpg\", \"status\": \"ok\", \"embedding\": [\(e)]\(y.map { ", \"label\": \"\($0[i])\"" } ?? "")}\n"
        }
        return Data(s.utf8)
    }

    /// Floats printed by Swift's shortest round-trip description parse back bit-exactly.
    @Test func parsesCodeEmbedRows() throws {
        let (x, y) = try FixtureData.test
        let recs = try EmbeddingsJSONL.parse(jsonl(x, y, errorsAt: [3]), source: "t.jsonl")
        #expect(recs.count == x.rows)
        #expect(recs[3].error == "cannot decode" && !recs[3].isOK && recs[3].line == 4)
        #expect(recs[0].embedding == x.row(0) && recs[0].label == y[0] && recs[0].path == "img0.jpg")
        #expect(EmbeddingsJSONL.matrix(recs)?.rows == x.rows - 1)
    }

    @Test("the provenance fields are read when present and nil when absent (earlier files)")
    func provenanceFields() throws {
        let text = """
        {"path":"a.jpg","status":"ok","embedding":[1,2],"crops":"five","encoder_sha256":"abc123"}
        {"path":"b.jpg","status":"error","error":"bad","crops":"center","encoder_sha256":"def"}
        {"path":"c.jpg","status":"ok","embedding":[3,4]}
        """
        let r = try EmbeddingsJSONL.parse(Data(text.utf8), source: "p.jsonl")
        #expect(r[0].crops == "five" && r[0].encoderSHA256 == "abc123")
        #expect(r[1].crops == "center" && r[1].encoderSHA256 == "def" && !r[1].isOK)
        #expect(r[2].crops == nil && r[2].encoderSHA256 == nil)
        do {
            _ = try EmbeddingsJSONL.parse(Data(#"{"path":"a","embedding":[1],"encoder_sha256":5}"#.utf8), source: "p.jsonl")
            Issue.record("a numeric encoder_sha256 was accepted")
        } catch let e as EmbeddingsFileError {
            #expect(e.description == "p.jsonl:1: \"encoder_sha256\" must be a string")
        }
    }

    @Test func rejectsMalformedLines() {
        func bad(_ text: String, _ fragment: String) {
            do { _ = try EmbeddingsJSONL.parse(Data(text.utf8), source: "e.jsonl"); Issue.record("accepted \(text)") } catch let e as EmbeddingsFileError {
                #expect(e.description.hasPrefix("e.jsonl:"), "\(e)")
                #expect(e.reason.contains(fragment), "\(e)")
            } catch { Issue.record("\(error)") }
        }
        bad("{\"path\": \"a\", \"embedding\": [1, 2]}\n{\"path\": \"b\", \"embedding\": [1]}", "earlier rows have 2")
        bad("{\"path\": \"a\", \"embedding\": [1, \"x\"]}", "finite numbers")
        bad("{\"embedding\": [1]}", "\"path\"")
        bad("{\"path\": \"a\", \"embedding\": [1], \"label\": \"maybe\"}", "\"label\"")
        bad("{\"path\": \"a\", \"status\": \"weird\"}", "\"status\"")
        bad("[1, 2]", "not a JSON object")
        bad("{\"path\": \"a\", \"status\": \"ok\"}", "embedding")
    }

    /// Fitting from records gives the same model as fitting the matrix; detection keeps row order
    /// and turns error rows into error rows; unlabelled rows are refused for linear.
    @Test func fitAndDetectFromRecords() throws {
        let (tx, ty) = try FixtureData.train
        let (x, _) = try FixtureData.test
        let train = try EmbeddingsJSONL.parse(jsonl(tx, ty, errorsAt: [7]), source: "train.jsonl")
        let (model, report) = try AnyClassifier.fit(train, options: FitOptions(kind: .linear), source: "train.jsonl")
        #expect(report.fittedRows == tx.rows - 1 && report.skippedErrorRows == 1)
        let keep = (0..<tx.rows).filter { $0 != 7 }
        let direct = try LogisticRegression.fit(tx.select(keep), labels: keep.map { ty[$0] }, hyperparameters: .init())
        #expect(try model.predict(x) == direct.predict(x))

        let test = try EmbeddingsJSONL.parse(jsonl(x, nil, errorsAt: [0]), source: "test.jsonl")
        let rows = try model.detect(test, source: "test.jsonl")
        #expect(rows.count == x.rows && rows[0].status == "error" && rows[0].verdict == nil)
        let p = try direct.predict(x)
        #expect(rows[1] == .ok(path: "img1.jpg", prediction: p[1]))

        #expect(throws: ClassifierError.self) { try AnyClassifier.fit(test, options: FitOptions(kind: .knn), source: "test.jsonl") }
        // The SVM fits on unlabelled rows (taken as real).
        let (svm, svmReport) = try AnyClassifier.fit(test, options: FitOptions(kind: .svm), source: "test.jsonl")
        #expect(svm.kind == .svm && svmReport.fittedRows == x.rows - 1)
        // A 192-d model on 4-d rows: a dimension error naming the file.
        let narrow = try EmbeddingsJSONL.parse(Data("{\"path\": \"a\", \"embedding\": [1, 2, 3, 4]}".utf8), source: "n.jsonl")
        #expect(throws: ClassifierError.dimensionMismatch(source: "n.jsonl", expected: 192, found: 4)) { try model.detect(narrow, source: "n.jsonl") }
    }

    @Test func outputFormats() {
        let rows: [DetectionRow] = [
            .ok(path: "a,b.jpg", prediction: Prediction(decision: 0.75, verdict: .fake)),
            .failed(path: "c \"q\".png", error: "cannot decode"),
        ]
        #expect(DetectionFormat.jsonl.render(rows, classifier: "knn") == """
            {"path":"a,b.jpg","status":"ok","verdict":"fake","score":0.75,"classifier":"knn"}
            {"path":"c \\"q\\".png","status":"error","verdict":null,"score":null,"classifier":"knn","error":"cannot decode"}

            """)
        #expect(DetectionFormat.csv.render(rows, classifier: "knn") == """
            path,status,verdict,score,classifier,error
            "a,b.jpg",ok,fake,0.75,knn,
            "c ""q"".png",error,,,knn,cannot decode

            """)
        // The table's columns are the CSV's, in the same order.
        let table = DetectionFormat.table.render(rows, classifier: "knn").split(separator: "\n")
        #expect(table.count == 3 && table[0].split(separator: " ") == ["PATH", "STATUS", "VERDICT", "SCORE", "CLASSIFIER", "ERROR"])
        #expect(table[1].split(separator: " ") == ["a,b.jpg", "ok", "fake", "0.750000", "knn"])
        #expect(table[2].split(separator: " ") == ["c", "\"q\".png", "error", "-", "-", "knn", "cannot", "decode"])
        // Every column starts at the same offset on every line.
        let at = table[0].ranges(of: "STATUS").first!.lowerBound.utf16Offset(in: table[0])
        #expect(table[1].dropFirst(at).hasPrefix("ok") && table[2].dropFirst(at).hasPrefix("error"))
        // A streamed table: header once, with the first batch.
        var stream = DetectionFormat.TableStream()
        let a = stream.render([rows[0]], classifier: "knn"), b = stream.render([rows[1]], classifier: "knn")
        #expect(a.hasPrefix("PATH") && !b.contains("PATH") && (a + b).split(separator: "\n").count == 3)
        // Every JSONL line is valid JSON.
        for line in DetectionFormat.jsonl.render(rows, classifier: "knn").split(separator: "\n") {
            #expect(throws: Never.self) { try StrictJSON.parseObject(Data(line.utf8)) }
        }
    }
}
