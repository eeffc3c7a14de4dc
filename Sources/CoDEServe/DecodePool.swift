import CoDEImage
import Foundation

/// Worker threads for image decoding, so codec work never runs on the encoder thread nor blocks
/// Swift's cooperative pool. Jobs run in submission order on ``threads`` threads.
public final class DecodePool: @unchecked Sendable {
    public let threads: Int
    private let cond = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopped = false

    public init(threads: Int) {
        self.threads = max(1, threads)
        for k in 0..<self.threads {
            let t = Thread { [self] in self.work() }
            t.name = "code-serve decode \(k)"
            t.start()
        }
    }

    /// Runs `body` on a worker thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            cond.lock()
            jobs.append { c.resume(with: Result { try body() }) }
            cond.signal()
            cond.unlock()
        }
    }

    /// Lets the threads end once the jobs already queued are done.
    public func shutdown() {
        cond.lock()
        stopped = true
        cond.broadcast()
        cond.unlock()
    }

    private func work() {
        while true {
            cond.lock()
            while head == jobs.count && !stopped { cond.wait() }
            if head == jobs.count { cond.unlock(); return }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
            cond.unlock()
            job()
        }
    }
}

/// Decoding for the service: exactly the pixels ``Embedder`` would see for a file of the same
/// bytes, in as little memory as possible.
public enum ServiceDecode {
    /// With centre crops the `size x size` crop (JPEGs decode only that region, as
    /// ``Preprocess/decodeCenterCrop(data:source:size:limits:)``); with five crops the whole
    /// image reduced by ``compactForFiveCrops(_:size:)``.
    public static func decode(_ data: Data, name: String, layout: CropLayout, size: Int, limits: ImageLimits) throws -> RGBImage {
        switch layout {
        case .center: try Preprocess.decodeCenterCrop(data: data, source: name, size: size, limits: limits)
        case .five: compactForFiveCrops(try ImageDecoder.decode(data: data, source: name, limits: limits), size: size)
        }
    }

    /// An image with the same five windows as `image` (``CropLayout/five``), at most `3 * size`
    /// on a side: along an axis longer than `3 * size` only the first, centre and last `size`
    /// pixels are kept, side by side. The corner windows start at 0 and `3 * size - size`, the
    /// centre window at `size` (the centre start of a `3 * size` axis), so each window holds the
    /// same pixels as in the full image. A queued image then costs at most `9 * size² * 3` bytes.
    public static func compactForFiveCrops(_ image: RGBImage, size: Int) -> RGBImage {
        func runs(_ n: Int) -> [Range<Int>] {
            guard n > 3 * size else { return [0..<n] }
            let c = CropLayout.five.origins(width: n, height: size, size: size)[4].x  // the centre start along this axis
            return [0..<size, c..<(c + size), (n - size)..<n]
        }
        let xs = runs(image.width), ys = runs(image.height)
        if xs.count == 1 && ys.count == 1 { return image }
        let w = xs.reduce(0) { $0 + $1.count }, h = ys.reduce(0) { $0 + $1.count }
        var out = [UInt8]()
        out.reserveCapacity(w * h * 3)
        image.pixels.withUnsafeBufferPointer { src in
            for yr in ys {
                for y in yr {
                    for xr in xs {
                        let s = (y * image.width + xr.lowerBound) * 3
                        out.append(contentsOf: src[s..<(s + xr.count * 3)])
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
