import CoDEClassifiers
import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

/// A temporary model directory (the tiny encoder fixture: 32x32 input, 32-d embeddings) and a
/// small generated dataset `real/`, `fake/genA/`, `fake/genB/` of 40x48 images, plus one broken file.
final class DetectorWorkspace {
    let root: URL
    let model: URL
    let data: URL
    /// Every image file, sorted by path (the order a folder expands to), the broken one included.
    let files: [URL]
    let broken: URL

    init() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("codekit-detector-\(UUID().uuidString)")
        let model = root.appendingPathComponent("model"), data = root.appendingPathComponent("data")
        let fm = FileManager.default
        try fm.createDirectory(at: model, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors"] {
            try fm.copyItem(at: Fixtures.url("model/tiny-transformers/\(f)"), to: model.appendingPathComponent(f))
        }
        var rng = Xoshiro256(seed: 7)
        var all: [URL] = []
        func write(_ dir: String, _ name: String, base: Int, spread: Int) throws {
            let d = data.appendingPathComponent(dir)
            try fm.createDirectory(at: d, withIntermediateDirectories: true)
            let px = (0..<(40 * 48 * 3)).map { _ in UInt8(base + Int(rng.next() % UInt64(spread))) }
            let url = d.appendingPathComponent(name)
            try ImageEncoder.png(RGBImage(width: 48, height: 40, pixels: px)).write(to: url)
            all.append(url)
        }
        for i in 0..<6 { try write("real", "r\(i).png", base: 0, spread: 120) }
        for i in 0..<3 { try write("fake/genA", "a\(i).png", base: 120, spread: 120) }
        for i in 0..<3 { try write("fake/genB", "b\(i).png", base: 60, spread: 60) }
        let broken = data.appendingPathComponent("real/zz-broken.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2]).write(to: broken)
        self.root = root; self.model = model; self.data = data; self.broken = broken
        files = (all + [broken]).sorted { $0.path < $1.path }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var dataset: ImageDataset { get throws { try DatasetSpec.open(data.path) } }

    /// Fits `kind` on the dataset's embeddings (through the same records code-fit uses) and
    /// saves it as `<model>/<kind>.safetensors`.
    @discardableResult
    func fit(_ kind: ClassifierKind) throws -> AnyClassifier {
        let embedder = try Embedder(modelAt: model)
        let items = embedder.embed(samples: try dataset.samples, reader: SampleReader())
        let (c, _) = try AnyClassifier.fit(try SampleEmbedding.records(items, source: "test"), options: FitOptions(kind: kind), source: "test")
        try c.save(to: model.appendingPathComponent("\(kind.rawValue).safetensors"))
        return c
    }
}

@Suite struct DetectorTests {
    /// Rows come back in input order, the broken file is an error row, and each ok row's score and
    /// verdict equal the classifier applied to the embedding of the decoded image computed
    /// separately (Embedder.embed on RGBImages, one image at a time).
    @Test func rowsOrderErrorsAndScores() throws {
        let ws = try DetectorWorkspace()
        let linear = try ws.fit(.linear)
        let detector = try Detector(model: ModelDirectory(ws.model), classifier: "linear")
        let rows = try detector.detect(files: ws.files, batchSize: 5)
        #expect(rows.map(\.path) == ws.files.map(\.path))
        for (row, file) in zip(rows, ws.files) {
            if file == ws.broken {
                #expect(row.status == "error" && row.verdict == nil && row.score == nil)
                #expect(row.error?.contains(ws.broken.path) == true)
                continue
            }
            let e = detector.embedder.embed([try ImageDecoder.decode(contentsOf: file)])
            let p = try linear.predict(EmbeddingMatrix(e, dimension: 32))[0]
            // Batch composition changes GEMM blocking only: float32 embeddings agree to ~1e-6,
            // so p(fake) agrees to well within 1e-5 and the verdict (far from 0.5 here) is equal.
            #expect(abs(row.score! - p.decision) < 1e-5)
            #expect(row.verdict == p.verdict && row.status == "ok")
        }
        let summary = DetectionSummary(rows)
        #expect(summary.errors == 1)
        #expect(summary.real == rows.filter { $0.verdict == .real }.count)
        #expect(summary.fake == rows.filter { $0.verdict == .fake }.count)
        #expect(summary.real + summary.fake == 12)
        #expect(summary.description == "13 images: \(summary.real) real, \(summary.fake) fake, 1 errors (1 truncated PNG file)")
    }

    /// Error messages are counted by reason: the path and the details are left out.
    @Test func errorReasons() {
        var r = ErrorReasons()
        r.add("a.jpg: truncated JPEG file (premature end)", path: "a.jpg")
        r.add("dir/b.jpg: truncated JPEG file", path: "dir/b.jpg")
        r.add("c.png: unsupported format (magic bytes 00 01)", path: "c.png")
        r.add("d.png: image 60000x60000 exceeds the pixel limit 89478485 (ImageLimits.maxPixels)", path: "d.png")
        r.add("e.png: corrupt PNG data: crc mismatch", path: "e.png")
        #expect(r.counts == ["truncated JPEG file": 2, "unsupported format": 1, "image exceeds the pixel limit": 1, "corrupt PNG data": 1])
        #expect(r.description == "2 truncated JPEG file, 1 corrupt PNG data, 1 image exceeds the pixel limit, 1 unsupported format")
    }

    /// --threshold: fake exactly when p(fake) > t (linear, knn); real exactly when f > t (svm).
    @Test func thresholdOverride() throws {
        let ws = try DetectorWorkspace()
        try ws.fit(.linear); try ws.fit(.svm); try ws.fit(.knn)
        let good = ws.files.filter { $0 != ws.broken }
        for kind in [ClassifierKind.linear, .knn, .svm] {  // the fitted kinds (a head is trained, not fitted)
            let base = try Detector(model: ModelDirectory(ws.model), classifier: kind.rawValue).detect(files: good)
            let scores = base.map { $0.score! }.sorted()
            // A threshold strictly between two neighbouring scores, as near the middle as the
            // scores allow (the tiny test model can give ties): k scores below it, the rest above.
            let splits = (1..<scores.count).filter { i in
                let m = (scores[i - 1] + scores[i]) / 2
                return scores[i - 1] < m && m < scores[i]
            }
            let k = try #require(splits.min { abs($0 - 6) < abs($1 - 6) }, "\(kind): all scores equal")
            let t = (scores[k - 1] + scores[k]) / 2
            let rows = try Detector(model: ModelDirectory(ws.model), classifier: kind.rawValue, threshold: t).detect(files: good)
            #expect(rows.map(\.score) == base.map(\.score))
            for r in rows {
                let expected: Verdict = kind == .svm ? (r.score! > t ? .real : .fake) : (r.score! > t ? .fake : .real)
                #expect(r.verdict == expected, "\(kind) \(r.path)")
            }
            #expect(rows.filter { $0.verdict == .fake }.count == (kind == .svm ? k : scores.count - k), "\(kind) split at \(k)")
        }
        // Without a threshold the linear verdicts are p(fake) > 0.5, the documented default.
        let linear = try Detector(model: ModelDirectory(ws.model), classifier: "linear").detect(files: good)
        #expect(linear.allSatisfy { $0.verdict == ($0.score! > 0.5 ? .fake : .real) })
    }

    /// A classifier saved with `crops` metadata makes the Detector embed with that layout (scores
    /// equal the classifier on five-crop embeddings); an explicit layout overrides it; files
    /// without the entry mean centre crops; an unknown value is a specific error.
    @Test func recordedCropLayout() throws {
        let ws = try DetectorWorkspace()
        let dir = try ModelDirectory(ws.model)
        let embedder = try Embedder(modelAt: ws.model)
        embedder.crops = .five
        let items = embedder.embed(samples: try ws.dataset.samples, reader: SampleReader())
        let (c, _) = try AnyClassifier.fit(try SampleEmbedding.records(items, source: "test"), options: FitOptions(kind: .linear), source: "test")
        let file = ws.model.appendingPathComponent("linear.safetensors")
        try c.save(to: file, metadata: CropLayout.five.classifierMetadata)
        #expect(try CropLayout.recorded(in: file) == .five)
        let detector = try Detector(model: dir, classifier: "linear")
        #expect(detector.embedder.crops == .five)
        let rows = try detector.detect(files: ws.files, batchSize: 7)
        let good = items.filter { $0.embedding != nil }
        let want = try c.predict(EmbeddingMatrix(good.map { $0.embedding! }, dimension: 32))
        let score = Dictionary(uniqueKeysWithValues: rows.compactMap { r in r.score.map { (r.path, $0) } })
        #expect(score.count == good.count)
        for (item, w) in zip(good, want) {
            let g = try #require(score[item.path])
            #expect(abs(g - w.decision) < 1e-5, "\(item.path): \(g) vs \(w.decision)")
        }
        #expect(try Detector(model: dir, classifier: "linear", crops: .center).embedder.crops == .center)
        try c.save(to: file)
        #expect(try CropLayout.recorded(in: file) == .center)
        try c.save(to: file, metadata: ["crops": "seven"])
        let e = #expect(throws: ClassifierError.self) { try Detector(model: dir, classifier: "linear") }
        #expect(e?.description.contains("metadata 'crops' = 'seven'") == true)
    }

    /// linear|knn|svm resolve inside the model directory, other values are paths; missing files,
    /// a folder without config.json, and a classifier of another width are clear errors.
    @Test func classifierResolutionAndErrors() throws {
        let ws = try DetectorWorkspace()
        let dir = try ModelDirectory(ws.model)
        #expect(throws: ModelDirectoryError.missingClassifier(path: ws.model.path, name: "knn")) { try dir.classifierURL("knn") }
        try ws.fit(.knn)
        #expect(try dir.classifierURL("knn") == ws.model.appendingPathComponent("knn.safetensors"))
        let knnFile = ws.model.appendingPathComponent("knn.safetensors").path
        #expect(try dir.classifierURL(knnFile).path == knnFile)
        // Neither a kind nor an existing file (nor a folder): say what --classifier takes.
        #expect(throws: ModelDirectoryError.unknownClassifier(spec: "/x/y.safetensors")) { try dir.classifierURL("/x/y.safetensors") }
        #expect(throws: ModelDirectoryError.unknownClassifier(spec: ws.model.path)) { try dir.classifierURL(ws.model.path) }
        let bogus = "\(ModelDirectoryError.unknownClassifier(spec: "bogus"))"
        #expect(bogus.contains("unknown classifier 'bogus'") && bogus.contains("linear, knn, svm, head"), "\(bogus)")
        #expect(throws: ModelDirectoryError.self) { try ModelDirectory(ws.data) }
        let other = ws.root.appendingPathComponent("eight.safetensors")
        try LogisticRegression(coefficients: [Double](repeating: 0.1, count: 8), intercept: 0).save(to: other)
        let e = #expect(throws: ModelDirectoryError.self) { try Detector(model: dir, classifier: other.path) }
        #expect(e == .dimensionMismatch(classifier: other.path, classifierDimension: 8, encoder: ws.model.path, encoderDimension: 32))
        #expect(e?.description.contains("8-d") == true && e?.description.contains("32-d") == true)
        #expect(ModelDirectoryError.noBundledModel.description == "no bundled model in this build: pass --model DIR")
    }

    /// The bundled model ships with the package: its folder is a resource holding an encoder and
    /// the three fitted classifiers, and `bundled()` loads that folder.
    @Test func bundledModelFolder() throws {
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: BundledModel.directory.path, isDirectory: &isDir) && isDir.boolValue)
        for file in ["config.json", "model.safetensors", "linear.safetensors", "knn.safetensors", "svm.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: BundledModel.directory.appendingPathComponent(file).path), "bundled model lacks \(file)")
        }
        #expect(try ModelDirectory.bundled().url == BundledModel.directory)
    }

    /// A CSV list (first column `path`, relative to its folder) expands to its rows in order;
    /// folders and files expand as InputFiles does; a CSV without a path header is rejected.
    @Test func csvListInputs() throws {
        let ws = try DetectorWorkspace()
        let list = ws.data.appendingPathComponent("list.csv")
        try "path,label\nfake/genA/a1.png,fake\n\"real/r0.png\",real\n\(ws.broken.path),real\n".write(to: list, atomically: true, encoding: .utf8)
        let urls = try DetectorInputs.expand([list.path, ws.data.appendingPathComponent("fake/genB").path])
        #expect(urls.map(\.path) == [ws.data.appendingPathComponent("fake/genA/a1.png").path, ws.data.appendingPathComponent("real/r0.png").path,
                                     ws.broken.path] + (0..<3).map { ws.data.appendingPathComponent("fake/genB/b\($0).png").path })
        try "file\nx.png\n".write(to: list, atomically: true, encoding: .utf8)
        #expect(throws: DetectorInputs.BadList.self) { try DetectorInputs.expand([list.path]) }
    }

    /// The output formats carry the classifier name, and CSV/JSONL stay parseable.
    @Test func outputFormats() throws {
        let rows: [DetectionRow] = [.ok(path: "a,b.png", prediction: Prediction(decision: 0.25, verdict: .real)), .failed(path: "c.png", error: "bad \"x\"")]
        let csv = DetectionFormat.csv.render(rows, classifier: "linear")
        #expect(csv == "path,status,verdict,score,classifier,error\n\"a,b.png\",ok,real,0.25,linear,\nc.png,error,,,linear,\"bad \"\"x\"\"\"\n")
        let jsonl = DetectionFormat.jsonl.render(rows, classifier: "knn").split(separator: "\n")
        #expect(jsonl[0] == "{\"path\":\"a,b.png\",\"status\":\"ok\",\"verdict\":\"real\",\"score\":0.25,\"classifier\":\"knn\"}")
        #expect(try StrictJSON.parseObject(Data(jsonl[1].utf8)).map(\.0) == ["path", "status", "verdict", "score", "classifier", "error"])
        let table = DetectionFormat.table.render(rows, classifier: "svm")
        #expect(table.split(separator: "\n").count == 3 && table.contains("  error  ") && table.contains("bad \"x\""))
    }

    /// Fitting from images (code-fit --data) gives the same classifier as fitting from the
    /// embeddings JSONL that code-embed writes for the same images (labels added by folder).
    @Test func fitFromImagesEqualsFitFromJSONL() throws {
        let ws = try DetectorWorkspace()
        let dataset = try ws.dataset
        let embedder = try Embedder(modelAt: ws.model)
        let fromImages = try SampleEmbedding.records(embedder.embed(samples: dataset.samples, reader: SampleReader(), batchSize: 4), source: "images")
        // The code-embed JSONL of the same files (its row format), with a label per row.
        var jsonl = ""
        let urls = dataset.samples.map { s -> URL in if case let .file(u) = s.location { return u }; fatalError() }
        var k = 0
        embedder.embed(files: urls, batchSize: 7) { r in
            let label = dataset.samples[k].label == .fake ? "fake" : "real"; k += 1
            if let e = r.embedding {
                jsonl += "{\"path\":\(StrictJSON.quote(r.path)),\"status\":\"ok\",\"embedding\":[\(e.map { "\($0)" }.joined(separator: ","))],\"label\":\"\(label)\"}\n"
            } else {
                jsonl += "{\"path\":\(StrictJSON.quote(r.path)),\"status\":\"error\",\"error\":\"x\",\"label\":\"\(label)\"}\n"
            }
        }
        let fromJSONL = try EmbeddingsJSONL.parse(Data(jsonl.utf8), source: "jsonl")
        #expect(fromImages.map(\.path) == fromJSONL.map(\.path))
        #expect(fromImages.map(\.label) == fromJSONL.map(\.label))
        #expect(fromImages.filter { !$0.isOK }.map(\.path) == [ws.broken.path])
        for kind in [ClassifierKind.linear, .knn, .svm] {  // the fitted kinds (a head is trained, not fitted)
            let (a, ra) = try AnyClassifier.fit(fromImages, options: FitOptions(kind: kind), source: "images")
            let (b, rb) = try AnyClassifier.fit(fromJSONL, options: FitOptions(kind: kind), source: "jsonl")
            #expect(ra.fittedRows == rb.fittedRows && ra.skippedErrorRows == 1 && rb.skippedErrorRows == 1)
            // Different batch sizes (4 vs 7) change float32 GEMM blocking only (~1e-6 on the
            // embeddings), so both fits' decisions on the same rows agree to 1e-4; verdicts agree
            // except on the SVM's margin support vectors, whose decision is 0 up to rounding.
            let x = EmbeddingsJSONL.matrix(fromJSONL)!
            let da = try a.predict(x), db = try b.predict(x)
            #expect(zip(da, db).allSatisfy { abs($0.decision - $1.decision) < 1e-4 * max(1, abs($1.decision)) && ($0.verdict == $1.verdict || abs($1.decision) < 1e-4) }, "\(kind): \(zip(da, db).map { ($0.decision, $1.decision) })")
        }
    }
}
