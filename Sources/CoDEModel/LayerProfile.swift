import Foundation

/// Wall-clock time per layer kind, accumulated over forward (and backward) passes when a
/// profile is attached to a model (``ViT/profile``). Used by the benchmark harness.
public final class LayerProfile: @unchecked Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case patchEmbedding = "patch embedding", layerNorm = "layernorm", qkv = "qkv linear",
             attention = "attention core", projection = "proj linear", fc1 = "fc1 linear + gelu",
             gelu = "gelu", fc2 = "fc2 linear", other = "other"
    }

    public private(set) var seconds: [Kind: Double] = [:]

    public init() {}

    public func reset() { seconds = [:] }

    @inline(__always)
    func measure(_ kind: Kind, _ body: () -> Void) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        seconds[kind, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }
}

extension Optional where Wrapped == LayerProfile {
    /// Runs `body`, timing it when a profile is attached.
    @inline(__always)
    func measure(_ kind: LayerProfile.Kind, _ body: () -> Void) {
        if let p = self { p.measure(kind, body) } else { body() }
    }
}
