/// A uniformly random derangement of `0..<n`: a permutation r with r[i] ≠ i for every i.
///
/// Used as a roll index for ``CoDEObjective`` (row i of the rolled view is row r[i]), the role of
/// the authors' `roll_index`. Unlike theirs, which keeps a random permutation only when it happens
/// to have no fixed point and otherwise (≈ 63% of batches for large n) falls back to the fixed
/// cyclic shift by one, this draws uniformly among all derangements: Fisher–Yates shuffles are
/// rejected until one has no fixed point (probability ≈ 1/e each, so about e ≈ 2.7 draws). After 200
/// rejections — probability (1 − 1/e)^200 < 1e-39 — it returns the cyclic shift, so it cannot hang.
/// - Throws: ``ContrastiveError/noDerangement(count:)`` for n = 1. n = 0 gives `[]`.
public func derangement(_ n: Int, using generator: inout some RandomNumberGenerator) throws -> [Int] {
    precondition(n >= 0, "derangement: negative count")
    if n == 0 { return [] }
    if n == 1 { throw ContrastiveError.noDerangement(count: 1) }
    var r = Array(0..<n)
    for _ in 0..<200 {
        for i in stride(from: n - 1, to: 0, by: -1) {
            r.swapAt(i, uniformIndex(below: i + 1, using: &generator))
        }
        if !r.enumerated().contains(where: { $0.offset == $0.element }) { return r }
    }
    return (0..<n).map { ($0 + n - 1) % n }
}

/// Uniform integer in `0..<bound` (Lemire's multiply-shift with rejection), spelled out so the
/// sequence for a given generator state does not depend on the standard library's version.
@inline(__always)
func uniformIndex(below bound: Int, using generator: inout some RandomNumberGenerator) -> Int {
    let b = UInt64(bound)
    let threshold = (0 &- b) % b
    while true {
        let (hi, lo) = generator.next().multipliedFullWidth(by: b)
        if lo >= threshold { return Int(hi) }
    }
}
