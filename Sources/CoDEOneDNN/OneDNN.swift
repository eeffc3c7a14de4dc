// The one file that calls oneDNN (COneDNN, Debian libdnnl-dev 2.6): BF16Matmul, a bf16 matmul
// with fp32 accumulation used by code-bench-bf16; and (MARK: - Inference) InferenceLinear, the
// bf16 and int8 linear layers of reduced-precision inference (ViT.setPrecision, docs/precision.md);
// and (MARK: - Training) BF16TrainingGEMM, the bf16 GEMMs of mixed-precision training
// (TrainingCache(precision: .bf16), code-train --precision bf16).
import CoDECore
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

// MARK: - Inference

/// An engine and a stream for ``InferenceLinear`` layers, plus the scratch buffer they convert
/// their input into. One per model: its layers run one at a time (the scratch is shared).
public final class OneDNNContext: @unchecked Sendable {
    var engine: dnnl_engine_t?
    var stream: dnnl_stream_t?
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    public init() throws {
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
    }

    deinit {
        scratch?.deallocate()
        for b in blockScratch { b.pointer.deallocate() }
        for s in extraStreams { dnnl_stream_destroy(s) }
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    private var extraStreams: [dnnl_stream_t?] = []

    /// `n` streams (the first is ``stream``), one per block of a split call.
    func streams(_ n: Int) throws -> [dnnl_stream_t?] {
        while extraStreams.count + 1 < n {
            var s: dnnl_stream_t?
            try check(dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
            extraStreams.append(s)
        }
        return Array(([stream] + extraStreams).prefix(n))
    }

    private var blockScratch: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []

    /// `n` scratchpads of at least `bytes` bytes each (64-byte aligned), one per block of a split
    /// call, reused across calls.
    func scratchpads(_ n: Int, bytes: Int) -> [UnsafeMutableRawPointer] {
        let need = max(bytes, 64)
        for i in 0..<n {
            if i == blockScratch.count {
                blockScratch.append((UnsafeMutableRawPointer.allocate(byteCount: need, alignment: 64), need))
            } else if blockScratch[i].bytes < need {
                blockScratch[i].pointer.deallocate()
                blockScratch[i] = (UnsafeMutableRawPointer.allocate(byteCount: need, alignment: 64), need)
            }
        }
        return blockScratch.prefix(n).map(\.pointer)
    }

    /// Whose threads run the inference matmuls.
    public enum MatmulThreads: String, Sendable {
        /// CoDEKit's: each call's rows split into ``CoDECore/Threading/count`` blocks, each a
        /// single-threaded oneDNN call. No OpenMP thread is left spinning after a call (libgomp
        /// spins its idle threads for a while, which slows the OpenBLAS and Swift work that
        /// follows on a machine with few cores; OMP_WAIT_POLICY is read only at start-up).
        case codekit
        /// oneDNN's OpenMP threads (OMP_NUM_THREADS), one call per layer.
        case openmp
    }

    /// The threading of ``InferenceLinear/run(_:rows:_:)``: `.codekit` unless the environment
    /// variable CODEKIT_ONEDNN_THREADS=openmp says otherwise, or libgomp's
    /// omp_set_num_threads cannot be found (oneDNN built for another runtime).
    nonisolated(unsafe) public static var threading: MatmulThreads = {
        if ProcessInfo.processInfo.environment["CODEKIT_ONEDNN_THREADS"] == "openmp" || ompSetNumThreads == nil { return .openmp }
        return .codekit
    }()

    private typealias SetThreads = @convention(c) (Int32) -> Void
    private typealias GetThreads = @convention(c) () -> Int32
    private static let ompSetNumThreads: SetThreads? = dlsym(nil, "omp_set_num_threads").map { unsafeBitCast($0, to: SetThreads.self) }
    private static let ompGetMaxThreads: GetThreads? = dlsym(nil, "omp_get_max_threads").map { unsafeBitCast($0, to: GetThreads.self) }

    /// Runs `body` with this thread's OpenMP thread count at 1 (restored after) when `limit`:
    /// oneDNN then plans and runs its primitives single-threaded on the calling thread.
    static func withOneOpenMPThread<T>(_ limit: Bool, _ body: () throws -> T) rethrows -> T {
        guard limit, let set = ompSetNumThreads, let get = ompGetMaxThreads else { return try body() }
        let saved = get()
        set(1)
        defer { set(saved) }
        return try body()
    }

    /// A buffer of at least `bytes` bytes (64-byte aligned), reused across calls.
    func scratch(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > scratchBytes {
            scratch?.deallocate()
            scratchBytes = max(bytes, scratchBytes * 5 / 4)
            scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        }
        return scratch!
    }

    /// The most capable instruction set oneDNN may use here (after `ONEDNN_MAX_CPU_ISA`), e.g.
    /// "avx512_core_amx", "avx512_core_bf16", "avx512_core_vnni", "avx2".
    public static var effectiveISA: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        default: return "other (\(dnnl_get_effective_cpu_isa().rawValue))"
        }
    }
}

/// A fully connected layer `y = x W^T + b` (PyTorch's Linear layout, `W` `[outF, inF]`) as one
/// oneDNN matmul with fp32 input and output and reduced-precision operands:
///
/// - ``Operands/bf16``: the input and the weights rounded to bfloat16 (to nearest, ties to
///   even), products accumulated in fp32, fp32 output.
/// - ``Operands/int8``: symmetric quantisation. Weights: s8 with one scale per output channel,
///   `sw[j] = max_i |W[j, i]| / 127`, `q = round(W / sw)` (ties to even), fixed at load.
///   Input: one dynamic scale per call for the whole `[rows, inF]` tensor, `sx = max |x| / 127`,
///   `q = round(x * (1 / sx))` (ties to even) in [-127, 127], stored as u8 `q + 128` by a oneDNN
///   reorder (u8 needs no compensation pass in oneDNN's VNNI kernels). The s32 accumulator
///   `Σ (q + 128) w` is corrected by `-128 Σ_i w[j, i]` and scaled by `sw[j]` (oneDNN 2.6's output
///   scales, fixed at creation: runtime output scales send 2.6 to its slower `gemm:jit`) and then
///   by `sx` (a binary multiply post-op, whose operand is given per call). oneDNN scales the bias
///   with the accumulator (`scale * (acc + bias)`), so the bias passed per call is
///   `b[j] / (sx * sw[j]) - 128 Σ_i w[j, i]`.
///
/// The bias, GELU (erf) and a residual sum (`y += ...`, oneDNN's sum post-op, which reads `y`
/// before writing it: the residual stream is updated in place) are fused into the matmul. The
/// weights are converted once, at init, and reordered into the layout oneDNN chose for them
/// (`format_tag any`); primitives are created per row count on first use and cached.
public final class InferenceLinear: @unchecked Sendable {
    public enum Operands: String, Sendable { case bf16, int8 }
    /// What follows the bias.
    public enum PostOp: Sendable { case none, gelu, residual }

    public let outF: Int, inF: Int
    public let operands: Operands
    public let postOp: PostOp
    let context: OneDNNContext
    let bias: [Float]
    /// int8: the per-output-channel weight scales and the sums of each channel's s8 weights.
    let weightScales: [Float]
    let weightSums: [Float]
    /// The converted weights in plain `[outF, inF]` order (bf16 bits or s8), kept to reorder into
    /// another layout should a row count's primitive prefer one.
    private let plainWeights: UnsafeMutableRawPointer
    private var packed: [(md: dnnl_memory_desc_t, memory: dnnl_memory_t)] = []
    private var primitives: [Int: Primitive] = [:]
    /// The implementation oneDNN chose for the first row count (e.g. "brg:avx512_core_bf16").
    public private(set) var implementation = ""

    struct Primitive {
        let matmul: dnnl_primitive_t
        let convert: dnnl_primitive_t
        var srcMD: dnnl_memory_desc_t, lowMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t
        let weights: dnnl_memory_t
        /// The scratchpads the two primitives need (``OneDNNContext`` gives each block its own:
        /// oneDNN's library-managed scratchpad belongs to the thread that created the primitive,
        /// so two blocks running it at once would share it).
        var matmulScratchMD: dnnl_memory_desc_t, convertScratchMD: dnnl_memory_desc_t
        var scratchBytes: Int
    }

    /// The weights' type, and the converted input's.
    var lowType: dnnl_data_type_t { operands == .bf16 ? dnnl_bf16 : dnnl_s8 }
    var inputType: dnnl_data_type_t { operands == .bf16 ? dnnl_bf16 : dnnl_u8 }

    /// Converts `weights` (`[outF, inF]`) and `bias` (`[outF]`, may be nil) and creates the
    /// primitive for `probeRows` rows, whose implementation string is then ``implementation``.
    public init(context: OneDNNContext, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outF: Int, inF: Int,
                operands: Operands, postOp: PostOp = .none, probeRows: Int) throws {
        self.context = context
        self.outF = outF; self.inF = inF; self.operands = operands; self.postOp = postOp
        self.bias = bias.map { Array(UnsafeBufferPointer(start: $0, count: outF)) } ?? [Float](repeating: 0, count: outF)
        let count = outF * inF
        switch operands {
        case .bf16:
            let p = UnsafeMutableRawPointer.allocate(byteCount: 2 * count, alignment: 64)
            let b = p.bindMemory(to: UInt16.self, capacity: count)
            for i in 0..<count { b[i] = bf16Bits(weights[i]) }
            plainWeights = p
            weightScales = []
            weightSums = []
        case .int8:
            let (q, s) = Self.quantizeRows(weights, rows: outF, cols: inF)
            let p = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
            q.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: count) }
            plainWeights = p
            weightScales = s
            weightSums = (0..<outF).map { j in Float((0..<inF).reduce(0) { $0 + Int(q[j * inF + $1]) }) }
        }
        let first = try OneDNNContext.withOneOpenMPThread(OneDNNContext.threading == .codekit) { try primitive(rows: probeRows) }
        var info: UnsafePointer<CChar>?
        var pd: const_dnnl_primitive_desc_t?
        if dnnl_primitive_get_primitive_desc(first.matmul, &pd) == dnnl_success,
           dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) == dnnl_success, let info {
            implementation = String(cString: info)
        }
    }

    deinit {
        for p in primitives.values {
            dnnl_primitive_destroy(p.matmul)
            dnnl_primitive_destroy(p.convert)
        }
        for w in packed { dnnl_memory_destroy(w.memory) }
        plainWeights.deallocate()
    }

    /// Symmetric per-row s8 quantisation: `scale[r] = max |row| / 127` (1 for a zero row),
    /// `q = round(x / scale)`, ties to even.
    public static func quantizeRows(_ w: UnsafePointer<Float>, rows: Int, cols: Int) -> (values: [Int8], scales: [Float]) {
        var q = [Int8](repeating: 0, count: rows * cols), s = [Float](repeating: 1, count: rows)
        for r in 0..<rows {
            let row = w + r * cols
            var m: Float = 0
            for i in 0..<cols { m = max(m, abs(row[i])) }
            let scale = m > 0 ? m / 127 : 1
            s[r] = scale
            for i in 0..<cols { q[r * cols + i] = Int8(max(-127, min(127, (row[i] / scale).rounded(.toNearestOrEven)))) }
        }
        return (q, s)
    }

    /// Whether an implementation string names a native kernel for these operands: bf16 needs a
    /// bf16 (or AMX) kernel, int8 a VNNI (or AMX) one; anything else ("ref:any", a gemm that
    /// emulates the type on wider fp32 instructions) is slower than the fp32 path it replaces.
    public static func isNative(_ implementation: String, for operands: Operands) -> Bool {
        switch operands {
        case .bf16: return implementation.contains("bf16") || implementation.contains("amx")
        case .int8: return implementation.contains("vnni") || implementation.contains("amx")
        }
    }

    /// The weights memory for a primitive whose weights descriptor is `md` (reordered from the
    /// plain copy the first time that layout is asked for).
    private func weights(for md: UnsafePointer<dnnl_memory_desc_t>) throws -> dnnl_memory_t {
        for w in packed {
            var known = w.md
            if dnnl_memory_desc_equal(&known, md) != 0 { return w.memory }
        }
        var dims: [dnnl_dim_t] = [dnnl_dim_t(inF), dnnl_dim_t(outF)]
        var plain = dnnl_memory_desc_t()
        // The [outF, inF] row-major array is the [inF, outF] matrix in "ba" order.
        try check(dnnl_memory_desc_init_by_tag(&plain, 2, &dims, lowType, dnnl_ba), "memory_desc plain weights")
        var user: dnnl_memory_t?, mem: dnnl_memory_t?
        try check(dnnl_memory_create(&user, &plain, context.engine, plainWeights), "memory plain weights")
        defer { dnnl_memory_destroy(user) }
        try check(dnnl_memory_create(&mem, md, context.engine, codekit_dnnl_memory_allocate), "memory weights")
        var rpd: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&rpd, &plain, context.engine, md, context.engine, nil), "reorder weights pd")
        defer { dnnl_primitive_desc_destroy(rpd) }
        var reorder: dnnl_primitive_t?
        try check(dnnl_primitive_create(&reorder, rpd), "reorder weights")
        defer { dnnl_primitive_destroy(reorder) }
        var args = [dnnl_exec_arg_t(arg: codekit_dnnl_arg_from, memory: user), dnnl_exec_arg_t(arg: codekit_dnnl_arg_to, memory: mem)]
        try check(dnnl_primitive_execute(reorder, context.stream, 2, &args), "reorder weights execute")
        try check(dnnl_stream_wait(context.stream), "stream wait")
        packed.append((md.pointee, mem!))
        return mem!
    }

    /// The cached matmul (and input conversion) for `rows` rows, created on first use.
    private func primitive(rows m: Int) throws -> Primitive {
        if let p = primitives[m] { return p }
        var sd: [dnnl_dim_t] = [dnnl_dim_t(m), dnnl_dim_t(inF)], wd: [dnnl_dim_t] = [dnnl_dim_t(inF), dnnl_dim_t(outF)]
        var dd: [dnnl_dim_t] = [dnnl_dim_t(m), dnnl_dim_t(outF)], bd: [dnnl_dim_t] = [1, dnnl_dim_t(outF)]
        var srcMD = dnnl_memory_desc_t(), lowMD = dnnl_memory_desc_t(), anyW = dnnl_memory_desc_t()
        var dstMD = dnnl_memory_desc_t(), biasMD = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_tag(&srcMD, 2, &sd, dnnl_f32, dnnl_ab), "memory_desc src")
        try check(dnnl_memory_desc_init_by_tag(&lowMD, 2, &sd, inputType, dnnl_ab), "memory_desc low src")
        try check(dnnl_memory_desc_init_by_tag(&anyW, 2, &wd, lowType, dnnl_format_tag_any), "memory_desc weights")
        try check(dnnl_memory_desc_init_by_tag(&dstMD, 2, &dd, dnnl_f32, dnnl_ab), "memory_desc dst")
        try check(dnnl_memory_desc_init_by_tag(&biasMD, 2, &bd, dnnl_f32, dnnl_ab), "memory_desc bias")

        var attr: dnnl_primitive_attr_t?, ops: dnnl_post_ops_t?
        try check(dnnl_primitive_attr_create(&attr), "attr create")
        defer { dnnl_primitive_attr_destroy(attr) }
        try check(dnnl_post_ops_create(&ops), "post_ops create")
        defer { dnnl_post_ops_destroy(ops) }
        var scalarMD = dnnl_memory_desc_t()
        var scalarDims: [dnnl_dim_t] = [1, 1]
        try check(dnnl_memory_desc_init_by_tag(&scalarMD, 2, &scalarDims, dnnl_f32, dnnl_ab), "memory_desc scalar")
        if operands == .int8 {
            try check(dnnl_primitive_attr_set_output_scales(attr, dnnl_dim_t(outF), 1 << 1, weightScales), "attr output scales")
            try check(dnnl_post_ops_append_binary(ops, dnnl_binary_mul, &scalarMD), "post-op input scale")
        }
        switch postOp {
        case .none: break
        case .gelu: try check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_gelu_erf, 0, 0), "post-op gelu_erf")
        case .residual: try check(dnnl_post_ops_append_sum(ops, 1), "post-op sum")
        }
        try check(dnnl_primitive_attr_set_post_ops(attr, ops), "attr post-ops")
        try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "attr scratchpad")
        var desc = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&desc, &lowMD, &anyW, &biasMD, &dstMD), "dnnl_matmul_desc_init")
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, &desc, attr, context.engine, nil), "primitive_desc matmul")
        defer { dnnl_primitive_desc_destroy(pd) }
        let weights = try self.weights(for: dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!)
        var matmul: dnnl_primitive_t?
        try check(dnnl_primitive_create(&matmul, pd), "primitive matmul")

        // The input's conversion: fp32 to bf16 (round to nearest even), or to u8 with the
        // runtime scale 1 / sx and the zero point 128.
        var cattr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&cattr), "attr create")
        defer { dnnl_primitive_attr_destroy(cattr) }
        try check(dnnl_primitive_attr_set_scratchpad_mode(cattr, dnnl_scratchpad_mode_user), "attr scratchpad")
        if operands == .int8 {
            var runtime = Float(bitPattern: 0x7FC0_00D0)
            try check(dnnl_primitive_attr_set_output_scales(cattr, 1, 0, &runtime), "attr reorder scale")
            var zero: Int32 = 128
            try check(dnnl_primitive_attr_set_zero_points(cattr, codekit_dnnl_arg_dst, 1, 0, &zero), "attr reorder zero point")
        }
        var rpd: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&rpd, &srcMD, context.engine, &lowMD, context.engine, cattr), "reorder src pd")
        defer { dnnl_primitive_desc_destroy(rpd) }
        var convert: dnnl_primitive_t?
        try check(dnnl_primitive_create(&convert, rpd), "reorder src")
        let mScratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee
        let cScratch = dnnl_primitive_desc_query_md(rpd, dnnl_query_scratchpad_md, 0)!.pointee
        var ms = mScratch, cs = cScratch
        let bytes = max(dnnl_memory_desc_get_size(&ms), dnnl_memory_desc_get_size(&cs))
        let p = Primitive(matmul: matmul!, convert: convert!, srcMD: srcMD, lowMD: lowMD, dstMD: dstMD, weights: weights,
                          matmulScratchMD: mScratch, convertScratchMD: cScratch, scratchBytes: bytes)
        primitives[m] = p
        return p
    }

    /// `y = postOp(x W^T + b)`, or `y += x W^T + b` for ``PostOp/residual``; `x` `[rows, inF]`,
    /// `y` `[rows, outF]`, both fp32 and dense.
    ///
    /// With ``OneDNNContext/threading`` `.codekit` (the default) the rows are split into one
    /// block per ``Threading/count`` thread, each a single-threaded oneDNN call on CoDEKit's own
    /// threads; with `.openmp` one call runs on oneDNN's OpenMP threads (see docs/precision.md).
    public func run(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>) throws {
        if rows == 0 { return }
        let own = OneDNNContext.threading == .codekit
        let parts = own ? max(1, min(Threading.count, rows / 64)) : 1
        let bounds = (0...parts).map { rows * $0 / parts }
        // Primitives are created here, on the calling thread (the cache is not thread-safe), and
        // with OpenMP held to one thread when CoDEKit's threads run them.
        var prims: [Int: Primitive] = [:]
        try OneDNNContext.withOneOpenMPThread(own) {
            for i in 0..<parts where prims[bounds[i + 1] - bounds[i]] == nil {
                prims[bounds[i + 1] - bounds[i]] = try primitive(rows: bounds[i + 1] - bounds[i])
            }
        }
        let size = operands == .bf16 ? 2 : 1
        let low = context.scratch(rows * inF * size)
        let streams = try context.streams(parts)
        let scratchpads = context.scratchpads(parts, bytes: prims.values.map(\.scratchBytes).max() ?? 0)
        // int8: one input scale for the whole tensor, so every block quantises alike.
        var inputScale: Float = 1, shifted: [Float] = []
        if operands == .int8 {
            let sx = Self.absMax(x, count: rows * inF) / 127
            inputScale = sx > 0 ? sx : 1
            shifted = (0..<outF).map { j in bias[j] / (weightScales[j] * inputScale) - 128 * weightSums[j] }
        }
        let failure = NSLock()
        nonisolated(unsafe) var firstError: (any Error)?
        let biasValues = operands == .int8 ? shifted : bias
        biasValues.withUnsafeBufferPointer { b in
            let biasPointer = UnsafeMutableRawPointer(mutating: b.baseAddress!)
            Threading.parallelFor(parts) { i in
                let r0 = bounds[i], n = bounds[i + 1] - bounds[i]
                do {
                    try OneDNNContext.withOneOpenMPThread(own && parts > 1) {
                        try execute(prims[n]!, x + r0 * inF, low + r0 * inF * size, y + r0 * outF, bias: biasPointer,
                                    inputScale: inputScale, stream: streams[i], scratchpad: scratchpads[i])
                    }
                } catch { failure.withLock { if firstError == nil { firstError = error } } }
            }
        }
        if let firstError { throw firstError }
    }

    /// One block's conversion and matmul on `stream`.
    private func execute(_ p: Primitive, _ x: UnsafePointer<Float>, _ low: UnsafeMutableRawPointer, _ y: UnsafeMutablePointer<Float>,
                         bias: UnsafeMutableRawPointer, inputScale: Float, stream: dnnl_stream_t?,
                         scratchpad: UnsafeMutableRawPointer) throws {
        var p = p
        var mScratch: dnnl_memory_t?, cScratch: dnnl_memory_t?
        try check(dnnl_memory_create(&mScratch, &p.matmulScratchMD, context.engine, scratchpad), "memory scratchpad")
        defer { dnnl_memory_destroy(mScratch) }
        try check(dnnl_memory_create(&cScratch, &p.convertScratchMD, context.engine, scratchpad), "memory scratchpad")
        defer { dnnl_memory_destroy(cScratch) }
        var src: dnnl_memory_t?, lowMem: dnnl_memory_t?, dst: dnnl_memory_t?, biasMem: dnnl_memory_t?
        try check(dnnl_memory_create(&src, &p.srcMD, context.engine, UnsafeMutableRawPointer(mutating: x)), "memory src")
        defer { dnnl_memory_destroy(src) }
        try check(dnnl_memory_create(&lowMem, &p.lowMD, context.engine, low), "memory low src")
        defer { dnnl_memory_destroy(lowMem) }
        try check(dnnl_memory_create(&dst, &p.dstMD, context.engine, y), "memory dst")
        defer { dnnl_memory_destroy(dst) }
        var bd: [dnnl_dim_t] = [1, dnnl_dim_t(outF)]
        var biasMD = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_tag(&biasMD, 2, &bd, dnnl_f32, dnnl_ab), "memory_desc bias")
        try check(dnnl_memory_create(&biasMem, &biasMD, context.engine, bias), "memory bias")
        defer { dnnl_memory_destroy(biasMem) }
        var convertArgs = [dnnl_exec_arg_t(arg: codekit_dnnl_arg_from, memory: src), dnnl_exec_arg_t(arg: codekit_dnnl_arg_to, memory: lowMem),
                           dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: cScratch)]
        var args = [dnnl_exec_arg_t(arg: codekit_dnnl_arg_src, memory: lowMem),
                    dnnl_exec_arg_t(arg: codekit_dnnl_arg_weights, memory: p.weights),
                    dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: biasMem),
                    dnnl_exec_arg_t(arg: codekit_dnnl_arg_dst, memory: dst),
                    dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: mScratch)]
        switch operands {
        case .bf16:
            try check(dnnl_primitive_execute(p.convert, stream, 3, &convertArgs), "convert src execute")
            try check(dnnl_primitive_execute(p.matmul, stream, 5, &args), "matmul execute")
            try check(dnnl_stream_wait(stream), "stream wait")
        case .int8:
            var inverse = [1 / inputScale], scale = [inputScale]
            var one: [dnnl_dim_t] = [1], scalar: [dnnl_dim_t] = [1, 1]
            var oneMD = dnnl_memory_desc_t(), scalarMD = dnnl_memory_desc_t()
            try check(dnnl_memory_desc_init_by_tag(&oneMD, 1, &one, dnnl_f32, dnnl_a), "memory_desc scale")
            try check(dnnl_memory_desc_init_by_tag(&scalarMD, 2, &scalar, dnnl_f32, dnnl_ab), "memory_desc scalar")
            var inv: dnnl_memory_t?, sxMem: dnnl_memory_t?
            try inverse.withUnsafeMutableBufferPointer { b in
                try check(dnnl_memory_create(&inv, &oneMD, context.engine, b.baseAddress!), "memory scale")
            }
            defer { dnnl_memory_destroy(inv) }
            try scale.withUnsafeMutableBufferPointer { b in
                try check(dnnl_memory_create(&sxMem, &scalarMD, context.engine, b.baseAddress!), "memory input scale")
            }
            defer { dnnl_memory_destroy(sxMem) }
            convertArgs.append(dnnl_exec_arg_t(arg: DNNL_ARG_ATTR_OUTPUT_SCALES, memory: inv))
            args.append(dnnl_exec_arg_t(arg: codekit_dnnl_arg_post_op_src1(0), memory: sxMem))
            try check(dnnl_primitive_execute(p.convert, stream, 4, &convertArgs), "quantize src execute")
            try check(dnnl_primitive_execute(p.matmul, stream, 6, &args), "matmul execute")
            try check(dnnl_stream_wait(stream), "stream wait")
            withExtendedLifetime((inverse, scale)) {}
        }
    }

    /// `max |x[i]|` over `count` floats (16 lanes at a time: the sign bit masked off, then a
    /// compare-and-select, which compiles to vector max instructions; `pointwiseMax` does not,
    /// and measured 80x slower).
    public static func absMax(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var m = SIMD16<Float>(repeating: 0)
        var i = 0
        let raw = UnsafeRawPointer(x)
        let magnitude = SIMD16<UInt32>(repeating: 0x7FFF_FFFF)
        while i + 16 <= n {
            let v = unsafeBitCast(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<UInt32>.self) & magnitude, to: SIMD16<Float>.self)
            m.replace(with: v, where: v .> m)
            i += 16
        }
        var r = m.max()
        while i < n { r = max(r, abs(x[i])); i += 1 }
        return r
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
