/* Selection and indexing by computed indices: TopK, GatherElements,
 * GatherND, ScatterND — shape functions and plain C reference kernels. These carry
 * detection heads that pick their own boxes (YOLOv10's end-to-end export,
 * DETR-style decoders). */
#include "ops_impl.h"

#include <stdlib.h>
#include <string.h>

/* Element i of integer index tensor ix, with negatives counted from the end
 * of an axis of size dim; -1 when out of range. */
static int64_t index_at(const glint_tensor *ix, int64_t i, int64_t dim)
{
    int64_t v = eng_tensor_get_i(ix, i);
    if (v < 0) v += dim;
    return v < 0 || v >= dim ? -1 : v;
}

static bool is_index_type(glint_dtype t)
{
    return t == GLINT_I64 || t == GLINT_I32;
}

/* ---- TopK (opset 1: attribute k; 10+: input K) ---- */
static int64_t topk_k(const op_ctx *c)
{
    if (c->n_in > 1 && c->in[1]) return eng_tensor_get_i(c->in[1], 0);
    return eng_attr_i(c->n, "k", -1);
}

glint_status eng_infer_TopK(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    if (c->n_in > 1 && c->in[1]) {
        glint_status s = eng_need_const(c, 1, "K");
        if (s) return s;
        if (eng_tensor_count(c->in[1]) != 1 || !is_index_type(c->in[1]->dtype))
            return OP_FAIL(c, GLINT_ERR_INVALID, "K must be one int64");
    }
    if (x->dtype != GLINT_F32 && !eng_is_int_type(x->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s is not supported",
                       glint_dtype_name(x->dtype));
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", -1), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    int64_t k = topk_k(c);
    if (k < 0 || k > x->dims[axis])
        return OP_FAIL(c, GLINT_ERR_INVALID, "k %lld is outside 0..%lld", (long long)k,
                       (long long)x->dims[axis]);
    int64_t dims[MAXD];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = k;
    eng_set_out(c, 0, x->dtype, x->ndim, dims);
    if (c->n_out > 1) eng_set_out(c, 1, GLINT_I64, x->ndim, dims);
    return GLINT_OK;
}

typedef struct topk_item {
    double v;
    int64_t i;
} topk_item;

static int by_largest(const void *a, const void *b)
{
    const topk_item *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* ties: the lower index first */
}

static int by_smallest(const void *a, const void *b)
{
    const topk_item *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Whether a ranks after b (the heap keeps the worst of the k best on top). */
static bool after(const topk_item *a, const topk_item *b, bool largest)
{
    return (largest ? by_largest(a, b) : by_smallest(a, b)) > 0;
}

static void sift_down(topk_item *h, int64_t n, int64_t i, bool largest)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && after(&h[l], &h[w], largest)) w = l;
        if (r < n && after(&h[r], &h[w], largest)) w = r;
        if (w == i) return;
        topk_item t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* The k best of it[0..n) into it[0..k), sorted: a heap of the k best seen,
 * the worst on top, then a sort of those k. O(n log k). */
static void select_k(topk_item *it, int64_t n, int64_t k, bool largest)
{
    if (k == 0) return;
    for (int64_t i = k / 2 - 1; i >= 0; i--)
        sift_down(it, k, i, largest);
    for (int64_t j = k; j < n; j++)
        if (after(&it[0], &it[j], largest)) {
            it[0] = it[j];
            sift_down(it, k, 0, largest);
        }
    qsort(it, (size_t)k, sizeof *it, largest ? by_largest : by_smallest);
}

/* Selects in every slice along the axis with a scratch array of the axis'
 * length (the reference kernel may allocate; backends do not). NaN compares
 * as neither larger nor smaller. */
glint_status eng_run_TopK(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *vals = c->out[0], *idx = c->n_out > 1 ? c->out[1] : NULL;
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", -1), x->ndim);
    bool largest = eng_attr_i(c->n, "largest", 1) != 0;
    int64_t k = topk_k(c), n = x->dims[axis];
    int64_t outer = eng_dims_count(x->dims, axis);
    int64_t inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    topk_item *it = malloc((size_t)(n ? n : 1) * sizeof *it);
    if (!it) return OP_FAIL(c, GLINT_ERR_NOMEM, "out of memory");
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < inner; r++) {
            for (int64_t j = 0; j < n; j++) {
                it[j].v = eng_tensor_get_f(x, (o * n + j) * inner + r);
                it[j].i = j;
            }
            select_k(it, n, k, largest);
            for (int64_t j = 0; j < k; j++) {
                int64_t at = (o * k + j) * inner + r;
                if (x->dtype == GLINT_F32)
                    ((float *)vals->data)[at] = (float)it[j].v;
                else
                    eng_tensor_set_i(vals, at, eng_tensor_get_i(x, (o * n + it[j].i) * inner + r));
                if (idx) ((int64_t *)idx->data)[at] = it[j].i;
            }
        }
    free(it);
    return GLINT_OK;
}

/* ---- GatherElements ---- */
glint_status eng_infer_GatherElements(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    if (!is_index_type(ix->dtype))
        return OP_FAIL(c, GLINT_ERR_INVALID, "indices must be int32/int64");
    if (ix->ndim != x->ndim) return OP_FAIL(c, GLINT_ERR_SHAPE, "indices rank differs from data's");
    for (int d = 0; d < x->ndim; d++)
        if (d != axis && ix->dims[d] > x->dims[d])
            return OP_FAIL(c, GLINT_ERR_SHAPE,
                           "indices axis %d (%lld) is longer than data's (%lld)", d,
                           (long long)ix->dims[d], (long long)x->dims[d]);
    eng_set_out(c, 0, x->dtype, ix->ndim, ix->dims);
    return GLINT_OK;
}

glint_status eng_run_GatherElements(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim), nd = x->ndim;
    size_t es = glint_dtype_size(x->dtype);
    int64_t xs[MAXD], count = eng_tensor_count(ix), pos[MAXD] = {0};
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        xs[d] = s;
        s *= x->dims[d];
    }
    char *o = c->out[0]->data;
    for (int64_t e = 0; e < count; e++) {
        int64_t at = index_at(ix, e, x->dims[axis]);
        if (at < 0)
            return OP_FAIL(c, GLINT_ERR_INVALID, "index %lld is outside axis %d of %lld",
                           (long long)eng_tensor_get_i(ix, e), axis, (long long)x->dims[axis]);
        int64_t src = 0;
        for (int d = 0; d < nd; d++)
            src += (d == axis ? at : pos[d]) * xs[d];
        memcpy(o + (size_t)e * es, (const char *)x->data + (size_t)src * es, es);
        for (int d = nd - 1; d >= 0; d--) {
            if (++pos[d] < ix->dims[d]) break;
            pos[d] = 0;
        }
    }
    return GLINT_OK;
}

/* ---- GatherND (opset 11, 12+: batch_dims) ---- */
glint_status eng_infer_GatherND(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int64_t b = eng_attr_i(c->n, "batch_dims", 0);
    if (ix->dtype != GLINT_I64) return OP_FAIL(c, GLINT_ERR_INVALID, "indices must be int64");
    if (ix->ndim < 1 || x->ndim < 1 || b < 0 || b >= ix->ndim || b >= x->ndim)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "bad ranks or batch_dims");
    int64_t last = ix->dims[ix->ndim - 1];
    if (last < 1 || b + last > x->ndim)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "indices' last axis %lld does not fit data of rank %d",
                       (long long)last, x->ndim);
    for (int d = 0; d < b; d++)
        if (ix->dims[d] != x->dims[d]) return OP_FAIL(c, GLINT_ERR_SHAPE, "batch axes differ");
    int64_t dims[MAXD];
    int nd = 0;
    for (int d = 0; d < ix->ndim - 1; d++)
        dims[nd++] = ix->dims[d];
    for (int64_t d = b + last; d < x->ndim; d++) {
        if (nd >= MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
        dims[nd++] = x->dims[d];
    }
    eng_set_out(c, 0, x->dtype, nd, dims);
    return GLINT_OK;
}

glint_status eng_run_GatherND(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int b = (int)eng_attr_i(c->n, "batch_dims", 0);
    int64_t last = ix->dims[ix->ndim - 1];
    size_t es = glint_dtype_size(x->dtype);
    int64_t slice = eng_dims_count(x->dims + b + last, x->ndim - b - (int)last) * (int64_t)es;
    int64_t batches = eng_dims_count(x->dims, b);
    int64_t per_batch = eng_dims_count(ix->dims + b, ix->ndim - 1 - b); /* index tuples */
    int64_t batch_elems = eng_dims_count(x->dims + b, x->ndim - b) * (int64_t)es;
    char *o = c->out[0]->data;
    for (int64_t bi = 0; bi < batches; bi++)
        for (int64_t t = 0; t < per_batch; t++) {
            int64_t off = 0;
            for (int64_t j = 0; j < last; j++) {
                int64_t dim = x->dims[b + j];
                int64_t at = index_at(ix, (bi * per_batch + t) * last + j, dim);
                if (at < 0)
                    return OP_FAIL(c, GLINT_ERR_INVALID, "index %lld is outside axis %lld of %lld",
                                   (long long)eng_tensor_get_i(ix, (bi * per_batch + t) * last + j),
                                   (long long)(b + j), (long long)dim);
                off = off * dim + at;
            }
            memcpy(o + (bi * per_batch + t) * slice,
                   (const char *)x->data + bi * batch_elems + off * slice, (size_t)slice);
        }
    return GLINT_OK;
}

/* ---- scatter reductions (opset 16+: none, add, mul; 18+: max, min) ---- */
enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

/* The node's reduction; -1 for one that is not known. */
static int scatter_reduction(const op_ctx *c)
{
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    const char *r = eng_attr_s(c->n, "reduction", "none");
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(r, names[i])) return i;
    return -1;
}

static double scatter_reduce(int red, double p, double q)
{
    return red == RED_ADD   ? p + q
           : red == RED_MUL ? p * q
           : red == RED_MAX ? (q > p ? q : p)
                            : (q < p ? q : p);
}

/* ---- ScatterND (opset 11; 16+ and 18+ reductions) ---- */
glint_status eng_infer_ScatterND(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1], *up = c->in[2];
    if (ix->dtype != GLINT_I64) return OP_FAIL(c, GLINT_ERR_INVALID, "indices must be int64");
    if (ix->ndim < 1 || x->ndim < 1) return OP_FAIL(c, GLINT_ERR_SHAPE, "bad ranks");
    int64_t last = ix->dims[ix->ndim - 1];
    if (last < 1 || last > x->ndim)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "indices' last axis %lld does not fit data of rank %d",
                       (long long)last, x->ndim);
    /* updates: indices' shape without its last axis, then data's axes past last */
    int nd = ix->ndim - 1 + x->ndim - (int)last;
    bool ok = up->ndim == nd && up->dtype == x->dtype;
    for (int d = 0; ok && d < ix->ndim - 1; d++)
        ok = up->dims[d] == ix->dims[d];
    for (int d = 0; ok && d < x->ndim - last; d++)
        ok = up->dims[ix->ndim - 1 + d] == x->dims[last + d];
    if (!ok) return OP_FAIL(c, GLINT_ERR_SHAPE, "updates do not match indices and data");
    if (scatter_reduction(c) < 0)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "reduction '%s' is not supported",
                       eng_attr_s(c->n, "reduction", "none"));
    eng_set_out(c, 0, x->dtype, x->ndim, x->dims);
    return GLINT_OK;
}

glint_status eng_run_ScatterND(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1], *up = c->in[2];
    glint_tensor *y = c->out[0];
    int red = scatter_reduction(c);
    int64_t last = ix->dims[ix->ndim - 1];
    int64_t slice = eng_dims_count(x->dims + last, x->ndim - (int)last);
    int64_t tuples = eng_dims_count(ix->dims, ix->ndim - 1);
    size_t es = glint_dtype_size(x->dtype);
    if (y->data != x->data) memcpy(y->data, x->data, eng_tensor_bytes(x));
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        for (int64_t j = 0; j < last; j++) {
            int64_t at = index_at(ix, t * last + j, x->dims[j]);
            if (at < 0)
                return OP_FAIL(c, GLINT_ERR_INVALID, "index %lld is outside axis %lld of %lld",
                               (long long)eng_tensor_get_i(ix, t * last + j), (long long)j,
                               (long long)x->dims[j]);
            off = off * x->dims[j] + at;
        }
        if (!red) {
            memcpy((char *)y->data + (size_t)(off * slice) * es,
                   (const char *)up->data + (size_t)(t * slice) * es, (size_t)slice * es);
            continue;
        }
        for (int64_t k = 0; k < slice; k++) {
            double a = eng_tensor_get_f(y, off * slice + k),
                   b = eng_tensor_get_f(up, t * slice + k);
            eng_tensor_set_f(y, off * slice + k, scatter_reduce(red, a, b));
        }
    }
    return GLINT_OK;
}

/* ---- ScatterElements (and its opset-9 name Scatter): updates written at
 * the positions indices give along `axis` (opset 16+: reduction none, add,
 * mul; 18+: max, min) ---- */
glint_status eng_infer_ScatterElements(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1], *up = c->in[2];
    if (ix->dtype != GLINT_I64 && ix->dtype != GLINT_I32)
        return OP_FAIL(c, GLINT_ERR_INVALID, "indices must be int32 or int64");
    bool ok = ix->ndim == x->ndim && up->ndim == x->ndim && up->dtype == x->dtype;
    for (int d = 0; ok && d < x->ndim; d++)
        ok = ix->dims[d] == up->dims[d] && ix->dims[d] <= x->dims[d];
    if (!ok) return OP_FAIL(c, GLINT_ERR_SHAPE, "indices, updates and data do not match");
    if (eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim) < 0)
        return OP_FAIL(c, GLINT_ERR_INVALID, "axis out of range");
    if (scatter_reduction(c) < 0)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "reduction '%s' is not supported",
                       eng_attr_s(c->n, "reduction", "none"));
    eng_set_out(c, 0, x->dtype, x->ndim, x->dims);
    return GLINT_OK;
}

glint_status eng_run_ScatterElements(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1], *up = c->in[2];
    glint_tensor *y = c->out[0];
    int a = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    int red = scatter_reduction(c);
    size_t es = glint_dtype_size(x->dtype);
    if (y->data != x->data) memcpy(y->data, x->data, eng_tensor_bytes(x));
    int64_t n = eng_tensor_count(ix), idx[MAXD] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t at = index_at(ix, i, x->dims[a]);
        if (at < 0)
            return OP_FAIL(c, GLINT_ERR_INVALID, "index %lld is outside axis %d of %lld",
                           (long long)eng_tensor_get_i(ix, i), a, (long long)x->dims[a]);
        int64_t off = 0;
        for (int d = 0; d < x->ndim; d++)
            off = off * x->dims[d] + (d == a ? at : idx[d]);
        if (red == RED_NONE) {
            memcpy((char *)y->data + (size_t)off * es, (const char *)up->data + (size_t)i * es, es);
        } else {
            eng_tensor_set_f(
                y, off, scatter_reduce(red, eng_tensor_get_f(y, off), eng_tensor_get_f(up, i)));
        }
        for (int d = x->ndim - 1; d >= 0 && ++idx[d] == ix->dims[d]; d--)
            idx[d] = 0;
    }
    return GLINT_OK;
}

/* ---- Compress: the slices along `axis` (else of the flattened input) whose
 * condition is true; the condition may be shorter than the axis ---- */
static int64_t compress_kept(const glint_tensor *cond, int64_t len)
{
    int64_t n = eng_tensor_count(cond) < len ? eng_tensor_count(cond) : len, kept = 0;
    for (int64_t i = 0; i < n; i++)
        kept += eng_tensor_get_i(cond, i) != 0;
    return kept;
}

glint_status eng_infer_Compress(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_status s = eng_need_const(c, 1, "condition");
    if (s) return s;
    if (c->in[1]->ndim != 1) return OP_FAIL(c, GLINT_ERR_SHAPE, "condition is not 1-D");
    if (!eng_node_attr(c->n, "axis")) {
        int64_t d[1] = {compress_kept(c->in[1], eng_tensor_count(x))};
        eng_set_out(c, 0, x->dtype, 1, d);
        return GLINT_OK;
    }
    int a = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "axis out of range");
    int64_t d[MAXD];
    memcpy(d, x->dims, sizeof d);
    d[a] = compress_kept(c->in[1], x->dims[a]);
    eng_set_out(c, 0, x->dtype, x->ndim, d);
    return GLINT_OK;
}

glint_status eng_run_Compress(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *cond = c->in[1];
    glint_tensor *y = c->out[0];
    bool flat = !eng_node_attr(c->n, "axis");
    int a = flat ? 0 : eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    int64_t len = flat ? eng_tensor_count(x) : x->dims[a], inner = 1, outer = 1;
    for (int d = a + 1; !flat && d < x->ndim; d++)
        inner *= x->dims[d];
    for (int d = 0; !flat && d < a; d++)
        outer *= x->dims[d];
    size_t es = glint_dtype_size(x->dtype), row = (size_t)inner * es;
    int64_t n = eng_tensor_count(cond) < len ? eng_tensor_count(cond) : len;
    char *dst = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++)
            if (eng_tensor_get_i(cond, i)) {
                memcpy(dst, (const char *)x->data + (size_t)(o * len + i) * row, row);
                dst += row;
            }
    return GLINT_OK;
}
