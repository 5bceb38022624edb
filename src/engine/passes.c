/* Batch-independent graph rewrites, run once when a model is loaded:
 * Constant nodes become initializers, Identity/Dropout disappear,
 * BatchNormalization folds into the Conv before it, and activations and
 * residual Adds fuse into the Conv that produces their input as post-ops
 * (Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish,
 * Sigmoid·Mul = SiLU, HardSigmoid·Mul = HardSwish, then Add as a sum).
 * QDQ models: Conv(DQ(Q(x)), DQ(Wq)) folds into GlintQConv, then u8 values
 * replace Q(DQ(q)) pairs around GlintQConv, Split, Concat, nearest Resize
 * and MaxPool (qdq_to_u8). On a CPU without VNNI a GlintQConv's weights
 * become 7-bit where 8 bits could overflow (narrow_qconv_weights). */
#include "backend.h"
#include "simd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_op(const node *n, op_id op)
{
    return !n->dead && n->op == op;
}

/* The only live consumer of value v, or NULL (none, several, or an output). */
static node *sole_consumer(graph *g, int v)
{
    if (g->vals[v].is_output || g->vals[v].captured || g->vals[v].n_uses != 1) return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == v) return n;
        if (n->sum_in == v) return n;
    }
    return NULL;
}

static void replace_uses(graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == from) {
                n->in[k] = to;
                g->vals[from].n_uses--;
                g->vals[to].n_uses++;
            }
    }
}

static void kill(graph *g, node *n)
{
    n->dead = true;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0) g->vals[n->in[k]].n_uses--;
}

/* Constant nodes -> initializer values. */
static glint_status constants(graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        if (!is_op(n, OP_Constant)) continue;
        glint_tensor out = {0};
        op_ctx c = {.n = n, .opset = g->opset, .n_out = 1, .out = {&out}};
        const op_def *d = eng_op_get(n->op);
        glint_status s = d->infer(&c);
        if (s) return s;
        size_t bytes = eng_tensor_bytes(&out);
        out.data = malloc(bytes ? bytes : 1);
        if (!out.data) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        d->run(&c);
        value *v = &g->vals[n->out[0]];
        v->dtype = out.dtype;
        v->ndim = out.ndim;
        memcpy(v->dims, out.dims, sizeof v->dims);
        v->data = out.data;
        v->producer = -1;
        n->dead = true;
    }
    return GLINT_OK;
}

/* A Pad that pads nothing (constant zero pads: what the exporter writes
 * before a ceil_mode AveragePool whose windows fit, RT-DETR's ResNet-vd). */
static bool pads_nothing(const graph *g, const node *n)
{
    if (!is_op(n, OP_Pad) || n->n_out != 1) return false;
    const int64_t *v = NULL;
    int64_t count = eng_attr_ints(n, "pads", &v); /* opset < 11 */
    if (n->n_in > 1 && n->in[1] >= 0) {
        const value *pv = &g->vals[n->in[1]];
        if (!pv->data || pv->dtype != GLINT_I64) return false;
        v = pv->data;
        count = eng_dims_count(pv->dims, pv->ndim);
    }
    if (!v || count < 1) return false;
    for (int64_t k = 0; k < count; k++)
        if (v[k]) return false;
    return true;
}

static void identities(graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        bool dropout = is_op(n, OP_Dropout) && n->n_out == 1 && n->n_in == 1;
        if (!is_op(n, OP_Identity) && !dropout && !pads_nothing(g, n)) continue;
        int in = n->in[0], out = n->out[0];
        if (g->vals[out].is_output || g->vals[out].captured) continue;
        replace_uses(g, out, in);
        kill(g, n);
    }
}

static const float *const_f32(const graph *g, int v, int64_t count)
{
    if (v < 0) return NULL;
    const value *val = &g->vals[v];
    if (!val->data || val->dtype != GLINT_F32 || eng_dims_count(val->dims, val->ndim) != count)
        return NULL;
    return val->data;
}

/* PRelu before opset 7 broadcast a 1-D slope of C values along axis 1 (the
 * channels), not along the last axis: such a constant slope gets the
 * trailing 1s that make numpy broadcasting do the same. */
static void prelu_legacy(graph *g)
{
    if (g->opset >= 7) return;
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        if (!is_op(n, OP_PRelu) || n->n_in != 2) continue;
        value *x = &g->vals[n->in[0]], *sl = &g->vals[n->in[1]];
        if (!sl->data || sl->ndim != 1 || sl->n_uses != 1 || x->ndim < 3 || x->ndim > MAXD ||
            (x->dims[1] >= 0 && x->dims[1] != sl->dims[0]))
            continue;
        sl->ndim = x->ndim - 1;
        for (int d = 1; d < sl->ndim; d++)
            sl->dims[d] = 1;
    }
}

/* BatchNormalization(Conv(x, W, b)) -> Conv(x, W', b'); the same for a
 * ConvTranspose (PaddleOCR's DB head), whose W is [Cin, Cout/group, k...]. */
static glint_status fold_bn(graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        node *bn = &g->nodes[i];
        if (!is_op(bn, OP_BatchNormalization) || bn->n_out != 1) continue;
        int x = bn->in[0];
        int pi = g->vals[x].producer;
        if (pi < 0) continue;
        node *conv = &g->nodes[pi];
        bool tr = is_op(conv, OP_ConvTranspose);
        if ((!is_op(conv, OP_Conv) && !tr) || conv->n_post || sole_consumer(g, x) != bn) continue;
        const value *w = &g->vals[conv->in[1]];
        if (!w->data || w->dtype != GLINT_F32 || w->ndim < 3) continue;
        /* Conv: M rows of `per`; ConvTranspose: Cin rows of (Cout/group, k...) */
        int64_t group = tr ? eng_attr_i(conv, "group", 1) : 1;
        int64_t M = tr ? w->dims[1] * group : w->dims[0];
        int64_t per = eng_dims_count(w->dims + 1, w->ndim - 1);
        int64_t spatial = eng_dims_count(w->dims + 2, w->ndim - 2);
        if (tr && (group < 1 || w->dims[0] % group)) continue;
        const float *sc = const_f32(g, bn->in[1], M), *bb = const_f32(g, bn->in[2], M),
                    *mean = const_f32(g, bn->in[3], M), *var = const_f32(g, bn->in[4], M);
        const float *cb = conv->n_in > 2 ? const_f32(g, conv->in[2], M) : NULL;
        if (!sc || !bb || !mean || !var || (conv->n_in > 2 && conv->in[2] >= 0 && !cb)) continue;
        float eps = eng_attr_f(bn, "epsilon", 1e-5f);
        float *nw = malloc((size_t)eng_dims_count(w->dims, w->ndim) * sizeof *nw);
        float *nb = malloc((size_t)M * sizeof *nb);
        char name[512];
        snprintf(name, sizeof name, "%s/bnfold_w", conv->name);
        int wid = eng_graph_add_value(g, name);
        snprintf(name, sizeof name, "%s/bnfold_b", conv->name);
        int bid = eng_graph_add_value(g, name);
        if (!nw || !nb || wid < 0 || bid < 0) {
            free(nw);
            free(nb);
            return eng_fail(GLINT_ERR_NOMEM, "out of memory folding BatchNormalization");
        }
        w = &g->vals[conv->in[1]]; /* eng_graph_add_value may have moved values */
        const float *W = w->data;
        for (int64_t m = 0; m < M; m++) {
            float a = sc[m] / sqrtf(var[m] + eps);
            if (!tr)
                for (int64_t k = 0; k < per; k++)
                    nw[m * per + k] = W[m * per + k] * a;
            nb[m] = ((cb ? cb[m] : 0.0f) - mean[m]) * a + bb[m];
        }
        if (tr) { /* input channel c of group c / (Cin/group) writes outputs j of it */
            int64_t cin = w->dims[0], opg = w->dims[1], ipg = cin / group;
            for (int64_t c = 0; c < cin; c++)
                for (int64_t j = 0; j < opg; j++) {
                    int64_t m = c / ipg * opg + j;
                    float a = sc[m] / sqrtf(var[m] + eps);
                    for (int64_t k = 0; k < spatial; k++)
                        nw[(c * opg + j) * spatial + k] = W[(c * opg + j) * spatial + k] * a;
                }
        }
        value *vw = &g->vals[wid], *vb = &g->vals[bid];
        *vw = (value){.name = vw->name,
                      .dtype = GLINT_F32,
                      .ndim = g->vals[conv->in[1]].ndim,
                      .data = nw,
                      .producer = -1,
                      .n_uses = 1};
        memcpy(vw->dims, g->vals[conv->in[1]].dims, sizeof vw->dims);
        *vb = (value){.name = vb->name,
                      .dtype = GLINT_F32,
                      .ndim = 1,
                      .dims = {M},
                      .data = nb,
                      .producer = -1,
                      .n_uses = 1};
        g->vals[conv->in[1]].n_uses--;
        if (conv->n_in > 2 && conv->in[2] >= 0) g->vals[conv->in[2]].n_uses--;
        conv->in[1] = wid;
        conv->in[2] = bid;
        conv->n_in = 3;
        /* conv now writes the BN's output */
        int y = bn->out[0];
        kill(g, bn);
        g->vals[x].producer = -1;
        conv->out[0] = y;
        g->vals[y].producer = pi;
    }
    return GLINT_OK;
}

static bool add_post(node *n, post_kind k, float a, float b)
{
    if (n->n_post >= MAX_POST) return false;
    n->post[n->n_post++] = (post_op){k, a, b};
    return true;
}

/* Moves node `a`'s single output onto `conv` (a is being absorbed). */
static void absorb(graph *g, node *conv, node *a)
{
    int y = a->out[0];
    int old = conv->out[0];
    kill(g, a);
    g->vals[old].producer = -1;
    conv->out[0] = y;
    g->vals[y].producer = (int)(conv - g->nodes);
}

static bool scalar_const(const graph *g, int v, float *out)
{
    if (v < 0) return false;
    const value *val = &g->vals[v];
    if (!val->data || eng_dims_count(val->dims, val->ndim) != 1) return false;
    glint_tensor t = {.dtype = val->dtype, .ndim = 0, .data = val->data};
    *out = (float)eng_tensor_get_f(&t, 0);
    return true;
}

/* Tries to fuse the consumer(s) of conv's output into it; true if it did. */
static bool fuse_activation(graph *g, node *conv)
{
    int y = conv->out[0];
    if (g->vals[y].is_output) return false;
    if (g->vals[y].n_uses == 2) { /* x * act(x): SiLU / HardSwish */
        node *act = NULL, *mul = NULL;
        for (int i = 0; i < g->n_nodes; i++) {
            node *n = &g->nodes[i];
            if (n->dead) continue;
            bool reads = false;
            for (int k = 0; k < n->n_in; k++)
                reads |= n->in[k] == y;
            if (!reads) continue;
            if ((is_op(n, OP_Sigmoid) || is_op(n, OP_HardSigmoid)) && !act)
                act = n;
            else if (is_op(n, OP_Mul) && !mul)
                mul = n;
            else
                return false;
        }
        if (!act || !mul || sole_consumer(g, act->out[0]) != mul) return false;
        int o = mul->in[0] == y ? mul->in[1] : mul->in[0];
        if (o != act->out[0]) return false;
        bool swish = is_op(act, OP_Sigmoid);
        float a = eng_attr_f(act, "alpha", 0.2f), b = eng_attr_f(act, "beta", 0.5f);
        if (!add_post(conv, swish ? POST_SWISH : POST_HARDSWISH, a, b)) return false;
        kill(g, act);
        absorb(g, conv, mul);
        return true;
    }
    node *n = sole_consumer(g, y);
    if (!n || n->n_out != 1) return false;
    if (is_op(n, OP_Relu)) {
        if (!add_post(conv, POST_RELU, 0, 0)) return false;
    } else if (is_op(n, OP_LeakyRelu)) {
        if (!add_post(conv, POST_RELU, eng_attr_f(n, "alpha", 0.01f), 0)) return false;
    } else if (is_op(n, OP_Sigmoid)) {
        if (!add_post(conv, POST_SIGMOID, 0, 0)) return false;
    } else if (is_op(n, OP_Tanh)) {
        if (!add_post(conv, POST_TANH, 0, 0)) return false;
    } else if (is_op(n, OP_Gelu)) {
        if (!add_post(conv, POST_GELU,
                      !strcmp(eng_attr_s(n, "approximate", "none"), "tanh") ? 1.0f : 0.0f, 0))
            return false;
    } else if (is_op(n, OP_HardSwish)) {
        if (!add_post(conv, POST_HARDSWISH, 1.0f / 6, 0.5f)) return false;
    } else if (is_op(n, OP_HardSigmoid)) {
        if (!add_post(conv, POST_HARDSIGMOID, eng_attr_f(n, "alpha", 0.2f),
                      eng_attr_f(n, "beta", 0.5f)))
            return false;
    } else if (is_op(n, OP_Clip)) {
        float lo = -INFINITY, hi = INFINITY;
        if (g->opset < 11) {
            lo = eng_attr_f(n, "min", -INFINITY);
            hi = eng_attr_f(n, "max", INFINITY);
        } else {
            if (n->n_in > 1 && n->in[1] >= 0 && !scalar_const(g, n->in[1], &lo)) return false;
            if (n->n_in > 2 && n->in[2] >= 0 && !scalar_const(g, n->in[2], &hi)) return false;
        }
        if (!add_post(conv, POST_CLIP, lo, hi)) return false;
    } else {
        return false;
    }
    absorb(g, conv, n);
    return true;
}

static bool near(float a, float b)
{
    return fabsf(a - b) <= 1e-5f * fabsf(b);
}

/* The live node producing value v, or NULL. */
static node *producer_of(graph *g, int v)
{
    if (v < 0 || g->vals[v].producer < 0) return NULL;
    node *n = &g->nodes[g->vals[v].producer];
    return n->dead ? NULL : n;
}

/* The operand of binary node n that is not the scalar constant near c, or
 * -1 (for Div only the divisor may be the constant). */
static int other_than_const(const graph *g, const node *n, float c)
{
    float v;
    if (n->n_in != 2) return -1;
    if (scalar_const(g, n->in[1], &v) && near(v, c)) return n->in[0];
    if (!is_op(n, OP_Div) && scalar_const(g, n->in[0], &v) && near(v, c)) return n->in[1];
    return -1;
}

/* The Erf form of GELU exporters write, 0.5 * x * (1 + erf(x / sqrt(2)))
 * (x / sqrt(2) as Div or Mul by 1/sqrt(2), the halving before or after the
 * product, operands in either order) -> one Gelu(x) node, which backends
 * run as one kernel or fuse into the MatMul before it. */
static bool fuse_gelu(graph *g, node *erf)
{
    node *scale = producer_of(g, erf->in[0]);
    if (!scale || g->vals[scale->out[0]].n_uses != 1) return false;
    int x = is_op(scale, OP_Div)   ? other_than_const(g, scale, 1.41421356f)
            : is_op(scale, OP_Mul) ? other_than_const(g, scale, 0.70710678f)
                                   : -1;
    node *add = sole_consumer(g, erf->out[0]);
    if (x < 0 || !add || !is_op(add, OP_Add) || other_than_const(g, add, 1.0f) != erf->out[0])
        return false;
    node *m1 = sole_consumer(g, add->out[0]);
    if (!m1 || !is_op(m1, OP_Mul) || m1->n_in != 2) return false;
    int o = m1->in[0] == add->out[0] ? m1->in[1] : m1->in[0];
    node *half = NULL, *last;
    if (o == x) { /* (x * (1 + erf)) * 0.5 */
        last = sole_consumer(g, m1->out[0]);
        if (!last || !is_op(last, OP_Mul) || other_than_const(g, last, 0.5f) != m1->out[0])
            return false;
    } else { /* (x * 0.5) * (1 + erf) */
        half = producer_of(g, o);
        if (!half || !is_op(half, OP_Mul) || g->vals[o].n_uses != 1 ||
            other_than_const(g, half, 0.5f) != x)
            return false;
        last = m1;
    }
    int y = last->out[0];
    kill(g, scale);
    kill(g, erf);
    kill(g, add);
    if (half) kill(g, half);
    if (last != m1) kill(g, m1);
    g->vals[last->in[0]].n_uses--;
    g->vals[last->in[1]].n_uses--;
    last->op = OP_Gelu;
    last->n_in = 1;
    last->in[0] = x;
    g->vals[x].n_uses++;
    g->vals[y].producer = (int)(last - g->nodes);
    return true;
}

/* Whether node n reduces over the last axis only (axes [-1]) keeping it. */
static bool reduces_last(const graph *g, const node *n)
{
    const int64_t *ax;
    if (!is_op(n, OP_ReduceMean) || eng_attr_i(n, "keepdims", 1) != 1) return false;
    if (n->n_in > 1 && n->in[1] >= 0) { /* opset 18: axes as an input */
        const value *a = &g->vals[n->in[1]];
        return a->data && eng_dims_count(a->dims, a->ndim) == 1 && a->dtype == GLINT_I64 &&
               *(const int64_t *)a->data == -1;
    }
    return eng_attr_ints(n, "axes", &ax) == 1 && ax[0] == -1;
}

/* Gives node n (whose inputs were just set) the attributes axis = -1 and
 * epsilon = eps of a LayerNormalization; false out of memory. */
static bool set_layernorm_attrs(node *n, float eps)
{
    attr *a = calloc(2, sizeof *a);
    char *n0 = strdup("axis"), *n1 = strdup("epsilon");
    if (!a || !n0 || !n1) {
        free(a);
        free(n0);
        free(n1);
        return false;
    }
    a[0] = (attr){.name = n0, .type = ATTR_INT, .i = -1};
    a[1] = (attr){.name = n1, .type = ATTR_FLOAT, .f = eps};
    free(n->attrs); /* the loader's array, empty (n_attrs 0) */
    n->attrs = a;
    n->n_attrs = 2;
    return true;
}

/* LayerNormalization as exporters write it below opset 17: d = x -
 * ReduceMean(x), d / Sqrt(ReduceMean(Pow(d, 2)) + eps) * gamma (+ beta),
 * over the last axis -> one LayerNormalization(x, gamma, beta) node, which
 * oneDNN runs as one kernel. gamma must be a constant (its length is the
 * normalised axis'). */
static bool fuse_layernorm(graph *g, node *div)
{
    node *sub = producer_of(g, div->in[0]), *sq = producer_of(g, div->in[1]);
    if (!sub || !sq || !is_op(sub, OP_Sub) || !is_op(sq, OP_Sqrt) || div->n_in != 2) return false;
    int d = sub->out[0], x = sub->in[0];
    node *mean = producer_of(g, sub->in[1]);
    if (!mean || !reduces_last(g, mean) || mean->in[0] != x || g->vals[d].n_uses != 2 ||
        g->vals[mean->out[0]].n_uses != 1)
        return false;
    node *add = producer_of(g, sq->in[0]);
    float eps;
    if (!add || !is_op(add, OP_Add) || g->vals[sq->in[0]].n_uses != 1 ||
        g->vals[sq->out[0]].n_uses != 1)
        return false;
    int vi = add->in[0];
    if (!scalar_const(g, add->in[1], &eps)) {
        vi = add->in[1];
        if (!scalar_const(g, add->in[0], &eps)) return false;
    }
    node *var = producer_of(g, vi), *pw = var ? producer_of(g, var->in[0]) : NULL;
    float two;
    if (!var || !reduces_last(g, var) || g->vals[vi].n_uses != 1 || !pw || !is_op(pw, OP_Pow) ||
        pw->in[0] != d || !scalar_const(g, pw->in[1], &two) || two != 2.0f ||
        g->vals[pw->out[0]].n_uses != 1)
        return false;
    node *mul = sole_consumer(g, div->out[0]);
    if (!mul || !is_op(mul, OP_Mul) || mul->n_in != 2) return false;
    int gamma = mul->in[0] == div->out[0] ? mul->in[1] : mul->in[0];
    const value *gv = &g->vals[gamma];
    if (!gv->data || gv->dtype != GLINT_F32 || gv->ndim != 1) return false;
    node *last = mul, *bias = sole_consumer(g, mul->out[0]);
    int beta = -1;
    if (bias && is_op(bias, OP_Add) && bias->n_in == 2) {
        beta = bias->in[0] == mul->out[0] ? bias->in[1] : bias->in[0];
        const value *bv = &g->vals[beta];
        if (bv->data && bv->dtype == GLINT_F32 && bv->ndim == 1 && bv->dims[0] == gv->dims[0])
            last = bias;
        else
            beta = -1;
    }
    if (last->n_attrs || !set_layernorm_attrs(last, eps)) return false;
    int y = last->out[0];
    g->vals[x].n_uses++; /* the new node's reads, before the old ones let go */
    g->vals[gamma].n_uses++;
    if (beta >= 0) g->vals[beta].n_uses++;
    kill(g, mean);
    kill(g, sub);
    kill(g, pw);
    kill(g, var);
    kill(g, add);
    kill(g, sq);
    kill(g, div);
    if (last != mul) kill(g, mul);
    for (int k = 0; k < last->n_in; k++)
        if (last->in[k] >= 0) g->vals[last->in[k]].n_uses--;
    last->op = OP_LayerNormalization;
    last->in[0] = x;
    last->in[1] = gamma;
    last->in[2] = beta;
    last->n_in = beta >= 0 ? 3 : 2;
    g->vals[y].producer = (int)(last - g->nodes);
    return true;
}

/* MatMul(A, B) + bias, B a constant [K, N] and bias a constant of N values
 * (a Linear layer on a 3-D input exports so) -> GlintMatMul(A, B, bias),
 * which takes activations and a residual Add next like a Conv. */
static bool fuse_matmul_bias(graph *g, node *mm)
{
    const value *b = &g->vals[mm->in[1]];
    if (!b->data || b->ndim != 2 || b->dtype != GLINT_F32) return false;
    node *add = sole_consumer(g, mm->out[0]);
    if (!add || !is_op(add, OP_Add) || add->n_in != 2) return false;
    int bias = add->in[0] == mm->out[0] ? add->in[1] : add->in[0];
    const value *bv = &g->vals[bias];
    if (bias == mm->out[0] || !bv->data || bv->dtype != GLINT_F32 || bv->ndim < 1 ||
        bv->dims[bv->ndim - 1] != b->dims[1] || eng_dims_count(bv->dims, bv->ndim) != b->dims[1])
        return false;
    mm->op = OP_GlintMatMul;
    mm->in[2] = bias;
    mm->n_in = 3;
    g->vals[bias].n_uses++;
    absorb(g, mm, add);
    return true;
}

/* A per-output-channel scale after a Linear layer (ConvNeXt's layer scale:
 * GlintMatMul(A, B, bias) * gamma, gamma N constants; or, as torchvision
 * writes it, after the permute back to channels first, gamma [N,1,1])
 * folds into the layer's weights and bias: B[:, j] * gamma[j], bias[j] *
 * gamma[j]. Only when B and bias are read by this node alone (they are
 * changed in place). */
static bool fold_matmul_scale(graph *g, node *mm)
{
    if (mm->n_post || mm->sum_in >= 0 || mm->n_in < 3) return false;
    value *b = &g->vals[mm->in[1]], *bias = &g->vals[mm->in[2]];
    node *mul = sole_consumer(g, mm->out[0]), *perm = NULL;
    const int64_t *pm;
    if (mul && is_op(mul, OP_Transpose) && eng_attr_ints(mul, "perm", &pm) == 4 && pm[0] == 0 &&
        pm[1] == 3 && pm[2] == 1 && pm[3] == 2) {
        perm = mul;
        mul = sole_consumer(g, perm->out[0]);
    }
    int x = perm ? perm->out[0] : mm->out[0];
    if (!mul || !is_op(mul, OP_Mul) || mul->n_in != 2 || b->n_uses != 1 || bias->n_uses != 1)
        return false;
    int gi = mul->in[0] == x ? mul->in[1] : mul->in[0];
    const value *gv = &g->vals[gi];
    int64_t K = b->dims[0], N = b->dims[1];
    if (gi == x || !gv->data || gv->dtype != GLINT_F32 || gv->ndim < 1 ||
        eng_dims_count(gv->dims, gv->ndim) != N)
        return false;
    /* gamma lies along the channel axis: the last one, or axis 1 of 4
     * after the permute ([N,1,1] or [1,N,1,1]) */
    if (perm ? gv->ndim < 3 || gv->ndim > 4 || gv->dims[gv->ndim - 3] != N
             : gv->dims[gv->ndim - 1] != N)
        return false;
    const float *gamma = gv->data;
    float *w = b->data, *bb = bias->data;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++)
            w[k * N + j] *= gamma[j];
    for (int64_t j = 0; j < N; j++)
        bb[j] *= gamma[j];
    absorb(g, perm ? perm : mm, mul);
    return true;
}

/* Add(conv(..), r) -> conv(.., sum=r) when r has conv's output shape and is
 * computed before conv runs. `shape` is a batch-1 plan of the graph. */
static bool fuse_sum(graph *g, node *conv, const plan *shapes, int n_shapes)
{
    int y = conv->out[0];
    node *add = sole_consumer(g, y);
    if (!add || !is_op(add, OP_Add) || add->n_in != 2 || conv->sum_in >= 0) return false;
    int r = add->in[0] == y ? add->in[1] : add->in[0];
    if (r == y || g->vals[r].data) return false;
    for (int k = 0; k < n_shapes; k++) { /* the same shapes at every size planned */
        const plan *shape = &shapes[k];
        if (shape->is_const[r] || shape->dyn[r] || shape->dyn[y]) return false;
        const glint_tensor *ty = &shape->t[y], *tr = &shape->t[r];
        if (ty->ndim != tr->ndim || ty->dtype != GLINT_F32 || tr->dtype != GLINT_F32) return false;
        for (int d = 0; d < ty->ndim; d++)
            if (ty->dims[d] != tr->dims[d]) return false;
    }
    int conv_idx = (int)(conv - g->nodes);
    if (g->vals[r].producer >= conv_idx) return false;
    if (!add_post(conv, POST_SUM, 0, 0)) return false;
    conv->sum_in = r;
    g->vals[r].n_uses++;
    absorb(g, conv, add);
    return true;
}

/* Value v as a constant of `count` elements of type t, or NULL. */
static const void *const_of(const graph *g, int v, glint_dtype t, int64_t count)
{
    if (v < 0) return NULL;
    const value *val = &g->vals[v];
    if (!val->data || val->dtype != t || eng_dims_count(val->dims, val->ndim) != count) return NULL;
    return val->data;
}

/* The live node producing value v, if its op is `op`. */
static node *producer_op(graph *g, int v, op_id op)
{
    if (v < 0 || g->vals[v].producer < 0) return NULL;
    node *n = &g->nodes[g->vals[v].producer];
    return is_op(n, op) ? n : NULL;
}

/* Conv(DequantizeLinear(QuantizeLinear(x, s, z), s, z), DequantizeLinear(Wq,
 * Ws, 0)) -> GlintQConv(x, s, z, Wq, Ws, -, b): the int8 convolution the QDQ
 * form describes (u8 activations per tensor, s8 weights per channel or per
 * tensor, zero weight zero points), which the oneDNN backend runs as one.
 * Q and DQ nodes nothing else reads die. */
/* A new constant of g named `<base>/<suffix>` of type t and dims (ndim of
 * them) holding data (owned by the graph from now on, also on failure); -1
 * on OOM. */
static int add_const(graph *g, const char *base, const char *suffix, glint_dtype t, int ndim,
                     const int64_t *dims, void *data)
{
    char name[512];
    snprintf(name, sizeof name, "%s/%s", base, suffix);
    int id = eng_graph_add_value(g, name);
    if (id < 0) {
        free(data);
        return -1;
    }
    value *nv = &g->vals[id];
    *nv = (value){
        .name = nv->name, .dtype = t, .ndim = ndim, .data = data, .producer = -1, .n_uses = 1};
    memcpy(nv->dims, dims, (size_t)ndim * sizeof *dims);
    return id;
}

/* Whether a u8 x s8 pair sum can overflow 16 bits on output channel w[0..per):
 * its two largest |w| add up to more than 128 (255 * 128 = 32640 fits
 * whatever weights oneDNN pairs). */
static bool channel_overflows(const int8_t *w, int64_t per)
{
    int a = 0, b = 0; /* the largest |w| and the next */
    for (int64_t k = 0; k < per; k++) {
        int v = w[k] < 0 ? -w[k] : w[k];
        if (v > a) {
            b = a;
            a = v;
        } else if (v > b) {
            b = v;
        }
    }
    return a + b > 128;
}

/* GlintQConv `conv` on a CPU without VNNI (eng_simd_int8_weight_bits): the
 * s8 weights of each output channel whose pair sums could overflow 16 bits
 * in oneDNN's vpmaddubsw kernels (channel_overflows) become 7-bit, w7 =
 * round half to even(w / 2) clamped to [-64, 63], and that channel's weight
 * scale doubles (w7 * 2 * scale ~ w * scale; 255 * 64 * 2 <= 32767). The
 * other channels keep their 8 bits; a per-tensor scale becomes per channel
 * when only some narrow. Nothing changes when none needs to; else new
 * constants (the originals may be shared). Every backend runs the result,
 * so the reference kernel stays the exact definition of what the plan
 * computes. */
static glint_status narrow_qconv_weights(graph *g, node *conv)
{
    int w = conv->in[3], ws = conv->in[4];
    const value *wv = &g->vals[w];
    int64_t M = wv->dims[0], nw = eng_dims_count(wv->dims, wv->ndim), per = nw / M,
            ns = eng_dims_count(g->vals[ws].dims, g->vals[ws].ndim), narrow = 0;
    const int8_t *w8 = wv->data;
    const float *s8 = g->vals[ws].data;
    for (int64_t m = 0; m < M; m++)
        narrow += channel_overflows(w8 + m * per, per);
    if (!narrow) return GLINT_OK;
    int64_t ns2 = narrow == M ? ns : M;
    int8_t *w7 = malloc((size_t)nw);
    float *s2 = malloc((size_t)ns2 * sizeof *s2);
    if (!w7 || !s2) {
        free(w7);
        free(s2);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory narrowing int8 weights");
    }
    for (int64_t m = 0; m < M; m++) {
        bool halve = channel_overflows(w8 + m * per, per);
        for (int64_t k = m * per; k < (m + 1) * per; k++) {
            int v = halve ? (int)nearbyint(w8[k] / 2.0) : w8[k]; /* half to even */
            w7[k] = (int8_t)(v > 63 && halve ? 63 : v);          /* -128 / 2 = -64 fits */
        }
        if (m < ns2) s2[m] = s8[ns > 1 ? m : 0] * (halve ? 2 : 1); /* exact */
    }
    /* copies: adding a value may move g->vals */
    int64_t wd[MAXD], sd[MAXD] = {ns2};
    int wn = g->vals[w].ndim, sn = ns2 == ns ? g->vals[ws].ndim : 1;
    memcpy(wd, g->vals[w].dims, sizeof wd);
    if (ns2 == ns) memcpy(sd, g->vals[ws].dims, sizeof sd);
    int w_id = add_const(g, conv->name, "w7", GLINT_I8, wn, wd, w7);
    if (w_id < 0) free(s2);
    int s_id = w_id < 0 ? -1 : add_const(g, conv->name, "w7_scale", GLINT_F32, sn, sd, s2);
    if (s_id < 0) return eng_fail(GLINT_ERR_NOMEM, "out of memory narrowing int8 weights");
    g->vals[w].n_uses--;
    g->vals[ws].n_uses--;
    conv->in[3] = w_id;
    conv->in[4] = s_id;
    return GLINT_OK;
}

static glint_status fold_qdq_conv(graph *g, node *conv)
{
    glint_status s;
    node *dq = producer_op(g, conv->in[0], OP_DequantizeLinear);
    node *q = dq ? producer_op(g, dq->in[0], OP_QuantizeLinear) : NULL;
    node *wdq = producer_op(g, conv->in[1], OP_DequantizeLinear);
    if (!q || !wdq || dq->n_in < 2 || q->n_in < 2 || wdq->n_in < 2) return GLINT_OK;
    const float *s1 = const_of(g, dq->in[1], GLINT_F32, 1),
                *s2 = const_of(g, q->in[1], GLINT_F32, 1);
    int zq = q->n_in > 2 ? q->in[2] : -1, zd = dq->n_in > 2 ? dq->in[2] : -1;
    const uint8_t *z1 = zd >= 0 ? const_of(g, zd, GLINT_U8, 1) : NULL;
    const uint8_t *z2 = zq >= 0 ? const_of(g, zq, GLINT_U8, 1) : NULL;
    if (!s1 || !s2 || *s1 != *s2 || !(*s1 > 0) || (zd >= 0) != (zq >= 0) ||
        (zd >= 0 && (!z1 || !z2 || *z1 != *z2)))
        return GLINT_OK;
    const value *wq = &g->vals[wdq->in[0]];
    if (!wq->data || wq->dtype != GLINT_I8 || wq->ndim != 4) return GLINT_OK;
    int64_t m = wq->dims[0], ns = wdq->in[1] >= 0 ? eng_dims_count(g->vals[wdq->in[1]].dims,
                                                                   g->vals[wdq->in[1]].ndim)
                                                  : 0;
    if ((ns != 1 && ns != m) || !const_of(g, wdq->in[1], GLINT_F32, ns)) return GLINT_OK;
    if (ns == m && eng_attr_i(wdq, "axis", 1) != 0) return GLINT_OK;
    if (wdq->n_in > 2 && wdq->in[2] >= 0) {
        const int8_t *wz = const_of(g, wdq->in[2], GLINT_I8, ns);
        for (int64_t i = 0; wz && i < ns; i++)
            if (wz[i]) wz = NULL;
        if (!wz) return GLINT_OK;
    }
    int bias = conv->n_in > 2 ? conv->in[2] : -1;
    if (bias >= 0 && !const_of(g, bias, GLINT_F32, m)) return GLINT_OK;
    int *in = malloc(7 * sizeof *in);
    if (!in) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    int want[7] = {q->in[0], q->in[1], zq, wdq->in[0], wdq->in[1], -1, bias};
    for (int k = 0; k < conv->n_in; k++)
        if (conv->in[k] >= 0) g->vals[conv->in[k]].n_uses--;
    for (int k = 0; k < 7; k++) {
        in[k] = want[k];
        if (in[k] >= 0) g->vals[in[k]].n_uses++;
    }
    free(conv->in);
    conv->in = in;
    conv->n_in = 7;
    conv->op = OP_GlintQConv;
    if (eng_simd_int8_weight_bits() == 7 && (s = narrow_qconv_weights(g, conv))) return s;
    if (g->vals[dq->out[0]].n_uses == 0 && !g->vals[dq->out[0]].is_output) kill(g, dq);
    if (g->vals[q->out[0]].n_uses == 0 && !g->vals[q->out[0]].is_output) kill(g, q);
    if (g->vals[wdq->out[0]].n_uses == 0 && !g->vals[wdq->out[0]].is_output) kill(g, wdq);
    return GLINT_OK;
}

/* Conv(Softmax(Transpose(x, perm 0,2,1,3), axis 1), w) with w [1, R, 1, 1]
 * = 0, 1, ..., R-1, no bias, no post-ops, 1x1 unpadded: the expected bin
 * of a distribution over R bins (YOLOv8's DFL, x [N, 4, 16, anchors]) ->
 * GlintDFL(x), one pass over x instead of a transpose, a softmax and a
 * one-channel convolution. The Transpose and Softmax die when nothing
 * else reads them. Opset 13+ only (per-axis Softmax). */
static glint_status fold_dfl(graph *g, node *conv)
{
    node *sm = producer_op(g, conv->in[0], OP_Softmax);
    node *tr = sm ? producer_op(g, sm->in[0], OP_Transpose) : NULL;
    if (!tr || g->opset < 13 || conv->n_post || (conv->n_in > 2 && conv->in[2] >= 0) ||
        g->vals[conv->in[0]].n_uses != 1 || g->vals[sm->in[0]].n_uses != 1)
        return GLINT_OK;
    const value *w = &g->vals[conv->in[1]]; /* x is 4-D: the perm has 4 axes */
    if (w->ndim != 4 || w->dims[0] != 1 || w->dims[2] != 1 || w->dims[3] != 1) return GLINT_OK;
    const float *wv = const_of(g, conv->in[1], GLINT_F32, w->dims[1]);
    const int64_t *perm, *v;
    if (!wv || eng_attr_ints(tr, "perm", &perm) != 4 || perm[0] != 0 || perm[1] != 2 ||
        perm[2] != 1 || perm[3] != 3 ||
        (eng_attr_i(sm, "axis", -1) != 1 && eng_attr_i(sm, "axis", -1) != -3) ||
        eng_attr_i(conv, "group", 1) != 1 ||
        strcmp(eng_attr_s(conv, "auto_pad", "NOTSET"), "NOTSET"))
        return GLINT_OK;
    for (int64_t i = 0; i < w->dims[1]; i++)
        if (wv[i] != (float)i) return GLINT_OK;
    int n = eng_attr_ints(conv, "pads", &v);
    for (int k = 0; k < n; k++)
        if (v[k]) return GLINT_OK;
    n = eng_attr_ints(conv, "strides", &v);
    for (int k = 0; k < n; k++)
        if (v[k] != 1) return GLINT_OK;
    int x_id = tr->in[0];
    for (int k = 0; k < conv->n_in; k++)
        if (conv->in[k] >= 0) g->vals[conv->in[k]].n_uses--;
    conv->in[0] = x_id;
    conv->n_in = 1;
    g->vals[x_id].n_uses++;
    conv->op = OP_GlintDFL;
    if (!g->vals[sm->out[0]].n_uses && !g->vals[sm->out[0]].is_output) kill(g, sm);
    if (!g->vals[tr->out[0]].n_uses && !g->vals[tr->out[0]].is_output) kill(g, tr);
    return GLINT_OK;
}

/* ---- u8 between quantized nodes ----
 * QuantizeLinear(DequantizeLinear(q, s, z), s, z) is q, exactly (for u8
 * and one scale per tensor), and Split and Concat commute with
 * DequantizeLinear. So where every reader of a value quantizes it with one
 * (s, z) — QuantizeLinear nodes, or GlintQConvs whose input parameters they
 * are — its producer may write the u8 values instead: a GlintQConv
 * quantizes its output (inputs 7 and 8), a Split or Concat of dequantized
 * u8 values moves the u8 values. The graph then computes what the QDQ graph
 * says, bit for bit, with 8-bit tensors where the QDQ graph had float
 * ones. */

/* One scale per tensor and a u8 zero point (0 when absent). */
typedef struct qparam {
    float s;
    uint8_t z;
    int s_id, z_id; /* the values holding them (z_id -1: absent) */
} qparam;

static bool qparam_at(const graph *g, int s_id, int z_id, qparam *q)
{
    const float *s = const_of(g, s_id, GLINT_F32, 1);
    const uint8_t *z = z_id >= 0 ? const_of(g, z_id, GLINT_U8, 1) : NULL;
    if (!s || !(*s > 0) || (z_id >= 0 && !z)) return false;
    *q = (qparam){*s, z ? *z : 0, s_id, z_id};
    return true;
}

/* The parameters of a QuantizeLinear / DequantizeLinear node n. */
static bool qdq_param(const graph *g, const node *n, qparam *q)
{
    return n->n_in >= 2 && qparam_at(g, n->in[1], n->n_in > 2 ? n->in[2] : -1, q);
}

/* The input parameters of GlintQConv n. */
static bool qconv_param(const graph *g, const node *n, qparam *q)
{
    return qparam_at(g, n->in[1], n->in[2], q);
}

static bool same_q(const qparam *a, const qparam *b)
{
    return a->s == b->s && a->z == b->z;
}

/* Whether every reader of value v quantizes it with p: QuantizeLinear
 * nodes (their outputs no graph outputs) and GlintQConvs reading it as
 * their data input only; at least one reader, v no graph output, no
 * residual sum. */
static bool readers_quantize(const graph *g, int v, const qparam *p)
{
    if (g->vals[v].is_output || !g->vals[v].n_uses) return false;
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        if (n->dead) continue;
        if (n->sum_in == v) return false;
        bool reads = false;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == v) {
                if (k) return false;
                reads = true;
            }
        if (!reads) continue;
        qparam q;
        if (is_op(n, OP_QuantizeLinear)) {
            if (!qdq_param(g, n, &q) || !same_q(&q, p) || g->vals[n->out[0]].is_output)
                return false;
        } else if (!is_op(n, OP_GlintQConv) || !qconv_param(g, n, &q) || !same_q(&q, p)) {
            return false;
        }
    }
    return true;
}

/* v is now u8 with the parameters its QuantizeLinear readers used: their
 * readers read v and they die. */
static void readers_take_u8(graph *g, int v)
{
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        if (!is_op(n, OP_QuantizeLinear) || n->in[0] != v) continue;
        replace_uses(g, n->out[0], v);
        kill(g, n);
    }
}

static void set_input(graph *g, node *n, int k, int v)
{
    if (n->in[k] >= 0) g->vals[n->in[k]].n_uses--;
    n->in[k] = v;
    if (v >= 0) g->vals[v].n_uses++;
}

/* The DequantizeLinear producing v from a computed (not constant) u8
 * tensor, with its parameters, or NULL. */
static node *dq_of_u8(graph *g, int v, qparam *p)
{
    node *dq = producer_op(g, v, OP_DequantizeLinear);
    if (!dq || g->vals[dq->in[0]].data || !qdq_param(g, dq, p)) return NULL;
    return dq;
}

static void kill_if_unused(graph *g, node *n)
{
    if (n && !n->dead && !g->vals[n->out[0]].n_uses && !g->vals[n->out[0]].is_output) kill(g, n);
}

/* GlintQConv n writes u8 when its readers quantize its output with one
 * (s, z) and one of them is a QuantizeLinear. */
static glint_status qconv_out_u8(graph *g, node *n, bool *changed)
{
    int y = n->out[0];
    if (n->n_in != 7) return GLINT_OK;
    qparam p;
    node *q = NULL;
    for (int i = 0; i < g->n_nodes && !q; i++)
        if (is_op(&g->nodes[i], OP_QuantizeLinear) && g->nodes[i].in[0] == y) q = &g->nodes[i];
    if (!q || !qdq_param(g, q, &p) || !readers_quantize(g, y, &p)) return GLINT_OK;
    int *in = realloc(n->in, 9 * sizeof *in);
    if (!in) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    n->in = in;
    n->in[7] = n->in[8] = -1;
    n->n_in = 9;
    set_input(g, n, 7, p.s_id);
    set_input(g, n, 8, p.z_id);
    readers_take_u8(g, y);
    *changed = true;
    return GLINT_OK;
}

/* Split(DequantizeLinear(q)) -> Split(q) when each output's readers
 * quantize it with the same parameters. */
static void split_u8(graph *g, node *n, bool *changed)
{
    qparam p;
    node *dq = dq_of_u8(g, n->in[0], &p);
    if (!dq) return;
    for (int k = 0; k < n->n_out; k++)
        if (!readers_quantize(g, n->out[k], &p)) return;
    set_input(g, n, 0, dq->in[0]);
    for (int k = 0; k < n->n_out; k++)
        readers_take_u8(g, n->out[k]);
    kill_if_unused(g, dq);
    *changed = true;
}

/* Concat(DequantizeLinear(q_i)...) -> Concat(q_i...) when all share the
 * parameters and the output's readers quantize with them. */
static void concat_u8(graph *g, node *n, bool *changed)
{
    qparam p, pi;
    if (n->n_in < 1 || !dq_of_u8(g, n->in[0], &p)) return;
    for (int k = 1; k < n->n_in; k++)
        if (!dq_of_u8(g, n->in[k], &pi) || !same_q(&pi, &p)) return;
    if (!readers_quantize(g, n->out[0], &p)) return;
    for (int k = 0; k < n->n_in; k++) {
        node *dq = dq_of_u8(g, n->in[k], &pi);
        set_input(g, n, k, dq->in[0]);
        kill_if_unused(g, dq);
    }
    readers_take_u8(g, n->out[0]);
    *changed = true;
}

/* Resize (nearest) and MaxPool of DequantizeLinear(q) -> of q when the
 * output's readers quantize with q's parameters: picking a value (nearest)
 * or the largest of a window (DequantizeLinear is increasing, padding
 * never wins) commutes with DequantizeLinear, so this is exact. */
static void pick_u8(graph *g, node *n, bool *changed)
{
    qparam p;
    if (n->n_out != 1 ||
        (is_op(n, OP_Resize) && strcmp(eng_attr_s(n, "mode", "nearest"), "nearest")))
        return;
    node *dq = dq_of_u8(g, n->in[0], &p);
    if (!dq || !readers_quantize(g, n->out[0], &p)) return;
    set_input(g, n, 0, dq->in[0]);
    readers_take_u8(g, n->out[0]);
    kill_if_unused(g, dq);
    *changed = true;
}

/* A GlintQConv reads u8 values its input parameters describe instead of
 * quantizing: those its input was dequantized from, or the output of a
 * QuantizeLinear (before it) of the same input. */
static void qconv_in_u8(graph *g, node *n, bool *changed)
{
    qparam p, pq;
    if (!qconv_param(g, n, &p)) return;
    int x = n->in[0];
    node *dq = dq_of_u8(g, x, &pq);
    if (dq && same_q(&pq, &p)) {
        set_input(g, n, 0, dq->in[0]);
        kill_if_unused(g, dq);
        *changed = true;
        return;
    }
    for (int i = 0; i < g->n_nodes && &g->nodes[i] < n; i++) {
        node *q = &g->nodes[i];
        if (!is_op(q, OP_QuantizeLinear) || q->in[0] != x || !qdq_param(g, q, &pq) ||
            !same_q(&pq, &p))
            continue;
        set_input(g, n, 0, q->out[0]);
        *changed = true;
        return;
    }
}

static glint_status qdq_to_u8(graph *g)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (int i = 0; i < g->n_nodes; i++) {
            node *n = &g->nodes[i];
            glint_status s;
            if (is_op(n, OP_GlintQConv)) {
                if ((s = qconv_out_u8(g, n, &changed))) return s;
                if (!n->dead) qconv_in_u8(g, n, &changed);
            } else if (is_op(n, OP_Split)) {
                split_u8(g, n, &changed);
            } else if (is_op(n, OP_Concat)) {
                concat_u8(g, n, &changed);
            } else if (is_op(n, OP_Resize) || is_op(n, OP_MaxPool)) {
                pick_u8(g, n, &changed);
            }
        }
    }
    return GLINT_OK;
}

/* Plans of batch 1 without kernels to read shapes from: the declared shape;
 * for an image input whose height and width are free, two sizes (the
 * export's imgsz metadata, else 640x640, and half of it), so that a
 * rewrite that holds at both holds for the model, not for one size.
 * Returns how many were built (0: the model cannot be planned yet). */
static int shape_plans(glint_model *m, plan p[2])
{
    if (eng_plan_build(m, 1, NULL, &eng_backend_ref, false, &p[0]) == GLINT_OK) return 1;
    const graph *g = &m->g;
    if (g->n_inputs < 1) return 0;
    const value *in = &g->vals[g->inputs[0]];
    if (in->ndim != 4 || in->dims[2] >= 0 || in->dims[3] >= 0) return 0;
    int64_t h = 640, w = 640;
    const char *sz = glint_model_metadata(m, "imgsz"); /* "[640, 640]" */
    long long a, b;
    if (sz && sscanf(sz, " [%lld , %lld ]", &a, &b) == 2 && a >= 64 && b >= 64 && a <= 8192 &&
        b <= 8192) {
        h = a;
        w = b;
    }
    int64_t dims[2][GLINT_MAX_DIMS] = {{0, 0, h, w}, {0, 0, h / 64 * 32, w / 64 * 32}};
    if (eng_plan_build(m, 1, dims[0], &eng_backend_ref, false, &p[0]) != GLINT_OK) return 0;
    if (eng_plan_build(m, 1, dims[1], &eng_backend_ref, false, &p[1]) != GLINT_OK) {
        eng_plan_dispose(&p[0]);
        return 0;
    }
    return 2;
}

glint_status eng_passes_run(glint_model *m)
{
    graph *g = &m->g;
    glint_status s = constants(g);
    if (s) return s;
    identities(g);
    prelu_legacy(g);
    if ((s = fold_bn(g))) return s;
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], OP_Erf)) fuse_gelu(g, &g->nodes[i]);
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], OP_Div)) fuse_layernorm(g, &g->nodes[i]);
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], OP_MatMul) && fuse_matmul_bias(g, &g->nodes[i]))
            fold_matmul_scale(g, &g->nodes[i]);
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], OP_Conv) || is_op(&g->nodes[i], OP_GlintMatMul))
            while (fuse_activation(g, &g->nodes[i])) {
            }
    /* residual adds need shapes: plan batch 1 without kernels (a model that
     * cannot be planned yet keeps its adds) */
    plan p[2];
    int n_shapes = shape_plans(m, p);
    for (int i = g->n_nodes - 1; n_shapes && i >= 0; i--) {
        node *n = &g->nodes[i];
        if ((is_op(n, OP_Conv) || is_op(n, OP_GlintMatMul)) && fuse_sum(g, n, p, n_shapes))
            while (fuse_activation(g, n)) {
            }
    }
    for (int k = 0; k < n_shapes; k++)
        eng_plan_dispose(&p[k]);
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], OP_Conv) && (s = fold_qdq_conv(g, &g->nodes[i]))) return s;
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], OP_Conv) && (s = fold_dfl(g, &g->nodes[i]))) return s;
    return qdq_to_u8(g);
}
