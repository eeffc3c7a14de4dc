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
