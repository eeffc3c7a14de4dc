import Foundation

/// A fixed-size, 64-byte-aligned, zero-initialised buffer of `Float` with reference semantics.
///
/// The storage behind parameters, gradients, optimizer moments and activation workspaces.
/// Not synchronised: kernels write disjoint slices from several threads by design.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative count")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: count)
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    @inline(__always) public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    /// A copy of the contents as an array (or of `range` only).
    public func array(_ range: Range<Int>? = nil) -> [Float] {
        let r = range ?? 0..<count
        return Array(UnsafeBufferPointer(start: pointer + r.lowerBound, count: r.count))
    }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: \(other.count) vs \(count) elements")
        pointer.update(from: other.pointer, count: count)
    }
}

/// One named tensor in a ``ParameterLayout``.
public struct ParameterSpec: Sendable, Equatable {
    /// Checkpoint name (timm convention inside CoDEKit, e.g. `blocks.0.attn.qkv.weight`).
    public let name: String
    public let shape: [Int]
    /// Whether AdamW applies weight decay (false for biases, norm weights, position embedding, CLS token).
    public let decay: Bool
    /// First element in the flat buffer.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// The ordered table of (name, shape, decay) that parameters, gradients and both AdamW moments
/// share: four flat buffers, one layout, so the optimizer, gradient clipping and checkpoint I/O
/// are flat loops and every tensor keeps its checkpoint name.
public struct ParameterLayout: Sendable, Equatable {
    public let specs: [ParameterSpec]
    public let totalCount: Int
    private let index: [String: Int]

    public init(_ entries: [(name: String, shape: [Int], decay: Bool)]) {
        var specs: [ParameterSpec] = []
        var offset = 0
        var index: [String: Int] = [:]
        for e in entries {
            precondition(index[e.name] == nil, "ParameterLayout: duplicate name \(e.name)")
            index[e.name] = specs.count
            let s = ParameterSpec(name: e.name, shape: e.shape, decay: e.decay, offset: offset)
            specs.append(s)
            offset += s.count
        }
        self.specs = specs
        totalCount = offset
        self.index = index
    }

    public func spec(_ name: String) -> ParameterSpec? { index[name].map { specs[$0] } }

    public subscript(name: String) -> ParameterSpec {
        guard let s = spec(name) else { preconditionFailure("ParameterLayout: no tensor named \(name)") }
        return s
    }

    /// A new zeroed buffer sized for this layout.
    public func makeBuffer() -> FloatBuffer { FloatBuffer(count: totalCount) }

    public static func == (a: ParameterLayout, b: ParameterLayout) -> Bool { a.specs == b.specs }
}
