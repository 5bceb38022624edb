/* Hand-vectorised kernels (GCC vector extensions, compiled for AVX2+FMA and
 * chosen at run time) for the few hot loops that oneDNN does not cover. */
#ifndef GLINT_SIMD_H
#define GLINT_SIMD_H

#include <stdbool.h>
#include <stdint.h>

/* Whether this CPU runs the AVX2 kernels below. */
bool eng_simd_has_avx2(void);

/* Softmax over n rows of `inner` floats (row k at x + k*inner), for the w
 * columns starting at x (w <= SIMD_SOFTMAX_BLOCK); y has the same layout.
 * Relative error below 1e-6. Needs eng_simd_has_avx2(). */
#define SIMD_SOFTMAX_BLOCK 512
void eng_simd_softmax_columns(const float *x, float *y, int64_t n, int64_t inner, int64_t w);

/* dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols:
 * the rows (pixels) of an NHWC block become the channel planes of NCHW,
 * in blocks of 8 x 8. Needs eng_simd_has_avx2(). */
void eng_simd_transpose(const float *src, int64_t src_stride, float *dst, int64_t dst_stride,
                        int64_t rows, int64_t cols);

/* QuantizeLinear of up to 4 planes (c of them, plane floats apart) into
 * 4-channel u8 pixels: byte k of y[i] = saturate(round(x[k * plane + i] *
 * inv) + zp), half to even; the bytes past c hold zp. Needs
 * eng_simd_has_avx2(). */
void eng_simd_quantize_planes(const float *x, int64_t plane, int c, float inv, int32_t zp,
                              uint32_t *y, int64_t n);

/* The expected bin of a softmax over r bins (GlintDFL), for the w columns
 * starting at x, bin i of a column l floats after bin i-1: y[j] = sum_i i
 * * e_i / sum_i e_i, e_i = exp(x[i*l + j] - max). Relative error below
 * 1e-6. Needs eng_simd_has_avx2(). */
void eng_simd_dfl(const float *x, float *y, int64_t r, int64_t l, int64_t w);

#endif
