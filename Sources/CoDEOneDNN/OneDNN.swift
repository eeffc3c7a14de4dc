// The one file that calls oneDNN (COneDNN, Debian libdnnl-dev 2.6): a bf16 matmul with fp32
// accumulation and fp32 output, its weights converted and reordered once. Used by
// code-bench-bf16 (issue 24 item 2, the benchmark only; no inference path uses it yet).
import COneDNN
import Foundation

public enum OneDNNError: Error, CustomStringConvertible {
    case call(String, dnnl_status_t)
    public var description: String {
        switch self { case let .call(f, s): return "oneDNN: \(f) failed with status \(s.rawValue)" }
    }
}

@inline(__always) func check(_ s: dnnl_status_t, _ f: String) throws {
    if s != dnnl_success { throw OneDNNError.call(f, s) }
}

/// Float to bfloat16 bits, round to nearest even (NaN kept quiet).
@inline(__always) public func bf16Bits(_ x: Float) -> UInt16 {
    let b = x.bitPattern
    if x.isNaN { return UInt16(b >> 16) | 0x40 }
    return UInt16((b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
}

/// `dst[m, n] = src[m, k] * weights^T` with `weights` given as `[n, k]` fp32 (PyTorch's Linear
/// layout), computed in bf16 with fp32 accumulation; `src` is passed as bf16 bits.
public final class BF16Matmul {
    public let m: Int, n: Int, k: Int
    var engine: dnnl_engine_t?
    var stream: dnnl_stream_t?
    var primitive: dnnl_primitive_t?
    var weightsMemory: dnnl_memory_t?
    var srcMD = dnnl_memory_desc_t(), dstMD = dnnl_memory_desc_t()
    /// The implementation oneDNN chose (e.g. "brg:avx512_core_bf16").
    public private(set) var implementation = ""

    public init(m: Int, n: Int, k: Int, weights: UnsafePointer<Float>) throws {
        self.m = m; self.n = n; self.k = k
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        var sd: [dnnl_dim_t] = [dnnl_dim_t(m), dnnl_dim_t(k)], wd: [dnnl_dim_t] = [dnnl_dim_t(k), dnnl_dim_t(n)]
        var dd: [dnnl_dim_t] = [dnnl_dim_t(m), dnnl_dim_t(n)]
        var anyW = dnnl_memory_desc_t(), userW = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_tag(&srcMD, 2, &sd, dnnl_bf16, dnnl_ab), "memory_desc src")
        try check(dnnl_memory_desc_init_by_tag(&anyW, 2, &wd, dnnl_bf16, dnnl_format_tag_any), "memory_desc weights")
        try check(dnnl_memory_desc_init_by_tag(&dstMD, 2, &dd, dnnl_f32, dnnl_ab), "memory_desc dst")
        // The user's weights: [n, k] row-major is the [k, n] matrix in "ba" order.
        try check(dnnl_memory_desc_init_by_tag(&userW, 2, &wd, dnnl_bf16, dnnl_ba), "memory_desc user weights")
        var desc = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&desc, &srcMD, &anyW, nil, &dstMD), "dnnl_matmul_desc_init")
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, &desc, nil, engine, nil), "primitive_desc matmul")
        defer { dnnl_primitive_desc_destroy(pd) }
        var info: UnsafePointer<CChar>?
        if dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) == dnnl_success, let info {
            implementation = String(cString: info)
        }
        try check(dnnl_primitive_create(&primitive, pd), "primitive matmul")
        // Convert to bf16 and reorder into the layout the primitive chose, once.
        let chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!
        let bits = (0..<(n * k)).map { bf16Bits(weights[$0]) }
        try bits.withUnsafeBufferPointer { b in
            var user: dnnl_memory_t?
            try check(dnnl_memory_create(&user, &userW, engine, UnsafeMutableRawPointer(mutating: b.baseAddress!)), "memory user weights")
            defer { dnnl_memory_destroy(user) }
            try check(dnnl_memory_create(&weightsMemory, chosen, engine, codekit_dnnl_memory_allocate), "memory weights")
            var rpd: dnnl_primitive_desc_t?
            try check(dnnl_reorder_primitive_desc_create(&rpd, &userW, engine, chosen, engine, nil), "reorder pd")
            defer { dnnl_primitive_desc_destroy(rpd) }
            var reorder: dnnl_primitive_t?
            try check(dnnl_primitive_create(&reorder, rpd), "reorder")
            defer { dnnl_primitive_destroy(reorder) }
            var args = [dnnl_exec_arg_t(arg: codekit_dnnl_arg_from, memory: user),
                        dnnl_exec_arg_t(arg: codekit_dnnl_arg_to, memory: weightsMemory)]
            try check(dnnl_primitive_execute(reorder, stream, 2, &args), "reorder execute")
            try check(dnnl_stream_wait(stream), "stream wait")
        }
    }

    deinit {
        dnnl_memory_destroy(weightsMemory)
        dnnl_primitive_destroy(primitive)
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// Runs the matmul: `src` `[m, k]` bf16 bits, `dst` `[m, n]` fp32.
    public func run(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>) throws {
        var s: dnnl_memory_t?, d: dnnl_memory_t?
        try check(dnnl_memory_create(&s, &srcMD, engine, UnsafeMutableRawPointer(mutating: src)), "memory src")
        defer { dnnl_memory_destroy(s) }
        try check(dnnl_memory_create(&d, &dstMD, engine, dst), "memory dst")
        defer { dnnl_memory_destroy(d) }
        var args = [dnnl_exec_arg_t(arg: codekit_dnnl_arg_src, memory: s),
                    dnnl_exec_arg_t(arg: codekit_dnnl_arg_weights, memory: weightsMemory),
                    dnnl_exec_arg_t(arg: codekit_dnnl_arg_dst, memory: d)]
        try check(dnnl_primitive_execute(primitive, stream, 3, &args), "matmul execute")
        try check(dnnl_stream_wait(stream), "stream wait")
    }
}

// MARK: - Training

/// Float to bfloat16 bits over `count` values (round to nearest even, as ``bf16Bits(_:)``), in a
/// branch-free loop the compiler vectorises. Single-threaded: callers split the range.
public func bf16Convert(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int) {
    let bits = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
    for i in 0..<n {
        let b = bits[i]
        let rounded = (b &+ 0x7FFF &+ ((b &>> 16) & 1)) &>> 16
        let nan = (b & 0x7FFF_FFFF) > 0x7F80_0000
        dst[i] = UInt16(truncatingIfNeeded: nan ? (b &>> 16) | 0x40 : rounded)
    }
}

/// The GEMMs of bf16 mixed-precision training: `C = op(A) op(B)` or `C += op(A) op(B)` with A and
/// B bfloat16, row-major with leading dimensions (`op` transposes when asked, as BLAS), fp32
/// accumulation and fp32 C. One oneDNN matmul primitive per distinct shape, made on first use
/// and kept. Not thread-safe: one per training cache.
public final class BF16TrainingGEMM {
    struct Key: Hashable { let m, n, k, lda, ldb, ldc: Int; let transA, transB, accumulate: Bool }
    struct Entry { let primitive: dnnl_primitive_t; var a, b, c: dnnl_memory_desc_t }
    var engine: dnnl_engine_t?
    var stream: dnnl_stream_t?
    var primitives: [Key: Entry] = [:]
    /// The implementation oneDNN chose for each shape made so far, e.g. `brg:avx512_core_amx_bf16`.
    public private(set) var implementations: [String] = []

    public init() throws {
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
    }

    deinit {
        for e in primitives.values { dnnl_primitive_destroy(e.primitive) }
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// `rows x cols` row-major with leading dimension `ld`, read transposed when `trans`.
    static func desc(_ rows: Int, _ cols: Int, ld: Int, trans: Bool, _ type: dnnl_data_type_t) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var dims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(cols)]
        var strides: [dnnl_dim_t] = trans ? [1, dnnl_dim_t(ld)] : [dnnl_dim_t(ld), 1]
        try check(dnnl_memory_desc_init_by_strides(&md, 2, &dims, type, &strides), "memory_desc_init_by_strides")
        return md
    }

    func entry(_ key: Key) throws -> Entry {
        if let e = primitives[key] { return e }
        var a = try Self.desc(key.m, key.k, ld: key.lda, trans: key.transA, dnnl_bf16)
        var b = try Self.desc(key.k, key.n, ld: key.ldb, trans: key.transB, dnnl_bf16)
        var c = try Self.desc(key.m, key.n, ld: key.ldc, trans: false, dnnl_f32)
        var desc = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&desc, &a, &b, nil, &c), "dnnl_matmul_desc_init")
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        if key.accumulate {
            var po: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&po), "post_ops_create")
            defer { dnnl_post_ops_destroy(po) }
            try check(dnnl_post_ops_append_sum(po, 1), "post_ops_append_sum")
            try check(dnnl_primitive_attr_set_post_ops(attr, po), "primitive_attr_set_post_ops")
        }
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil), "primitive_desc matmul \(key.m)x\(key.n)x\(key.k)")
        defer { dnnl_primitive_desc_destroy(pd) }
        var info: UnsafePointer<CChar>?
        if dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) == dnnl_success, let info {
            implementations.append(String(cString: info))
        }
        var p: dnnl_primitive_t?
        try check(dnnl_primitive_create(&p, pd), "primitive matmul")
        let e = Entry(primitive: p!, a: a, b: b, c: c)
        primitives[key] = e
        return e
    }

    /// `C[m, n] (+)= op(A)[m, k] op(B)[k, n]`; A is stored `[m, lda]` (or `[k, lda]` when
    /// `transA`), B `[k, ldb]` (or `[n, ldb]` when `transB`), C `[m, ldc]`.
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                     accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) throws {
        var e = try entry(Key(m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, transA: transA, transB: transB, accumulate: accumulate))
        var ma: dnnl_memory_t?, mb: dnnl_memory_t?, mc: dnnl_memory_t?
        try check(dnnl_memory_create(&ma, &e.a, engine, UnsafeMutableRawPointer(mutating: a)), "memory A")
        defer { dnnl_memory_destroy(ma) }
        try check(dnnl_memory_create(&mb, &e.b, engine, UnsafeMutableRawPointer(mutating: b)), "memory B")
        defer { dnnl_memory_destroy(mb) }
        try check(dnnl_memory_create(&mc, &e.c, engine, c), "memory C")
        defer { dnnl_memory_destroy(mc) }
        var args = [dnnl_exec_arg_t(arg: codekit_dnnl_arg_src, memory: ma),
                    dnnl_exec_arg_t(arg: codekit_dnnl_arg_weights, memory: mb),
                    dnnl_exec_arg_t(arg: codekit_dnnl_arg_dst, memory: mc)]
        try check(dnnl_primitive_execute(e.primitive, stream, 3, &args), "matmul execute")
        try check(dnnl_stream_wait(stream), "stream wait")
    }

    /// What oneDNN runs a bf16 matmul of a training shape with on this CPU (a ViT-Tiny qkv GEMM
    /// at 64 images), or why it cannot: `native` is true when the implementation uses the CPU's
    /// bf16 instructions (its name contains `bf16` or `amx`, e.g. `brg:avx512_core_amx_bf16`),
    /// false for an emulating or reference one (e.g. under `ONEDNN_MAX_CPU_ISA=AVX2`).
    public static func probe() -> (native: Bool, implementation: String) {
        do {
            let g = try BF16TrainingGEMM()
            _ = try g.entry(Key(m: 12608, n: 576, k: 192, lda: 192, ldb: 192, ldc: 576, transA: false, transB: true, accumulate: true))
            let impl = g.implementations.first ?? "unknown"
            return (impl.contains("bf16") || impl.contains("amx"), impl)
        } catch {
            return (false, "none: \(error)")
        }
    }
}
