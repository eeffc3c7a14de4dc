import CoDEClassifiers
import CoDEKit
@testable import CoDEServe
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import _CoDETestSupport

/// A temporary model directory holding the tiny encoder fixture (32x32 input, 32-d embeddings)
/// with three fitted classifiers recording their provenance as code-fit does (crops and encoder
/// SHA-256): `linear` and `knn` on centre-crop embeddings, `svm` on five crops; and test images: PNGs and JPEGs larger than 3x the input size on both sides (so
/// five-crop decoding compacts them), small ones, and broken files from the image fixtures.
final class ServiceWorkspace: @unchecked Sendable {
    let root: URL
    let model: URL
    let data: URL
    /// Good image files (PNG and JPEG, several sizes).
    let images: [URL]

    init() throws {
        let fm = FileManager.default
        root = fm.temporaryDirectory.appendingPathComponent("codekit-serve-\(UUID().uuidString)")
        let model = root.appendingPathComponent("model"), dataDir = root.appendingPathComponent("data")
        self.model = model
        data = dataDir
        try fm.createDirectory(at: model, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors"] {
            try fm.copyItem(at: Fixtures.url("model/tiny-transformers/\(f)"), to: model.appendingPathComponent(f))
        }
        var rng = Xoshiro256(seed: 26)
        var all: [URL] = []
        func write(_ dir: String, _ name: String, width: Int, height: Int, base: Int, spread: Int, jpeg: Bool) throws {
            let d = dataDir.appendingPathComponent(dir)
            try fm.createDirectory(at: d, withIntermediateDirectories: true)
            let px = (0..<(width * height * 3)).map { _ in UInt8(base + Int(rng.next() % UInt64(spread))) }
            let image = RGBImage(width: width, height: height, pixels: px)
            let url = d.appendingPathComponent(name)
            try (jpeg ? ImageEncoder.jpeg(image, quality: 90) : ImageEncoder.png(image)).write(to: url)
            all.append(url)
        }
        for i in 0..<5 { try write("real", "r\(i).png", width: 48, height: 40, base: 0, spread: 120, jpeg: false) }
        for i in 0..<5 { try write("fake", "f\(i).png", width: 48, height: 40, base: 120, spread: 120, jpeg: false) }
        try write("real", "big-r.jpg", width: 131, height: 107, base: 0, spread: 140, jpeg: true)
        try write("fake", "big-f.png", width: 140, height: 99, base: 100, spread: 150, jpeg: false)
        try write("real", "tall-r.jpg", width: 45, height: 150, base: 10, spread: 100, jpeg: true)
        try write("fake", "tiny-f.png", width: 20, height: 17, base: 130, spread: 120, jpeg: false)
        images = all.sorted { $0.path < $1.path }
        let dataset = try DatasetSpec.open(dataDir.path)
        for (kind, crops) in [(ClassifierKind.linear, CropLayout.center), (.knn, .center), (.svm, .five)] {
            let embedder = try Embedder(modelAt: model)
            embedder.crops = crops
            let items = embedder.embed(samples: try dataset.samples, reader: SampleReader())
            let (c, _) = try AnyClassifier.fit(try SampleEmbedding.records(items, source: "test"), options: FitOptions(kind: kind), source: "test")
            // What code-fit records: the crops and the encoder's SHA-256.
            let provenance = Provenance(crops: crops.rawValue, encoderSHA256: try EncoderIdentity.sha256(modelAt: model))
            try c.save(to: model.appendingPathComponent("\(kind.rawValue).safetensors"), metadata: provenance.classifierMetadata)
        }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// A loaded service over this model directory.
    func service(_ configuration: ServiceConfiguration = .init(decodeThreads: 2)) throws -> DetectionService {
        let s = DetectionService(configuration: configuration)
        try s.load(ModelDirectory(model))
        return s
    }

    static func app(_ service: DetectionService) -> some ApplicationProtocol {
        Application(router: CoDEServeRoutes.router(service: service))
    }
}

/// Helpers for building requests and reading responses.
enum HTTP {
    static func bytes(_ url: URL) throws -> ByteBuffer { ByteBuffer(bytes: try Data(contentsOf: url)) }

    static func multipart(_ parts: [(filename: String, data: Data)], boundary: String = "codeserve-test-boundary") -> (ByteBuffer, HTTPFields) {
        var body = Data()
        for p in parts {
            body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"images\"; filename=\"\(p.filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8))
            body.append(p.data)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return (ByteBuffer(bytes: body), [.contentType: "multipart/form-data; boundary=\(boundary)"])
    }

    static let imageHeaders: HTTPFields = [.contentType: "image/png"]

    static func decode<T: Decodable>(_ type: T.Type, _ r: TestResponse) throws -> T {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return try d.decode(T.self, from: Data(buffer: r.body))
    }
}
