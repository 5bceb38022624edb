/* Reference kernels of the smaller operators exporters emit around vision
 * models: Trilu (attention masks), CumSum (DETR's position embedding),
 * Hardmax, IsInf/IsNaN, DepthToSpace/SpaceToDepth (PixelShuffle), EyeLike
 * and OneHot. Each follows its ONNX operator spec; all types are moved by
 * element size, values through the double accessors. */
#include "ops_impl.h"

#include <math.h>
#include <string.h>

/* ---- Trilu: the upper (j - i >= k) or lower (j - i <= k) triangle of the
 * last two axes; the rest zero ---- */
glint_status eng_infer_Trilu(op_ctx *c)
{
    if (c->in[0]->ndim < 2) return OP_FAIL(c, GLINT_ERR_SHAPE, "input has rank < 2");
    if (c->n_in > 1 && c->in[1] && eng_tensor_count(c->in[1]) != 1)
        return OP_FAIL(c, GLINT_ERR_INVALID, "k is not one value");
    eng_set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_run_Trilu(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *y = c->out[0];
    int64_t k = c->n_in > 1 && c->in[1] ? eng_tensor_get_i(c->in[1], 0) : 0;
    bool upper = eng_attr_i(c->n, "upper", 1) != 0;
    int64_t rows = x->dims[x->ndim - 2], cols = x->dims[x->ndim - 1];
    int64_t mats = rows > 0 && cols > 0 ? eng_tensor_count(x) / (rows * cols) : 0;
    size_t es = glint_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = y->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                size_t at = (size_t)((m * rows + i) * cols + j) * es;
                bool keep = upper ? j - i >= k : j - i <= k;
                if (keep)
                    memcpy(dst + at, src + at, es);
                else
                    memset(dst + at, 0, es);
            }
    return GLINT_OK;
}

/* ---- CumSum along a constant or run-time axis; exclusive, reverse ---- */
glint_status eng_infer_CumSum(op_ctx *c)
{
    glint_dtype t = c->in[0]->dtype;
    if (t != GLINT_F32 && t != GLINT_F64 && t != GLINT_I32 && t != GLINT_I64)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(t));
    if (eng_tensor_count(c->in[1]) != 1)
        return OP_FAIL(c, GLINT_ERR_INVALID, "axis is not one value");
    eng_set_out(c, 0, t, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_run_CumSum(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *y = c->out[0];
    int a = eng_norm_axis(eng_tensor_get_i(c->in[1], 0), x->ndim);
    if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "axis out of range");
    bool excl = eng_attr_i(c->n, "exclusive", 0) != 0, rev = eng_attr_i(c->n, "reverse", 0) != 0;
    int64_t n = x->dims[a], inner = 1, outer = 1;
    for (int d = a + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    for (int d = 0; d < a; d++)
        outer *= x->dims[d];
    bool ints = eng_is_int_type(x->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            double acc = 0;
            int64_t iacc = 0;
            for (int64_t s = 0; s < n; s++) {
                int64_t i = rev ? n - 1 - s : s;
                int64_t at = (o * n + i) * inner + j;
                if (ints) {
                    int64_t v = eng_tensor_get_i(x, at);
                    if (!excl) iacc += v;
                    eng_tensor_set_i(y, at, iacc);
                    if (excl) iacc += v;
                } else {
                    double v = eng_tensor_get_f(x, at);
                    if (!excl) acc += v;
                    eng_tensor_set_f(y, at, acc);
                    if (excl) acc += v;
                }
            }
        }
    return GLINT_OK;
}

/* ---- Hardmax: 1 at the first maximum along the axis (before opset 13, of
 * the input flattened to 2-D at the axis) ---- */
glint_status eng_infer_Hardmax(op_ctx *c)
{
    glint_dtype t = c->in[0]->dtype;
    if (t != GLINT_F32 && t != GLINT_F64)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(t));
    int64_t axis = eng_attr_i(c->n, "axis", c->opset >= 13 ? -1 : 1);
    if (eng_norm_axis(axis, c->in[0]->ndim) < 0 && !(c->opset < 13 && axis == c->in[0]->ndim))
        return OP_FAIL(c, GLINT_ERR_INVALID, "axis %lld out of range", (long long)axis);
    eng_set_out(c, 0, t, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_run_Hardmax(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *y = c->out[0];
    int64_t axis = eng_attr_i(c->n, "axis", c->opset >= 13 ? -1 : 1);
    int a = axis == x->ndim ? x->ndim : eng_norm_axis(axis, x->ndim);
    int64_t n = 1, inner = 1, outer = 1;
    if (c->opset >= 13) {
        n = x->dims[a];
        for (int d = a + 1; d < x->ndim; d++)
            inner *= x->dims[d];
        for (int d = 0; d < a; d++)
            outer *= x->dims[d];
    } else { /* [prod(dims[:a]), prod(dims[a:])], the max over each row */
        for (int d = a; d < x->ndim; d++)
            n *= x->dims[d];
        for (int d = 0; d < a; d++)
            outer *= x->dims[d];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t best = 0;
            double bv = -INFINITY;
            for (int64_t i = 0; i < n; i++) {
                double v = eng_tensor_get_f(x, (o * n + i) * inner + j);
                if (v > bv) {
                    bv = v;
                    best = i;
                }
                eng_tensor_set_f(y, (o * n + i) * inner + j, 0);
            }
            if (n) eng_tensor_set_f(y, (o * n + best) * inner + j, 1);
        }
    return GLINT_OK;
}

/* ---- IsInf, IsNaN -> bool ---- */
static glint_status infer_isclass(op_ctx *c)
{
    glint_dtype t = c->in[0]->dtype;
    if (t != GLINT_F32 && t != GLINT_F64)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(t));
    eng_set_out(c, 0, GLINT_BOOL, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_infer_IsInf(op_ctx *c)
{
    return infer_isclass(c);
}

glint_status eng_infer_IsNaN(op_ctx *c)
{
    return infer_isclass(c);
}

glint_status eng_run_IsInf(op_ctx *c)
{
    bool neg = eng_attr_i(c->n, "detect_negative", 1) != 0;
    bool pos = eng_attr_i(c->n, "detect_positive", 1) != 0;
    int64_t n = eng_tensor_count(c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        double v = eng_tensor_get_f(c->in[0], i);
        ((uint8_t *)c->out[0]->data)[i] = isinf(v) && (v > 0 ? pos : neg);
    }
    return GLINT_OK;
}

glint_status eng_run_IsNaN(op_ctx *c)
{
    int64_t n = eng_tensor_count(c->in[0]);
    for (int64_t i = 0; i < n; i++)
        ((uint8_t *)c->out[0]->data)[i] = isnan(eng_tensor_get_f(c->in[0], i));
    return GLINT_OK;
}

/* ---- DepthToSpace (DCR or CRD) and SpaceToDepth on [N, C, H, W] ---- */
static glint_status block_size(op_ctx *c, int64_t *b)
{
    *b = eng_attr_i(c->n, "blocksize", 0);
    if (c->in[0]->ndim != 4) return OP_FAIL(c, GLINT_ERR_SHAPE, "input is not [N,C,H,W]");
    if (*b < 1 || *b > 4096) return OP_FAIL(c, GLINT_ERR_INVALID, "blocksize %lld", (long long)*b);
    return GLINT_OK;
}

glint_status eng_infer_DepthToSpace(op_ctx *c)
{
    int64_t b;
    glint_status s = block_size(c, &b);
    if (s) return s;
    const int64_t *d = c->in[0]->dims;
    if (d[1] % (b * b))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "channels %lld not a multiple of %lld", (long long)d[1],
                       (long long)(b * b));
    int64_t o[4] = {d[0], d[1] / (b * b), d[2] * b, d[3] * b};
    eng_set_out(c, 0, c->in[0]->dtype, 4, o);
    return GLINT_OK;
}

glint_status eng_infer_SpaceToDepth(op_ctx *c)
{
    int64_t b;
    glint_status s = block_size(c, &b);
    if (s) return s;
    const int64_t *d = c->in[0]->dims;
    if (d[2] % b || d[3] % b)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "height or width not a multiple of %lld", (long long)b);
    int64_t o[4] = {d[0], d[1] * b * b, d[2] / b, d[3] / b};
    eng_set_out(c, 0, c->in[0]->dtype, 4, o);
    return GLINT_OK;
}

/* Moves element (n, cd, h, w) of the deep tensor [N, C*b*b, H, W] to or
 * from (n, c, h*b + i, w*b + j) of the wide one; DCR: cd = (i*b + j)*C + c,
 * CRD: cd = (c*b + i)*b + j. */
static void depth_space(op_ctx *c, bool to_space, bool crd)
{
    const glint_tensor *x = c->in[0], *y = c->out[0];
    const glint_tensor *deep = to_space ? x : y, *wide = to_space ? y : x;
    int64_t b = eng_attr_i(c->n, "blocksize", 1);
    int64_t N = wide->dims[0], C = wide->dims[1], H = deep->dims[2], W = deep->dims[3];
    int64_t CD = deep->dims[1], HW = wide->dims[2], WW = wide->dims[3];
    size_t es = glint_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = y->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t cc = 0; cc < C; cc++)
            for (int64_t i = 0; i < b; i++)
                for (int64_t j = 0; j < b; j++) {
                    int64_t cd = crd ? (cc * b + i) * b + j : (i * b + j) * C + cc;
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++) {
                            int64_t d_at = ((n * CD + cd) * H + h) * W + w;
                            int64_t w_at = ((n * C + cc) * HW + h * b + i) * WW + w * b + j;
                            int64_t from = to_space ? d_at : w_at, to = to_space ? w_at : d_at;
                            memcpy(dst + (size_t)to * es, src + (size_t)from * es, es);
                        }
                }
}

glint_status eng_run_DepthToSpace(op_ctx *c)
{
    depth_space(c, true, !strcmp(eng_attr_s(c->n, "mode", "DCR"), "CRD"));
    return GLINT_OK;
}

glint_status eng_run_SpaceToDepth(op_ctx *c)
{
    depth_space(c, false, false);
    return GLINT_OK;
}

/* ---- EyeLike: ones on the k-th diagonal of a 2-D shape ---- */
static glint_dtype eye_type(const op_ctx *c)
{
    int64_t dt = eng_attr_i(c->n, "dtype", -1); /* glint's dtypes are ONNX's numbers */
    return dt < 0 ? c->in[0]->dtype : (glint_dtype)dt;
}

glint_status eng_infer_EyeLike(op_ctx *c)
{
    if (c->in[0]->ndim != 2) return OP_FAIL(c, GLINT_ERR_SHAPE, "input is not 2-D");
    glint_dtype t = eye_type(c);
    if (!glint_dtype_size(t)) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "dtype %d", (int)t);
    eng_set_out(c, 0, t, 2, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_run_EyeLike(op_ctx *c)
{
    glint_tensor *y = c->out[0];
    int64_t k = eng_attr_i(c->n, "k", 0), r = y->dims[0], cols = y->dims[1];
    memset(y->data, 0, (size_t)eng_tensor_count(y) * glint_dtype_size(y->dtype));
    for (int64_t i = 0; i < r; i++)
        if (i + k >= 0 && i + k < cols) eng_tensor_set_f(y, i * cols + i + k, 1);
    return GLINT_OK;
}

/* ---- OneHot: indices (negative count from depth) -> values[1] at the
 * index along the new axis, values[0] elsewhere ---- */
glint_status eng_infer_OneHot(op_ctx *c)
{
    glint_status s = eng_need_const(c, 1, "depth");
    if (s) return s;
    const glint_tensor *ind = c->in[0], *vals = c->in[2];
    if (eng_tensor_count(c->in[1]) != 1 || eng_tensor_count(vals) != 2)
        return OP_FAIL(c, GLINT_ERR_INVALID, "depth must be one value and values two");
    double depth = eng_tensor_get_f(c->in[1], 0);
    if (!(depth >= 1 && depth <= (1 << 24)))
        return OP_FAIL(c, GLINT_ERR_INVALID, "depth %g", depth);
    if (ind->ndim + 1 > MAXD) return OP_FAIL(c, GLINT_ERR_SHAPE, "rank too large");
    int a = eng_norm_axis(eng_attr_i(c->n, "axis", -1), ind->ndim + 1);
    if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "axis out of range");
    int64_t d[MAXD];
    for (int i = 0, j = 0; i <= ind->ndim; i++)
        d[i] = i == a ? (int64_t)depth : ind->dims[j++];
    eng_set_out(c, 0, vals->dtype, ind->ndim + 1, d);
    return GLINT_OK;
}

glint_status eng_run_OneHot(op_ctx *c)
{
    const glint_tensor *ind = c->in[0], *vals = c->in[2];
    glint_tensor *y = c->out[0];
    int a = eng_norm_axis(eng_attr_i(c->n, "axis", -1), ind->ndim + 1);
    int64_t depth = y->dims[a], inner = 1, outer = 1;
    for (int d = a; d < ind->ndim; d++)
        inner *= ind->dims[d];
    for (int d = 0; d < a; d++)
        outer *= ind->dims[d];
    double off = eng_tensor_get_f(vals, 0), on = eng_tensor_get_f(vals, 1);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t hot = (int64_t)eng_tensor_get_f(ind, o * inner + j);
            if (hot < 0) hot += depth;
            for (int64_t k = 0; k < depth; k++)
                eng_tensor_set_f(y, (o * depth + k) * inner + j, k == hot ? on : off);
        }
    return GLINT_OK;
}
