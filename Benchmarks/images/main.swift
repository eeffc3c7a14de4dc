// code-bench-images: decode + centre-crop (+ normalise) throughput for 640x480 JPEGs.
//
//   code-bench-images --make-inputs DIR [--count 64] [--size 640x480]   writes deterministic test JPEGs
//   code-bench-images --input DIR [--threads 1,2] [--seconds 3] [--output FILE.json]
//   code-bench-images --checksums < paths.txt            decoded-pixel checksums (vs pil_checksums.py)
//
// Files are read into memory first; each thread count runs whole passes over them for at least
// --seconds (after one warm-up pass). Benchmarks/images/pillow_peer.py does the same work with Pillow.
import ArgumentParser
import CoDECore
import CoDEImage
import Dispatch
import Foundation

@main
struct BenchImages: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "code-bench-images",
                                                    abstract: "Image decode + preprocessing throughput (images/s).")

    @Option(help: "Write --count 640x480 test JPEGs (quality 90, 4:2:0) into this folder and exit.")
    var makeInputs: String?
    @Option(help: "Number of test images to write.") var count = 64
    @Option(help: "Size of the test images, WIDTHxHEIGHT.") var size = "640x480"
    @Option(help: "Folder of images to benchmark.") var input: String?
    @Option(help: "Comma-separated thread counts.") var threads = "1,2"
    @Option(help: "Minimum seconds per measurement.") var seconds = 3.0
    @Option(help: "Write results as JSON to this file.") var output: String?
    @Flag(help: "Read file paths from stdin; print '<path> <w> <h> <checksum>' of the decoded RGB pixels (compare with pil_checksums.py).")
    var checksums = false

    func run() throws {
        if let dir = makeInputs { try makeImages(dir); return }
        if checksums { printChecksums(); return }
        guard let dir = input else { throw ValidationError("give --input DIR or --make-inputs DIR") }
        let urls = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jpg") }.sorted()
            .map { URL(fileURLWithPath: dir).appendingPathComponent($0) }
        guard !urls.isEmpty else { throw ValidationError("no .jpg files in \(dir)") }
        let files = try urls.map { try Data(contentsOf: $0) }
        var rows: [[String: Any]] = []
        print("task                           threads   images/s")
        let decoded = try files.map { try ImageDecoder.decode(data: $0, source: "bench") }
        for t in threads.split(separator: ",").compactMap({ Int($0) }) {
            for task in ["decode", "decode+crop", "decode+crop+normalize", "region-decode+crop", "region-decode+crop+normalize",
                         "crop+normalize (pre-decoded)"] {
                let rate = try measure(files, decoded, threads: t, task: task)
                print(task.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: " %7d %10.1f", t, rate))
                rows.append(["task": task, "threads": t, "images_per_second": rate])
            }
        }
        // The embedder's path end to end: files read from disk, region-decoded, normalised on
        // ImageLoader worker threads, consumed in order by this thread.
        let dataset = ImageDataset(samples: urls.map { ImageSample(location: .file($0), label: .real) })
        for t in threads.split(separator: ",").compactMap({ Int($0) }) {
            var done = 0
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            repeat {
                let loader = ImageLoader.inference(dataset: dataset, workers: t, prefetch: 32)
                while loader.next() != nil { done += 1 }
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < seconds
            let rate = Double(done) / elapsed
            print("ImageLoader.inference (files)".padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: " %7d %10.1f", t, rate))
            rows.append(["task": "ImageLoader.inference (files)", "threads": t, "images_per_second": rate])
        }
        if let output {
            let json: [String: Any] = ["benchmark": "code-bench-images", "images": files.count, "seconds_min": seconds,
                                       "source": "in-memory JPEG bytes", "results": rows]
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]),
                                 to: URL(fileURLWithPath: output))
        }
    }

    /// Fletcher-style checksum over the RGB bytes modulo the prime 4294967291: `(B << 32) | A`.
    func printChecksums() {
        while let line = readLine() {
            do {
                let img = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: line), limits: ImageLimits(warningsAreErrors: false))
                var a: UInt64 = 0, b: UInt64 = 0
                for p in img.pixels { a = (a + UInt64(p)) % 4_294_967_291; b = (b + a) % 4_294_967_291 }
                print("\(line) \(img.width) \(img.height) \(b << 32 | a)")
            } catch { print("\(line) ERROR \(error)") }
        }
    }

    func makeImages(_ dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let wh = size.split(separator: "x").compactMap { Int($0) }
        guard wh.count == 2, wh[0] >= 1, wh[1] >= 1 else { throw ValidationError("--size must be WIDTHxHEIGHT (got '\(size)')") }
        var rng = Xoshiro256(seed: 2024)
        let digits = max(3, String(count - 1).count)
        for i in 0..<count {
            let (w, h) = (wh[0], wh[1])
            var px = [UInt8](repeating: 0, count: w * h * 3)
            let f = (0..<6).map { _ in 0.005 + 0.05 * rng.nextUnitDouble() }
            for y in 0..<h {
                for x in 0..<w {
                    for c in 0..<3 {
                        let v = 128 + 100 * sin(f[c] * Double(x) + f[c + 3] * Double(y) + Double(i)) + 12 * rng.nextNormal()
                        px[(y * w + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                    }
                }
            }
            let data = try ImageEncoder.jpeg(RGBImage(width: w, height: h, pixels: px), quality: 90)
            try data.write(to: URL(fileURLWithPath: dir).appendingPathComponent(String(format: "bench_%0\(digits)d.jpg", i)))
        }
    }

    /// Images per second for `task`, `threads` workers each taking every `threads`-th file.
    func measure(_ files: [Data], _ decoded: [RGBImage], threads: Int, task: String) throws -> Double {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: threads * 3 * 224 * 224)
        defer { out.deallocate() }
        let outAddress = Int(bitPattern: out)  // per-thread slices of one buffer; an address is Sendable
        func pass() {
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for i in stride(from: t, to: files.count, by: threads) {
                    if task.hasPrefix("crop+normalize") {
                        Preprocess.inferenceTensor(decoded[i], into: UnsafeMutablePointer<Float>(bitPattern: outAddress)! + t * 3 * 224 * 224)
                        continue
                    }
                    if task.hasPrefix("region-decode") {
                        guard let crop = try? Preprocess.decodeCenterCrop(data: files[i], source: "bench") else { fatalError("bench file \(i) failed") }
                        if task.hasSuffix("normalize") {
                            ImageNetNormalization.normalize(crop, into: UnsafeMutablePointer<Float>(bitPattern: outAddress)! + t * 3 * 224 * 224)
                        }
                        continue
                    }
                    guard let img = try? ImageDecoder.decode(data: files[i], source: "bench") else { fatalError("bench file \(i) failed") }
                    switch task {
                    case "decode": break
                    case "decode+crop": _ = Preprocess.centerCrop(img)
                    default: Preprocess.inferenceTensor(img, into: UnsafeMutablePointer<Float>(bitPattern: outAddress)! + t * 3 * 224 * 224)
                    }
                }
            }
        }
        pass()  // warm-up
        let start = DispatchTime.now().uptimeNanoseconds
        var done = 0, elapsed = 0.0
        repeat {
            pass()
            done += files.count
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return Double(done) / elapsed
    }
}
