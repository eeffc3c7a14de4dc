import CoDEImage
import CoDEKit
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The HTTP face of a ``DetectionService``: versioned JSON endpoints, the web page, health and
/// metrics. docs/service.md and docs/openapi.yaml describe the same routes.
public enum CoDEServeRoutes {
    /// The endpoints, as metric labels (anything else is `other`).
    static let endpoints: Set<String> = ["/", "/v1/detect", "/v1/embed", "/v1/model", "/healthz", "/readyz", "/metrics"]

    /// A router with every route of the service.
    public static func router(service: DetectionService) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorAndMetricsMiddleware(metrics: service.metrics))
        router.get("/") { _, _ in try page() }
        router.get("/healthz") { _, _ in try json(HealthResponse(status: "ok")) }
        router.get("/readyz") { _, _ in
            do {
                _ = try service.ready()
                return try json(HealthResponse(status: "ready"))
            } catch let e as ServiceError {
                var r = try json(HealthResponse(status: "not_ready", reason: e.message), status: 503)
                if let s = e.retryAfter { r.headers[.retryAfter] = String(s) }
                return r
            }
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: service.metrics.render())))
        }
        router.get("/v1/model") { _, _ in try json(service.ready().0.info) }
        router.post("/v1/detect") { request, _ in
            let (detector, threshold) = try service.resolve(classifier: request.uri.queryParameters.get("classifier"),
                                                             threshold: request.uri.queryParameters.get("threshold"))
            return try await admitted(service, request) { inputs, raw in
                let results = await service.detect(inputs, classifier: detector, threshold: threshold)
                if raw, let e = results.first?.error { throw ServiceError(e.status, e.reason, e.message) }
                for r in results { if let e = r.error { service.metrics.error(reason: e.reason) } }
                let kind = detector.classifier.kind
                return try json(DetectResponse(classifier: detector.classifierName,
                                               threshold: threshold ?? detector.threshold ?? ServiceModel.defaultThreshold(kind),
                                               crops: detector.embedder.crops.rawValue, results: results))
            }
        }
        router.post("/v1/embed") { request, _ in
            let (model, _) = try service.ready()
            let layout = try cropsParameter(request.uri.queryParameters.get("crops"),
                                            default: model.detectors[model.defaultClassifier]!.embedder.crops)
            return try await admitted(service, request) { inputs, raw in
                let results = await service.embed(inputs, crops: layout)
                if raw, let e = results.first?.error { throw ServiceError(e.status, e.reason, e.message) }
                for r in results { if let e = r.error { service.metrics.error(reason: e.reason) } }
                return try json(EmbedResponse(crops: layout.rawValue, dimension: model.model.configuration.width, results: results))
            }
        }
        return router
    }

    /// A Hummingbird application serving ``router(service:)``.
    public static func application(service: DetectionService, host: String, port: Int, logger: Logger,
                                   onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(router: router(service: service),
                    configuration: .init(address: .hostname(host, port: port), serverName: "code-serve"),
                    onServerRunning: onServerRunning, logger: logger)
    }

    // MARK: Request handling

    /// Admission, body, inputs and timeout around `body(inputs, isRawBody)`: one queue slot is
    /// reserved before the body is read (so bodies in memory are bounded by the queue limit times
    /// the body limit), the rest once the multipart parts are counted; all are released when the
    /// request ends. The whole request is bounded by the timeout (503 `timeout`).
    static func admitted(_ service: DetectionService, _ request: Request,
                         _ body: @escaping @Sendable ([ImageInput], Bool) async throws -> Response) async throws -> Response {
        let (_, queue) = try service.ready()
        let config = service.configuration
        if let len = request.headers[.contentLength].flatMap({ Int($0) }), len > config.maxBodyBytes {
            throw ServiceError.bodyTooLarge(limit: config.maxBodyBytes)
        }
        let contentType = request.headers[.contentType] ?? "application/octet-stream"
        let boundary = try Multipart.boundary(contentType: contentType)
        if boundary == nil, !isImageType(contentType) { throw ServiceError.unsupportedMediaType(contentType) }
        try queue.reserve(1)
        let reserved = Reserved(1)
        defer { queue.release(reserved.count) }
        return try await withTimeout(config.timeout) {
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: config.maxBodyBytes) } catch is NIOTooManyBytesError {
                throw ServiceError.bodyTooLarge(limit: config.maxBodyBytes)
            }
            let data = Data(buffer: buffer)
            let inputs: [ImageInput]
            if let boundary {
                let parts = try Multipart.parse(data, boundary: boundary, maxParts: config.maxImages)
                inputs = parts.enumerated().map { k, p in ImageInput(name: p.filename ?? p.name ?? "part-\(k + 1)", data: p.body) }
            } else {
                inputs = [ImageInput(name: "image", data: data)]
            }
            guard !inputs.isEmpty, inputs.contains(where: { !$0.data.isEmpty }) else { throw ServiceError.emptyBody() }
            if inputs.count > 1 {
                try queue.reserve(inputs.count - 1)
                reserved.add(inputs.count - 1)
            }
            return try await body(inputs, boundary == nil)
        }
    }

    static func cropsParameter(_ c: String?, default d: CropLayout) throws -> CropLayout {
        guard let c else { return d }
        guard let l = CropLayout(rawValue: String(c)) else {
            throw ServiceError.badParameter("crops", "crops must be center or five, got '\(c)'")
        }
        return l
    }

    /// `image/*`, `application/octet-stream`: a raw image body.
    static func isImageType(_ contentType: String) -> Bool {
        let t = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return t.hasPrefix("image/") || t == "application/octet-stream"
    }

    /// `body` or 503 `timeout` after `seconds` (the body is cancelled; images still queued leave the queue).
    static func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
                throw ServiceError.timeout(seconds: seconds)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func json<T: Encodable>(_ value: T, status: Int = 200) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: .init(code: status), headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func page() throws -> Response {
        guard let url = Bundle.module.url(forResource: "index", withExtension: "html", subdirectory: "web"),
              let data = try? Data(contentsOf: url) else {
            throw ServiceError(500, "internal", "the web page resource is missing from this build")
        }
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8",
                                               .init("Content-Security-Policy")!: "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A request's queue reservations (mutable from the timed child task, released by the handler).
final class Reserved: @unchecked Sendable {
    private let lock = NSLock()
    private var n: Int
    init(_ n: Int) { self.n = n }
    var count: Int { lock.withLock { n } }
    func add(_ k: Int) { lock.withLock { n += k } }
}

/// Turns every error into the JSON ``ErrorResponse`` with its status (and `Retry-After` where
/// it applies), and counts requests, errors and latency per endpoint.
struct ErrorAndMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now()
        let path = request.uri.path
        let endpoint = CoDEServeRoutes.endpoints.contains(path) ? path : "other"
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let e: ServiceError
            switch error {
            case let s as ServiceError: e = s
            case let h as HTTPError:
                let reason = switch h.status.code {
                case 404: "not_found"
                case 405: "method_not_allowed"
                default: "http_\(h.status.code)"
                }
                e = ServiceError(h.status.code, reason, h.body ?? (h.status.code == 404 ? "no route \(request.method) \(path)" : h.status.reasonPhrase))
            default: e = DetectionService.serviceError(error)
            }
            metrics.error(reason: e.reason)
            var r = try CoDEServeRoutes.json(ErrorResponse(error: e.body), status: e.status)
            if let s = e.retryAfter { r.headers[.retryAfter] = String(s) }
            response = r
        }
        metrics.request(endpoint: endpoint, status: response.status.code, seconds: BatchQueue.seconds(since: start))
        return response
    }
}
