/* Hand-vectorised kernels (GCC vector extensions, compiled for AVX2+FMA and
 * chosen at run time) for the few hot loops that oneDNN does not cover. */
#ifndef GLINT_SIMD_H
#define GLINT_SIMD_H

#include <stdbool.h>
#include <stdint.h>

/* Whether this CPU runs the AVX2 kernels below. */
bool eng_simd_has_avx2(void);

/* The bits of an int8 convolution's s8 weights on this CPU: 8 where
 * oneDNN's int8 kernels have VNNI (vpdpbusd: u8 x s8 products summed in 32
 * bits, exact), 7 without it (AVX2, AVX-512 without VNNI: vpmaddubsw sums
 * pairs of u8 x s8 products into signed 16 bits with saturation, and
 * 255 * 127 * 2 > 32767; 255 * 64 * 2 is not). It asks oneDNN for its
 * effective ISA, so DNNL_MAX_CPU_ISA counts. The environment variable
 * GLINT_INT8_WEIGHT_BITS=7 or 8 overrides it (tests, comparisons: 8 without
 * VNNI gives saturated oneDNN results). Thread-safe; read by passes.c when a
 * model is loaded (see eng_passes_run). */
int eng_simd_int8_weight_bits(void);

/* Softmax over n rows of `inner` floats (row k at x + k*inner), for the w
 * columns starting at x (w <= SIMD_SOFTMAX_BLOCK); y has the same layout.
 * Relative error below 1e-6. Needs eng_simd_has_avx2(). */
#define SIMD_SOFTMAX_BLOCK 512
void eng_simd_softmax_columns(const float *x, float *y, int64_t n, int64_t inner, int64_t w);

/* y[r * c + k] = x[r * c + k] * sc[k] for r < rows, k < c: NHWC pixels
 * scaled per channel (y may be x). Needs eng_simd_has_avx2(). */
void eng_simd_scale_rows(const float *x, const float *sc, float *y, int64_t rows, int64_t c);

/* y[3 * i + k] = x[k * plane + i] for i < n, k < 3: three channel planes
 * (an RGB image) into pixels. Needs eng_simd_has_avx2(). */
void eng_simd_planes_to_pixels3(const float *x, int64_t plane, float *y, int64_t n);

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
