/* Views, shapes and data movement: Identity, Reshape, Squeeze..., Shape,
 * Constant, Range, Transpose, Concat, Split, Slice, Gather, Expand, Tile,
 * Pad — shape functions and plain C reference kernels. */
#include "ops_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- views: Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze ---- */
glint_status eng_run_copy(op_ctx *c)
{
    if (c->out[0]->data != c->in[0]->data)
        memcpy(c->out[0]->data, c->in[0]->data, eng_tensor_bytes(c->in[0]));
    return GLINT_OK;
}

glint_status eng_infer_dropout(op_ctx *c)
{
    if (c->n_out > 1) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "the mask output is not supported");
    if (c->n_in > 2 && c->in[2] && (!c->in[2]->data || eng_tensor_get_i(c->in[2], 0)))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "training mode is not supported");
    return eng_infer_same(c);
}

glint_status eng_infer_reshape(op_ctx *c)
{
    glint_status s = eng_need_const(c, 1, "shape");
    if (s) return s;
    const glint_tensor *x = c->in[0], *sh = c->in[1];
    int64_t n = eng_tensor_count(sh);
    if (sh->ndim != 1 || n > MAXD)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "shape must be 1-D of at most %d values", MAXD);
    bool allowzero = eng_attr_i(c->n, "allowzero", 0) != 0;
    int64_t dims[MAXD], known = 1;
    int infer_at = -1;
    for (int i = 0; i < n; i++) {
        dims[i] = eng_tensor_get_i(sh, i);
        if (dims[i] == 0 && !allowzero) {
            if (i >= x->ndim) return OP_FAIL(c, GLINT_ERR_SHAPE, "0 in shape past input rank");
            dims[i] = x->dims[i];
        }
        if (dims[i] == -1) {
            if (infer_at >= 0) return OP_FAIL(c, GLINT_ERR_SHAPE, "two -1 in shape");
            infer_at = i;
        } else if (dims[i] < 0) {
            return OP_FAIL(c, GLINT_ERR_SHAPE, "negative dimension in shape");
        } else {
            if (dims[i] && known > MAX_TENSOR_BYTES / dims[i])
                return OP_FAIL(c, GLINT_ERR_SHAPE, "shape too large");
            known *= dims[i];
        }
    }
    int64_t total = eng_tensor_count(x);
    if (infer_at >= 0) {
        if (known == 0 || total % known)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "cannot infer -1 for %lld elements",
                           (long long)total);
        dims[infer_at] = total / known;
    } else if (known != total) {
        char a[96], b[96];
        return OP_FAIL(c, GLINT_ERR_SHAPE, "cannot reshape %s to %s",
                       eng_dims_str(x->dims, x->ndim, a, sizeof a),
                       eng_dims_str(dims, (int)n, b, sizeof b));
    }
    eng_set_out(c, 0, x->dtype, (int)n, dims);
    return GLINT_OK;
}

glint_status eng_infer_flatten(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t axis = eng_attr_i(c->n, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    int64_t dims[2] = {eng_dims_count(x->dims, (int)axis),
                       eng_dims_count(x->dims + axis, x->ndim - (int)axis)};
    eng_set_out(c, 0, x->dtype, 2, dims);
    return GLINT_OK;
}

/* Axes from the attribute (old opsets) or the second input (opset >= 13). */
static glint_status get_axes(op_ctx *c, int input, int64_t *axes, int *n)
{
    *n = 0;
    if (c->n_in > input && c->in[input]) {
        glint_status s = eng_need_const(c, input, "axes");
        if (s) return s;
        int64_t cnt = eng_tensor_count(c->in[input]);
        if (cnt > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < cnt; i++)
            axes[i] = eng_tensor_get_i(c->in[input], i);
        *n = (int)cnt;
        return GLINT_OK;
    }
    const int64_t *v;
    int cnt = eng_attr_ints(c->n, "axes", &v);
    if (cnt > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
    for (int i = 0; i < cnt; i++)
        axes[i] = v[i];
    *n = cnt;
    return GLINT_OK;
}

glint_status eng_infer_squeeze(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t axes[MAXD];
    int na;
    glint_status s = get_axes(c, 1, axes, &na);
    if (s) return s;
    bool drop[MAXD] = {0};
    for (int i = 0; i < na; i++) {
        int a = eng_norm_axis(axes[i], x->ndim);
        if (a < 0 || x->dims[a] != 1)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "axis %lld is not of size 1", (long long)axes[i]);
        drop[a] = true;
    }
    int64_t dims[MAXD];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(na ? drop[i] : x->dims[i] == 1)) dims[nd++] = x->dims[i];
    eng_set_out(c, 0, x->dtype, nd, dims);
    return GLINT_OK;
}

glint_status eng_infer_unsqueeze(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t axes[MAXD];
    int na;
    glint_status s = get_axes(c, 1, axes, &na);
    if (s) return s;
    int rank = x->ndim + na;
    if (rank > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    bool ins[MAXD] = {0};
    for (int i = 0; i < na; i++) {
        int a = eng_norm_axis(axes[i], rank);
        if (a < 0 || ins[a]) return OP_FAIL(c, GLINT_ERR_INVALID, "bad or repeated axis");
        ins[a] = true;
    }
    int64_t dims[MAXD];
    for (int i = 0, k = 0; i < rank; i++)
        dims[i] = ins[i] ? 1 : x->dims[k++];
    eng_set_out(c, 0, x->dtype, rank, dims);
    return GLINT_OK;
}

/* ---- Shape, Size, Constant, ConstantOfShape, Range ---- */
glint_status eng_infer_shape(op_ctx *c)
{
    int r = c->in[0]->ndim;
    int64_t start = eng_attr_i(c->n, "start", 0), end = eng_attr_i(c->n, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    eng_set_out(c, 0, GLINT_I64, 1, &n);
    return GLINT_OK;
}

glint_status eng_run_shape(op_ctx *c)
{
    int r = c->in[0]->ndim;
    int64_t start = eng_attr_i(c->n, "start", 0);
    if (start < 0) start += r;
    start = start < 0 ? 0 : start > r ? r : start;
    int64_t n = c->out[0]->dims[0];
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)c->out[0]->data)[i] = c->in[0]->dims[start + i];
    return GLINT_OK;
}

glint_status eng_infer_size(op_ctx *c)
{
    eng_set_out(c, 0, GLINT_I64, 0, NULL);
    return GLINT_OK;
}

glint_status eng_run_size(op_ctx *c)
{
    *(int64_t *)c->out[0]->data = eng_tensor_count(c->in[0]);
    return GLINT_OK;
}

glint_status eng_infer_constant(op_ctx *c)
{
    const node *n = c->n;
    const attr *a = eng_node_attr(n, "value");
    if (a && a->type == ATTR_TENSOR) {
        eng_set_out(c, 0, a->t.dtype, a->t.ndim, a->t.dims);
        return GLINT_OK;
    }
    if ((a = eng_node_attr(n, "value_float"))) {
        eng_set_out(c, 0, GLINT_F32, 0, NULL);
        return GLINT_OK;
    }
    if ((a = eng_node_attr(n, "value_int"))) {
        eng_set_out(c, 0, GLINT_I64, 0, NULL);
        return GLINT_OK;
    }
    if ((a = eng_node_attr(n, "value_floats")) || (a = eng_node_attr(n, "value_ints"))) {
        int64_t d = a->n;
        eng_set_out(c, 0, a->type == ATTR_FLOATS ? GLINT_F32 : GLINT_I64, 1, &d);
        return GLINT_OK;
    }
    return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "only value/value_float(s)/value_int(s) constants");
}

glint_status eng_run_constant(op_ctx *c)
{
    const node *n = c->n;
    const attr *a = eng_node_attr(n, "value");
    void *dst = c->out[0]->data;
    if (a && a->type == ATTR_TENSOR)
        memcpy(dst, a->t.data, eng_tensor_bytes(&a->t));
    else if ((a = eng_node_attr(n, "value_float")))
        *(float *)dst = a->f;
    else if ((a = eng_node_attr(n, "value_int")))
        *(int64_t *)dst = a->i;
    else if ((a = eng_node_attr(n, "value_floats")))
        memcpy(dst, a->floats, (size_t)a->n * 4);
    else if ((a = eng_node_attr(n, "value_ints")))
        memcpy(dst, a->ints, (size_t)a->n * 8);
    return GLINT_OK;
}

glint_status eng_infer_constant_of_shape(op_ctx *c)
{
    glint_status s = eng_need_const(c, 0, "shape");
    if (s) return s;
    int64_t n = eng_tensor_count(c->in[0]);
    if (n > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    int64_t dims[MAXD];
    for (int i = 0; i < n; i++) {
        dims[i] = eng_tensor_get_i(c->in[0], i);
        if (dims[i] < 0) return OP_FAIL(c, GLINT_ERR_SHAPE, "negative dimension");
    }
    if (eng_dims_count_checked(dims, (int)n) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    const attr *a = eng_node_attr(c->n, "value");
    eng_set_out(c, 0, a && a->type == ATTR_TENSOR ? a->t.dtype : GLINT_F32, (int)n, dims);
    return GLINT_OK;
}

glint_status eng_run_constant_of_shape(op_ctx *c)
{
    const attr *a = eng_node_attr(c->n, "value");
    size_t es = glint_dtype_size(c->out[0]->dtype);
    int64_t count = eng_tensor_count(c->out[0]);
    char zero[8] = {0};
    const void *v = a && a->type == ATTR_TENSOR && eng_tensor_count(&a->t) ? a->t.data : zero;
    for (int64_t i = 0; i < count; i++)
        memcpy((char *)c->out[0]->data + i * es, v, es);
    return GLINT_OK;
}

glint_status eng_infer_range(op_ctx *c)
{
    for (int i = 0; i < 3; i++) {
        glint_status s = eng_need_const(c, i, "start/limit/delta");
        if (s) return s;
    }
    double start = eng_tensor_get_f(c->in[0], 0), limit = eng_tensor_get_f(c->in[1], 0),
           delta = eng_tensor_get_f(c->in[2], 0);
    if (delta == 0) return OP_FAIL(c, GLINT_ERR_INVALID, "delta is 0");
    double n = ceil((limit - start) / delta);
    int64_t cnt = n > 0 ? (int64_t)n : 0;
    if (cnt > (1 << 28)) return OP_FAIL(c, GLINT_ERR_NOMEM, "range too long");
    eng_set_out(c, 0, c->in[0]->dtype, 1, &cnt);
    return GLINT_OK;
}

glint_status eng_run_range(op_ctx *c)
{
    int64_t n = c->out[0]->dims[0];
    for (int64_t i = 0; i < n; i++) {
        if (eng_is_int_type(c->in[0]->dtype))
            eng_tensor_set_i(c->out[0], i,
                             eng_tensor_get_i(c->in[0], 0) + i * eng_tensor_get_i(c->in[2], 0));
        else
            eng_tensor_set_f(c->out[0], i,
                             eng_tensor_get_f(c->in[0], 0) +
                                 (double)i * eng_tensor_get_f(c->in[2], 0));
    }
    return GLINT_OK;
}

/* ---- Transpose ---- */
static glint_status get_perm(const op_ctx *c, int *perm)
{
    const glint_tensor *x = c->in[0];
    const int64_t *p;
    int np = eng_attr_ints(c->n, "perm", &p);
    if (np == 0) {
        for (int i = 0; i < x->ndim; i++)
            perm[i] = x->ndim - 1 - i;
        return GLINT_OK;
    }
    if (np != x->ndim)
        return OP_FAIL(c, GLINT_ERR_INVALID, "perm has %d entries, rank %d", np, x->ndim);
    bool seen[MAXD] = {0};
    for (int i = 0; i < np; i++) {
        if (p[i] < 0 || p[i] >= np || seen[p[i]])
            return OP_FAIL(c, GLINT_ERR_INVALID, "perm is not a permutation");
        seen[p[i]] = true;
        perm[i] = (int)p[i];
    }
    return GLINT_OK;
}

glint_status eng_infer_transpose(op_ctx *c)
{
    int perm[MAXD];
    glint_status s = get_perm(c, perm);
    if (s) return s;
    int64_t dims[MAXD];
    for (int i = 0; i < c->in[0]->ndim; i++)
        dims[i] = c->in[0]->dims[perm[i]];
    eng_set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, dims);
    return GLINT_OK;
}

/* Generic strided copy: out[idx] = in[sum idx[d]*st[d]] over out's dims. */
static void strided_copy(const char *src, const int64_t *st, char *dst, const int64_t *dims, int nd,
                         size_t es)
{
    int64_t count = eng_dims_count(dims, nd), idx[MAXD] = {0}, off = 0;
    if (nd == 0) {
        memcpy(dst, src, es);
        return;
    }
    int64_t inner = dims[nd - 1], ist = st[nd - 1];
    for (int64_t i = 0; i < count; i += inner) {
        if (ist == 1) {
            memcpy(dst + i * es, src + off * es, (size_t)inner * es);
        } else if (es == 4) {
            const uint32_t *s4 = (const uint32_t *)src + off; /* 4-byte elements, any type */
            uint32_t *d4 = (uint32_t *)dst + i;
            for (int64_t k = 0; k < inner; k++)
                d4[k] = s4[k * ist];
        } else {
            for (int64_t k = 0; k < inner; k++)
                memcpy(dst + (i + k) * es, src + (off + k * ist) * es, es);
        }
        for (int d = nd - 2; d >= 0; d--) {
            idx[d]++;
            off += st[d];
            if (idx[d] < dims[d]) break;
            off -= st[d] * dims[d];
            idx[d] = 0;
        }
    }
}

static void row_strides(const int64_t *dims, int nd, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

glint_status eng_run_transpose(op_ctx *c)
{
    int perm[MAXD];
    get_perm(c, perm);
    const glint_tensor *x = c->in[0];
    int64_t xst[MAXD], st[MAXD];
    row_strides(x->dims, x->ndim, xst);
    for (int i = 0; i < x->ndim; i++)
        st[i] = xst[perm[i]];
    strided_copy(x->data, st, c->out[0]->data, c->out[0]->dims, x->ndim,
                 glint_dtype_size(x->dtype));
    return GLINT_OK;
}

/* ---- Concat ---- */
glint_status eng_infer_concat(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    int64_t dims[MAXD];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < c->n_in; i++) {
        const glint_tensor *t = c->in[i];
        if (!t || t->ndim != x->ndim || t->dtype != x->dtype)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "input %d has another rank or type", i);
        for (int d = 0; d < x->ndim; d++)
            if (d != axis && t->dims[d] != x->dims[d])
                return OP_FAIL(c, GLINT_ERR_SHAPE, "input %d differs on axis %d", i, d);
        dims[axis] += t->dims[axis];
    }
    eng_set_out(c, 0, x->dtype, x->ndim, dims);
    return GLINT_OK;
}

glint_status eng_run_concat(op_ctx *c)
{
    const glint_tensor *o = c->out[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), o->ndim);
    size_t es = glint_dtype_size(o->dtype);
    int64_t outer = eng_dims_count(o->dims, axis);
    int64_t inner = eng_dims_count(o->dims + axis + 1, o->ndim - axis - 1) * (int64_t)es;
    int64_t orow = o->dims[axis] * inner, at = 0;
    for (int i = 0; i < c->n_in; i++) {
        int64_t row = c->in[i]->dims[axis] * inner;
        for (int64_t k = 0; k < outer; k++)
            memcpy((char *)o->data + k * orow + at, (const char *)c->in[i]->data + k * row,
                   (size_t)row);
        at += row;
    }
    return GLINT_OK;
}

/* ---- Split ---- */
static glint_status split_sizes(op_ctx *c, int64_t *sz)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    int64_t total = x->dims[axis], sum = 0;
    if (c->n_in > 1 && c->in[1]) {
        glint_status s = eng_need_const(c, 1, "split");
        if (s) return s;
        if (eng_tensor_count(c->in[1]) != c->n_out)
            return OP_FAIL(c, GLINT_ERR_INVALID, "split has %lld entries for %d outputs",
                           (long long)eng_tensor_count(c->in[1]), c->n_out);
        for (int i = 0; i < c->n_out; i++)
            sz[i] = eng_tensor_get_i(c->in[1], i);
    } else {
        const int64_t *v;
        int n = eng_attr_ints(c->n, "split", &v);
        if (n && n != c->n_out) return OP_FAIL(c, GLINT_ERR_INVALID, "split/outputs mismatch");
        for (int i = 0; i < c->n_out; i++) {
            int64_t even = (total + c->n_out - 1) / c->n_out;
            sz[i] = n ? v[i] : (i < c->n_out - 1 ? even : total - even * (c->n_out - 1));
        }
    }
    for (int i = 0; i < c->n_out; i++) {
        if (sz[i] < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "negative split");
        sum += sz[i];
    }
    if (sum != total)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "splits sum to %lld, axis has %lld", (long long)sum,
                       (long long)total);
    return GLINT_OK;
}

glint_status eng_infer_split(op_ctx *c)
{
    int64_t sz[8];
    glint_status s = split_sizes(c, sz);
    if (s) return s;
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), c->in[0]->ndim);
    for (int i = 0; i < c->n_out; i++) {
        int64_t dims[MAXD];
        memcpy(dims, c->in[0]->dims, sizeof dims);
        dims[axis] = sz[i];
        eng_set_out(c, i, c->in[0]->dtype, c->in[0]->ndim, dims);
    }
    return GLINT_OK;
}

glint_status eng_run_split(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    size_t es = glint_dtype_size(x->dtype);
    int64_t outer = eng_dims_count(x->dims, axis);
    int64_t inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1) * (int64_t)es;
    int64_t xrow = x->dims[axis] * inner, at = 0;
    for (int i = 0; i < c->n_out; i++) {
        int64_t row = c->out[i]->dims[axis] * inner;
        for (int64_t k = 0; k < outer; k++)
            memcpy((char *)c->out[i]->data + k * row, (const char *)x->data + k * xrow + at,
                   (size_t)row);
        at += row;
    }
    return GLINT_OK;
}

/* ---- Slice ---- */
typedef struct slice_plan {
    int64_t start[MAXD], step[MAXD], len[MAXD];
} slice_plan;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static glint_status slice_resolve(op_ctx *c, slice_plan *p)
{
    const glint_tensor *x = c->in[0];
    int64_t st[MAXD], en[MAXD], ax[MAXD], sp[MAXD];
    int n = 0;
    if (c->opset < 10) {
        const int64_t *s, *e, *a;
        n = eng_attr_ints(c->n, "starts", &s);
        if (eng_attr_ints(c->n, "ends", &e) != n || n > MAXD)
            return OP_FAIL(c, GLINT_ERR_INVALID, "starts/ends differ in length");
        int na = eng_attr_ints(c->n, "axes", &a);
        for (int i = 0; i < n; i++) {
            st[i] = s[i];
            en[i] = e[i];
            ax[i] = na ? a[i] : i;
            sp[i] = 1;
        }
    } else {
        glint_status s;
        if ((s = eng_need_const(c, 1, "starts")) || (s = eng_need_const(c, 2, "ends"))) return s;
        n = (int)eng_tensor_count(c->in[1]);
        if (n > MAXD || eng_tensor_count(c->in[2]) != n)
            return OP_FAIL(c, GLINT_ERR_INVALID, "starts/ends differ in length");
        bool has_axes = c->n_in > 3 && c->in[3], has_steps = c->n_in > 4 && c->in[4];
        if (has_axes && ((s = eng_need_const(c, 3, "axes")))) return s;
        if (has_steps && ((s = eng_need_const(c, 4, "steps")))) return s;
        for (int i = 0; i < n; i++) {
            st[i] = eng_tensor_get_i(c->in[1], i);
            en[i] = eng_tensor_get_i(c->in[2], i);
            ax[i] = has_axes ? eng_tensor_get_i(c->in[3], i) : i;
            sp[i] = has_steps ? eng_tensor_get_i(c->in[4], i) : 1;
        }
    }
    for (int d = 0; d < x->ndim; d++) {
        p->start[d] = 0;
        p->step[d] = 1;
        p->len[d] = x->dims[d];
    }
    for (int i = 0; i < n; i++) {
        int a = eng_norm_axis(ax[i], x->ndim);
        if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis %lld", (long long)ax[i]);
        if (sp[i] == 0) return OP_FAIL(c, GLINT_ERR_INVALID, "step 0");
        int64_t dim = x->dims[a], s = st[i], e = en[i];
        /* a step longer than the axis takes at most one element either way */
        if (sp[i] > dim) sp[i] = dim > 0 ? dim : 1;
        if (sp[i] < -dim) sp[i] = dim > 0 ? -dim : -1;
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        if (sp[i] > 0) {
            s = clamp64(s, 0, dim);
            e = clamp64(e, 0, dim);
        } else {
            s = clamp64(s, 0, dim - 1);
            e = clamp64(e, -1, dim - 1);
        }
        /* cppcheck-suppress zerodivcond ; step 0 was refused above */
        int64_t len = sp[i] > 0 ? (e - s + sp[i] - 1) / sp[i] : (s - e + (-sp[i]) - 1) / (-sp[i]);
        p->start[a] = s;
        p->step[a] = sp[i];
        p->len[a] = len > 0 ? len : 0;
    }
    return GLINT_OK;
}

glint_status eng_infer_slice(op_ctx *c)
{
    slice_plan p;
    glint_status s = slice_resolve(c, &p);
    if (s) return s;
    eng_set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, p.len);
    return GLINT_OK;
}

glint_status eng_run_slice(op_ctx *c)
{
    slice_plan p;
    glint_status s = slice_resolve(c, &p);
    if (s) return s;
    const glint_tensor *x = c->in[0];
    if (eng_tensor_count(c->out[0]) == 0) return GLINT_OK;
    int64_t xst[MAXD], st[MAXD] = {0}, base = 0;
    row_strides(x->dims, x->ndim, xst);
    for (int d = 0; d < x->ndim; d++) {
        base += p.start[d] * xst[d];
        st[d] = p.step[d] * xst[d];
    }
    size_t es = glint_dtype_size(x->dtype);
    /* an axis whose stride is the whole run of the axis inside it joins that
     * one: longer runs, copied with memcpy where contiguous (RT-DETR's
     * deformable attention slices small inner axes) */
    int64_t len[MAXD] = {0}, mst[MAXD] = {0};
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (nd > 0 && mst[nd - 1] == st[d] * p.len[d]) {
            len[nd - 1] *= p.len[d];
            mst[nd - 1] = st[d];
            continue;
        }
        len[nd] = p.len[d];
        mst[nd++] = st[d];
    }
    strided_copy((const char *)x->data + base * (int64_t)es, mst, c->out[0]->data, len, nd, es);
    return GLINT_OK;
}

/* ---- Gather ---- */
glint_status eng_infer_gather(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    if (ix->dtype != GLINT_I64 && ix->dtype != GLINT_I32)
        return OP_FAIL(c, GLINT_ERR_INVALID, "indices must be int32/int64");
    int nd = x->ndim - 1 + ix->ndim;
    if (nd > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    int64_t dims[MAXD];
    int k = 0;
    for (int i = 0; i < axis; i++)
        dims[k++] = x->dims[i];
    for (int i = 0; i < ix->ndim; i++)
        dims[k++] = ix->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        dims[k++] = x->dims[i];
    eng_set_out(c, 0, x->dtype, nd, dims);
    return GLINT_OK;
}

glint_status eng_run_gather(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    size_t es = glint_dtype_size(x->dtype);
    int64_t outer = eng_dims_count(x->dims, axis);
    int64_t inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1) * (int64_t)es;
    int64_t n_idx = eng_tensor_count(ix), dim = x->dims[axis];
    char *o = c->out[0]->data;
    for (int64_t k = 0; k < outer; k++)
        for (int64_t j = 0; j < n_idx; j++) {
            int64_t i = eng_tensor_get_i(ix, j);
            if (i < 0) i += dim;
            if (i < 0 || i >= dim)
                return OP_FAIL(c, GLINT_ERR_INVALID, "index %lld out of range [0,%lld)",
                               (long long)eng_tensor_get_i(ix, j), (long long)dim);
            memcpy(o + (k * n_idx + j) * inner, (const char *)x->data + (k * dim + i) * inner,
                   (size_t)inner);
        }
    return GLINT_OK;
}

/* ---- Expand, Tile ---- */
glint_status eng_infer_expand(op_ctx *c)
{
    glint_status s = eng_need_const(c, 1, "shape");
    if (s) return s;
    glint_tensor t = {.ndim = (int)eng_tensor_count(c->in[1])};
    if (t.ndim > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    for (int i = 0; i < t.ndim; i++)
        t.dims[i] = eng_tensor_get_i(c->in[1], i);
    int nd;
    int64_t dims[MAXD];
    if (!eng_broadcast_shape(c->in[0], &t, &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "shape does not broadcast");
    if (eng_dims_count_checked(dims, nd) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    eng_set_out(c, 0, c->in[0]->dtype, nd, dims);
    return GLINT_OK;
}

glint_status eng_run_expand(op_ctx *c)
{
    int64_t st[MAXD];
    eng_bcast_strides(c->in[0], c->out[0]->ndim, c->out[0]->dims, st);
    strided_copy(c->in[0]->data, st, c->out[0]->data, c->out[0]->dims, c->out[0]->ndim,
                 glint_dtype_size(c->in[0]->dtype));
    return GLINT_OK;
}

glint_status eng_infer_tile(op_ctx *c)
{
    glint_status s = eng_need_const(c, 1, "repeats");
    if (s) return s;
    const glint_tensor *x = c->in[0];
    if (eng_tensor_count(c->in[1]) != x->ndim)
        return OP_FAIL(c, GLINT_ERR_INVALID, "repeats length differs from rank");
    int64_t dims[MAXD];
    for (int i = 0; i < x->ndim; i++) {
        int64_t r = eng_tensor_get_i(c->in[1], i);
        if (r < 0 || (r && x->dims[i] > MAX_TENSOR_BYTES / r))
            return OP_FAIL(c, GLINT_ERR_INVALID, "repeats %lld is negative or too large",
                           (long long)r);
        dims[i] = x->dims[i] * r;
    }
    if (eng_dims_count_checked(dims, x->ndim) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    eng_set_out(c, 0, x->dtype, x->ndim, dims);
    return GLINT_OK;
}

glint_status eng_run_tile(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *o = c->out[0];
    size_t es = glint_dtype_size(x->dtype);
    int64_t count = eng_tensor_count(o), idx[MAXD] = {0}, xst[MAXD];
    row_strides(x->dims, x->ndim, xst);
    for (int64_t i = 0; i < count; i++) {
        int64_t off = 0;
        for (int d = 0; d < o->ndim; d++)
            off += (idx[d] % x->dims[d]) * xst[d];
        memcpy((char *)o->data + i * (int64_t)es, (const char *)x->data + off * (int64_t)es, es);
        for (int d = o->ndim - 1; d >= 0; d--) {
            if (++idx[d] < o->dims[d]) break;
            idx[d] = 0;
        }
    }
    return GLINT_OK;
}

/* ---- Pad ---- */
static glint_status pad_amounts(op_ctx *c, int64_t *pads, double *fill, int *mode)
{
    const glint_tensor *x = c->in[0];
    int r = x->ndim;
    const char *m = eng_attr_s(c->n, "mode", "constant");
    *mode = !strcmp(m, "constant") ? 0 : !strcmp(m, "reflect") ? 1 : !strcmp(m, "edge") ? 2 : -1;
    if (*mode < 0) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "mode '%s'", m);
    *fill = 0;
    for (int i = 0; i < 2 * r; i++)
        pads[i] = 0;
    if (c->opset < 11) {
        const int64_t *p;
        int n = eng_attr_ints(c->n, "pads", &p);
        if (n != 2 * r) return OP_FAIL(c, GLINT_ERR_INVALID, "pads needs %d values", 2 * r);
        if (n) memcpy(pads, p, sizeof(int64_t) * (size_t)n);
        *fill = eng_attr_f(c->n, "value", 0);
        return GLINT_OK;
    }
    glint_status s = eng_need_const(c, 1, "pads");
    if (s) return s;
    int64_t axes[MAXD];
    int na = r;
    for (int i = 0; i < r; i++)
        axes[i] = i;
    if (c->n_in > 3 && c->in[3]) {
        if ((s = eng_need_const(c, 3, "axes"))) return s;
        na = (int)eng_tensor_count(c->in[3]);
        if (na > r) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < na; i++) {
            int a = eng_norm_axis(eng_tensor_get_i(c->in[3], i), r);
            if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
            axes[i] = a;
        }
    }
    if (eng_tensor_count(c->in[1]) != 2 * na)
        return OP_FAIL(c, GLINT_ERR_INVALID, "pads needs %d values", 2 * na);
    for (int i = 0; i < na; i++) {
        pads[axes[i]] = eng_tensor_get_i(c->in[1], i);
        pads[axes[i] + r] = eng_tensor_get_i(c->in[1], i + na);
    }
    if (c->n_in > 2 && c->in[2]) {
        if ((s = eng_need_const(c, 2, "constant_value"))) return s;
        if (eng_tensor_count(c->in[2])) *fill = eng_tensor_get_f(c->in[2], 0);
    }
    return GLINT_OK;
}

glint_status eng_infer_pad(op_ctx *c)
{
    int64_t pads[2 * MAXD];
    double v;
    int mode;
    glint_status s = pad_amounts(c, pads, &v, &mode);
    if (s) return s;
    const glint_tensor *x = c->in[0];
    int64_t dims[MAXD];
    for (int i = 0; i < x->ndim; i++) {
        if (pads[i] > MAX_TENSOR_BYTES || pads[i] < -MAX_TENSOR_BYTES ||
            pads[i + x->ndim] > MAX_TENSOR_BYTES || pads[i + x->ndim] < -MAX_TENSOR_BYTES)
            return OP_FAIL(c, GLINT_ERR_INVALID, "pad too large");
        dims[i] = x->dims[i] + pads[i] + pads[i + x->ndim];
        if (dims[i] < 0) return OP_FAIL(c, GLINT_ERR_SHAPE, "negative padded size");
        if (mode == 1 && (pads[i] >= x->dims[i] || pads[i + x->ndim] >= x->dims[i]))
            return OP_FAIL(c, GLINT_ERR_INVALID, "reflect pad larger than the axis");
    }
    if (eng_dims_count_checked(dims, x->ndim) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    eng_set_out(c, 0, x->dtype, x->ndim, dims);
    return GLINT_OK;
}

glint_status eng_run_pad(op_ctx *c)
{
    int64_t pads[2 * MAXD];
    double v;
    int mode;
    glint_status s = pad_amounts(c, pads, &v, &mode);
    if (s) return s;
    const glint_tensor *x = c->in[0];
    glint_tensor *o = c->out[0];
    int r = x->ndim;
    bool none = true;
    for (int d = 0; d < 2 * r; d++)
        none &= pads[d] == 0;
    if (none) { /* torchvision's transform padding to a multiple of 32 that it is */
        memcpy(o->data, x->data, eng_tensor_bytes(o));
        return GLINT_OK;
    }
    int64_t count = eng_tensor_count(o), idx[MAXD] = {0}, xst[MAXD];
    row_strides(x->dims, r, xst);
    size_t es = glint_dtype_size(x->dtype);
    for (int64_t i = 0; i < count; i++) {
        int64_t off = 0;
        bool outside = false;
        for (int d = 0; d < r; d++) {
            int64_t j = idx[d] - pads[d], n = x->dims[d];
            if (j < 0 || j >= n) {
                if (mode == 0 || n == 0) {
                    outside = true;
                    break;
                }
                if (mode == 2)
                    j = j < 0 ? 0 : n - 1;
                else {
                    int64_t period = 2 * (n - 1);
                    if (period == 0)
                        j = 0;
                    else {
                        j = ((j % period) + period) % period;
                        if (j >= n) j = period - j;
                    }
                }
            }
            off += j * xst[d];
        }
        if (outside)
            eng_tensor_set_f(o, i, v);
        else
            memcpy((char *)o->data + i * (int64_t)es, (const char *)x->data + off * (int64_t)es,
                   es);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < o->dims[d]) break;
            idx[d] = 0;
        }
    }
    return GLINT_OK;
}

bool eng_slice_channel_range(op_ctx *c, int64_t *start)
{
    slice_plan p;
    const glint_tensor *x = c->in[0];
    if (x->ndim != 4 || slice_resolve(c, &p) != GLINT_OK || p.step[1] != 1) return false;
    for (int d = 0; d < 4; d++)
        if (d != 1 && (p.start[d] != 0 || p.step[d] != 1 || p.len[d] != x->dims[d])) return false;
    *start = p.start[1];
    return true;
}
