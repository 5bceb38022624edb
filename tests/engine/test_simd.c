/* The hand-vectorised kernels (simd.c) against plain loops: the 8 x 8
 * blocked transpose at sizes with and without tails and with strides wider
 * than the block (a channel slice of NHWC into the rows of a larger plain
 * tensor), and the column softmax. Skipped where the CPU lacks AVX2. */
#include "etest.h"

#include "simd.h"

#include <math.h>

static void test_transpose(void **state)
{
    (void)state;
    if (!eng_simd_has_avx2()) skip();
    static const int64_t cases[][4] = {
        /* rows (pixels), cols (channels), src stride, dst stride */
        {8, 8, 8, 8}, {64, 144, 144, 6400}, {13, 21, 21, 13}, {7, 5, 9, 11},
        {1, 1, 1, 1}, {40, 80, 144, 8400},  {64, 3, 3, 100},  {9, 17, 20, 9},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int64_t rows = cases[t][0], cols = cases[t][1], ss = cases[t][2], ds = cases[t][3];
        size_t ns = (size_t)(rows * ss), nd = (size_t)(cols * ds);
        float *src = malloc(ns * sizeof *src), *dst = malloc(nd * sizeof *dst);
        for (size_t i = 0; i < ns; i++)
            src[i] = (float)i * 0.5f - 3.0f;
        for (size_t i = 0; i < nd; i++)
            dst[i] = -1e30f; /* untouched outside the block */
        eng_simd_transpose(src, ss, dst, ds, rows, cols);
        for (int64_t c = 0; c < cols; c++)
            for (int64_t r = 0; r < ds; r++) {
                float want = r < rows ? src[r * ss + c] : -1e30f;
                if (dst[c * ds + r] != want)
                    fail_msg("case %zu: dst[%lld][%lld] = %g, want %g", t, (long long)c,
                             (long long)r, dst[c * ds + r], want);
            }
        free(src);
        free(dst);
    }
}

static void test_softmax_columns(void **state)
{
    (void)state;
    if (!eng_simd_has_avx2()) skip();
    enum { N = 16, INNER = 37, W = 37 };
    float x[N * INNER], y[N * INNER];
    for (int i = 0; i < N * INNER; i++)
        x[i] = (float)((i * 7919) % 200) / 10.0f - 10.0f;
    eng_simd_softmax_columns(x, y, N, INNER, W);
    for (int c = 0; c < W; c++) {
        double m = -INFINITY, s = 0;
        for (int k = 0; k < N; k++)
            m = x[k * INNER + c] > m ? x[k * INNER + c] : m;
        for (int k = 0; k < N; k++)
            s += exp(x[k * INNER + c] - m);
        for (int k = 0; k < N; k++) {
            double want = exp(x[k * INNER + c] - m) / s;
            if (fabs(y[k * INNER + c] - want) > 1e-6 * (want > 1e-3 ? want : 1e-3) + 1e-9)
                fail_msg("column %d row %d: %g, want %g", c, k, y[k * INNER + c], want);
        }
    }
}

/* The DFL expectation against doubles: 16 bins, 37 columns (a tail), bins
 * 37 floats apart. */
static void test_dfl(void **state)
{
    (void)state;
    if (!eng_simd_has_avx2()) skip();
    enum { R = 16, L = 37 };
    float x[R * L], y[L];
    for (int i = 0; i < R * L; i++)
        x[i] = (float)((i * 7919) % 97) / 8.0f - 6.0f;
    eng_simd_dfl(x, y, R, L, L);
    for (int j = 0; j < L; j++) {
        double m = -INFINITY, s = 0, ws = 0;
        for (int i = 0; i < R; i++)
            m = x[i * L + j] > m ? x[i * L + j] : m;
        for (int i = 0; i < R; i++) {
            double e = exp(x[i * L + j] - m);
            s += e;
            ws += e * i;
        }
        if (fabs(y[j] - ws / s) > 1e-5 * (ws / s) + 1e-6)
            fail_msg("column %d: %g, want %g", j, y[j], ws / s);
    }
}

/* QuantizeLinear into 4-channel pixels: ties to even, saturation, the
 * bytes past c holding the zero point, tails. */
static void test_quantize_planes(void **state)
{
    (void)state;
    if (!eng_simd_has_avx2()) skip();
    enum { N = 37 };
    float x[4 * N];
    for (int i = 0; i < 4 * N; i++) /* halves (ties), large and negative values */
        x[i] = (float)(i % 23) * 0.25f - 2.0f + (i % 7 == 0 ? 300.0f : 0) - (i % 11 == 0 ? 500 : 0);
    for (int c = 1; c <= 4; c++)
        for (int zp = 0; zp <= 128; zp += 128) {
            uint32_t y[N];
            float inv = 2.0f; /* x * inv lands on .5 for every quarter */
            eng_simd_quantize_planes(x, N, c, inv, zp, y, N);
            for (int i = 0; i < N; i++)
                for (int k = 0; k < 4; k++) {
                    int want = zp;
                    if (k < c) {
                        want = (int)nearbyint((double)x[k * N + i] * inv) + zp;
                        want = want < 0 ? 0 : want > 255 ? 255 : want;
                    }
                    int got = (int)(y[i] >> (8 * k) & 0xff);
                    if (got != want)
                        fail_msg("c %d zp %d pixel %d byte %d: %d, want %d (x %g)", c, zp, i, k,
                                 got, want, k < c ? x[k * N + i] : 0.0f);
                }
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_softmax_columns),
        cmocka_unit_test(test_quantize_planes),
        cmocka_unit_test(test_dfl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
