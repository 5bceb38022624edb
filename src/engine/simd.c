/* AVX2+FMA kernels written with GCC vector extensions (no intrinsics), see
 * simd.h. exp: range reduction x = n*ln2 + r, a degree-6 polynomial for
 * exp(r), 2^n built in the exponent bits. */
#include "simd.h"

#include <math.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define AVX2 __attribute__((target("avx2,fma")))

bool simd_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
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

AVX2 void simd_softmax_columns(const float *x, float *y, int64_t n, int64_t inner, int64_t w)
{
    v8f mx[SIMD_SOFTMAX_BLOCK / 8], sum[SIMD_SOFTMAX_BLOCK / 8];
    int64_t nv = w / 8;
    for (int64_t i = 0; i < nv; i++) {
        mx[i] = vload(x + 8 * i);
        sum[i] = (v8f){0};
    }
    for (int64_t k = 1; k < n; k++)
        for (int64_t i = 0; i < nv; i++) mx[i] = vmax(vload(x + k * inner + 8 * i), mx[i]);
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < nv; i++) {
            v8f e = vexp(vload(x + k * inner + 8 * i) - mx[i]);
            vstore(y + k * inner + 8 * i, e);
            sum[i] += e;
        }
    for (int64_t i = 0; i < nv; i++) sum[i] = 1.0f / sum[i];
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < nv; i++)
            vstore(y + k * inner + 8 * i, vload(y + k * inner + 8 * i) * sum[i]);
    for (int64_t i = nv * 8; i < w; i++) { /* the last columns, scalar */
        float m = x[i], s = 0;
        for (int64_t k = 1; k < n; k++) m = x[k * inner + i] > m ? x[k * inner + i] : m;
        for (int64_t k = 0; k < n; k++) {
            float e = expf(x[k * inner + i] - m);
            y[k * inner + i] = e;
            s += e;
        }
        for (int64_t k = 0; k < n; k++) y[k * inner + i] /= s;
    }
}
