/* Hand-written CPU kernels shared by the layout planner and CPU backends
 * (see kernels_nhwc.h). They use no kernel library; the copies run with the
 * OpenMP thread count of the context that runs the plan. */
#include "kernels_nhwc.h"

#include "ops_impl.h"
#include "simd.h"
#include "vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y = (x - zp) * scale over n u8 values: DequantizeLinear (x - zp is an
 * exact integer, so the float product is the correctly rounded one). */
static void dequant_u8(const uint8_t *x, float *y, int64_t n, int32_t zp, float scale)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)((int32_t)x[i] - zp) * scale;
}

/* The u8 NHWC input of a GlintQConv that oneDNN would not run after all,
 * back in f32 for the reference kernel: (x - zp) * scale; state: its qout. */
glint_status eng_nhwc_dequant_run(step *st)
{
    const qout *q = st->k.state;
    dequant_u8(st->ctx.in[0]->data, st->ctx.out[0]->data, eng_tensor_count(st->ctx.in[0]), q->zp,
               q->scale);
    return GLINT_OK;
}

/* ---- copy kernels on NHWC: Concat/Split along channels, nearest resize ---- */
glint_status eng_nhwc_concat_run(step *st)
{
    const glint_tensor *o = st->ctx.out[0];
    size_t es = glint_dtype_size(o->dtype);
    int64_t pixels = o->dims[0] * o->dims[2] * o->dims[3], C = o->dims[1], at = 0;
    for (int i = 0; i < st->ctx.n_in; i++) {
        const glint_tensor *x = st->ctx.in[i];
        int64_t ci = x->dims[1];
        const char *src = x->data;
        char *dst = (char *)o->data + at * (int64_t)es;
        at += ci;
        if (st->in_place >> i & 1) continue; /* its producer wrote it in its slot */
#pragma omp parallel for schedule(static)
        for (int64_t px = 0; px < pixels; px++)
            memcpy(dst + px * C * (int64_t)es, src + px * ci * (int64_t)es, (size_t)ci * es);
    }
    return GLINT_OK;
}

/* NHWC f32 x into channels [coff, coff + C) of the plain f32 tensor y of
 * ctot channels whose planes are ps floats apart (ps >= H*W: rows of a
 * larger tensor): per image, blocks of 64 pixels transposed into planes. */
static void nhwc_into_plain(const glint_tensor *x, float *y, int64_t ctot, int64_t coff, int64_t ps)
{
    int64_t N = x->dims[0], C = x->dims[1], HW = x->dims[2] * x->dims[3];
    int64_t chunks = (HW + 63) / 64;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < chunks; k++) {
            int64_t p0 = k * 64, len = HW - p0 < 64 ? HW - p0 : 64;
            eng_simd_transpose((const float *)x->data + (n * HW + p0) * C, C,
                               y + (n * ctot + coff) * ps + p0, ps, len, C);
        }
}

static int64_t plane_stride(const step *st)
{
    const glint_tensor *o = st->ctx.out[0];
    return st->plane_stride ? st->plane_stride : o->dims[2] * o->dims[3];
}

/* f32 NHWC -> plain (a reorder step). */
glint_status eng_nhwc_to_plain_run(step *st)
{
    nhwc_into_plain(st->ctx.in[0], st->ctx.out[0]->data, st->ctx.in[0]->dims[1], 0,
                    plane_stride(st));
    return GLINT_OK;
}

/* f32 plain -> NHWC (a reorder step): per image, blocks of 64 pixels
 * transposed out of the planes (3 planes, an image: shuffled 8 pixels at a
 * time). oneDNN's jit:uni reorder took 46 us for a 224 x 224 RGB image. */
glint_status eng_plain_to_nhwc_run(step *st)
{
    const glint_tensor *x = st->ctx.in[0];
    float *y = st->ctx.out[0]->data;
    int64_t N = x->dims[0], C = x->dims[1], HW = x->dims[2] * x->dims[3];
    int64_t chunks = (HW + 63) / 64;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < chunks; k++) {
            int64_t p0 = k * 64, len = HW - p0 < 64 ? HW - p0 : 64;
            const float *src = (const float *)x->data + n * C * HW + p0;
            float *dst = y + (n * HW + p0) * C;
            if (C == 3)
                eng_simd_planes_to_pixels3(src, HW, dst, len);
            else
                eng_simd_transpose(src, HW, dst, C, C, len);
        }
    return GLINT_OK;
}

/* A channel Concat of f32 NHWC tensors written plain, for readers that
 * want it plain (Reshape): each input transposed into its channel planes,
 * instead of an NHWC Concat and a reorder of the whole. */
glint_status eng_nhwc_concat_plain_run(step *st)
{
    const glint_tensor *o = st->ctx.out[0];
    for (int i = 0, at = 0; i < st->ctx.n_in; i++) {
        nhwc_into_plain(st->ctx.in[i], o->data, o->dims[1], at, plane_stride(st));
        at += (int)st->ctx.in[i]->dims[1];
    }
    return GLINT_OK;
}

/* GlintDFL on plain f32: rows of [N*A] x R bins x L columns, columns in
 * blocks of 256 across threads. */
glint_status eng_nhwc_dfl_run(step *st)
{
    const glint_tensor *x = st->ctx.in[0];
    int64_t rows = x->dims[0] * x->dims[1], R = x->dims[2], L = x->dims[3];
    int64_t blocks = (L + 255) / 256;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t j = b * 256, w = L - j < 256 ? L - j : 256;
            eng_simd_dfl((const float *)x->data + r * R * L + j,
                         (float *)st->ctx.out[0]->data + r * L + j, R, L, w);
        }
    return GLINT_OK;
}

glint_status eng_nhwc_split_run(step *st)
{
    const glint_tensor *x = st->ctx.in[0];
    int64_t es = (int64_t)glint_dtype_size(x->dtype);
    int64_t pixels = x->dims[0] * x->dims[2] * x->dims[3], C = x->dims[1], at = 0;
    for (int i = 0; i < st->ctx.n_out; i++) {
        const glint_tensor *o = st->ctx.out[i];
        int64_t co = o->dims[1], os = st->out_stride[i] ? st->out_stride[i] : co;
        const char *src = (const char *)x->data + at * es;
        char *dst = o->data;
#pragma omp parallel for schedule(static)
        for (int64_t px = 0; px < pixels; px++)
            memcpy(dst + px * os * es, src + px * C * es, (size_t)(co * es));
        at += co;
    }
    return GLINT_OK;
}

/* Slice of a channel range of an NHWC tensor; state: the first channel. */
glint_status eng_nhwc_slice_run(step *st)
{
    const glint_tensor *x = st->ctx.in[0], *o = st->ctx.out[0];
    int64_t start = *(const int64_t *)st->k.state;
    int64_t pixels = x->dims[0] * x->dims[2] * x->dims[3], C = x->dims[1], co = o->dims[1];
    int64_t os = st->out_stride[0] ? st->out_stride[0] : co;
    const float *src = (const float *)x->data + start;
    float *dst = o->data;
#pragma omp parallel for schedule(static)
    for (int64_t px = 0; px < pixels; px++)
        memcpy(dst + px * os, src + px * C, (size_t)co * sizeof(float));
    return GLINT_OK;
}

bool eng_nhwc_slice_make(step *st)
{
    int64_t start, *state;
    if (st->ctx.in[0]->dtype != GLINT_F32 || !eng_slice_channel_range(&st->ctx, &start) ||
        !(state = malloc(sizeof *state)))
        return false;
    *state = start;
    st->k = (kernel){eng_nhwc_slice_run, free, state, "glint:slice_nhwc"};
    /* cppcheck-suppress memleak ; the kernel made above owns state */
    return true;
}

typedef struct resize_k {
    int64_t *map_h, *map_w;
} resize_k;

static void resize_free(void *p)
{
    resize_k *k = p;
    if (k) {
        free(k->map_h);
        free(k->map_w);
    }
    free(k);
}

glint_status eng_nhwc_resize_run(step *st)
{
    const resize_k *k = st->k.state;
    const glint_tensor *x = st->ctx.in[0], *o = st->ctx.out[0];
    int64_t N = o->dims[0], C = o->dims[1], OH = o->dims[2], OW = o->dims[3];
    int64_t H = x->dims[2], W = x->dims[3], os = st->out_stride[0] ? st->out_stride[0] : C;
    int64_t es = (int64_t)glint_dtype_size(x->dtype); /* f32, or u8 in the int8 graph */
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t oh = 0; oh < OH; oh++) {
            const char *srow = (const char *)x->data + ((n * H + k->map_h[oh]) * W) * C * es;
            char *drow = (char *)o->data + ((n * OH + oh) * OW) * os * es;
            for (int64_t ow = 0; ow < OW; ow++)
                memcpy(drow + ow * os * es, srow + k->map_w[ow] * C * es, (size_t)(C * es));
        }
    return GLINT_OK;
}

bool eng_nhwc_resize_make(step *st)
{
    op_ctx *c = &st->ctx;
    const glint_tensor *x = c->in[0], *o = c->out[0];
    if (x->ndim != 4 || (x->dtype != GLINT_F32 && x->dtype != GLINT_U8) ||
        o->dims[0] != x->dims[0] || o->dims[1] != x->dims[1])
        return false;
    resize_k *k = calloc(1, sizeof *k);
    if (!k) return false;
    k->map_h = malloc((size_t)o->dims[2] * sizeof(int64_t));
    k->map_w = malloc((size_t)o->dims[3] * sizeof(int64_t));
    if (!k->map_h || !k->map_w || !eng_resize_nearest_map(c, 2, k->map_h) ||
        !eng_resize_nearest_map(c, 3, k->map_w)) {
        resize_free(k);
        return false;
    }
    st->k = (kernel){eng_nhwc_resize_run, resize_free, k,
                     x->dtype == GLINT_U8 ? "glint:resize_nearest_u8_nhwc"
                                          : "glint:resize_nearest_nhwc"};
    /* cppcheck-suppress memleak ; the kernel made above owns k */
    return true;
}

/* Softmax over a strided axis: rows of `inner` contiguous floats, processed
 * in blocks so that the max, exp and sum vectorise across the inner axis. */
#define SOFTMAX_BLOCK SIMD_SOFTMAX_BLOCK
static void softmax_block(const float *x, float *y, int64_t n, int64_t inner, int64_t w)
{
    float mx[SOFTMAX_BLOCK], sum[SOFTMAX_BLOCK];
    for (int64_t i = 0; i < w; i++) {
        mx[i] = x[i];
        sum[i] = 0;
    }
    for (int64_t k = 1; k < n; k++)
        for (int64_t i = 0; i < w; i++)
            mx[i] = x[k * inner + i] > mx[i] ? x[k * inner + i] : mx[i];
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < w; i++) {
            float e = fast_expf(x[k * inner + i] - mx[i]);
            y[k * inner + i] = e;
            sum[i] += e;
        }
    for (int64_t i = 0; i < w; i++)
        sum[i] = 1.0f / sum[i];
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < w; i++)
            y[k * inner + i] *= sum[i];
}

static glint_status softmax_strided_run(step *st)
{
    const glint_tensor *x = st->ctx.in[0];
    int axis = eng_norm_axis(eng_attr_i(st->n, "axis", -1), x->ndim);
    int64_t outer = eng_dims_count(x->dims, axis), n = x->dims[axis];
    int64_t inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    const float *X = x->data;
    float *Y = st->ctx.out[0]->data;
    int64_t blocks = (inner + SOFTMAX_BLOCK - 1) / SOFTMAX_BLOCK;
    bool avx2 = st->k.state != NULL;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < outer * blocks; b++) {
        int64_t o = b / blocks, i = b % blocks * SOFTMAX_BLOCK;
        int64_t w = inner - i < SOFTMAX_BLOCK ? inner - i : SOFTMAX_BLOCK;
        if (avx2)
            eng_simd_softmax_columns(X + o * n * inner + i, Y + o * n * inner + i, n, inner, w);
        else
            softmax_block(X + o * n * inner + i, Y + o * n * inner + i, n, inner, w);
    }
    return GLINT_OK;
}

/* ---- QuantizeLinear / DequantizeLinear with one scale, on any layout ----
 * The same arithmetic as the reference kernels (ops_quant.c): q = x / s in
 * float, rounded half to even, + z, saturated; x = (q - z) * s. */
glint_status eng_nhwc_quantize_run(step *st)
{
    const qdq_k *k = st->k.state;
    const float *x = st->ctx.in[0]->data;
    uint8_t *y = st->ctx.out[0]->data;
    int64_t count = eng_tensor_count(st->ctx.in[0]);
    float s = k->scale, z = (float)k->zp;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; i++) {
        float v = nearbyintf(x[i] / s) + z;
        y[i] = (uint8_t)(v != v || v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return GLINT_OK;
}

glint_status eng_nhwc_dequantize_run(step *st)
{
    const qdq_k *k = st->k.state;
    dequant_u8(st->ctx.in[0]->data, st->ctx.out[0]->data, eng_tensor_count(st->ctx.in[0]), k->zp,
               k->scale);
    return GLINT_OK;
}

/* Whether step st is a QuantizeLinear (f32 -> u8) or DequantizeLinear (u8
 * -> f32) with one constant scale and u8 zero point; with k, also builds
 * its kernel (state malloc'ed, freed by the kernel's destroy). */
bool eng_nhwc_qdq_make(const plan *p, const step *st, kernel *k)
{
    op_id op = st->n->op;
    bool q = op == OP_QuantizeLinear;
    if ((!q && op != OP_DequantizeLinear) || st->n_in_ids < 2) return false;
    const op_ctx *c = &st->ctx;
    const glint_tensor *x = c->in[0], *sc = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
    if (x->dtype != (q ? GLINT_F32 : GLINT_U8) || c->out[0]->dtype != (q ? GLINT_U8 : GLINT_F32) ||
        !p->is_const[st->in_id[1]] || sc->dtype != GLINT_F32 || eng_tensor_count(sc) != 1 ||
        (zp && (!p->is_const[st->in_id[2]] || zp->dtype != GLINT_U8 || eng_tensor_count(zp) != 1)))
        return false;
    if (!k) return true;
    qdq_k *s = malloc(sizeof *s);
    if (!s) return false;
    *s = (qdq_k){*(const float *)sc->data, zp ? *(const uint8_t *)zp->data : 0};
    *k = (kernel){q ? eng_nhwc_quantize_run : eng_nhwc_dequantize_run, free, s,
                  q ? "glint:quantize" : "glint:dequantize"};
    /* cppcheck-suppress memleak ; the kernel made above owns s */
    return true;
}

void eng_nhwc_softmax_strided_make(step *st)
{
    /* state: non-NULL selects the AVX2 kernel (a static marker) */
    static const char avx2_marker = 1;
    bool avx2 = eng_simd_has_avx2();
    st->k = (kernel){softmax_strided_run, NULL, avx2 ? (void *)&avx2_marker : NULL,
                     avx2 ? "glint:softmax_strided_avx2" : "glint:softmax_strided"};
}

glint_status eng_nhwc_view_run(step *st)
{
    (void)st;
    return GLINT_OK;
}
