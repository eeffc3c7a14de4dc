// code-bench-bf16: oneDNN bf16 matmul (fp32 accumulation, weights converted and reordered once)
// against OpenBLAS sgemm (split by rows over the threads, as CoDEKit runs it) on the four GEMM
// shapes of a ViT-Tiny block at batch 32 (6,304 token rows): qkv, proj, fc1, fc2. Alternating
// repeats; prints each shape's median times, the ratio and bf16's error (max abs error / max abs
// value of the fp32 result). oneDNN threads: OMP_NUM_THREADS (set to --threads unless given).
//
// Usage: code-bench-bf16 [--threads N] [--repeats R]
import CoDECore
import CoDEOneDNN
import Foundation

var threads = 2, repeats = 9
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--threads": threads = Int(args.popFirst() ?? "") ?? threads
    case "--repeats": repeats = Int(args.popFirst() ?? "") ?? repeats
    default:
        FileHandle.standardError.write(Data("unknown argument \(a)\nusage: code-bench-bf16 [--threads N] [--repeats R]\n".utf8))
        exit(2)
    }
}
if ProcessInfo.processInfo.environment["OMP_NUM_THREADS"] == nil { setenv("OMP_NUM_THREADS", String(threads), 1) }
Threading.count = threads

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func median(_ x: [Double]) -> Double { let s = x.sorted(); return s[s.count / 2] }

let rows = 32 * 197, width = 192
let shapes = [("qkv", 3 * width, width), ("proj", width, width), ("fc1", 4 * width, width), ("fc2", width, 4 * width)]
func uniform(_ n: Int, seed: UInt64) -> [Float] {
    var rng = Xoshiro256(seed: seed)
    return (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) * 2 - 1 }
}

print("ViT-Tiny block GEMMs at batch 32 (m = \(rows)), \(threads) threads, median of \(repeats)")
print("shape      m x    n x    k   sgemm ms   bf16 ms  bf16/sgemm  bf16 error   oneDNN implementation")
do {
    for (name, n, k) in shapes {
        let x = uniform(rows * k, seed: 1), w = uniform(n * k, seed: 2).map { $0 * 0.1 }
        var y32 = [Float](repeating: 0, count: rows * n), y16 = y32
        let xb = x.map(bf16Bits)
        let mm = try BF16Matmul(m: rows, n: n, k: k, weights: w)
        var ts: [Double] = [], tb: [Double] = []
        for r in 0..<(repeats + 1) {
            let t0 = now()
            y32.withUnsafeMutableBufferPointer { BLAS.matmul(x, w, $0.baseAddress!, m: rows, n: n, k: k, transB: true) }
            let t1 = now()
            try xb.withUnsafeBufferPointer { s in try y16.withUnsafeMutableBufferPointer { try mm.run(s.baseAddress!, $0.baseAddress!) } }
            let t2 = now()
            if r > 0 { ts.append(t1 - t0); tb.append(t2 - t1) }  // the first repeat warms up
        }
        let peak = y32.map(abs).max()!
        let err = zip(y32, y16).map { abs($0 - $1) }.max()! / peak
        print(String(format: "%-6@ %6d x %4d x %4d %9.2f %9.2f %10.2f %12.2e   %@", name as NSString, rows, n, k,
                     1000 * median(ts), 1000 * median(tb), median(tb) / median(ts), err, mm.implementation as NSString))
    }
} catch {
    FileHandle.standardError.write(Data("code-bench-bf16: \(error)\n".utf8))
    exit(1)
}
