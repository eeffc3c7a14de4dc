// code-bench-augment: throughput of CoDE's view pipeline (heavy augmentation + final resize)
// on synthetic 640x480 images, on 1 and 2 threads.
//
// Usage: code-bench-augment [--pairs N] [--repeats R] [--output FILE.json]
import CoDEAugment
import CoDECore
import CoDEImage
import Foundation

func syntheticImage(width: Int, height: Int, seed: UInt64) -> RGBImage {
    var rng = Xoshiro256(seed: seed)
    var px = [UInt8](repeating: 0, count: width * height * 3)
    let fx = Double(rng.next() % 7 + 1), fy = Double(rng.next() % 5 + 1)
    for y in 0..<height {
        for x in 0..<width {
            let u: Double = fx * Double(x) / Double(width) * Double.pi
            let v: Double = fy * Double(y) / Double(height) * Double.pi
            let base: Double = 127.5 + 100 * sin(u) * cos(v)
            for c in 0..<3 {
                let noise: Double = Double(rng.next() % 41) - 20
                let value: Double = base + noise + Double(c) * 10
                px[(y * width + x) * 3 + c] = UInt8(max(0, min(255, value)))
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: px)
}

var pairsCount = 16, repeats = 3
var output: String?
var perOp = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--pairs": pairsCount = Int(args.popFirst() ?? "") ?? pairsCount
    case "--repeats": repeats = Int(args.popFirst() ?? "") ?? repeats
    case "--output": output = args.popFirst()
    case "--per-op": perOp = true
    default:
        FileHandle.standardError.write("unknown argument \(a)\nusage: code-bench-augment [--pairs N] [--repeats R] [--per-op] [--output FILE.json]\n".data(using: .utf8)!)
        exit(2)
    }
}

var pairs: [(real: RGBImage, fake: RGBImage)] = []
for i in 0..<pairsCount {
    let real = syntheticImage(width: 640, height: 480, seed: UInt64(2 * i))
    let fake = syntheticImage(width: 512, height: 512, seed: UInt64(2 * i + 1))
    pairs.append((real: real, fake: fake))
}
let sampler = try ViewSampler(size: 224, augmentation: try HeavyAugmentation(jpegCodec: TurboJPEGCodec()))

/// Mean milliseconds of `body` over `n` runs on one thread.
func millis(_ n: Int, _ body: (Int) throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    for i in 0..<n { try body(i) }
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 / Double(n)
}

var opRows: [[String: Any]] = []
if perOp {
    Threading.count = 1
    let img = pairs[0].real
    print("per operation on one 640x480 image, 1 thread (mean of 10 sampled parameter sets)")
    for kind in AugmentationKind.allCases {
        var rng = Xoshiro256(seed: UInt64(kind.rawValue))
        let ops = (0..<10).map { _ in sampler.augmentation.sampleOp(kind, using: &rng) }
        let ms = try millis(10) { i in _ = try ops[i].apply(img) }
        print("  " + "\(kind)".padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%7.2f ms", ms))
        opRows.append(["op": "\(kind)", "ms": ms])
    }
    var rng = Xoshiro256(seed: 1)
    let fin = millis(10) { _ in _ = sampler.final.apply(img, size: 224) }
    let rrc = millis(10) { _ in _ = sampler.localCrop(img, using: &rng) }
    print("  final 248+224   " + String(format: "%7.2f ms", fin))
    print("  local RRC       " + String(format: "%7.2f ms", rrc))
    opRows.append(["op": "final_resize_center_crop", "ms": fin])
    opRows.append(["op": "random_resized_crop_local", "ms": rrc])
}

/// Process CPU time (user + system) in seconds: on a shared machine, wall time on 2 threads
/// depends on the other load, CPU time per view does not.
func cpuSeconds() -> Double {
    var u = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &u)
    #else
    getrusage(RUSAGE_SELF, &u)
    #endif
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// The 1-minute load average, recorded because other processes share the cores.
func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").first.map(String.init) ?? "?"
}

var rows: [[String: Any]] = []
print("load average (1 min): \(loadAverage())")
print("CoDE view pipeline: \(pairsCount) pairs (640x480 real, 512x512 fake) -> 8 groups x 224x224, best of \(repeats)")
print("threads  views/s  pairs/s  ms/step  cpu-ms/view")
for threads in [1, 2] {
    Threading.count = threads
    var best = Double.infinity, bestCPU = Double.infinity
    var rng = Xoshiro256(seed: 7)
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuSeconds()
        let batch = try sampler.sample(pairs, using: &rng)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        precondition(batch.batchSize == pairsCount)
        best = min(best, dt)
        bestCPU = min(bestCPU, cpuSeconds() - c0)
    }
    let views = Double(pairsCount * 8) / best, cpuPerView = bestCPU / Double(pairsCount * 8)
    print(String(format: "%7d  %7.1f  %7.1f  %7.1f  %11.2f", threads, views, Double(pairsCount) / best, best * 1000, cpuPerView * 1000))
    rows.append(["threads": threads, "views_per_second": views, "pairs_per_second": Double(pairsCount) / best,
                 "seconds_per_batch": best, "cpu_seconds_per_view": cpuPerView])
}
if let output {
    let json: [String: Any] = [
        "benchmark": "code-bench-augment", "pairs": pairsCount, "views_per_pair": 8, "input": "640x480 real, 512x512 fake (synthetic)",
        "output_size": 224, "max_ops": 2, "jpeg_codec": "TurboJPEGCodec (libjpeg-turbo encode + decode)", "results": rows, "per_op_ms": opRows,
        "load_average_1min": loadAverage(),
    ]
    let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: output), options: .atomic)
    print("wrote \(output)")
}
