@testable import CoDECore
import Testing

/// The kernel-advice rule on synthetic CPU flag sets (the real /proc/cpuinfo differs per machine).
@Suite struct KernelAdviceTests {
    let avx512: Set<String> = ["fpu", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]
    let avx2: Set<String> = ["fpu", "avx", "avx2", "fma"]

    @Test func widestCoreFollowsTheFlags() {
        #expect(BLAS.widestCore(flags: avx512) == "SkylakeX")
        #expect(BLAS.widestCore(flags: avx2) == "Haswell")
        #expect(BLAS.widestCore(flags: avx512.subtracting(["avx512dq"])) == "Haswell", "all five AVX-512 subsets are needed")
        #expect(BLAS.widestCore(flags: ["fpu", "sse3", "avx"]) == nil)
    }

    @Test func adviceOnlyWhenAForcedCoreIsNarrowerThanTheCPU() {
        let a = BLAS.advice(forcedCore: "Haswell", chosen: "Haswell", flags: avx512)
        #expect(a?.contains("OPENBLAS_CORETYPE=Haswell") == true)
        #expect(a?.contains("SkylakeX") == true)
        #expect(BLAS.advice(forcedCore: "zen", chosen: "Zen", flags: avx512) != nil)
        #expect(BLAS.advice(forcedCore: "SkylakeX", chosen: "SkylakeX", flags: avx512) == nil)
        #expect(BLAS.advice(forcedCore: "cooperlake", chosen: "Cooperlake", flags: avx512) == nil)
        #expect(BLAS.advice(forcedCore: "Haswell", chosen: "Haswell", flags: avx2) == nil, "AVX2 is this CPU's widest")
        #expect(BLAS.advice(forcedCore: "Haswell", chosen: "Haswell", flags: []) == nil, "no flags, no claim")
    }
}
