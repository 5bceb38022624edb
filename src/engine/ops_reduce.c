/* Operators that reduce along axes: Softmax / LogSoftmax, ReduceMean /
 * Sum / Max / Min, ArgMax / ArgMin, and GlintDFL (the expected bin of a
 * softmax, folded by passes.c) — shape functions and plain C reference
 * kernels. */
#include "ops_impl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Softmax / LogSoftmax ---- */
static glint_status infer_softmax(op_ctx *c)
{
    glint_status s = eng_need_f32(c, 0);
    if (s) return s;
    int64_t axis = eng_attr_i(c->n, "axis", c->opset < 13 ? 1 : -1);
    if (eng_norm_axis(axis, c->in[0]->ndim) < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    eng_set_out(c, 0, GLINT_F32, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_infer_Softmax(op_ctx *c)
{
    return infer_softmax(c);
}

glint_status eng_infer_LogSoftmax(op_ctx *c)
{
    return infer_softmax(c);
}

static void softmax_run(op_ctx *c, bool log_mode)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", c->opset < 13 ? 1 : -1), x->ndim);
    int64_t outer, n, inner;
    if (c->opset < 13) { /* coerced to 2-D at axis */
        outer = eng_dims_count(x->dims, axis);
        n = eng_dims_count(x->dims + axis, x->ndim - axis);
        inner = 1;
    } else {
        outer = eng_dims_count(x->dims, axis);
        n = x->dims[axis];
        inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    }
    const float *X = x->data;
    float *Y = c->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xp = X + o * n * inner + i;
            float *yp = Y + o * n * inner + i;
            float mx = -INFINITY;
            for (int64_t k = 0; k < n; k++)
                mx = xp[k * inner] > mx ? xp[k * inner] : mx;
            float sum = 0;
            for (int64_t k = 0; k < n; k++) {
                float e = expf(xp[k * inner] - mx);
                yp[k * inner] = e;
                sum += e;
            }
            if (log_mode) {
                float ls = logf(sum);
                for (int64_t k = 0; k < n; k++)
                    yp[k * inner] = xp[k * inner] - mx - ls;
            } else {
                float inv = 1.0f / sum;
                for (int64_t k = 0; k < n; k++)
                    yp[k * inner] *= inv;
            }
        }
}

glint_status eng_run_Softmax(op_ctx *c)
{
    softmax_run(c, false);
    return GLINT_OK;
}

glint_status eng_run_LogSoftmax(op_ctx *c)
{
    softmax_run(c, true);
    return GLINT_OK;
}

/* ---- reductions ---- */
static glint_status reduce_axes(op_ctx *c, bool *red, bool *noop)
{
    const glint_tensor *x = c->in[0];
    int64_t axes[MAXD];
    int n = 0;
    bool axes_input = (c->n->op == OP_ReduceSum && c->opset >= 13) || c->opset >= 18;
    if (axes_input && c->n_in > 1 && c->in[1]) {
        glint_status s = eng_need_const(c, 1, "axes");
        if (s) return s;
        n = (int)eng_tensor_count(c->in[1]);
        if (n > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < n; i++)
            axes[i] = eng_tensor_get_i(c->in[1], i);
    } else {
        const int64_t *v;
        n = eng_attr_ints(c->n, "axes", &v);
        if (n > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < n; i++)
            axes[i] = v[i];
    }
    *noop = n == 0 && eng_attr_i(c->n, "noop_with_empty_axes", 0);
    for (int i = 0; i < x->ndim; i++)
        red[i] = n == 0 && !*noop;
    for (int i = 0; i < n; i++) {
        int a = eng_norm_axis(axes[i], x->ndim);
        if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis %lld", (long long)axes[i]);
        red[a] = true;
    }
    return GLINT_OK;
}

static glint_status infer_reduce(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    if (x->dtype != GLINT_F32 && x->dtype != GLINT_I64 && x->dtype != GLINT_I32 &&
        x->dtype != GLINT_F64)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(x->dtype));
    bool red[MAXD], noop;
    glint_status s = reduce_axes(c, red, &noop);
    if (s) return s;
    bool keep = eng_attr_i(c->n, "keepdims", 1) != 0;
    int64_t dims[MAXD];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!red[i])
            dims[nd++] = x->dims[i];
        else if (keep)
            dims[nd++] = 1;
    eng_set_out(c, 0, x->dtype, nd, dims);
    return GLINT_OK;
}

/* Reduction kinds: the sums of a term (mean, sum, L1, L2, log-sum,
 * log-sum-exp, sum of squares) and the others (max, min, product). */
enum { R_MEAN, R_SUM, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ };

/* The running reduction of kind. */
static inline double reduce_step(int kind, double acc, double v)
{
    switch (kind) {
    case R_MAX:
        return v > acc ? v : acc;
    case R_MIN:
        return v < acc ? v : acc;
    case R_PROD:
        return acc * v;
    case R_L1:
        return acc + fabs(v);
    case R_L2:
    case R_SUMSQ:
        return acc + v * v;
    case R_LOGSUMEXP:
        return acc + exp(v);
    default:
        return acc + v;
    }
}

/* The reduction of n elements from its running value. */
static inline double reduce_end(int kind, double acc, double n)
{
    switch (kind) {
    case R_MEAN:
        return acc / n;
    case R_L2:
        return sqrt(acc);
    case R_LOGSUM:
    case R_LOGSUMEXP:
        return log(acc);
    default:
        return acc;
    }
}

static glint_status run_reduce(op_ctx *c, int kind)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *o = c->out[0];
    bool red[MAXD], noop;
    reduce_axes(c, red, &noop);
    int64_t ocount = eng_tensor_count(o), xcount = eng_tensor_count(x);
    /* output strides laid over the input's dims (0 on reduced axes) */
    int64_t ost[MAXD], s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        ost[i] = red[i] ? 0 : s;
        s *= red[i] ? 1 : x->dims[i];
    }
    double init = kind == R_MAX ? -INFINITY : kind == R_MIN ? INFINITY : kind == R_PROD ? 1 : 0;
    bool last_only =
        x->ndim > 0 && red[x->ndim - 1] && x->dtype == GLINT_F32 && x->dims[x->ndim - 1];
    for (int i = 0; i + 1 < x->ndim; i++)
        last_only &= !red[i];
    if (last_only) { /* rows of the last axis, contiguous (YOLOv10's best class score) */
        int64_t n = x->dims[x->ndim - 1];
        const float *X = x->data;
        float *O = o->data;
        for (int64_t r = 0; r < ocount; r++) {
            const float *row = X + r * n;
            double acc = init;
            if (kind <= R_SUM)
                for (int64_t j = 0; j < n; j++)
                    acc += row[j];
            else
                for (int64_t j = 0; j < n; j++)
                    acc = reduce_step(kind, acc, row[j]);
            O[r] = (float)reduce_end(kind, acc, (double)n);
        }
        return GLINT_OK;
    }
    for (int64_t i = 0; i < ocount; i++)
        eng_tensor_set_f(o, i, init);
    int64_t idx[MAXD] = {0}, off = 0;
    bool f32 = x->dtype == GLINT_F32;
    for (int64_t i = 0; i < xcount; i++) {
        double v = f32 ? ((const float *)x->data)[i] : eng_tensor_get_f(x, i);
        double cur = f32 ? ((float *)o->data)[off] : eng_tensor_get_f(o, off);
        double r = reduce_step(kind, cur, v);
        if (f32)
            ((float *)o->data)[off] = (float)r;
        else
            eng_tensor_set_f(o, off, r);
        for (int d = x->ndim - 1; d >= 0; d--) {
            idx[d]++;
            off += ost[d];
            if (idx[d] < x->dims[d]) break;
            off -= ost[d] * x->dims[d];
            idx[d] = 0;
        }
    }
    if (kind != R_SUM && kind != R_MAX && kind != R_MIN && kind != R_PROD && kind != R_L1 &&
        kind != R_SUMSQ) {
        double n = (double)xcount / (double)(ocount ? ocount : 1);
        for (int64_t i = 0; i < ocount; i++)
            eng_tensor_set_f(o, i, reduce_end(kind, eng_tensor_get_f(o, i), n));
    }
    return GLINT_OK;
}

glint_status eng_infer_ReduceMean(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_infer_ReduceSum(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_infer_ReduceMax(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_infer_ReduceMin(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_run_ReduceMean(op_ctx *c)
{
    return run_reduce(c, R_MEAN);
}
glint_status eng_run_ReduceSum(op_ctx *c)
{
    return run_reduce(c, R_SUM);
}
glint_status eng_run_ReduceMax(op_ctx *c)
{
    return run_reduce(c, R_MAX);
}
glint_status eng_run_ReduceMin(op_ctx *c)
{
    return run_reduce(c, R_MIN);
}
glint_status eng_infer_ReduceProd(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_run_ReduceProd(op_ctx *c)
{
    return run_reduce(c, R_PROD);
}
#define REDUCE_OP(name, kind)                                                                      \
    glint_status eng_infer_##name(op_ctx *c)                                                       \
    {                                                                                              \
        return infer_reduce(c);                                                                    \
    }                                                                                              \
    glint_status eng_run_##name(op_ctx *c)                                                         \
    {                                                                                              \
        return run_reduce(c, kind);                                                                \
    }
REDUCE_OP(ReduceL1, R_L1)
REDUCE_OP(ReduceL2, R_L2)
REDUCE_OP(ReduceLogSum, R_LOGSUM)
REDUCE_OP(ReduceLogSumExp, R_LOGSUMEXP)
REDUCE_OP(ReduceSumSquare, R_SUMSQ)
#undef REDUCE_OP

/* ---- GlintDFL: the expected bin of a softmax over R bins (passes.c
 * fold_dfl). x [N, A, R, L] -> y [N, 1, A, L], y = sum_i i * softmax_i(x[n,
 * a, :, l]). */
glint_status eng_infer_GlintDFL(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    if (x->dtype != GLINT_F32) return eng_need_f32(c, 0);
    if (x->ndim != 4) return OP_FAIL(c, GLINT_ERR_SHAPE, "input rank %d, want 4", x->ndim);
    int64_t dims[4] = {x->dims[0], 1, x->dims[1], x->dims[3]};
    eng_set_out(c, 0, GLINT_F32, 4, dims);
    return GLINT_OK;
}

glint_status eng_run_GlintDFL(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t rows = x->dims[0] * x->dims[1], R = x->dims[2], L = x->dims[3];
    const float *X = x->data;
    float *Y = c->out[0]->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t l = 0; l < L; l++) {
            const float *p = X + r * R * L + l;
            float m = -INFINITY;
            for (int64_t i = 0; i < R; i++)
                m = p[i * L] > m ? p[i * L] : m;
            double sum = 0, wsum = 0;
            for (int64_t i = 0; i < R; i++) {
                double e = exp((double)p[i * L] - m);
                sum += e;
                wsum += e * (double)i;
            }
            Y[r * L + l] = R ? (float)(wsum / sum) : 0.0f;
        }
    return GLINT_OK;
}

/* ---- ArgMax / ArgMin ---- */
glint_status eng_infer_argmax(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0 || x->dims[axis] == 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad or empty axis");
    int64_t dims[MAXD];
    int nd = 0;
    bool keep = eng_attr_i(c->n, "keepdims", 1) != 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != axis)
            dims[nd++] = x->dims[i];
        else if (keep)
            dims[nd++] = 1;
    eng_set_out(c, 0, GLINT_I64, nd, dims);
    return GLINT_OK;
}

glint_status eng_run_argmax(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    bool is_min = c->n->op == OP_ArgMin;
    bool last = eng_attr_i(c->n, "select_last_index", 0) != 0;
    int64_t outer = eng_dims_count(x->dims, axis), n = x->dims[axis];
    int64_t inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    int64_t *o = c->out[0]->data;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t b = 0; b < inner; b++) {
            int64_t best = 0;
            double bv = eng_tensor_get_f(x, a * n * inner + b);
            for (int64_t k = 1; k < n; k++) {
                double v = eng_tensor_get_f(x, (a * n + k) * inner + b);
                bool better =
                    is_min ? (v < bv || (last && v == bv)) : (v > bv || (last && v == bv));
                if (better) {
                    bv = v;
                    best = k;
                }
            }
            o[a * inner + b] = best;
        }
    return GLINT_OK;
}
