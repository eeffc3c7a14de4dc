import CoDEClassifiers
import CoDEKit
import Foundation
import Testing
import _CoDETestSupport

@Suite struct EvaluationTests {
    func s(_ label: Verdict, _ group: String, _ verdict: Verdict?, _ fakeness: Double?) -> ScoredSample {
        ScoredSample(path: "x", label: label, group: group, verdict: verdict, score: fakeness, fakeness: fakeness, error: verdict == nil ? "bad" : nil)
    }

    /// A constructed case whose numbers are counted by hand:
    /// reals (fakeness, verdict): (0.1 real) (0.4 real) (0.6 fake) (0.2 real) → real accuracy 3/4;
    /// genA: (0.3 real) (0.9 fake) → 1/2; genB: (0.7 fake) (0.8 fake) → 2/2; one error row.
    /// Overall 6/8. AUC genA vs reals: pairs (fake > real) 0.3 beats 0.1, 0.2 → 2; 0.9 beats all 4
    /// → 6 of 8 = 0.75. genB: 0.7 and 0.8 beat all 4 reals → 1. All: 6 + 8 = 14 of 16 = 0.875.
    /// AP (fake positive), ranking 0.9F 0.8F 0.7F 0.6R 0.4R 0.3F 0.2R 0.1R: precision at each
    /// fake 1, 1, 1, 4/6 → (3 + 2/3) / 4 = 11/12. genA alone: 0.9F 0.6R 0.4R 0.3F → (1 + 2/4) / 2 = 0.75.
    @Test func metricsOnAConstructedCase() {
        let samples = [s(.real, "real", .real, 0.1), s(.real, "real", .real, 0.4), s(.real, "real", .fake, 0.6), s(.real, "real", .real, 0.2),
                       s(.fake, "genA", .real, 0.3), s(.fake, "genA", .fake, 0.9), s(.fake, "genB", .fake, 0.7), s(.fake, "genB", .fake, 0.8),
                       s(.fake, "genB", nil, nil)]
        let m = EvaluationMetrics(condition: "none", samples: samples)
        // Exact rationals of small integers: compare to 1e-12 (a few ulps of the float division).
        #expect(abs(m.accuracy.real - 0.75) < 1e-12 && abs(m.accuracy.fake - 0.75) < 1e-12 && abs(m.accuracy.overall - 0.75) < 1e-12)
        #expect(m.accuracy.realCount == 4 && m.accuracy.fakeCount == 4 && m.errors == 1)
        #expect(m.generators.map(\.name) == ["genA", "genB"] && m.generators.map(\.count) == [2, 2])
        #expect(abs(m.generators[0].accuracy - 0.5) < 1e-12 && abs(m.generators[1].accuracy - 1) < 1e-12)
        #expect(abs(m.generators[0].auc - 0.75) < 1e-12 && abs(m.generators[1].auc - 1) < 1e-12)
        #expect(abs(m.auc - 0.875) < 1e-12 && abs(m.ap - 11.0 / 12) < 1e-12)
        #expect(abs(m.generators[0].ap - 0.75) < 1e-12 && abs(m.generators[1].ap - 1) < 1e-12)

        let table = EvaluationOutput.table([m, m])
        #expect(table.contains("\n  genA      2  50.00           50.00\n") && table.contains("\nAP             0.9167          0.9167\n"))
        #expect(table.split(separator: "\n").first == "GROUP       N  W/O TRANSFORMS  W/O TRANSFORMS")
        let csv = EvaluationOutput.csv([m]).split(separator: "\n")
        #expect(csv.contains("none,genA,2,0.5,0.75,0.75") && csv.contains("none,overall,8,0.75,0.875,\(11.0 / 12)") && csv.contains("none,errors,1,,,"))
        let json = EvaluationOutput.json([m], context: EvaluationContext(model: "m", classifier: "linear", data: "d"))
        #expect(json.contains("\"genB\":{\"count\":2,\"accuracy\":1.0,\"auc\":1.0,\"ap\":1.0}"))
        #expect((try? StrictJSON.parseObject(Data(json.utf8)))?.map(\.0) == ["model", "classifier", "data", "threshold", "transform_seed", "crops", "precision", "conditions"])
    }

    /// The transform of image i depends on (seed, i) only; every family and grid value occurs;
    /// parameters come from the documented grids; the output sizes follow the definitions.
    @Test func transformsAreSeededAndDocumented() throws {
        let t = TestTimeTransforms(seed: 11)
        let a = (0..<400).map(t.transform(for:)), b = (0..<400).map(t.transform(for:))
        #expect(a == b)
        #expect(a != (0..<400).map(TestTimeTransforms(seed: 12).transform(for:)))
        var jpeg = Set<Int>(), resize = Set<Double>(), keep = Set<Double>(), blur = Set<Double>()
        for x in a {
            switch x {
            case let .jpeg(q): jpeg.insert(q)
            case let .resize(f): resize.insert(f)
            case let .crop(k, cx, cy): keep.insert(k); #expect((0..<1).contains(cx) && (0..<1).contains(cy))
            case let .blur(r): blur.insert(r)
            }
        }
        #expect(jpeg == Set(TestTimeTransforms.jpegQualities) && resize == Set(TestTimeTransforms.resizeFactors))
        #expect(keep == Set(TestTimeTransforms.cropKeeps) && blur == Set(TestTimeTransforms.blurRadii))
        var rng = Xoshiro256(seed: 3)
        let img = RGBImage(width: 48, height: 40, pixels: (0..<(48 * 40 * 3)).map { _ in UInt8(rng.next() & 255) })
        #expect(try TestTimeTransform.crop(keep: 0.6, x: 0.5, y: 0.25).apply(img).width == 28)  // Int(48 * 0.6)
        #expect(try TestTimeTransform.crop(keep: 0.6, x: 0.5, y: 0.25).apply(img).height == 24)
        #expect(try TestTimeTransform.resize(factor: 0.75).apply(img).width == 36)
        // Crop window at x = 0.5 of the free margin (48 - 28 = 20 → left 10), y = 0.25 (16 → top 4).
        let c = try TestTimeTransform.crop(keep: 0.6, x: 0.5, y: 0.25).apply(img)
        #expect(Array(c.pixels[0..<3]) == Array(img.pixels[((4 * 48) + 10) * 3..<((4 * 48) + 10) * 3 + 3]))
        for i in 0..<8 { #expect(try t.apply(img, index: i).pixels == t.apply(img, index: i).pixels) }
    }

    /// "w/ transforms" scores reproduce across batch sizes (each image's transform depends on its
    /// index only, not on which batch or thread handles it), and differ from the untransformed scores.
    @Test func transformedEvaluationReproduces() throws {
        let ws = try DetectorWorkspace()
        try ws.fit(.linear)
        let detector = try Detector(model: ModelDirectory(ws.model), classifier: "linear")
        let data = try ws.dataset
        let tt = TestTimeTransforms(seed: 5)
        let a = try Evaluation.score(data, detector: detector, transforms: tt, batchSize: 3).samples
        let b = try Evaluation.score(data, detector: detector, transforms: tt, batchSize: 8).samples
        let plain = try Evaluation.score(data, detector: detector, batchSize: 8).samples
        #expect(a.map(\.path) == b.map(\.path) && a.map(\.verdict) == b.map(\.verdict))
        // Same transformed pixels; only float32 GEMM blocking differs between batch sizes (~1e-6).
        #expect(zip(a, b).allSatisfy { ($0.score == nil && $1.score == nil) || abs($0.score! - $1.score!) < 1e-5 })
        #expect(zip(a, plain).contains { ($0.score ?? 0) != ($1.score ?? 0) })
        #expect(a.filter { $0.error != nil }.map(\.path) == [ws.broken.path])
        #expect(a.map(\.group) == data.samples.map { $0.label == .real ? "real" : $0.generator! })
    }

    /// PCA on points `a_i u + b_i v + m` with orthonormal u, v in R^5 and Σa = Σb = Σab = 0:
    /// the axes are u and v, the variances Σa²/(n−1) = 20/3 and Σb²/(n−1) = 4/3, and the
    /// coordinates are (a_i, b_i) (signs fixed by the largest entry of each axis being positive).
    @Test func pcaRecoversKnownAxes() {
        let u: [Double] = [0.6, 0.8, 0, 0, 0], v: [Double] = [0, 0, 0, -0.28, 0.96], m: [Double] = [1, -2, 3, 0.5, 0]
        let a: [Double] = [3, -3, 1, -1], b: [Double] = [1, 1, -1, -1]
        var rows: [[Float]] = []
        for i in 0..<4 {
            var r = [Float](repeating: 0, count: 5)
            for j in 0..<5 { r[j] = Float(a[i] * u[j] + b[i] * v[j] + m[j]) }
            rows.append(r)
        }
        let p = PCA.project(rows)
        // Inputs are float32 (rel. error ~6e-8 on values of size ~3): agreement to 1e-5.
        #expect(abs(p.variances[0] - 20.0 / 3) < 1e-5 && abs(p.variances[1] - 4.0 / 3) < 1e-5)
        #expect(zip(p.axes[0], u).allSatisfy { abs($0 - $1) < 1e-5 } && zip(p.axes[1], v).allSatisfy { abs($0 - $1) < 1e-5 })
        for i in 0..<4 {
            let c: [Double] = p.coordinates[i]
            #expect(abs(c[0] - a[i]) < 1e-5 && abs(c[1] - b[i]) < 1e-5)
        }
    }

    /// t-SNE: each row's calibrated conditional distribution has entropy ln(perplexity) (the
    /// bisection's stopping rule, 1e-5 nats); on three well-separated clusters (four seeds) every
    /// point's nearest neighbour in the map is from its own cluster; the same seed gives the same map.
    @Test func tsneKeepsSeparatedClusters() {
        for seed: UInt64 in [9, 10, 11, 12] {
            var rng = Xoshiro256(seed: seed)
            var rows: [[Float]] = []
            for c in 0..<3 {
                for _ in 0..<15 {
                    var r = [Float](repeating: 0, count: 6)
                    for k in 0..<6 { r[k] = Float((k == c ? 20.0 : 0) + rng.nextNormal()) }
                    rows.append(r)
                }
            }
            let d2 = TSNE.squaredDistances(rows)
            let row = TSNE.conditionalRow(d2, i: 4, n: 45, perplexity: 10)
            var entropy = 0.0
            for q in row where q > 0 { entropy -= q * log(q) }
            #expect(abs(entropy - log(10)) < 1e-4 && abs(row.reduce(0, +) - 1) < 1e-12 && row[4] == 0)
            var o = TSNE.Options()
            o.perplexity = 10; o.iterations = 1000
            let map = TSNE.embed(rows, options: o)
            for i in 0..<45 {
                func dist(_ a: Int) -> Double {
                    let dx: Double = map[a][0] - map[i][0], dy: Double = map[a][1] - map[i][1]
                    return dx * dx + dy * dy
                }
                let nearest = (0..<45).filter { $0 != i }.min { dist($0) < dist($1) }!
                #expect(nearest / 15 == i / 15, "point \(i)")
            }
            #expect(TSNE.embed(rows, options: o) == map)
        }
    }

    /// code-eval's report: the page and every figure exist, the SVGs are well-formed XML, and the
    /// ROC legend gives each generator's AUC as computed by Metrics.
    @Test func reportFiles() throws {
        let ws = try DetectorWorkspace()
        try ws.fit(.svm)
        let detector = try Detector(model: ModelDirectory(ws.model), classifier: "svm")
        let data = try ws.dataset
        var runs: [EvaluationRun] = [], metrics: [EvaluationMetrics] = []
        for (c, t) in [("none", nil), ("paper", TestTimeTransforms())] as [(String, TestTimeTransforms?)] {
            let (s, e) = try Evaluation.score(data, detector: detector, transforms: t)
            runs.append(EvaluationRun(condition: c, samples: s, embeddings: e))
            metrics.append(EvaluationMetrics(condition: c, samples: s))
        }
        let dir = ws.root.appendingPathComponent("report")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try EvaluationReport.write(runs: runs, metrics: metrics, context: EvaluationContext(model: ws.model.path, classifier: "svm", data: ws.data.path),
                                   to: dir, tsne: true)
        let html = try String(contentsOf: dir.appendingPathComponent("index.html"), encoding: .utf8)
        for c in ["none", "paper"] {
            for f in ["roc", "histogram", "pca", "tsne"] {
                let svg = try String(contentsOf: dir.appendingPathComponent("\(f)-\(c).svg"), encoding: .utf8)
                #expect(Self.wellFormed(svg), "\(f)-\(c).svg")
                #expect(html.contains("src=\"\(f)-\(c).svg\""))
            }
            let roc = try String(contentsOf: dir.appendingPathComponent("roc-\(c).svg"), encoding: .utf8)
            for g in metrics.first(where: { $0.condition == c })!.generators {
                #expect(roc.contains(String(format: "%@ (AUC %.3f)", g.name, g.auc)))
            }
        }
        #expect(html.contains("W/ TRANSFORMS") && html.contains("genB"))
        // One point per embedded image (12 of 13; the broken file has none); with a cap of 5 every
        // ⌈12 / 5⌉ = 3rd image is drawn: indices 0, 3, 6, 9.
        func circles(_ svg: String?) -> Int { (svg ?? "").components(separatedBy: "<circle").count - 1 }
        #expect(circles(ReportFigures.pca(runs[0])) == 12 && circles(ReportFigures.pca(runs[0], maxPoints: 5)) == 4)
        #expect(throws: ModelDirectoryError.self) { try ModelDirectory(ws.model.appendingPathComponent("config.json")) }
    }

    /// The report's confusion matrix, threshold line and misclassified list on the constructed
    /// case of `metricsOnAConstructedCase`: reals called fake 1 (0.6), fakes called real 1 (0.3).
    /// Worst first by distance from the threshold 0.5: 0.3 (0.2 away) before 0.6 (0.1 away).
    @Test func reportConfusionThresholdAndMisclassified() throws {
        let samples = [s(.real, "real", .real, 0.1), s(.real, "real", .real, 0.4), s(.real, "real", .fake, 0.6), s(.real, "real", .real, 0.2),
                       s(.fake, "genA", .real, 0.3), s(.fake, "genA", .fake, 0.9), s(.fake, "genB", .fake, 0.7), s(.fake, "genB", .fake, 0.8),
                       s(.fake, "genB", nil, nil)]
        let cm = EvaluationReport.confusion(samples)
        #expect(cm.contains("<tr><th scope=\"row\">real</th><td>3</td><td>1</td></tr>") && cm.contains("<tr><th scope=\"row\">fake</th><td>1</td><td>3</td></tr>"), "\(cm)")
        let worst = EvaluationReport.worstMisclassified(samples, threshold: 0.5, limit: 10)
        #expect(worst.map(\.fakeness) == [0.3, 0.6])
        #expect(EvaluationReport.worstMisclassified(samples, threshold: 0.5, limit: 1).map(\.fakeness) == [0.3])
        // Paths "x" do not exist: listed without a thumbnail, never a failure.
        let html = EvaluationReport.misclassified(samples, threshold: 0.5, limit: 10)
        #expect(html.contains("Misclassified files (2 of 2, worst first)") && html.contains("(no thumbnail)"))
        let run = EvaluationRun(condition: "none", samples: samples, embeddings: samples.map { _ in nil })
        let hist = ReportFigures.histogram(run, threshold: 0.5)
        #expect(Self.wellFormed(hist) && hist.contains("threshold 0.5") && hist.contains("stroke-dasharray"))
        #expect(!ReportFigures.histogram(run).contains("threshold"))
    }

    /// A real image gets a thumbnail (a JPEG data URI that decodes to at most 96 px).
    @Test func reportThumbnail() throws {
        let b64 = try #require(EvaluationReport.thumbnail(Fixtures.url("images/jpeg_444_260x241.jpg").path))
        let img = try ImageDecoder.decode(data: try #require(Data(base64Encoded: b64)), source: "thumbnail")
        #expect(img.width == 96 && img.height == 89)
        #expect(EvaluationReport.thumbnail("/nonexistent.jpg") == nil)
    }

    /// A folder dataset without generator subfolders: its fakes are the group "fake (all)".
    @Test func fakesWithoutGenerator() {
        let f = SampleLocation.file(URL(fileURLWithPath: "f.jpg"))
        #expect(ScoredSample.group(of: ImageSample(location: f, label: .fake, generator: nil)) == "fake (all)")
        #expect(ScoredSample.group(of: ImageSample(location: f, label: .fake, generator: "sd")) == "sd")
        #expect(ScoredSample.group(of: ImageSample(location: f, label: .real, generator: nil)) == "real")
    }

    /// Minimal XML well-formedness: tags nest and close, attribute quotes pair, only the five
    /// predefined entities appear. (`xmllint --noout` agrees on the files; see docs/evaluation.md.)
    static func wellFormed(_ s: String) -> Bool {
        var stack: [Substring] = []
        var rest = Substring(s)
        while let open = rest.firstIndex(of: "<") {
            let text = rest[..<open]
            if text.contains(">") { return false }
            for part in text.split(separator: "&", omittingEmptySubsequences: false).dropFirst() {
                guard ["amp;", "lt;", "gt;", "quot;", "apos;"].contains(where: { part.hasPrefix($0) }) else { return false }
            }
            guard let close = rest[open...].firstIndex(of: ">") else { return false }
            let tag = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            if tag.hasPrefix("?") { continue }
            if tag.filter({ $0 == "\"" }).count % 2 != 0 { return false }
            let name = tag.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "/" }).first ?? ""
            if tag.hasPrefix("/") {
                guard stack.popLast() == tag.dropFirst() else { return false }
            } else if !tag.hasSuffix("/") {
                stack.append(name)
            }
        }
        return stack.isEmpty && !rest.contains(">")
    }
}
