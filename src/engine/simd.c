/* AVX2+FMA kernels written with GCC vector extensions (no intrinsics), see
 * simd.h. exp: range reduction x = n*ln2 + r, a degree-6 polynomial for
 * exp(r), 2^n built in the exponent bits. Also the one ISA choice outside
 * them: the width of int8 convolution weights (eng_simd_int8_weight_bits). */
#include "simd.h"

#include <oneapi/dnnl/dnnl.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define AVX2 __attribute__((target("avx2,fma")))

bool eng_simd_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int eng_simd_int8_weight_bits(void)
{
    const char *e = getenv("GLINT_INT8_WEIGHT_BITS");
    if (e && (!strcmp(e, "7") || !strcmp(e, "8"))) return e[0] - '0';
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    bool vnni = (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni ||
                (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
    return vnni ? 8 : 7;
}

AVX2 static inline v8f vsel(v8i m, v8f a, v8f b)
{
    return (v8f)(((v8i)a & m) | ((v8i)b & ~m));
}

AVX2 static inline v8f vmax(v8f a, v8f b)
{
    return vsel(a > b, a, b);
}

AVX2 static inline v8f vload(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

AVX2 static inline void vstore(float *p, v8f v)
{
    memcpy(p, &v, sizeof v);
}

AVX2 static inline v8f vexp(v8f x)
{
    const v8f lo = {-87, -87, -87, -87, -87, -87, -87, -87};
    const v8f hi = {88, 88, 88, 88, 88, 88, 88, 88};
    x = vmax(x, lo);
    x = vsel(x > hi, hi, x);
    v8i ni = __builtin_convertvector(x * 1.44269504088896341f + 128.5f, v8i) - 128;
    v8f n = __builtin_convertvector(ni, v8f);
    v8f r = x - n * 0.693359375f + n * 2.12194440e-4f;
    v8f p = r * (1.0f / 720) + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    v8i bits = (ni + 127) << 23;
    return p * (v8f)bits;
}

AVX2 void eng_simd_softmax_columns(const float *x, float *y, int64_t n, int64_t inner, int64_t w)
{
    v8f mx[SIMD_SOFTMAX_BLOCK / 8], sum[SIMD_SOFTMAX_BLOCK / 8];
    int64_t nv = w / 8;
    for (int64_t i = 0; i < nv; i++) {
        mx[i] = vload(x + 8 * i);
        sum[i] = (v8f){0};
    }
    for (int64_t k = 1; k < n; k++)
        for (int64_t i = 0; i < nv; i++)
            mx[i] = vmax(vload(x + k * inner + 8 * i), mx[i]);
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < nv; i++) {
            v8f e = vexp(vload(x + k * inner + 8 * i) - mx[i]);
            vstore(y + k * inner + 8 * i, e);
            sum[i] += e;
        }
    for (int64_t i = 0; i < nv; i++)
        sum[i] = 1.0f / sum[i];
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < nv; i++)
            vstore(y + k * inner + 8 * i, vload(y + k * inner + 8 * i) * sum[i]);
    for (int64_t i = nv * 8; i < w; i++) { /* the last columns, scalar */
        float m = x[i], s = 0;
        for (int64_t k = 1; k < n; k++)
            m = x[k * inner + i] > m ? x[k * inner + i] : m;
        for (int64_t k = 0; k < n; k++) {
            float e = expf(x[k * inner + i] - m);
            y[k * inner + i] = e;
            s += e;
        }
        for (int64_t k = 0; k < n; k++)
            y[k * inner + i] /= s;
    }
}

/* Eight pixels x eight channels: rows of s (ss floats apart) become
 * columns of d (ds floats apart). Unpack pairs, then quads, then halves. */
AVX2 static inline void transpose8(const float *s, int64_t ss, float *d, int64_t ds)
{
    v8f r0 = vload(s), r1 = vload(s + ss), r2 = vload(s + 2 * ss), r3 = vload(s + 3 * ss);
    v8f r4 = vload(s + 4 * ss), r5 = vload(s + 5 * ss), r6 = vload(s + 6 * ss);
    v8f r7 = vload(s + 7 * ss);
    v8f t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13);
    v8f t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
    v8f t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13);
    v8f t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
    v8f t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13);
    v8f t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
    v8f t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13);
    v8f t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
    v8f u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
    v8f u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    v8f u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
    v8f u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    v8f u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
    v8f u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    v8f u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
    v8f u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    vstore(d, __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11));
    vstore(d + ds, __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11));
    vstore(d + 2 * ds, __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11));
    vstore(d + 3 * ds, __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11));
    vstore(d + 4 * ds, __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15));
    vstore(d + 5 * ds, __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15));
    vstore(d + 6 * ds, __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15));
    vstore(d + 7 * ds, __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15));
}

AVX2 void eng_simd_transpose(const float *src, int64_t ss, float *dst, int64_t ds, int64_t rows,
                             int64_t cols)
{
    int64_t r8 = rows / 8 * 8, c8 = cols / 8 * 8;
    for (int64_t r = 0; r < r8; r += 8) {
        for (int64_t c = 0; c < c8; c += 8)
            transpose8(src + r * ss + c, ss, dst + c * ds + r, ds);
        for (int64_t k = r; k < r + 8; k++)
            for (int64_t c = c8; c < cols; c++)
                dst[c * ds + k] = src[k * ss + c];
    }
    for (int64_t k = r8; k < rows; k++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * ds + k] = src[k * ss + c];
}

/* x * inv rounded half to even (|x * inv| clamped to 2^20 first, where the
 * magic-number rounding is exact), + zp, saturated to 0..255. */
AVX2 static inline v8i quant8(v8f x, float inv, int32_t zp)
{
    const v8f lim = {1048576, 1048576, 1048576, 1048576, 1048576, 1048576, 1048576, 1048576};
    const v8f magic = {12582912, 12582912, 12582912, 12582912,
                       12582912, 12582912, 12582912, 12582912};
    v8f r = x * inv;
    r = vmax(r, -lim);
    r = vsel(r > lim, lim, r);
    r = (r + magic) - magic;
    v8i q = __builtin_convertvector(r, v8i) + zp;
    q &= ~(q < 0);
    v8i hi = q > 255;
    return (q & ~hi) | (hi & 255);
}

AVX2 void eng_simd_quantize_planes(const float *x, int64_t plane, int c, float inv, int32_t zp,
                                   uint32_t *y, int64_t n)
{
    int64_t i = 0;
    v8i fill = (v8i){0} + zp;
    for (; i + 8 <= n; i += 8) {
        v8i w = quant8(vload(x + i), inv, zp);
        w |= (c > 1 ? quant8(vload(x + plane + i), inv, zp) : fill) << 8;
        w |= (c > 2 ? quant8(vload(x + 2 * plane + i), inv, zp) : fill) << 16;
        w |= (c > 3 ? quant8(vload(x + 3 * plane + i), inv, zp) : fill) << 24;
        memcpy(y + i, &w, sizeof w);
    }
    for (; i < n; i++) {
        uint32_t w = 0;
        for (int k = 0; k < 4; k++) {
            int32_t q = zp;
            if (k < c) {
                float r = x[k * plane + i] * inv;
                /* as the vector lanes: NaN clamps to the low end (then 0) */
                r = !(r >= -1048576.0f) ? -1048576.0f : r > 1048576.0f ? 1048576.0f : r;
                q = (int32_t)nearbyintf(r) + zp;
                q = q < 0 ? 0 : q > 255 ? 255 : q;
            }
            w |= (uint32_t)q << (8 * k);
        }
        y[i] = w;
    }
}

AVX2 void eng_simd_dfl(const float *x, float *y, int64_t r, int64_t l, int64_t w)
{
    int64_t nv = w / 8 * 8;
    for (int64_t j = 0; j < nv; j += 8) {
        v8f m = vload(x + j), s = {0}, ws = {0};
        for (int64_t i = 1; i < r; i++)
            m = vmax(vload(x + i * l + j), m);
        for (int64_t i = 0; i < r; i++) {
            v8f e = vexp(vload(x + i * l + j) - m);
            s += e;
            ws += e * (float)i;
        }
        vstore(y + j, ws / s);
    }
    for (int64_t j = nv; j < w; j++) { /* the last columns, scalar */
        float m = x[j], s = 0, ws = 0;
        for (int64_t i = 1; i < r; i++)
            m = x[i * l + j] > m ? x[i * l + j] : m;
        for (int64_t i = 0; i < r; i++) {
            float e = expf(x[i * l + j] - m);
            s += e;
            ws += e * (float)i;
        }
        y[j] = ws / s;
    }
}

AVX2 void eng_simd_scale_rows(const float *x, const float *sc, float *y, int64_t rows, int64_t c)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        int64_t k = 0;
        for (; k + 8 <= c; k += 8)
            vstore(yr + k, vload(xr + k) * vload(sc + k));
        for (; k < c; k++)
            yr[k] = xr[k] * sc[k];
    }
}

AVX2 void eng_simd_planes_to_pixels3(const float *x, int64_t plane, float *y, int64_t n)
{
    /* pixels a0 b0 c0 a1 b1 c1 ...: a and b interleaved first, then c in
     * (__builtin_shufflevector: GCC >= 12 and clang alike) */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f a = vload(x + i), b = vload(x + plane + i), c = vload(x + 2 * plane + i);
        float *o = y + 3 * i;
        v8f ab0 = __builtin_shufflevector(a, b, 0, 8, 0, 1, 9, 0, 2, 10);
        v8f ab1 = __builtin_shufflevector(a, b, 0, 3, 11, 0, 4, 12, 0, 5);
        v8f ab2 = __builtin_shufflevector(a, b, 13, 0, 6, 14, 0, 7, 15, 0);
        vstore(o, __builtin_shufflevector(ab0, c, 0, 1, 8, 3, 4, 9, 6, 7));
        vstore(o + 8, __builtin_shufflevector(ab1, c, 10, 1, 2, 11, 4, 5, 12, 7));
        vstore(o + 16, __builtin_shufflevector(ab2, c, 0, 13, 2, 3, 14, 5, 6, 15));
    }
    for (; i < n; i++)
        for (int k = 0; k < 3; k++)
            y[3 * i + k] = x[k * plane + i];
}
