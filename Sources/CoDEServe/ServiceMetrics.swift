import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The service's metrics: swift-metrics instruments backed by one swift-prometheus registry per
/// service (not the process-global `MetricsSystem`, so several services, as in tests, keep their
/// own counts). `GET /metrics` renders ``registry``.
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// Images waiting for the encoder (gauge).
    let queueDepth: Recorder
    /// Images admitted and not finished (gauge).
    let inFlight: Recorder
    /// Images per encoder forward (histogram).
    let batchSize: Recorder
    /// Encoder forward time per batch (histogram).
    let encoderSeconds: Metrics.Timer
    /// Decode time per image (histogram).
    let decodeSeconds: Metrics.Timer
    /// Images classified, by classifier and verdict.
    let verdictLabel = "codeserve_images_total"

    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128]
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    public init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = Self.durationBuckets
        f.defaultValueHistogramBuckets = Self.batchBuckets
        factory = f
        queueDepth = Recorder(label: "codeserve_queue_depth", aggregate: false, factory: f)
        inFlight = Recorder(label: "codeserve_images_in_flight", aggregate: false, factory: f)
        batchSize = Recorder(label: "codeserve_batch_size", aggregate: true, factory: f)
        encoderSeconds = Metrics.Timer(label: "codeserve_encoder_batch_seconds", factory: f)
        decodeSeconds = Metrics.Timer(label: "codeserve_decode_seconds", factory: f)
        queueDepth.record(0)
        inFlight.record(0)
    }

    /// One finished request: `codeserve_requests_total{endpoint,status}` and
    /// `codeserve_request_seconds{endpoint}`.
    func request(endpoint: String, status: Int, seconds: Double) {
        Counter(label: "codeserve_requests_total", dimensions: [("endpoint", endpoint), ("status", String(status))], factory: factory)
            .increment()
        Metrics.Timer(label: "codeserve_request_seconds", dimensions: [("endpoint", endpoint)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    /// One refusal, of a whole request or of one image of a multipart request:
    /// `codeserve_errors_total{reason}`.
    func error(reason: String) {
        Counter(label: "codeserve_errors_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// One image classified: `codeserve_images_total{classifier,verdict}`.
    func verdict(classifier: String, verdict: String) {
        Counter(label: verdictLabel, dimensions: [("classifier", classifier), ("verdict", verdict)], factory: factory).increment()
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String { registry.emitToString() }
}
