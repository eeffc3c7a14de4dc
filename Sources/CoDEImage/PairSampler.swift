import CoDECore

/// A (real, fake) training pair: indices into ``ImageDataset/samples``.
public struct SamplePair: Sendable, Hashable {
    public var real: Int
    public var fake: Int
}

/// Deterministic pairing of real and fake images and per-epoch shuffling.
///
/// Epoch `e` uses the generator `Xoshiro256(seed: seed).fork(e)`, so an epoch's order depends
/// only on `(seed, e)`, never on earlier epochs or on threads.
///
/// Pairing: samples that share a `record` (D3 shards) are paired within the record — each record
/// with at least one real and one fake gives one pair per real, its fake drawn uniformly from the
/// record's fakes. Samples without a record are paired globally: reals and fakes are shuffled
/// separately and zipped, giving `min(#real, #fake)` pairs per epoch (a different subset of the
/// larger class each epoch). The pair list is then shuffled.
public struct PairSampler: Sendable {
    public let seed: UInt64
    private let grouped: [(reals: [Int], fakes: [Int])]
    private let loneReals: [Int], loneFakes: [Int]

    public init(dataset: ImageDataset, seed: UInt64) {
        self.seed = seed
        var records: [String: (reals: [Int], fakes: [Int])] = [:]
        var order: [String] = []
        var lr: [Int] = [], lf: [Int] = []
        for (i, s) in dataset.samples.enumerated() {
            guard let r = s.record else { if s.label == .real { lr.append(i) } else { lf.append(i) }; continue }
            if records[r] == nil { order.append(r); records[r] = ([], []) }
            if s.label == .real { records[r]!.reals.append(i) } else { records[r]!.fakes.append(i) }
        }
        grouped = order.map { records[$0]! }
        loneReals = lr
        loneFakes = lf
    }

    /// Pairs per epoch.
    public var pairsPerEpoch: Int {
        grouped.reduce(0) { $0 + ($1.fakes.isEmpty ? 0 : $1.reals.count) } + min(loneReals.count, loneFakes.count)
    }

    /// The shuffled pairs of epoch `epoch`.
    public func pairs(epoch: Int) -> [SamplePair] {
        var rng = Xoshiro256(seed: seed).fork(UInt64(epoch))
        var out: [SamplePair] = []
        out.reserveCapacity(pairsPerEpoch)
        for g in grouped where !g.fakes.isEmpty {
            for r in g.reals { out.append(SamplePair(real: r, fake: g.fakes[Self.below(g.fakes.count, &rng)])) }
        }
        var reals = loneReals, fakes = loneFakes
        Self.shuffle(&reals, &rng)
        Self.shuffle(&fakes, &rng)
        for (r, f) in zip(reals, fakes) { out.append(SamplePair(real: r, fake: f)) }
        Self.shuffle(&out, &rng)
        return out
    }

    /// Uniform integer in `0..<n` without modulo bias (Lemire's multiply-shift with rejection).
    public static func below(_ n: Int, _ rng: inout Xoshiro256) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var m = rng.next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = rng.next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Fisher–Yates shuffle driven by ``below(_:_:)`` (fixed algorithm, so orders are reproducible
    /// across Swift versions, unlike `shuffle(using:)` whose algorithm is unspecified).
    public static func shuffle<T>(_ a: inout [T], _ rng: inout Xoshiro256) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, below(i + 1, &rng))
        }
    }
}
