/* Matrix products: MatMul (numpy broadcasting), Gemm, GlintMatMul and
 * Einsum — shape functions and plain C reference kernels. */
#include "ops_impl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- MatMul / Gemm ---- */
glint_status eng_matmul_shape(op_ctx *c, const glint_tensor *a, const glint_tensor *b,
                              glint_dtype t)
{
    if (a->ndim < 1 || b->ndim < 1) return OP_FAIL(c, GLINT_ERR_SHAPE, "scalar operand");
    glint_tensor a2 = *a, b2 = *b;
    if (a->ndim == 1) {
        a2.ndim = 2;
        a2.dims[0] = 1;
        a2.dims[1] = a->dims[0];
    }
    if (b->ndim == 1) {
        b2.ndim = 2;
        b2.dims[0] = b->dims[0];
        b2.dims[1] = 1;
    }
    int64_t K = a2.dims[a2.ndim - 1];
    if (b2.dims[b2.ndim - 2] != K) {
        char x[96], y[96];
        return OP_FAIL(c, GLINT_ERR_SHAPE, "cannot multiply %s by %s",
                       eng_dims_str(a->dims, a->ndim, x, sizeof x),
                       eng_dims_str(b->dims, b->ndim, y, sizeof y));
    }
    glint_tensor ba = a2, bb = b2;
    ba.ndim -= 2;
    bb.ndim -= 2;
    int nd;
    int64_t dims[MAXD];
    if (!eng_broadcast_shape(&ba, &bb, &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "batch dimensions do not broadcast");
    if (a->ndim > 1) dims[nd++] = a2.dims[a2.ndim - 2];
    if (b->ndim > 1) dims[nd++] = b2.dims[b2.ndim - 1];
    eng_set_out(c, 0, t, nd, dims);
    return GLINT_OK;
}

glint_status eng_infer_MatMul(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    return eng_matmul_shape(c, c->in[0], c->in[1], GLINT_F32);
}

/* C[M,N] (+)= A[M,K] * B[K,N] with element strides. */
static void gemm_ref(int64_t M, int64_t N, int64_t K, const float *A, int64_t am, int64_t ak,
                     const float *B, int64_t bk, int64_t bn, float *C, float alpha)
{
    for (int64_t i = 0; i < M; i++) {
        float *cr = C + i * N;
        for (int64_t j = 0; j < N; j++)
            cr[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            float av = alpha * A[i * am + k * ak];
            const float *br = B + k * bk;
            if (bn == 1)
                for (int64_t j = 0; j < N; j++)
                    cr[j] += av * br[j];
            else
                for (int64_t j = 0; j < N; j++)
                    cr[j] += av * br[j * bn];
        }
    }
}

glint_status eng_run_MatMul(op_ctx *c)
{
    const glint_tensor *a = c->in[0], *b = c->in[1];
    glint_tensor a2 = *a, b2 = *b;
    if (a->ndim == 1) {
        a2.ndim = 2;
        a2.dims[0] = 1;
        a2.dims[1] = a->dims[0];
    }
    if (b->ndim == 1) {
        b2.ndim = 2;
        b2.dims[0] = b->dims[0];
        b2.dims[1] = 1;
    }
    int64_t M = a2.dims[a2.ndim - 2], K = a2.dims[a2.ndim - 1], N = b2.dims[b2.ndim - 1];
    glint_tensor ba = a2, bb = b2;
    ba.ndim -= 2;
    bb.ndim -= 2;
    glint_tensor out = {.ndim = 0};
    eng_broadcast_shape(&ba, &bb, &out.ndim, out.dims);
    int64_t sa[MAXD] = {0}, sb[MAXD] = {0}, batches = eng_dims_count(out.dims, out.ndim);
    /* strides of the batch dims in units of matrices */
    {
        int64_t s = 1;
        for (int i = out.ndim - 1; i >= 0; i--) {
            int j = i - (out.ndim - ba.ndim);
            int64_t d = j >= 0 ? ba.dims[j] : 1;
            sa[i] = d == 1 ? 0 : s;
            s *= d;
        }
        s = 1;
        for (int i = out.ndim - 1; i >= 0; i--) {
            int j = i - (out.ndim - bb.ndim);
            int64_t d = j >= 0 ? bb.dims[j] : 1;
            sb[i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    float *Y = c->out[0]->data;
    int64_t idx[MAXD] = {0};
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < out.ndim; d++) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        gemm_ref(M, N, K, (const float *)a->data + oa * M * K, K, 1,
                 (const float *)b->data + ob * K * N, N, 1, Y + bi * M * N, 1.0f);
        for (int d = out.ndim - 1; d >= 0; d--) {
            if (++idx[d] < out.dims[d]) break;
            idx[d] = 0;
        }
    }
    return GLINT_OK;
}

/* GlintMatMul(A, B, bias): MatMul, then + bias (N values, the output's last
 * axis) and the node's post-ops (passes.c fuses a Linear layer's Add and
 * activation, and a residual Add, into it). */
glint_status eng_infer_GlintMatMul(op_ctx *c)
{
    glint_status s = eng_infer_MatMul(c);
    if (s) return s;
    const glint_tensor *y = c->out[0], *b = c->n_in > 2 ? c->in[2] : NULL;
    if (b &&
        ((s = eng_need_f32(c, 2)) || y->ndim < 1 || eng_tensor_count(b) != y->dims[y->ndim - 1]))
        return s ? s : OP_FAIL(c, GLINT_ERR_SHAPE, "bias does not match the output's last axis");
    return GLINT_OK;
}

glint_status eng_run_GlintMatMul(op_ctx *c)
{
    glint_status s = eng_run_MatMul(c);
    if (s) return s;
    glint_tensor *y = c->out[0];
    float *Y = y->data;
    int64_t count = eng_tensor_count(y);
    if (c->n_in > 2 && c->in[2]) {
        const float *b = c->in[2]->data;
        int64_t N = y->dims[y->ndim - 1];
        for (int64_t i = 0; i < count; i++)
            Y[i] += b[i % N];
    }
    eng_post_apply(Y, count, c->n->post, c->n->n_post, c->sum ? c->sum->data : NULL);
    return GLINT_OK;
}

glint_status eng_infer_Gemm(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    const glint_tensor *a = c->in[0], *b = c->in[1];
    if (a->ndim != 2 || b->ndim != 2) return OP_FAIL(c, GLINT_ERR_SHAPE, "A and B must be 2-D");
    bool ta = eng_attr_i(c->n, "transA", 0), tb = eng_attr_i(c->n, "transB", 0);
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t K2 = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != K2)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "inner dimensions %lld and %lld differ", (long long)K,
                       (long long)K2);
    int64_t dims[2] = {M, N};
    if (c->n_in > 2 && c->in[2]) {
        glint_tensor o = {.ndim = 2, .dims = {M, N}};
        int nd;
        int64_t bd[MAXD];
        if (!eng_broadcast_shape(&o, c->in[2], &nd, bd) || nd != 2 || bd[0] != M || bd[1] != N)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "C does not broadcast to [M,N]");
    }
    eng_set_out(c, 0, GLINT_F32, 2, dims);
    return GLINT_OK;
}

glint_status eng_run_Gemm(op_ctx *c)
{
    const glint_tensor *a = c->in[0], *b = c->in[1];
    bool ta = eng_attr_i(c->n, "transA", 0), tb = eng_attr_i(c->n, "transB", 0);
    float alpha = eng_attr_f(c->n, "alpha", 1.0f), beta = eng_attr_f(c->n, "beta", 1.0f);
    int64_t M = c->out[0]->dims[0], N = c->out[0]->dims[1];
    int64_t K = ta ? a->dims[0] : a->dims[1];
    float *Y = c->out[0]->data;
    gemm_ref(M, N, K, a->data, ta ? 1 : K, ta ? M : 1, b->data, tb ? 1 : N, tb ? K : 1, Y, alpha);
    if (c->n_in > 2 && c->in[2] && beta != 0) {
        const glint_tensor *C = c->in[2];
        int64_t cm = C->ndim == 2 ? C->dims[0] : 1, cn = C->ndim >= 1 ? C->dims[C->ndim - 1] : 1;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                Y[i * N + j] +=
                    beta * eng_tensor_get_f(C, (cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j));
    }
    eng_post_apply(Y, M * N, c->n->post, c->n->n_post, c->sum ? c->sum->data : NULL);
    return GLINT_OK;
}

/* ---- Einsum (opset 12) ----
 * The general form, as a reference kernel: every distinct subscript (an
 * ellipsis becomes capital letters, its axes aligned from the right and
 * broadcast) is one loop index; each output element sums the product of
 * the inputs over the indices the output does not keep. An implicit output
 * keeps, in alphabetical order after the ellipsis, the subscripts that occur
 * once. Exporters emit it for batched products and transposes. */
#define EINSUM_MAX_IDX 26

typedef struct einsum_spec {
    int n_in;
    int term_len[16];       /* subscripts per input */
    int term[16][MAXD];     /* index ids per input axis */
    int out_len, out[MAXD]; /* index ids of the output axes */
    int n_idx;              /* distinct indices */
    int64_t size[2 * EINSUM_MAX_IDX];
} einsum_spec;

/* Index id of subscript ch ('a'..'z' -> 0..25, ellipsis axes 26..51). */
static int einsum_id(char ch)
{
    return ch >= 'a' && ch <= 'z' ? ch - 'a' : ch >= 'A' && ch <= 'Z' ? 26 + (ch - 'A') : -1;
}

/* Parses c's equation against its inputs' ranks and sizes into *e. */
static glint_status einsum_parse(op_ctx *c, einsum_spec *e)
{
    const char *eq = eng_attr_s(c->n, "equation", NULL);
    if (!eq) return OP_FAIL(c, GLINT_ERR_INVALID, "no equation");
    memset(e, 0, sizeof *e);
    for (int i = 0; i < 2 * EINSUM_MAX_IDX; i++)
        e->size[i] = -1;
    e->n_in = c->n_in;
    const char *arrow = strstr(eq, "->");
    int ell = 0; /* axes an ellipsis stands for: the most any input gives it */
    const char *p = eq;
    for (int k = 0; k < c->n_in; k++) {
        const glint_tensor *t = c->in[k];
        char letters[64];
        int nl = 0, has_ell = 0;
        for (; *p && *p != ',' && (!arrow || p < arrow); p++) {
            if (*p == ' ') continue;
            if (!strncmp(p, "...", 3)) {
                if (has_ell++) return OP_FAIL(c, GLINT_ERR_INVALID, "two ellipses in a term");
                letters[nl++] = '.';
                p += 2;
            } else if (*p >= 'a' && *p <= 'z') {
                if (nl >= 63) return OP_FAIL(c, GLINT_ERR_INVALID, "term too long");
                letters[nl++] = *p;
            } else {
                return OP_FAIL(c, GLINT_ERR_INVALID, "bad character '%c' in '%s'", *p, eq);
            }
        }
        if (*p == ',') p++;
        int named = nl - has_ell, ne = t->ndim - named;
        if (ne < 0 || (!has_ell && ne != 0) || t->ndim > MAXD)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "term %d does not match input rank %d", k, t->ndim);
        if (ne > ell) ell = ne;
        int ax = 0;
        for (int j = 0; j < nl; j++) {
            if (letters[j] == '.') {
                for (int q = 0; q < ne; q++) /* right-aligned ellipsis axes */
                    e->term[k][ax++] = 26 + (MAXD - ne + q);
                continue;
            }
            e->term[k][ax++] = einsum_id(letters[j]);
        }
        e->term_len[k] = ax;
        for (int j = 0; j < ax; j++) {
            int id = e->term[k][j];
            int64_t d = t->dims[j];
            if (e->size[id] < 0 || (id >= 26 && e->size[id] == 1))
                e->size[id] = d;
            else if (e->size[id] != d && !(id >= 26 && d == 1))
                return OP_FAIL(c, GLINT_ERR_SHAPE, "subscript sizes differ (%lld, %lld)",
                               (long long)e->size[id], (long long)d);
        }
    }
    if (p != eq + strlen(eq) && (!arrow || p != arrow))
        return OP_FAIL(c, GLINT_ERR_INVALID, "more terms than inputs in '%s'", eq);
    if (arrow) {
        for (const char *q = arrow + 2; *q; q++) {
            if (*q == ' ') continue;
            if (!strncmp(q, "...", 3)) {
                for (int r = 0; r < ell; r++)
                    e->out[e->out_len++] = 26 + (MAXD - ell + r);
                q += 2;
                continue;
            }
            int id = einsum_id(*q);
            if (id < 0 || id >= 26 || e->size[id] < 0 || e->out_len >= MAXD)
                return OP_FAIL(c, GLINT_ERR_INVALID, "bad output subscript '%c'", *q);
            e->out[e->out_len++] = id;
        }
    } else { /* implicit: ellipsis, then subscripts seen once, alphabetically */
        for (int r = 0; r < ell; r++)
            e->out[e->out_len++] = 26 + (MAXD - ell + r);
        for (int id = 0; id < 26; id++) {
            int seen = 0;
            for (int k = 0; k < e->n_in; k++)
                for (int j = 0; j < e->term_len[k]; j++)
                    seen += e->term[k][j] == id;
            if (seen == 1 && e->out_len < MAXD) e->out[e->out_len++] = id;
        }
    }
    return GLINT_OK;
}

glint_status eng_infer_Einsum(op_ctx *c)
{
    for (int k = 0; k < c->n_in; k++)
        if (c->in[k]->dtype != c->in[0]->dtype ||
            (c->in[k]->dtype != GLINT_F32 && c->in[k]->dtype != GLINT_F64 &&
             !eng_is_int_type(c->in[k]->dtype)))
            return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "inputs must share a numeric type");
    einsum_spec e;
    glint_status s = einsum_parse(c, &e);
    if (s) return s;
    /* the loop runs over every combination of the distinct subscripts */
    double work = 1;
    for (int id = 0; id < 2 * EINSUM_MAX_IDX; id++)
        if (e.size[id] > 0) work *= (double)e.size[id];
    if (work > (double)((int64_t)1 << 32))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "%.3g index combinations: too many to run", work);
    int64_t dims[MAXD];
    for (int i = 0; i < e.out_len; i++)
        dims[i] = e.size[e.out[i]];
    eng_set_out(c, 0, c->in[0]->dtype, e.out_len, dims);
    return GLINT_OK;
}

glint_status eng_run_Einsum(op_ctx *c)
{
    einsum_spec e;
    glint_status s = einsum_parse(c, &e);
    if (s) return s;
    int ids[2 * EINSUM_MAX_IDX], n = 0; /* output indices first, then the summed ones */
    bool used[2 * EINSUM_MAX_IDX] = {0};
    for (int i = 0; i < e.out_len; i++) {
        ids[n++] = e.out[i];
        used[e.out[i]] = true;
    }
    for (int k = 0; k < e.n_in; k++)
        for (int j = 0; j < e.term_len[k]; j++)
            if (!used[e.term[k][j]]) {
                used[e.term[k][j]] = true;
                ids[n++] = e.term[k][j];
            }
    int64_t val[2 * EINSUM_MAX_IDX] = {0}, total = 1;
    for (int i = 0; i < n; i++)
        total *= e.size[ids[i]];
    glint_tensor *y = c->out[0];
    int64_t ycount = eng_tensor_count(y);
    for (int64_t i = 0; i < ycount; i++)
        eng_tensor_set_f(y, i, 0);
    int cur[2 * EINSUM_MAX_IDX] = {0};
    for (int64_t it = 0; it < total; it++) {
        double prod = 1;
        for (int k = 0; k < e.n_in; k++) {
            const glint_tensor *t = c->in[k];
            int64_t off = 0;
            for (int j = 0; j < e.term_len[k]; j++) {
                int64_t v = t->dims[j] == 1 ? 0 : val[e.term[k][j]];
                off = off * t->dims[j] + v;
            }
            prod *= eng_tensor_get_f(t, off);
        }
        int64_t yo = 0;
        for (int i = 0; i < e.out_len; i++)
            yo = yo * e.size[e.out[i]] + val[e.out[i]];
        eng_tensor_set_f(y, yo, eng_tensor_get_f(y, yo) + prod);
        for (int i = n - 1; i >= 0; i--) { /* next index combination */
            if (++cur[i] < e.size[ids[i]]) {
                val[ids[i]] = cur[i];
                break;
            }
            cur[i] = 0;
            val[ids[i]] = 0;
        }
    }
    return GLINT_OK;
}
