/* Reference kernels of ONNX's quantized operators: QuantizeLinear,
 * DequantizeLinear, DynamicQuantizeLinear, QLinearConv, QLinearMatMul,
 * ConvInteger, MatMulInteger. Plain C; they define what quantized models
 * compute (8-bit integers with a scale and a zero point: real = (q - zp) *
 * scale), rounding half to even and saturating as the ONNX specification
 * says. Integer accumulation is exact (doubles hold every sum of 8-bit
 * products far below 2^53). */
#include "ops_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static bool is_q8(glint_dtype t)
{
    return t == GLINT_U8 || t == GLINT_I8;
}

/* Element i of a scale or zero-point tensor of one value (i ignored) or
 * one value per index. */
static double qparam(const glint_tensor *t, int64_t i)
{
    return eng_tensor_count(t) == 1 ? eng_tensor_get_f(t, 0) : eng_tensor_get_f(t, i);
}

/* round half to even, then clamp to the range of t (u8, i8 or i32) */
static double saturate(double v, glint_dtype t)
{
    if (v != v) return 0; /* NaN (a zero scale): 0, never an undefined cast */
    v = nearbyint(v);
    double lo = t == GLINT_U8 ? 0 : t == GLINT_I8 ? -128 : -2147483648.0;
    double hi = t == GLINT_U8 ? 255 : t == GLINT_I8 ? 127 : 2147483647.0;
    return v < lo ? lo : v > hi ? hi : v;
}

static void qset(glint_tensor *t, int64_t i, double v)
{
    if (t->dtype == GLINT_U8)
        ((uint8_t *)t->data)[i] = (uint8_t)v;
    else if (t->dtype == GLINT_I8)
        ((int8_t *)t->data)[i] = (int8_t)v;
    else
        ((int32_t *)t->data)[i] = (int32_t)v;
}

/* A scale (float) and an optional zero point that is per-tensor, or per
 * index along an axis of length n. */
static glint_status check_qparams(const op_ctx *c, int si, int zi, int64_t n, const char *what)
{
    const glint_tensor *sc = c->in[si];
    const glint_tensor *zp = zi < c->n_in ? c->in[zi] : NULL;
    if (sc->dtype != GLINT_F32)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "%s scale must be float32", what);
    int64_t k = eng_tensor_count(sc);
    if (sc->ndim > 1 || (k != 1 && k != n))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "%s scale has %lld values, expected 1 or %lld", what,
                       (long long)k, (long long)n);
    if (zp && (eng_tensor_count(zp) != k || (!is_q8(zp->dtype) && zp->dtype != GLINT_I32)))
        return OP_FAIL(c, GLINT_ERR_SHAPE,
                       "%s zero point must match its scale (%lld values, "
                       "8-bit or int32)",
                       what, (long long)k);
    return GLINT_OK;
}

/* The axis of per-axis parameters and the strides around it: element i
 * of x belongs to channel (i / inner) % n. */
static glint_status axis_split(const op_ctx *c, const glint_tensor *x, int64_t *n, int64_t *inner)
{
    *n = 1;
    *inner = 1;
    if (eng_tensor_count(c->in[1]) == 1) return GLINT_OK; /* per tensor */
    int ax = eng_norm_axis(eng_attr_i(c->n, "axis", 1), x->ndim);
    if (ax < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "axis out of range");
    *n = x->dims[ax];
    *inner = eng_dims_count(x->dims + ax + 1, x->ndim - ax - 1);
    return GLINT_OK;
}

/* ---- QuantizeLinear / DequantizeLinear ---- */

glint_status eng_infer_QuantizeLinear(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    if (x->dtype != GLINT_F32 && x->dtype != GLINT_I32)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "input has type %s", glint_dtype_name(x->dtype));
    int64_t n, inner;
    glint_status s = axis_split(c, x, &n, &inner);
    if (s || (s = check_qparams(c, 1, 2, n, "y"))) return s;
    glint_dtype t = c->n_in > 2 && c->in[2] ? c->in[2]->dtype : GLINT_U8;
    if (!is_q8(t)) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "output type %s", glint_dtype_name(t));
    eng_set_out(c, 0, t, x->ndim, x->dims);
    return GLINT_OK;
}

glint_status eng_run_QuantizeLinear(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *sc = c->in[1];
    const glint_tensor *zp = c->n_in > 2 ? c->in[2] : NULL;
    glint_tensor *y = c->out[0];
    int64_t n, inner;
    glint_status s = axis_split(c, x, &n, &inner);
    if (s) return s;
    for (int64_t i = 0, count = eng_tensor_count(x); i < count; i++) {
        int64_t ch = (i / inner) % n;
        float scale = (float)qparam(sc, ch),
              q = (float)eng_tensor_get_f(x, i) / scale; /* in float32, as ONNX */
        double z = zp ? qparam(zp, ch) : 0;
        qset(y, i, saturate(nearbyint(q) + z, y->dtype));
    }
    return GLINT_OK;
}

glint_status eng_infer_DequantizeLinear(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    if (!is_q8(x->dtype) && x->dtype != GLINT_I32)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "input has type %s", glint_dtype_name(x->dtype));
    int64_t n, inner;
    glint_status s = axis_split(c, x, &n, &inner);
    if (s || (s = check_qparams(c, 1, 2, n, "x"))) return s;
    eng_set_out(c, 0, GLINT_F32, x->ndim, x->dims);
    return GLINT_OK;
}

glint_status eng_run_DequantizeLinear(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *sc = c->in[1];
    const glint_tensor *zp = c->n_in > 2 ? c->in[2] : NULL;
    float *y = c->out[0]->data;
    int64_t n, inner;
    glint_status s = axis_split(c, x, &n, &inner);
    if (s) return s;
    for (int64_t i = 0, count = eng_tensor_count(x); i < count; i++) {
        int64_t ch = (i / inner) % n;
        double z = zp ? qparam(zp, ch) : 0;
        y[i] = (float)((eng_tensor_get_f(x, i) - z) * (double)(float)qparam(sc, ch));
    }
    return GLINT_OK;
}

/* ---- DynamicQuantizeLinear ---- */

glint_status eng_infer_DynamicQuantizeLinear(op_ctx *c)
{
    glint_status s = eng_need_f32(c, 0);
    if (s) return s;
    if (c->n_out != 3) return OP_FAIL(c, GLINT_ERR_INVALID, "needs 3 outputs");
    eng_set_out(c, 0, GLINT_U8, c->in[0]->ndim, c->in[0]->dims);
    eng_set_out(c, 1, GLINT_F32, 0, NULL);
    eng_set_out(c, 2, GLINT_U8, 0, NULL);
    return GLINT_OK;
}

glint_status eng_run_DynamicQuantizeLinear(op_ctx *c)
{
    const float *x = c->in[0]->data;
    int64_t count = eng_tensor_count(c->in[0]);
    float lo = 0, hi = 0; /* the range always includes 0 */
    for (int64_t i = 0; i < count; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    float scale = (hi - lo) / 255.0f;
    double zp = scale > 0 ? saturate(nearbyint((0 - lo) / scale), GLINT_U8) : 0;
    uint8_t *y = c->out[0]->data;
    for (int64_t i = 0; i < count; i++)
        y[i] = (uint8_t)(scale > 0 ? saturate(nearbyint(x[i] / scale) + zp, GLINT_U8) : zp);
    *(float *)c->out[1]->data = scale;
    *(uint8_t *)c->out[2]->data = (uint8_t)zp;
    return GLINT_OK;
}

/* ---- integer and quantized convolution ---- */

glint_status eng_infer_ConvInteger(op_ctx *c)
{
    if (!is_q8(c->in[0]->dtype) || !is_q8(c->in[1]->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "x and w must be 8-bit integers");
    int64_t m = c->in[1]->dims[0];
    if (c->n_in > 3 && c->in[3] && eng_tensor_count(c->in[3]) != 1 &&
        eng_tensor_count(c->in[3]) != m)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "w_zero_point must hold 1 or %lld values", (long long)m);
    if (c->n_in > 2 && c->in[2] && eng_tensor_count(c->in[2]) != 1)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "x_zero_point must be one value");
    return eng_conv_shape(c, c->in[1], GLINT_I32);
}

static void store_i32(op_ctx *c, int64_t i, int64_t m, double acc)
{
    (void)m;
    ((int32_t *)c->out[0]->data)[i] = (int32_t)saturate(acc, GLINT_I32);
}

glint_status eng_run_ConvInteger(op_ctx *c)
{
    double xz = c->n_in > 2 && c->in[2] ? eng_tensor_get_f(c->in[2], 0) : 0;
    return eng_conv_int_run(c, c->in[1], 0, xz, c->n_in > 3 ? c->in[3] : NULL, store_i32);
}

glint_status eng_infer_QLinearConv(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *w = c->in[3];
    if (!is_q8(x->dtype) || !is_q8(w->dtype) || !is_q8(c->in[7]->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "x, w and y must be 8-bit integers");
    glint_status s;
    if ((s = check_qparams(c, 1, 2, 1, "x")) || (s = check_qparams(c, 4, 5, w->dims[0], "w")) ||
        (s = check_qparams(c, 6, 7, 1, "y")))
        return s;
    const glint_tensor *b = c->n_in > 8 ? c->in[8] : NULL;
    if (b && (b->dtype != GLINT_I32 || eng_tensor_count(b) != w->dims[0]))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "bias must be int32 with one value per output channel");
    return eng_conv_shape(c, w, c->in[7]->dtype);
}

static void store_qlinear_conv(op_ctx *c, int64_t i, int64_t m, double acc)
{
    const glint_tensor *b = c->n_in > 8 ? c->in[8] : NULL;
    if (b) acc += eng_tensor_get_f(b, m);
    double mult = (double)(float)eng_tensor_get_f(c->in[1], 0) *
                  (double)(float)qparam(c->in[4], m) / (double)(float)eng_tensor_get_f(c->in[6], 0);
    glint_tensor *y = c->out[0];
    qset(y, i, saturate(nearbyint(acc * mult) + eng_tensor_get_f(c->in[7], 0), y->dtype));
}

glint_status eng_run_QLinearConv(op_ctx *c)
{
    return eng_conv_int_run(c, c->in[3], 0, eng_tensor_get_f(c->in[2], 0), c->in[5],
                            store_qlinear_conv);
}

/* ---- integer and quantized matrix products ---- */

/* numpy matmul of 8-bit a and b with zero points (per tensor, per row of a,
 * per column of b): store(c, i, row, col, exact sum). */
typedef void (*mm_store_fn)(op_ctx *c, int64_t i, int64_t row, int64_t col, double acc);

static void matmul_int(op_ctx *c, const glint_tensor *a, const glint_tensor *a_zp,
                       const glint_tensor *b, const glint_tensor *b_zp, mm_store_fn store)
{
    int an = a->ndim, bn = b->ndim;
    int64_t M = an > 1 ? a->dims[an - 2] : 1, K = a->dims[an - 1], N = bn > 1 ? b->dims[bn - 1] : 1;
    const glint_tensor *y = c->out[0];
    int ob = y->ndim - (an > 1) - (bn > 1); /* batch rank of the output */
    int64_t batches = eng_dims_count(y->dims, ob), idx[MAXD] = {0};
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t oa = 0, obb = 0, sa = 1, sb = 1; /* matrix index of a and b (broadcast) */
        for (int d = ob - 1, da = an - 3, db = bn - 3; d >= 0; d--, da--, db--) {
            if (da >= 0) {
                if (a->dims[da] > 1) oa += idx[d] * sa;
                sa *= a->dims[da];
            }
            if (db >= 0) {
                if (b->dims[db] > 1) obb += idx[d] * sb;
                sb *= b->dims[db];
            }
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double az = a_zp ? qparam(a_zp, i) : 0, bz = b_zp ? qparam(b_zp, j) : 0, acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (eng_tensor_get_f(a, (oa * M + i) * K + k) - az) *
                           (eng_tensor_get_f(b, (obb * K + k) * N + j) - bz);
                store(c, (bi * M + i) * N + j, i, j, acc);
            }
        for (int d = ob - 1; d >= 0; d--) {
            if (++idx[d] < y->dims[d]) break;
            idx[d] = 0;
        }
    }
}

glint_status eng_infer_MatMulInteger(op_ctx *c)
{
    const glint_tensor *a = c->in[0], *b = c->in[1];
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "A and B must be 8-bit integers");
    int64_t rows = a->ndim > 1 ? a->dims[a->ndim - 2] : 1;
    int64_t cols = b->ndim > 1 ? b->dims[b->ndim - 1] : 1;
    const glint_tensor *az = c->n_in > 2 ? c->in[2] : NULL, *bz = c->n_in > 3 ? c->in[3] : NULL;
    if ((az && eng_tensor_count(az) != 1 && eng_tensor_count(az) != rows) ||
        (bz && eng_tensor_count(bz) != 1 && eng_tensor_count(bz) != cols))
        return OP_FAIL(c, GLINT_ERR_SHAPE,
                       "zero points must hold 1 value or one per row of A "
                       "(%lld) / column of B (%lld)",
                       (long long)rows, (long long)cols);
    return eng_matmul_shape(c, c->in[0], c->in[1], GLINT_I32);
}

static void store_mm_i32(op_ctx *c, int64_t i, int64_t row, int64_t col, double acc)
{
    (void)row;
    (void)col;
    ((int32_t *)c->out[0]->data)[i] = (int32_t)saturate(acc, GLINT_I32);
}

glint_status eng_run_MatMulInteger(op_ctx *c)
{
    matmul_int(c, c->in[0], c->n_in > 2 ? c->in[2] : NULL, c->in[1], c->n_in > 3 ? c->in[3] : NULL,
               store_mm_i32);
    return GLINT_OK;
}

glint_status eng_infer_QLinearMatMul(op_ctx *c)
{
    const glint_tensor *a = c->in[0], *b = c->in[3];
    if (!is_q8(a->dtype) || !is_q8(b->dtype) || !is_q8(c->in[7]->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "a, b and y must be 8-bit integers");
    glint_status s;
    int64_t rows = a->ndim > 1 ? a->dims[a->ndim - 2] : 1;
    int64_t cols = b->ndim > 1 ? b->dims[b->ndim - 1] : 1;
    if ((s = check_qparams(c, 1, 2, rows, "a")) || (s = check_qparams(c, 4, 5, cols, "b")) ||
        (s = check_qparams(c, 6, 7, 1, "y")))
        return s;
    return eng_matmul_shape(c, a, b, c->in[7]->dtype);
}

static void store_qlinear_mm(op_ctx *c, int64_t i, int64_t row, int64_t col, double acc)
{
    double mult = (double)(float)qparam(c->in[1], row) * (double)(float)qparam(c->in[4], col) /
                  (double)(float)eng_tensor_get_f(c->in[6], 0);
    glint_tensor *y = c->out[0];
    qset(y, i, saturate(nearbyint(acc * mult) + eng_tensor_get_f(c->in[7], 0), y->dtype));
}

glint_status eng_run_QLinearMatMul(op_ctx *c)
{
    matmul_int(c, c->in[0], c->in[2], c->in[3], c->in[5], store_qlinear_mm);
    return GLINT_OK;
}

/* ---- GlintQConv: a Conv whose input went through QuantizeLinear ->
 * DequantizeLinear and whose weights are s8 with a DequantizeLinear, folded
 * into one node by passes.c (fold_qdq_conv). Inputs: x (float, or u8
 * already quantized with x_scale and x_zero_point), x_scale, x_zero_point
 * (u8, may be absent), w (s8), w_scale (1 or one per output channel),
 * w_zero_point (must be 0, may be absent), bias (float, may be absent),
 * then optionally y_scale and y_zero_point (u8, may be absent); Conv's
 * attributes and fused post-ops. Output: float, exactly Conv(DQ(Q(x)),
 * DQ(w)) + bias after the post-ops, or with y_scale, that quantized to u8
 * (QuantizeLinear(y, y_scale, y_zero_point)). */

static bool qconv_u8_out(const op_ctx *c)
{
    return c->n_in > 7 && c->in[7];
}

glint_status eng_infer_GlintQConv(op_ctx *c)
{
    if (c->in[0]->dtype != GLINT_F32 && c->in[0]->dtype != GLINT_U8)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "input must be float32 or u8");
    const glint_tensor *w = c->in[3];
    if (w->dtype != GLINT_I8 || w->ndim < 3)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "weights must be s8");
    glint_status s;
    if (qconv_u8_out(c) && (s = check_qparams(c, 7, 8, 1, "y"))) return s;
    if (qconv_u8_out(c) && c->n_in > 8 && c->in[8] && c->in[8]->dtype != GLINT_U8)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "y_zero_point must be u8");
    return eng_conv_shape(c, w, qconv_u8_out(c) ? GLINT_U8 : GLINT_F32);
}

/* Where store_qconv writes the float results of the run on this thread:
 * the output, or before a u8 output, a float temporary. */
static _Thread_local float *qconv_f32_dst;

static void store_qconv(op_ctx *c, int64_t i, int64_t m, double acc)
{
    const glint_tensor *b = c->n_in > 6 ? c->in[6] : NULL;
    double sx = (float)eng_tensor_get_f(c->in[1], 0), sw = (float)qparam(c->in[4], m);
    qconv_f32_dst[i] = (float)(acc * sx * sw + (b ? eng_tensor_get_f(b, m) : 0));
}

glint_status eng_run_GlintQConv(op_ctx *c)
{
    double zp = c->in[2] ? eng_tensor_get_f(c->in[2], 0) : 0;
    double x_scale = c->in[0]->dtype == GLINT_U8 ? 0 : eng_tensor_get_f(c->in[1], 0);
    int64_t count = eng_tensor_count(c->out[0]);
    float *y = c->out[0]->data;
    if (qconv_u8_out(c)) {
        /* the reference kernel: one float temporary per run (it is a checker,
         * not the hot path) */
        if (!(y = malloc((size_t)(count ? count : 1) * sizeof *y)))
            return OP_FAIL(c, GLINT_ERR_NOMEM, "out of memory");
    }
    qconv_f32_dst = y;
    glint_status s =
        eng_conv_int_run(c, c->in[3], x_scale, zp, c->n_in > 5 ? c->in[5] : NULL, store_qconv);
    if (!s) eng_post_apply(y, count, c->n->post, c->n->n_post, c->sum ? c->sum->data : NULL);
    if (!s && qconv_u8_out(c)) {
        const glint_tensor *ys = c->in[7], *yz = c->n_in > 8 ? c->in[8] : NULL;
        float scale = (float)eng_tensor_get_f(ys, 0);
        double z = yz ? eng_tensor_get_f(yz, 0) : 0;
        for (int64_t i = 0; i < count; i++)
            qset(c->out[0], i, saturate(nearbyint(y[i] / scale) + z, GLINT_U8));
    }
    if (y != c->out[0]->data) free(y);
    return s;
}
