// Compiles kernels_impl.h once per instruction-set variant and dispatches to the best one the
// CPU supports, chosen once on first use.
//
// Why a C target rather than Swift SIMD: a Swift package cannot pass -target-cpu to its users'
// builds (unsafeFlags), and Swift has no per-function target attribute, so plain
// `swift build -c release` compiles `SIMD16<Float>` code for baseline x86-64, where
// `addingProduct` (a fused multiply-add that must round once) has no instruction and becomes a
// libm `fmaf` call per lane. Clang's per-function `target` attribute (here applied to a whole
// included copy of the kernels with `#pragma clang attribute`) compiles the same source for
// AVX-512, AVX2+FMA and SSE2 in one object; `__builtin_cpu_supports` picks one at run time.
// Explicit variants (rather than `target_clones`) let the dispatcher report and override its
// choice, and let the baseline use a multiply and an add where the others fuse.
#include "ckernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma clang fp contract(off)
// The 16-lane helpers are static and always inlined, so no vector crosses a call boundary.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v16f_u __attribute__((vector_size(64), aligned(4), __may_alias__));
#define vsplat(c) ((v16f){(c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c)})

typedef ck_kernels ck_table;

#if defined(__x86_64__)

#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), apply_to = function)
#define CK_SUFFIX avx512
#define CK_HAS_FMA 1
#define CK_VARIANT_NAME "avx512"
#include "kernels_impl.h"
#undef CK_SUFFIX
#undef CK_HAS_FMA
#undef CK_VARIANT_NAME
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define CK_SUFFIX avx2
#define CK_HAS_FMA 1
#define CK_VARIANT_NAME "avx2-fma"
#include "kernels_impl.h"
#undef CK_SUFFIX
#undef CK_HAS_FMA
#undef CK_VARIANT_NAME
#pragma clang attribute pop

// Baseline x86-64 (SSE2): no FMA instruction, so a multiply and an add.
#define CK_SUFFIX sse2
#define CK_HAS_FMA 0
#define CK_VARIANT_NAME "sse2"
#include "kernels_impl.h"
#undef CK_SUFFIX
#undef CK_HAS_FMA
#undef CK_VARIANT_NAME

static const ck_table *const ck_variants[] = {&ck_table_avx512, &ck_table_avx2, &ck_table_sse2};

static int ck_supported(const ck_table *t) {
    __builtin_cpu_init();
    if (t == &ck_table_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (t == &ck_table_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return 1;
}

#else

// Other architectures (arm64: NEON always has a fused multiply-add).
#define CK_SUFFIX portable
#define CK_HAS_FMA 1
#define CK_VARIANT_NAME "portable"
#include "kernels_impl.h"
#undef CK_SUFFIX
#undef CK_HAS_FMA
#undef CK_VARIANT_NAME

static const ck_table *const ck_variants[] = {&ck_table_portable};
static int ck_supported(const ck_table *t) { (void)t; return 1; }

#endif

#define CK_COUNT ((int)(sizeof ck_variants / sizeof ck_variants[0]))

static const ck_table *ck_current;
static int ck_warned;

static const ck_table *ck_find(const char *name) {
    for (int i = 0; i < CK_COUNT; i++)
        if (strcmp(ck_variants[i]->name, name) == 0) return ck_variants[i];
    return NULL;
}

// The first supported variant, best first, unless CODEKIT_KERNELS names another supported one.
// Every thread computes the same answer, so a race on first use only repeats the work.
static const ck_table *ck_table_get(void) {
    const ck_table *t = __atomic_load_n(&ck_current, __ATOMIC_ACQUIRE);
    if (t) return t;
    for (int i = 0; i < CK_COUNT && !t; i++)
        if (ck_supported(ck_variants[i])) t = ck_variants[i];
    const char *forced = getenv("CODEKIT_KERNELS");
    if (forced && *forced) {
        const ck_table *f = ck_find(forced);
        if (f && ck_supported(f)) t = f;
        else if (!__atomic_exchange_n(&ck_warned, 1, __ATOMIC_ACQ_REL)) {
            // Once per process (threads may race here on first use), as one write.
            char choices[64] = "";
            for (int i = 0; i < CK_COUNT; i++)
                if (ck_supported(ck_variants[i])) {
                    strncat(choices, " ", sizeof choices - strlen(choices) - 1);
                    strncat(choices, ck_variants[i]->name, sizeof choices - strlen(choices) - 1);
                }
            fprintf(stderr, "CoDEKit: CODEKIT_KERNELS=%s is %s; using %s (choices:%s)\n", forced,
                    f ? "not supported by this CPU" : "not a kernel variant", t->name, choices);
        }
    }
    __atomic_store_n(&ck_current, t, __ATOMIC_RELEASE);
    return t;
}

const char *ck_variant(void) { return ck_table_get()->name; }

int ck_select_variant(const char *name) {
    const ck_table *f = name ? ck_find(name) : NULL;
    if (!f || !ck_supported(f)) return -1;
    __atomic_store_n(&ck_current, f, __ATOMIC_RELEASE);
    return 0;
}

const char *ck_variant_at(int i, int *supported) {
    if (i < 0 || i >= CK_COUNT) return NULL;
    if (supported) *supported = ck_supported(ck_variants[i]);
    return ck_variants[i]->name;
}

const ck_kernels *ck_kernels_for(const char *variant) {
    const ck_table *t = variant ? ck_find(variant) : NULL;
    return t && ck_supported(t) ? t : NULL;
}

void ck_exp(long n, const float *src, float *dst) { ck_table_get()->exp(n, src, dst); }
void ck_erf(long n, const float *src, float *dst) { ck_table_get()->erf(n, src, dst); }
void ck_gelu(long n, const float *src, float *dst) { ck_table_get()->gelu(n, src, dst); }
void ck_gelu_derivative(long n, const float *src, float *dst) { ck_table_get()->gelu_derivative(n, src, dst); }
void ck_gelu_with_derivative(long n, float *x, float *derivative) { ck_table_get()->gelu_with_derivative(n, x, derivative); }
void ck_gelu_backward_rows(const float *dy, const float *derivative, float *dx, long rows, long cols, float *acc) {
    ck_table_get()->gelu_backward_rows(dy, derivative, dx, rows, cols, acc);
}
void ck_exp_rows(float *s, long rows, long n, long ld, float *inverse_sums) {
    ck_table_get()->exp_rows(s, rows, n, ld, inverse_sums);
}
void ck_softmax_backward_rows(const float *p, float *d, long rows, long n, float scale) {
    ck_table_get()->softmax_backward_rows(p, d, rows, n, scale);
}
void ck_layernorm_forward_rows(const float *x, float *y, const float *gamma, const float *beta,
                               float *mean, float *rstd, long rows, long dim, float eps) {
    ck_table_get()->layernorm_forward_rows(x, y, gamma, beta, mean, rstd, rows, dim, eps);
}
void ck_layernorm_backward_rows(const float *dy, const float *x, const float *mean, const float *rstd,
                                const float *gamma, float *dx, float *dgamma, float *dbeta, long rows, long dim) {
    ck_table_get()->layernorm_backward_rows(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, dim);
}
void ck_adamw(float *p, const float *g, float *m, float *v, long n, float decay_factor, float one_minus_beta1,
              float beta2, float one_minus_beta2, float step_size, float bias_correction2_sqrt, float eps) {
    ck_table_get()->adamw(p, g, m, v, n, decay_factor, one_minus_beta1, beta2, one_minus_beta2, step_size,
                          bias_correction2_sqrt, eps);
}
