// The kernels' bodies, included once per instruction-set variant by kernels.c with
// CK_SUFFIX (the function-name suffix) and CK_HAS_FMA (1: `ck_fma` is one fused instruction,
// 0: it is a multiply then an add, the baseline x86-64 having no FMA) defined. Arithmetic is on
// 16-lane GCC/Clang vector types, which the compiler maps onto one zmm, two ymm or four xmm
// registers according to the variant's target. Floating-point contraction is off in kernels.c,
// so the only fused operations are the explicit `ck_fma`s (the same places where the Swift
// kernels used `addingProduct`).

#define CK_CAT2(a, b) a##_##b
#define CK_CAT(a, b) CK_CAT2(a, b)
#define CK_FN(name) CK_CAT(name, CK_SUFFIX)

#if CK_HAS_FMA
#define ck_fma(a, b, c) __builtin_elementwise_fma((a), (b), (c))
#else
#define ck_fma(a, b, c) ((a) * (b) + (c))
#endif

static inline __attribute__((always_inline)) v16f CK_FN(ld)(const float *p) { return *(const v16f_u *)p; }
static inline __attribute__((always_inline)) void CK_FN(st)(float *p, v16f v) { *(v16f_u *)p = v; }

static inline __attribute__((always_inline)) v16f CK_FN(ld_part)(const float *p, long n, float fill) {
    float b[16];
    for (int j = 0; j < 16; j++) b[j] = j < n ? p[j] : fill;
    return CK_FN(ld)(b);
}

static inline __attribute__((always_inline)) void CK_FN(st_part)(float *p, v16f v, long n) {
    float b[16];
    CK_FN(st)(b, v);
    for (long j = 0; j < n; j++) p[j] = b[j];
}

static inline __attribute__((always_inline)) float CK_FN(hsum)(v16f v) {
    float s = 0;
    for (int j = 0; j < 16; j++) s += v[j];
    return s;
}

/// Lanes of `a` where `m` is set, else of `b`.
static inline __attribute__((always_inline)) v16f CK_FN(select)(v16i m, v16f a, v16f b) {
    return (v16f)((m & (v16i)a) | (~m & (v16i)b));
}

/// e^x: x = n ln2 + r (Cody-Waite split of ln2), e^r = 1 + r + r^2 P(r) with Cephes' degree-5
/// expf polynomial, 2^n from the exponent bits; the 1.5 * 2^23 trick rounds n.
static inline __attribute__((always_inline)) v16f CK_FN(exp16)(v16f x) {
    const v16f lo = vsplat(-87.3f), hi = vsplat(88.7f);
    x = CK_FN(select)(x < lo, lo, x);
    x = CK_FN(select)(x > hi, hi, x);
    const v16f magic = vsplat(12582912.0f);
    v16f t = x * 1.44269504f + magic;
    v16f n = t - magic;
    v16f r = ck_fma(n, vsplat(-0.693359375f), x);
    r = ck_fma(n, vsplat(2.1219444e-4f), r);
    v16f p = vsplat(1.98756915e-4f);
    p = ck_fma(p, r, vsplat(1.3981999507e-3f));
    p = ck_fma(p, r, vsplat(8.3334519073e-3f));
    p = ck_fma(p, r, vsplat(4.1665795894e-2f));
    p = ck_fma(p, r, vsplat(1.6666665459e-1f));
    p = ck_fma(p, r, vsplat(5.0000001201e-1f));
    v16f e = ck_fma(r * r, p, r + 1.0f);
    v16i nbits = (v16i)t - (v16i)magic;
    v16f scale = (v16f)((nbits + 127) << 23);
    return e * scale;
}

/// erf(x) (A&S 7.1.26) and the exp(-x^2) it computes on the way.
static inline __attribute__((always_inline)) v16f CK_FN(erf16)(v16f x, v16f *gaussian) {
    v16i bits = (v16i)x;
    v16f a = (v16f)(bits & 0x7FFFFFFF);
    v16f t = 1.0f / ck_fma(a, vsplat(0.3275911f), vsplat(1.0f));
    v16f p = vsplat(1.061405429f);
    p = ck_fma(p, t, vsplat(-1.453152027f));
    p = ck_fma(p, t, vsplat(1.421413741f));
    p = ck_fma(p, t, vsplat(-0.284496736f));
    p = ck_fma(p, t, vsplat(0.254829592f));
    p = p * t;
    v16f e = CK_FN(exp16)(-(a * a));
    v16f y = ck_fma(-p, e, vsplat(1.0f));
    *gaussian = e;
    return (v16f)((v16i)y | (bits & (int32_t)0x80000000));
}

/// GELU and its derivative, sharing one exp(-x^2 / 2).
static inline __attribute__((always_inline)) v16f CK_FN(gelu16)(v16f x, v16f *derivative) {
    v16f e;
    v16f erfz = CK_FN(erf16)(x * 0.7071067811865475f, &e);
    v16f cdf = 0.5f * (1.0f + erfz);
    *derivative = ck_fma(x * e, vsplat(0.3989422804014327f), cdf);
    return x * cdf;
}

static void CK_FN(ck_exp)(long n, const float *src, float *dst) {
    long i = 0;
    for (; i + 16 <= n; i += 16) CK_FN(st)(dst + i, CK_FN(exp16)(CK_FN(ld)(src + i)));
    if (i < n) CK_FN(st_part)(dst + i, CK_FN(exp16)(CK_FN(ld_part)(src + i, n - i, 0)), n - i);
}

static void CK_FN(ck_erf)(long n, const float *src, float *dst) {
    v16f e;
    long i = 0;
    for (; i + 16 <= n; i += 16) CK_FN(st)(dst + i, CK_FN(erf16)(CK_FN(ld)(src + i), &e));
    if (i < n) CK_FN(st_part)(dst + i, CK_FN(erf16)(CK_FN(ld_part)(src + i, n - i, 0), &e), n - i);
}

static void CK_FN(ck_gelu)(long n, const float *src, float *dst) {
    v16f d;
    long i = 0;
    for (; i + 16 <= n; i += 16) CK_FN(st)(dst + i, CK_FN(gelu16)(CK_FN(ld)(src + i), &d));
    if (i < n) CK_FN(st_part)(dst + i, CK_FN(gelu16)(CK_FN(ld_part)(src + i, n - i, 0), &d), n - i);
}

static void CK_FN(ck_gelu_derivative)(long n, const float *src, float *dst) {
    v16f d;
    long i = 0;
    for (; i + 16 <= n; i += 16) { (void)CK_FN(gelu16)(CK_FN(ld)(src + i), &d); CK_FN(st)(dst + i, d); }
    if (i < n) { (void)CK_FN(gelu16)(CK_FN(ld_part)(src + i, n - i, 0), &d); CK_FN(st_part)(dst + i, d, n - i); }
}

static void CK_FN(ck_gelu_with_derivative)(long n, float *x, float *derivative) {
    v16f d;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        CK_FN(st)(x + i, CK_FN(gelu16)(CK_FN(ld)(x + i), &d));
        CK_FN(st)(derivative + i, d);
    }
    if (i < n) {
        CK_FN(st_part)(x + i, CK_FN(gelu16)(CK_FN(ld_part)(x + i, n - i, 0), &d), n - i);
        CK_FN(st_part)(derivative + i, d, n - i);
    }
}

static void CK_FN(ck_gelu_backward_rows)(const float *dy, const float *derivative, float *dx, long rows, long cols, float *acc) {
    long full = cols & ~15L;
    for (long r = 0; r < rows; r++) {
        long o = r * cols, j = 0;
        for (; j < full; j += 16) {
            v16f v = CK_FN(ld)(dy + o + j) * CK_FN(ld)(derivative + o + j);
            CK_FN(st)(dx + o + j, v);
            CK_FN(st)(acc + j, CK_FN(ld)(acc + j) + v);
        }
        for (; j < cols; j++) { float v = dy[o + j] * derivative[o + j]; dx[o + j] = v; acc[j] += v; }
    }
}

static void CK_FN(ck_exp_rows)(float *s, long rows, long n, long ld, float *inverse_sums) {
    long full = n & ~15L, tail = n - full;
    for (long r = 0; r < rows; r++) {
        float *row = s + r * ld;
        v16f mv = vsplat(-__builtin_inff());
        for (long j = 0; j < full; j += 16) { v16f v = CK_FN(ld)(row + j); mv = CK_FN(select)(v > mv, v, mv); }
        if (tail > 0) { v16f v = CK_FN(ld_part)(row + full, tail, -__builtin_inff()); mv = CK_FN(select)(v > mv, v, mv); }
        float m = mv[0];
        for (int k = 1; k < 16; k++) m = mv[k] > m ? mv[k] : m;
        v16f mb = vsplat(m);
        v16f acc = vsplat(0.0f);
        for (long j = 0; j < full; j += 16) {
            v16f e = CK_FN(exp16)(CK_FN(ld)(row + j) - mb);
            CK_FN(st)(row + j, e);
            acc += e;
        }
        float sum = CK_FN(hsum)(acc);
        if (tail > 0) {
            float b[16];
            CK_FN(st)(b, CK_FN(exp16)(CK_FN(ld_part)(row + full, tail, 0) - mb));
            for (long k = 0; k < tail; k++) { row[full + k] = b[k]; sum += b[k]; }
        }
        float inv = 1.0f / sum;
        if (inverse_sums) { inverse_sums[r] = inv; continue; }
        v16f iv = vsplat(inv);
        for (long j = 0; j < full; j += 16) CK_FN(st)(row + j, CK_FN(ld)(row + j) * iv);
        for (long k = full; k < n; k++) row[k] *= inv;
    }
}

static void CK_FN(ck_softmax_backward_rows)(const float *p, float *d, long rows, long n, float scale) {
    long full = n & ~15L;
    v16f sv = vsplat(scale);
    for (long i = 0; i < rows; i++) {
        const float *pr = p + i * n;
        float *dr = d + i * n;
        v16f acc = vsplat(0.0f);
        long j = 0;
        for (; j < full; j += 16) acc += CK_FN(ld)(pr + j) * CK_FN(ld)(dr + j);
        float dot = CK_FN(hsum)(acc);
        for (; j < n; j++) dot += pr[j] * dr[j];
        v16f dv = vsplat(dot);
        for (j = 0; j < full; j += 16) CK_FN(st)(dr + j, CK_FN(ld)(pr + j) * (CK_FN(ld)(dr + j) - dv) * sv);
        for (; j < n; j++) dr[j] = pr[j] * (dr[j] - dot) * scale;
    }
}

static void CK_FN(ck_layernorm_forward_rows)(const float *x, float *y, const float *gamma, const float *beta,
                                             float *mean, float *rstd, long rows, long dim, float eps) {
    long v16 = dim & ~15L;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        v16f acc = vsplat(0.0f);
        long j = 0;
        for (; j < v16; j += 16) acc += CK_FN(ld)(xr + j);
        float s = CK_FN(hsum)(acc);
        for (; j < dim; j++) s += xr[j];
        float m = s / (float)dim;
        v16f mv = vsplat(m);
        acc = vsplat(0.0f);
        for (j = 0; j < v16; j += 16) { v16f dd = CK_FN(ld)(xr + j) - mv; acc += dd * dd; }
        float v = CK_FN(hsum)(acc);
        for (; j < dim; j++) { float dd = xr[j] - m; v += dd * dd; }
        float rs = 1.0f / __builtin_sqrtf(v / (float)dim + eps);
        v16f rv = vsplat(rs);
        for (j = 0; j < v16; j += 16)
            CK_FN(st)(yr + j, (CK_FN(ld)(xr + j) - mv) * rv * CK_FN(ld)(gamma + j) + CK_FN(ld)(beta + j));
        for (; j < dim; j++) yr[j] = (xr[j] - m) * rs * gamma[j] + beta[j];
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
    }
}

static void CK_FN(ck_layernorm_backward_rows)(const float *dy, const float *x, const float *mean, const float *rstd,
                                              const float *gamma, float *dx, float *dg, float *db, long rows, long dim) {
    long v16 = dim & ~15L;
    for (long r = 0; r < rows; r++) {
        const float *dyr = dy + r * dim, *xr = x + r * dim;
        float *dxr = dx + r * dim;
        float m = mean[r], rs = rstd[r];
        v16f mv = vsplat(m), rv = vsplat(rs);
        v16f sG = vsplat(0.0f), sGX = vsplat(0.0f);
        long j = 0;
        for (; j < v16; j += 16) {
            v16f xh = (CK_FN(ld)(xr + j) - mv) * rv;
            v16f d = CK_FN(ld)(dyr + j);
            v16f g = d * CK_FN(ld)(gamma + j);
            sG += g;
            sGX += g * xh;
            CK_FN(st)(dg + j, CK_FN(ld)(dg + j) + d * xh);
            CK_FN(st)(db + j, CK_FN(ld)(db + j) + d);
        }
        float sumG = CK_FN(hsum)(sG), sumGX = CK_FN(hsum)(sGX);
        for (; j < dim; j++) {
            float xh = (xr[j] - m) * rs, g = dyr[j] * gamma[j];
            sumG += g;
            sumGX += g * xh;
            dg[j] += dyr[j] * xh;
            db[j] += dyr[j];
        }
        float mg = sumG / (float)dim, mgx = sumGX / (float)dim;
        v16f mgv = vsplat(mg), mgxv = vsplat(mgx);
        for (j = 0; j < v16; j += 16) {
            v16f xh = (CK_FN(ld)(xr + j) - mv) * rv;
            v16f g = CK_FN(ld)(dyr + j) * CK_FN(ld)(gamma + j);
            CK_FN(st)(dxr + j, CK_FN(ld)(dxr + j) + rv * (g - mgv - xh * mgxv));
        }
        for (; j < dim; j++) {
            float xh = (xr[j] - m) * rs;
            dxr[j] += rs * (dyr[j] * gamma[j] - mg - xh * mgx);
        }
    }
}

// AdamW: only multiplies, adds, a square root and a divide (contraction is off), so every
// variant computes the same floats as the scalar Swift loop it replaces; the variants differ in
// vector width (sqrt and divide are the costly lanes).
static void CK_FN(ck_adamw)(float *p, const float *g, float *m, float *v, long n, float decay_factor, float one_minus_beta1,
                            float beta2, float one_minus_beta2, float step_size, float bias_correction2_sqrt, float eps) {
    long i = 0;
    const v16f d = vsplat(decay_factor), b1 = vsplat(one_minus_beta1), b2 = vsplat(beta2), ob2 = vsplat(one_minus_beta2);
    const v16f ss = vsplat(step_size), bc = vsplat(bias_correction2_sqrt), ep = vsplat(eps);
    for (; i + 16 <= n; i += 16) {
        v16f gi = CK_FN(ld)(g + i), mo = CK_FN(ld)(m + i), vo = CK_FN(ld)(v + i);
        v16f mi = mo + b1 * (gi - mo);
        v16f vi = b2 * vo + ob2 * (gi * gi);
        CK_FN(st)(m + i, mi);
        CK_FN(st)(v + i, vi);
        CK_FN(st)(p + i, CK_FN(ld)(p + i) * d - ss * (mi / (__builtin_elementwise_sqrt(vi) / bc + ep)));
    }
    for (; i < n; i++) {
        float gi = g[i];
        float mi = m[i] + one_minus_beta1 * (gi - m[i]);
        float vi = beta2 * v[i] + one_minus_beta2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay_factor - step_size * (mi / (__builtin_sqrtf(vi) / bias_correction2_sqrt + eps));
    }
}

static const ck_table CK_FN(ck_table) = {
    .name = CK_VARIANT_NAME,
    .exp = CK_FN(ck_exp),
    .erf = CK_FN(ck_erf),
    .gelu = CK_FN(ck_gelu),
    .gelu_derivative = CK_FN(ck_gelu_derivative),
    .gelu_with_derivative = CK_FN(ck_gelu_with_derivative),
    .gelu_backward_rows = CK_FN(ck_gelu_backward_rows),
    .exp_rows = CK_FN(ck_exp_rows),
    .softmax_backward_rows = CK_FN(ck_softmax_backward_rows),
    .layernorm_forward_rows = CK_FN(ck_layernorm_forward_rows),
    .layernorm_backward_rows = CK_FN(ck_layernorm_backward_rows),
    .adamw = CK_FN(ck_adamw),
};

#undef ck_fma
#undef CK_FN
#undef CK_CAT
#undef CK_CAT2
