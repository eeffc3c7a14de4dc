import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed 64-bit generator.
///
/// CoDEKit uses it to seed ``Xoshiro256`` and, through ``fixtureUniform(seed:count:)``, as the
/// generator that the Python fixture script reimplements bit for bit (uint64 arithmetic wraps in
/// both languages), so test weights can be produced on both sides instead of being committed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman & Vigna): CoDEKit's seeded generator for initialisation, augmentation,
/// shuffling and view sampling. Its four words of state are public so training can checkpoint it.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var s: [UInt64]

    /// Seeds the four state words from SplitMix64(seed), as the authors of xoshiro recommend.
    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s = [sm.next(), sm.next(), sm.next(), sm.next()]
    }

    /// Restores a saved state (four words, not all zero).
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 }, "Xoshiro256: state must be 4 words, not all zero")
        s = state
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s[1] &* 5, 7) &* 9
        let t = s[1] << 17
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// An independent generator for stream `index` (e.g. one per worker or per image), derived
    /// deterministically from this one's current state without advancing it.
    public func fork(_ index: UInt64) -> Xoshiro256 {
        var sm = SplitMix64(seed: s[0] ^ rotl(s[2], 17) ^ (index &* 0xD1B5_4A32_D192_ED03))
        return Xoshiro256(state: [sm.next(), sm.next(), sm.next(), sm.next() | 1])
    }
}

extension RandomNumberGenerator {
    /// Uniform float in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform double in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Standard normal sample (Box–Muller, double precision).
    public mutating func nextNormal() -> Double {
        var u1 = nextUnitDouble()
        while u1 <= 0 { u1 = nextUnitDouble() }
        let u2 = nextUnitDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Normal(0, std) truncated to [a, b] (in absolute units) by rejection, as timm's
    /// `trunc_normal_(std=0.02, a=-2, b=2)` specifies the distribution.
    public mutating func nextTruncatedNormal(std: Double, a: Double, b: Double) -> Double {
        while true {
            let v = nextNormal() * std
            if v >= a && v <= b { return v }
        }
    }
}

/// `count` floats uniform in [-1, 1) from SplitMix64(seed): value = (x >> 40) / 2^23 - 1.
///
/// The Python fixture script has the same function (`fixture_uniform`); tests use it to build
/// identical weights and inputs on both sides without committing them.
public func fixtureUniform(seed: UInt64, count: Int) -> [Float] {
    var g = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float(g.next() >> 40) / 8_388_608.0 - 1.0 }
}

