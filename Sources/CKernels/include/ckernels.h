// CKernels: CoDEKit's hot element-wise and row kernels, compiled for several x86-64 instruction
// sets (AVX-512, AVX2+FMA, baseline SSE2) in one object and dispatched once at run time on what
// the CPU reports, so a plain `swift build -c release` runs them at full speed on any x86-64. On
// other architectures one portable variant is compiled. All pointers are to `float` arrays of the
// given lengths; `ld` is a row stride in floats.
#ifndef CKERNELS_H
#define CKERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// The variant the dispatcher selected: "avx512", "avx2-fma", "sse2" (x86-64 baseline) or
/// "portable" (non-x86 builds). Chosen once, on first use, from the CPU's feature bits;
/// the environment variable CODEKIT_KERNELS (one of those names) selects another variant the CPU
/// supports; a name that is unknown or unsupported here is reported once on standard error and
/// the best variant used.
const char *ck_variant(void);

/// Selects a variant by name (as `ck_variant` spells it) for the rest of the process; returns 0
/// on success, -1 when the name is unknown or this CPU cannot run it (the selection is unchanged).
int ck_select_variant(const char *name);

/// The name of variant `i` (best first) for 0 <= i < count, else NULL; `supported` (when not
/// NULL) is set to whether this CPU can run it.
const char *ck_variant_at(int i, int *supported);

/// One variant's kernels (the same signatures as the dispatched `ck_*` functions below).
typedef struct ck_kernels {
    const char *name;
    void (*exp)(long n, const float *src, float *dst);
    void (*erf)(long n, const float *src, float *dst);
    void (*gelu)(long n, const float *src, float *dst);
    void (*gelu_derivative)(long n, const float *src, float *dst);
    void (*gelu_with_derivative)(long n, float *x, float *derivative);
    void (*gelu_backward_rows)(const float *dy, const float *derivative, float *dx, long rows, long cols, float *acc);
    void (*exp_rows)(float *s, long rows, long n, long ld, float *inverse_sums);
    void (*softmax_backward_rows)(const float *p, float *d, long rows, long n, float scale);
    void (*layernorm_forward_rows)(const float *x, float *y, const float *gamma, const float *beta,
                                   float *mean, float *rstd, long rows, long dim, float eps);
    void (*layernorm_backward_rows)(const float *dy, const float *x, const float *mean, const float *rstd,
                                    const float *gamma, float *dx, float *dgamma, float *dbeta, long rows, long dim);
    void (*adamw)(float *p, const float *g, float *m, float *v, long n, float decay_factor, float one_minus_beta1,
                  float beta2, float one_minus_beta2, float step_size, float bias_correction2_sqrt, float eps);
} ck_kernels;

/// The kernels of the named variant, whatever the dispatcher selected (tests compare every
/// variant with a reference); NULL when the name is unknown or this CPU cannot run it.
const ck_kernels *ck_kernels_for(const char *variant);

/// `dst[i] = e^src[i]` (inputs clamped to [-87.3, 88.7]; about 1 ulp).
void ck_exp(long n, const float *src, float *dst);
/// `dst[i] = erf(src[i])` (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7).
void ck_erf(long n, const float *src, float *dst);
/// `dst[i] = gelu(src[i])`, exact (erf) GELU; `dst` may alias `src`.
void ck_gelu(long n, const float *src, float *dst);
/// `dst[i] = gelu'(src[i])`; `dst` may alias `src`.
void ck_gelu_derivative(long n, const float *src, float *dst);
/// In place `x[i] <- gelu(x[i])` and `derivative[i] <- gelu'(x[i])` from the value before.
void ck_gelu_with_derivative(long n, float *x, float *derivative);
/// `dx = dy * derivative` over `rows x cols` (contiguous; `dx` may alias `dy`) and
/// `acc[j] += sum_rows dx[r, j]`.
void ck_gelu_backward_rows(const float *dy, const float *derivative, float *dx, long rows, long cols, float *acc);

/// Per row of `n` (row stride `ld`): `s_j <- exp(s_j - max s)`; when `inverse_sums` is NULL the
/// row is then normalised in place (softmax), otherwise `1 / sum_j` is written to
/// `inverse_sums[r]` and the row left unnormalised.
void ck_exp_rows(float *s, long rows, long n, long ld, float *inverse_sums);
/// Softmax backward per row of `n` (contiguous): `d <- p * (d - sum_j p_j d_j) * scale`.
void ck_softmax_backward_rows(const float *p, float *d, long rows, long n, float scale);

/// LayerNorm forward over `rows` contiguous rows of `dim`: two-pass mean and biased variance,
/// `y = (x - mean) * rstd * gamma + beta`, `rstd = 1 / sqrt(var + eps)`; `mean` and `rstd`
/// (per row) are written when not NULL.
void ck_layernorm_forward_rows(const float *x, float *y, const float *gamma, const float *beta,
                               float *mean, float *rstd, long rows, long dim, float eps);
/// LayerNorm backward over `rows` contiguous rows, accumulating: `dx += rstd * (g - mean(g) -
/// xhat * mean(g * xhat))` with `g = dy * gamma`, `dgamma += dy * xhat`, `dbeta += dy`.
void ck_layernorm_backward_rows(const float *dy, const float *x, const float *mean, const float *rstd,
                                const float *gamma, float *dx, float *dgamma, float *dbeta, long rows, long dim);

/// One AdamW step over `n` parameters (PyTorch's `torch.optim.AdamW`, decoupled decay):
/// `m += (1 - beta1) (g - m)`, `v = beta2 v + (1 - beta2) g^2`,
/// `p = p * decay_factor - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)`, in this order of
/// Float operations (no fused multiply-adds, so every variant gives the same floats).
void ck_adamw(float *p, const float *g, float *m, float *v, long n, float decay_factor, float one_minus_beta1,
              float beta2, float one_minus_beta2, float step_size, float bias_correction2_sqrt, float eps);

#ifdef __cplusplus
}
#endif
#endif
