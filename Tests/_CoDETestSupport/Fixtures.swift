// Test-only helpers: fixture lookup and per-tensor comparison. Not part of the public API.
import CoDECore
import Foundation

/// Locates committed fixtures under `Tests/Fixtures/` (written by the scripts in that folder).
public enum Fixtures {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    public static func open(_ relative: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(contentsOf: url(relative))
    }
}

/// Differences between two tensors, the figures a parity report gives per tensor.
public struct TensorDiff: CustomStringConvertible {
    public let maxAbs: Double
    public let maxRef: Double
    /// max |a - b| / max |b|: robust where b crosses zero.
    public var relative: Double { maxRef > 0 ? maxAbs / maxRef : maxAbs }
    public var description: String { String(format: "max|diff| %.3e, max|ref| %.3e, rel %.3e", maxAbs, maxRef, relative) }

    public init<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ actual: [A], _ reference: [B]) {
        precondition(actual.count == reference.count, "TensorDiff: \(actual.count) vs \(reference.count) elements")
        var m = 0.0, r = 0.0
        for i in 0..<actual.count {
            let a = Double(actual[i]), b = Double(reference[i])
            if a.isNaN != b.isNaN { m = .infinity }
            m = max(m, abs(a - b))
            r = max(r, abs(b))
        }
        maxAbs = m
        maxRef = r
    }
}
