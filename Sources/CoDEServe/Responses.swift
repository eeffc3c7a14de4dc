import Foundation

/// `GET /v1/model`: what the service has loaded.
public struct ModelInfo: Codable, Sendable, Equatable {
    public struct Encoder: Codable, Sendable, Equatable {
        /// The model directory's folder name.
        public var name: String
        public var path: String
        /// The weights file whose digest ``sha256`` is.
        public var file: String
        public var sha256: String
        public var imageSize: Int
        public var embeddingDimension: Int
        /// The precision of the encoder's linear layers in use: fp32, bf16 or int8.
        public var precision: String
        /// The precision `code-serve --precision` asked for.
        public var requestedPrecision: String
        /// Why ``precision`` is not ``requestedPrecision`` (absent when it is).
        public var precisionNote: String?
    }

    public struct ClassifierInfo: Codable, Sendable, Equatable {
        public var name: String
        public var kind: String
        /// `center` or `five`: the windows each image is embedded through for this classifier.
        public var crops: String
        /// The threshold of the verdict when a request gives none: the one `code-calibrate`
        /// recorded in the classifier file, else the classifier's own (absent for k-NN's neighbour vote).
        public var defaultThreshold: Double?
        /// Whether ``defaultThreshold`` is a calibrated one read from the classifier file.
        public var calibrated: Bool
        /// How score, threshold and verdict relate.
        public var rule: String
    }

    public var encoder: Encoder
    public var classifiers: [ClassifierInfo]
    public var defaultClassifier: String
    /// The model card's title line (absent when the directory has no MODEL_CARD.md).
    public var summary: String?
    /// The model card's "What it can and cannot detect" bullets.
    public var limitations: [String]
}

/// Time spent on one image, in milliseconds.
public struct ImageTimings: Codable, Sendable, Equatable {
    /// Decoding and cropping (on a worker thread).
    public var decodeMs: Double
    /// Waiting in the batch queue for the encoder.
    public var queueMs: Double
    /// The encoder forward of the batch this image was in.
    public var encodeMs: Double
    /// From the start of decoding to the verdict.
    public var totalMs: Double
}

/// One image of a `POST /v1/detect` response.
public struct ImageDetection: Codable, Sendable, Equatable {
    /// The multipart part's filename (or field name); `image` for a raw body.
    public var name: String
    /// `ok` or `error`.
    public var status: String
    /// `real` or `fake` (absent on error).
    public var verdict: String?
    /// The classifier's decision value (absent on error).
    public var score: Double?
    public var classifier: String
    /// The threshold applied (absent for k-NN's neighbour vote).
    public var threshold: Double?
    public var crops: String
    /// Images the encoder forward held (this one included).
    public var batchSize: Int?
    public var error: ErrorBody?
    public var timings: ImageTimings?
}

/// `POST /v1/detect`.
public struct DetectResponse: Codable, Sendable, Equatable {
    public var classifier: String
    public var threshold: Double?
    public var crops: String
    public var results: [ImageDetection]
}

/// One image of a `POST /v1/embed` response.
public struct ImageEmbedding: Codable, Sendable, Equatable {
    public var name: String
    public var status: String
    public var crops: String
    public var embedding: [Float]?
    public var error: ErrorBody?
    public var timings: ImageTimings?
}

/// `POST /v1/embed`.
public struct EmbedResponse: Codable, Sendable, Equatable {
    public var crops: String
    public var dimension: Int
    public var results: [ImageEmbedding]
}

/// The body of every refusal: `{"error": {"status": 415, "reason": "unsupported_format", "message": "..."}}`.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var status: Int
    /// A stable machine-readable reason (see docs/service.md).
    public var reason: String
    /// What went wrong, in words (for images, the decoder's own message).
    public var message: String
}

public struct ErrorResponse: Codable, Sendable, Equatable {
    public var error: ErrorBody
}

/// `GET /healthz` and `GET /readyz`.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var reason: String?
}
