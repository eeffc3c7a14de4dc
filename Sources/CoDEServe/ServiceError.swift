import CoDEImage
import Foundation

/// A refusal of the service: an HTTP status, a stable reason and a message. Every error path of
/// the API ends in one of these (rendered as ``ErrorResponse`` JSON).
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var reason: String
    public var message: String
    /// Seconds for a `Retry-After` header (queue full, not ready).
    public var retryAfter: Int?

    public init(_ status: Int, _ reason: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.reason = reason
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(reason): \(message)" }
    public var body: ErrorBody { ErrorBody(status: status, reason: reason, message: message) }

    // MARK: The refusals (docs/service.md lists them)

    static func bodyTooLarge(limit: Int) -> ServiceError {
        .init(413, "body_too_large", "request body exceeds the limit of \(limit) bytes (--max-body-bytes)")
    }
    static func tooManyImages(_ n: Int, limit: Int) -> ServiceError {
        .init(413, "too_many_images", "request holds \(n) images, more than the limit of \(limit) (--max-images)")
    }
    static func emptyBody() -> ServiceError { .init(400, "empty_body", "request body is empty: send an image or multipart/form-data") }
    static func unsupportedMediaType(_ type: String) -> ServiceError {
        .init(415, "unsupported_media_type",
              "content type '\(type)' is not accepted: send the image bytes (image/* or application/octet-stream) or multipart/form-data")
    }
    static func badMultipart(_ why: String) -> ServiceError { .init(400, "bad_multipart", "malformed multipart/form-data: \(why)") }
    static func badParameter(_ name: String, _ why: String) -> ServiceError { .init(400, "bad_\(name)", why) }
    static func queueFull(limit: Int) -> ServiceError {
        .init(503, "queue_full", "the service is at its limit of \(limit) images in flight (--max-queue); retry later", retryAfter: 1)
    }
    static func timeout(seconds: Double) -> ServiceError {
        .init(503, "timeout", "request not finished within \(seconds) s (--timeout)")
    }
    static func notReady(_ why: String) -> ServiceError { .init(503, "not_ready", why, retryAfter: 1) }
    static func shuttingDown() -> ServiceError { .init(503, "shutting_down", "the service is shutting down") }

    /// The refusal for an image the decoder rejected, with the decoder's message: 415 for a
    /// format or feature CoDEKit does not decode, 422 for a corrupt, truncated or over-limit image.
    static func image(_ e: ImageError) -> ServiceError {
        switch e {
        case .unsupportedFormat: .init(415, "unsupported_format", e.description)
        case .unsupported: .init(415, "unsupported_image", e.description)
        case .corrupt: .init(422, "corrupt_image", e.description)
        case .truncated: .init(422, "truncated_image", e.description)
        case .tooLarge: .init(422, "pixel_limit", e.description)
        case .tooManyScans: .init(422, "scan_limit", e.description)
        case .fileTooLarge: .init(413, "body_too_large", e.description)
        case .unreadable, .encodeFailed: .init(422, "unreadable_image", e.description)
        }
    }
}
