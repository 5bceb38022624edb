/* The layout planner: gives every step of a plan a layout and a kernel.
 *
 * eng_layout_plan() walks the plan's steps once. For each it asks the
 * backend (backend.h) in which layouts it can run the step, best first,
 * converts the step's inputs into the layout it picks (a conversion step,
 * once per value and layout, made by the backend's make_reorder) and asks
 * the backend for the kernel; the layout-sensitive roles are the planner's:
 *  - Conv-like steps read their data input in the backend's layout and
 *    write NHWC (an int8 chain writes u8 NHWC for int8 readers, plan_qout);
 *    a fused residual is accumulated in place in the residual's own buffer
 *    when nothing reads it later;
 *  - pooling and ConvTranspose run on NHWC, element-wise ops on their
 *    input's layout, binary ops on NHWC when an input is and the other fits;
 *  - Concat and Split along channels, channel Slice, nearest Resize and
 *    per-tensor Quantize/Dequantize on NHWC run the shared CPU kernels
 *    (kernels_nhwc.c), Concat and Split in place where they can;
 *  - any other operator the backend lists runs with its inputs and outputs
 *    in the backend's best layout (oneDNN: Softmax, Gemm, MatMul on plain);
 *  - everything else runs the reference kernel on plain (NCHW) tensors.
 * Graph outputs are plain. Nothing here names a backend: a new backend is a
 * new table (backend.h). */
#include "backend.h"
#include "kernels_nhwc.h"
#include "ops_impl.h"
#include "simd.h"

#include <stdlib.h>
#include <string.h>

bool eng_qconv_input_q(const plan *p, const step *st, qout *q)
{
    if (st->n->op != OP_GlintQConv || st->reorder_from >= 0) return false;
    for (int k = 1; k < st->n_in_ids && k < 7; k++)
        if (st->in_id[k] >= 0 && !p->is_const[st->in_id[k]]) return false;
    const op_ctx *c = &st->ctx;
    if (c->in[0]->ndim != 4 || c->in[3]->ndim != 4) return false;
    *q = (qout){.on = true,
                .scale = *(const float *)c->in[1]->data,
                .zp = c->in[2] ? *(const uint8_t *)c->in[2]->data : 0};
    return true;
}

/* The u8 output a GlintQConv step's node asks for (its inputs 7 and 8,
 * passes.c qdq_to_u8); false when it writes f32. */
static bool qconv_graph_qout(const step *st, qout *q)
{
    const op_ctx *c = &st->ctx;
    if (st->n->op != OP_GlintQConv || c->n_in < 8 || !c->in[7]) return false;
    *q = (qout){.on = true,
                .scale = *(const float *)c->in[7]->data,
                .zp = c->n_in > 8 && c->in[8] ? *(const uint8_t *)c->in[8]->data : 0};
    return true;
}

/* ---- layout assignment ---- */
typedef struct lctx {
    plan *p;
    const backend_iface *be; /* the backend, and its per-plan state */
    void *bs;
    step *out; /* the new step list */
    int n_out, cap;
    int *as[LAYOUT_COUNT]; /* per layout, per value: id of its copy in it, or -1 */
    qout *qo;              /* per value: written as u8 for its GlintQConv readers */
} lctx;

/* Value v has no copy in any layout yet. */
static void forget_copies(lctx *L, int v)
{
    for (int l = 0; l < LAYOUT_COUNT; l++)
        L->as[l][v] = -1;
}

static step *push_step(lctx *L)
{
    if (L->n_out == L->cap) return NULL;
    step *s = &L->out[L->n_out++];
    memset(s, 0, sizeof *s);
    s->reorder_from = -1;
    s->sum_id = -1;
    return s;
}

/* A new step before `consumer` that writes a copy of value v as a new
 * value (*nv) of type t in layout lay; its kernel is the caller's to set.
 * NULL with *s set when out of room. */
static step *convert_step(lctx *L, int v, glint_dtype t, layout lay, const node *consumer, int *nv,
                          glint_status *s)
{
    plan *p = L->p;
    *nv = eng_plan_add_value(p);
    step *r = push_step(L);
    if (*nv < 0 || !r) {
        *s = eng_fail(GLINT_ERR_NOMEM, "too many steps");
        return NULL;
    }
    p->t[*nv] = p->t[v];
    p->t[*nv].dtype = t;
    p->t[*nv].data = NULL;
    p->lay[*nv] = lay;
    forget_copies(L, *nv);
    r->n = consumer;
    r->op = eng_op_get(OP_Identity);
    r->ctx.n = consumer;
    r->ctx.n_in = r->ctx.n_out = 1;
    r->ctx.in[0] = &p->t[v];
    r->ctx.out[0] = &p->t[*nv];
    r->n_in_ids = 1;
    r->in_id[0] = v;
    r->out_id[0] = *nv;
    return r;
}

/* Returns the id of value v in layout `want`, adding a reorder step if
 * needed (before the step being built, which serves as `consumer`). */
static int in_layout(lctx *L, int v, layout want, const node *consumer, glint_status *s)
{
    plan *p = L->p;
    if (p->is_const[v] || p->lay[v] == want) return v;
    const glint_tensor *t = &p->t[v];
    bool plain_nhwc = (p->lay[v] == LAYOUT_PLAIN && want == LAYOUT_NHWC) ||
                      (p->lay[v] == LAYOUT_NHWC && want == LAYOUT_PLAIN);
    if (plain_nhwc && t->ndim == 4 && (t->dims[1] == 1 || t->dims[2] * t->dims[3] == 1))
        return v; /* NCHW and NHWC are the same bytes */
    int *cache = L->as[want];
    if (cache[v] >= 0) return cache[v];
    int nv;
    step *r = convert_step(L, v, t->dtype, want, consumer, &nv, s);
    if (!r) return v;
    r->reorder_from = v;
    r->reorder_dst = nv;
    r->single = eng_plan_small(p, r);
    eng_plan_threads(p, r);
    *s = L->be->make_reorder(L->bs, p, r, v, nv, p->lay[v], want);
    eng_plan_threads(p, NULL);
    if (*s) return v;
    cache[v] = nv;
    return nv;
}

static void set_input(lctx *L, step *st, int k, int id)
{
    st->in_id[k] = id;
    st->ctx.in[k] = &L->p->t[id];
}

/* The f32 NHWC copy of u8 value v (written by a GlintQConv for GlintQConv
 * readers, L->qo[v]) for a reader that oneDNN would not run: a
 * dequantizing step before `consumer`. */
static int dequantized(lctx *L, int v, const node *consumer, glint_status *s)
{
    qout *q = malloc(sizeof *q);
    int nv;
    step *r = q ? convert_step(L, v, GLINT_F32, LAYOUT_NHWC, consumer, &nv, s) : NULL;
    if (!r) {
        if (!q) *s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        free(q);
        return v;
    }
    *q = L->qo[v];
    L->qo[nv].on = false;
    r->k = (kernel){eng_nhwc_dequant_run, free, q, "glint:dequantize_nhwc"};
    /* cppcheck-suppress memleak ; the kernel made above owns q */
    return nv;
}

/* Which GlintQConv outputs are written as u8 (L->qo): those read by
 * GlintQConv steps only, as their data input, all quantizing it with one
 * scale and zero point; the readers then skip their quantizing reorder. Not
 * a graph output, not one with a residual sum (that one stays f32). */
static void plan_qout(lctx *L, const step *orig, int n)
{
    plan *p = L->p;
    for (int v = 0; v < p->cap_vals; v++)
        L->qo[v].on = false;
    for (int i = 0; i < n; i++) {
        const step *st = &orig[i];
        int y = st->out_id[0];
        qout q = {0}, rq;
        if (!eng_qconv_input_q(p, st, &rq) || st->sum_id >= 0 || p->t[y].ndim != 4 ||
            p->t[y].dtype != GLINT_F32)
            continue;
        bool ok = !p->out_live[y];
        for (int j = 0; j < n && ok; j++) {
            const step *r = &orig[j];
            bool other = r->sum_id == y;
            for (int k = 1; k < r->n_in_ids; k++)
                other |= r->in_id[k] == y;
            if (r->in_id[0] != y && !other) continue;
            ok = !other && r->in_id[0] == y && eng_qconv_input_q(p, r, &rq) &&
                 (!q.on || (rq.scale == q.scale && rq.zp == q.zp));
            q = rq;
        }
        if (ok && q.on) L->qo[y] = q;
    }
}

/* When residual v (NHWC f32) is a dequantizing step's output, already
 * placed, of a u8 NHWC value: that value's id, and in *uq the output
 * quantization oq reading it as a u8 residual; else -1. */
static int sum_from_u8(lctx *L, int v, const qout *oq, qout *uq)
{
    for (int i = 0; i < L->n_out; i++) {
        const step *d = &L->out[i];
        if (d->out_id[0] != v || d->k.run != eng_nhwc_dequantize_run) continue;
        int u = d->in_id[0];
        if (L->p->lay[u] != LAYOUT_NHWC || L->p->t[u].dtype != GLINT_U8) return -1;
        const qdq_k *k = d->k.state;
        *uq = *oq;
        uq->sum_u8 = true;
        uq->sum_scale = k->scale;
        uq->sum_zp = k->zp;
        return u;
    }
    return -1;
}

/* Drops dequantizing steps whose output nothing reads any more (the u8
 * residual of a convolution replaced it). */
static void drop_unread_dequantize(lctx *L)
{
    int w = 0;
    for (int i = 0; i < L->n_out; i++) {
        step *d = &L->out[i];
        bool read = d->k.run != eng_nhwc_dequantize_run || L->p->out_live[d->out_id[0]];
        for (int j = 0; j < L->n_out && !read; j++) {
            const step *r = &L->out[j];
            read = r->sum_id == d->out_id[0] || r->reorder_from == d->out_id[0];
            for (int k = 0; k < r->n_in_ids && !read; k++)
                read = r->in_id[k] == d->out_id[0];
        }
        if (read) {
            L->out[w++] = *d;
        } else if (d->k.destroy) {
            d->k.destroy(d->k.state);
        }
    }
    L->n_out = w;
}

/* The layout-sensitive kind of a step (what it can run on NHWC). */
typedef enum lkind {
    LK_PLAIN,
    LK_CONV,
    LK_POOL,
    LK_CONCAT,
    LK_SPLIT,
    LK_RESIZE,
    LK_ELTWISE, /* any layout: output takes the input's */
    LK_BINARY,  /* NHWC when an input is, else plain */
    LK_DECONV,
    LK_SLICE,   /* a channel range of an NHWC tensor */
    LK_QDQ,     /* per-tensor QuantizeLinear / DequantizeLinear: any layout */
    LK_TVIEW,   /* a Transpose between NCHW-in-NHWC and plain NHWC: the same bytes */
    LK_BACKEND, /* any other operator the backend lists: inputs and outputs in its
                 * best layout */
} lkind;

/* Whether the backend lists layout `want` for st (among the n in lays). */
static bool lists(const layout *lays, int n, layout want)
{
    for (int i = 0; i < n; i++)
        if (lays[i] == want) return true;
    return false;
}

/* Whether op is element-wise unary (runs on any dense layout). */
static bool is_unary(op_id op)
{
#define UNARY_CASE(name, infer, run, lo, hi, flags) case OP_##name:
    switch (op) {
        ENG_UNARY_OPS(UNARY_CASE)
        return true;
    default:
        return false;
    }
#undef UNARY_CASE
}

/* Whether op is a numpy-broadcasting binary operator. */
static bool is_binary(op_id op)
{
#define BINARY_CASE(name, infer, run, lo, hi, flags) case OP_##name:
    switch (op) {
        ENG_BINARY_OPS(BINARY_CASE)
        return true;
    default:
        return false;
    }
#undef BINARY_CASE
}

/* What the shared CPU kernels (kernels_nhwc.c) can do with a step no
 * backend takes. */
/* A 4-D Transpose that only renames the axes of bytes already in place:
 * perm (0,2,3,1) of an NHWC-laid [N,C,H,W] is the plain [N,H,W,C] it is
 * stored as, and perm (0,3,1,2) of a plain [N,H,W,C] is an NHWC-laid
 * [N,C,H,W] (ConvNeXt's permutes around its channels-last blocks). */
static bool transpose_view(const plan *p, const step *st)
{
    int x = st->in_id[0];
    if (st->n->op != OP_Transpose || x < 0 || p->is_const[x] || p->t[x].ndim != 4) return false;
    const int64_t *pm;
    if (eng_attr_ints(st->n, "perm", &pm) != 4 || pm[0] != 0) return false;
    if (p->lay[x] == LAYOUT_NHWC) return pm[1] == 2 && pm[2] == 3 && pm[3] == 1;
    return p->lay[x] == LAYOUT_PLAIN && pm[1] == 3 && pm[2] == 1 && pm[3] == 2;
}

static lkind shared_kind(const plan *p, const step *st)
{
    int x = st->in_id[0];
    bool nhwc_in = x >= 0 && p->lay[x] == LAYOUT_NHWC;
    if (eng_nhwc_qdq_make(p, st, NULL)) return LK_QDQ;
    if (transpose_view(p, st)) return LK_TVIEW;
    switch (st->n->op) {
    case OP_Resize:
    case OP_Upsample:
        return nhwc_in ? LK_RESIZE : LK_PLAIN;
    case OP_Slice:
        return nhwc_in ? LK_SLICE : LK_PLAIN;
    case OP_Split:
        return nhwc_in && eng_norm_axis(eng_attr_i(st->n, "axis", 0), 4) == 1 ? LK_SPLIT : LK_PLAIN;
    case OP_Concat: {
        int o = st->out_id[0];
        if (!(p->t[o].ndim == 4 && (p->t[o].dtype == GLINT_F32 || p->t[o].dtype == GLINT_U8)))
            return LK_PLAIN;
        if (eng_norm_axis(eng_attr_i(st->n, "axis", 0), 4) != 1) return LK_PLAIN;
        bool any_nhwc = false;
        for (int i = 0; i < st->n_in_ids; i++) {
            if (p->is_const[st->in_id[i]]) return LK_PLAIN;
            any_nhwc |= p->lay[st->in_id[i]] == LAYOUT_NHWC;
        }
        return any_nhwc ? LK_CONCAT : LK_PLAIN;
    }
    default:
        return LK_PLAIN;
    }
}

/* The layout-sensitive kind of a step, given the n layouts (lays) in which
 * the backend can run it: the planner's own roles first, then any operator
 * the backend lists, then the shared CPU kernels. */
static lkind kind_of(const plan *p, const step *st, const layout *lays, int n)
{
    op_id op = st->n->op;
    int x = st->in_id[0];
    bool nhwc_in = x >= 0 && p->lay[x] == LAYOUT_NHWC;
    switch (op) {
    case OP_Conv:
    case OP_GlintQConv:
        return n ? LK_CONV : LK_PLAIN;
    case OP_ConvTranspose:
        return lists(lays, n, LAYOUT_NHWC) ? LK_DECONV : LK_PLAIN;
    case OP_MaxPool:
    case OP_AveragePool:
    case OP_GlobalAveragePool:
        return nhwc_in && lists(lays, n, LAYOUT_NHWC) ? LK_POOL : LK_PLAIN;
    default:
        break;
    }
    if (transpose_view(p, st)) return LK_TVIEW; /* no copy beats any kernel */
    if (is_unary(op) && x >= 0 && lists(lays, n, p->lay[x])) return LK_ELTWISE;
    if (is_binary(op) && st->n_in_ids == 2 && n) return LK_BINARY;
    if (n) return LK_BACKEND;
    return shared_kind(p, st);
}

/* Whether value v (or a view of it) is read by a step after index i of the
 * original list, or is a graph output. */
static bool read_later(const plan *p, const step *orig, int n, int i, int v)
{
    if (p->out_live[v]) return true;
    for (int j = 0; j < n; j++) {
        bool reads = orig[j].sum_id == v;
        for (int k = 0; k < orig[j].n_in_ids; k++)
            reads |= orig[j].in_id[k] == v;
        if (!reads) continue;
        if (j > i) return true;
        /* a view reads v through its output (a Transpose may be one: LK_TVIEW) */
        if (((orig[j].op->view && !orig[j].k.run) || orig[j].n->op == OP_Transpose) &&
            orig[j].in_id[0] == v && read_later(p, orig, n, i, orig[j].out_id[0]))
            return true;
    }
    return false;
}

/* Whether every later reader of v is a Reshape or Flatten (which read it
 * plain), at least one. */
static bool reshaped_only(const plan *p, const step *orig, int n, int i, int v)
{
    if (p->out_live[v]) return false;
    int readers = 0;
    for (int j = 0; j < n; j++) {
        bool reads = orig[j].sum_id == v;
        for (int k = 0; k < orig[j].n_in_ids; k++)
            reads |= orig[j].in_id[k] == v;
        if (!reads) continue;
        if (j <= i || (orig[j].n->op != OP_Reshape && orig[j].n->op != OP_Flatten)) return false;
        readers++;
    }
    return readers > 0;
}

/* The backend's kernel for st in layout lay (see backend_iface.make_kernel). */
static glint_status make(lctx *L, step *st, layout lay, const qout *oq, bool *taken)
{
    static const qout f32_out = {0};
    eng_plan_threads(L->p, st);
    glint_status s = L->be->make_kernel(L->bs, L->p, st, lay, oq ? oq : &f32_out, taken);
    eng_plan_threads(L->p, NULL);
    return s;
}

/* A step of any other operator on the backend: its inputs (and residual)
 * converted into layout lay, its outputs written in it. */
static glint_status backend_step(lctx *L, step *st, layout lay, bool *taken)
{
    plan *p = L->p;
    glint_status s = GLINT_OK;
    for (int k = 0; k < st->n_in_ids; k++)
        if (st->in_id[k] >= 0) set_input(L, st, k, in_layout(L, st->in_id[k], lay, st->n, &s));
    if (st->sum_id >= 0) {
        st->sum_id = in_layout(L, st->sum_id, lay, st->n, &s);
        st->ctx.sum = &p->t[st->sum_id];
    }
    if (s || (s = make(L, st, lay, NULL, taken)) || !*taken) return s;
    for (int k = 0; k < st->n->n_out && k < 8; k++)
        p->lay[st->out_id[k]] = lay;
    return GLINT_OK;
}

/* Conv-like step st (a copy of orig, the original step): its data input
 * in the backend's best layout (lays, n_lays), its residual in NHWC, its
 * output NHWC, u8 when an int8 chain wants it (oq). A u8 residual is read
 * in place of its dequantized copy when the backend can (*sum_u8). Not
 * taken: st is orig again, reading an f32 copy of a u8 input. */
static glint_status place_conv(lctx *L, step *st, const step *orig, const layout *lays, int n_lays,
                               bool *taken, bool *sum_u8)
{
    plan *p = L->p;
    glint_status s = GLINT_OK;
    const node *nd = st->n;
    int x = st->in_id[0];
    layout src_lay = lays[0]; /* the backend's best input layout first */
    qout gq;
    const qout *oq = qconv_graph_qout(st, &gq) ? &gq : &L->qo[st->out_id[0]];
    if (src_lay == LAYOUT_PLAIN) { /* it may have no fast NCHW kernel after all */
        set_input(L, st, 0, x);
        if ((s = make(L, st, src_lay, oq, taken))) return s;
        if (!*taken) src_lay = n_lays > 1 ? lays[1] : LAYOUT_NHWC;
    }
    if (!*taken) set_input(L, st, 0, in_layout(L, x, src_lay, nd, &s));
    if (st->sum_id >= 0) {
        st->sum_id = in_layout(L, st->sum_id, LAYOUT_NHWC, nd, &s);
        st->ctx.sum = &p->t[st->sum_id];
    }
    if (s) return s;
    p->lay[st->out_id[0]] = LAYOUT_NHWC;
    qout uq;
    int u8_sum = oq->on && !*taken ? sum_from_u8(L, st->sum_id, oq, &uq) : -1;
    if (u8_sum >= 0) { /* the residual's u8 source instead of its dequantized copy */
        int f32_sum = st->sum_id;
        st->sum_id = u8_sum;
        st->ctx.sum = &p->t[u8_sum];
        if ((s = make(L, st, src_lay, &uq, taken))) return s;
        if (*taken) {
            *sum_u8 = true;
        } else {
            st->sum_id = f32_sum;
            st->ctx.sum = &p->t[f32_sum];
        }
    }
    if (!*taken && (s = make(L, st, src_lay, oq, taken))) return s;
    if (*taken && oq->on) p->t[st->out_id[0]].dtype = GLINT_U8;
    if (!*taken) {
        p->lay[st->out_id[0]] = LAYOUT_PLAIN;
        *st = *orig;
        if (L->qo[x].on) set_input(L, st, 0, dequantized(L, x, nd, &s));
    }
    return s;
}

/* The layout of a binary step: NHWC if an input is NHWC and the other fits
 * it (a constant operand is plain: usable on NHWC only if, broadcast to
 * rank 4, it has one channel or one pixel), else plain. */
static layout binary_layout(const plan *p, const step *st)
{
    layout lay = LAYOUT_PLAIN;
    for (int k = 0; k < 2; k++)
        if (p->lay[st->in_id[k]] == LAYOUT_NHWC) lay = LAYOUT_NHWC;
    if (lay == LAYOUT_NHWC && p->t[st->out_id[0]].ndim != 4) lay = LAYOUT_PLAIN;
    for (int k = 0; k < 2 && lay == LAYOUT_NHWC; k++) {
        const glint_tensor *t = &p->t[st->in_id[k]];
        int64_t d[4];
        for (int j = 0; j < 4; j++)
            d[j] = j - (4 - t->ndim) >= 0 ? t->dims[j - (4 - t->ndim)] : 1;
        if (p->is_const[st->in_id[k]] && d[1] != 1 && d[2] * d[3] != 1) lay = LAYOUT_PLAIN;
    }
    return lay;
}

/* A step one of the shared CPU kernels runs (kind: LK_QDQ ... LK_SPLIT);
 * orig, n_orig, i: the original list and the step's index in it. */
static glint_status place_shared(lctx *L, step *st, lkind kind, const step *orig, int n_orig, int i,
                                 bool *taken)
{
    plan *p = L->p;
    glint_status s = GLINT_OK;
    if (kind == LK_QDQ) {
        *taken = eng_nhwc_qdq_make(p, st, &st->k);
        if (*taken) p->lay[st->out_id[0]] = p->lay[st->in_id[0]];
    } else if (kind == LK_TVIEW) {
        int x = st->in_id[0], y = st->out_id[0];
        st->k = (kernel){eng_nhwc_view_run, NULL, NULL, "glint:transpose_view"};
        p->lay[y] = p->lay[x] == LAYOUT_NHWC ? LAYOUT_PLAIN : LAYOUT_NHWC;
        p->alias[y] = x;
        p->alias_off[y] = 0;
        *taken = true;
    } else if (kind == LK_SLICE) {
        *taken = eng_nhwc_slice_make(st);
        if (*taken) p->lay[st->out_id[0]] = LAYOUT_NHWC;
    } else if (kind == LK_RESIZE) {
        *taken = eng_nhwc_resize_make(st);
        if (*taken) p->lay[st->out_id[0]] = LAYOUT_NHWC;
    } else if (kind == LK_CONCAT) {
        for (int k = 0; k < st->n_in_ids; k++)
            set_input(L, st, k, in_layout(L, st->in_id[k], LAYOUT_NHWC, st->n, &s));
        if (s) return s;
        bool u8 = p->t[st->out_id[0]].dtype == GLINT_U8;
        bool plain = !u8 && reshaped_only(p, orig, n_orig, i, st->out_id[0]) && eng_simd_has_avx2();
        st->k = (kernel){plain ? eng_nhwc_concat_plain_run : eng_nhwc_concat_run, NULL, NULL,
                         plain ? "glint:concat_nhwc_to_plain"
                         : u8  ? "glint:concat_u8_nhwc"
                               : "glint:concat_nhwc"};
        p->lay[st->out_id[0]] = plain ? LAYOUT_PLAIN : LAYOUT_NHWC;
        st->planes_ok = plain;
        *taken = true;
    } else if (kind == LK_SPLIT) {
        st->k = (kernel){eng_nhwc_split_run, NULL, NULL,
                         p->t[st->in_id[0]].dtype == GLINT_U8 ? "glint:split_u8_nhwc"
                                                              : "glint:split_nhwc"};
        for (int k = 0; k < st->n->n_out; k++)
            p->lay[st->out_id[k]] = LAYOUT_NHWC;
        *taken = true;
    }
    return s;
}

/* A step nothing else took: on plain tensors, the shared DFL kernel for
 * GlintDFL, else the reference kernel (a Concat's may become the shared
 * row-copy kernel when memory planning writes its inputs in place). */
static glint_status place_plain(lctx *L, step *st, bool *taken)
{
    plan *p = L->p;
    glint_status s = GLINT_OK;
    for (int k = 0; k < st->n_in_ids; k++)
        if (st->in_id[k] >= 0)
            set_input(L, st, k, in_layout(L, st->in_id[k], LAYOUT_PLAIN, st->n, &s));
    if (st->sum_id >= 0) {
        st->sum_id = in_layout(L, st->sum_id, LAYOUT_PLAIN, st->n, &s);
        st->ctx.sum = &p->t[st->sum_id];
    }
    if (!s && st->n->op == OP_GlintDFL && eng_simd_has_avx2()) {
        st->k = (kernel){eng_nhwc_dfl_run, NULL, NULL, "glint:dfl_avx2"};
        *taken = true;
    }
    st->rows_ok = st->n->op == OP_Concat; /* memory planning may copy rows in place */
    return s;
}

/* Residual in place: step st (index i of orig) writes into its residual's
 * buffer when nothing later reads the residual and it is not a graph input
 * (which the caller owns). sum_u8: st reads the residual's u8 source. */
static void residual_in_place(lctx *L, const step *st, const step *orig, int n_orig, int i,
                              bool sum_u8)
{
    plan *p = L->p;
    int r = st->sum_id;
    bool graph_input = false;
    for (int k = 0; k < p->m->g.n_inputs; k++)
        graph_input |= p->m->g.inputs[k] == r;
    if (!graph_input && !read_later(p, orig, n_orig, i, sum_u8 ? r : orig[i].sum_id))
        p->alias[st->out_id[0]] = r;
}

/* Gives step i of the original list (orig, n_orig steps) its layout and
 * kernel and appends it, after any conversion steps it needs, to L->out. */
static glint_status place_step(lctx *L, const step *orig, int n_orig, int i)
{
    plan *p = L->p;
    glint_status s = GLINT_OK;
    step st = orig[i];
    layout lays[BACKEND_MAX_LAYOUTS];
    int n_lays = L->be->layouts(L->bs, p, &st, lays);
    lkind kind = kind_of(p, &st, lays, n_lays);
    bool taken = false, sum_u8 = false;
    layout lay;
    switch (kind) {
    case LK_CONV:
        s = place_conv(L, &st, &orig[i], lays, n_lays, &taken, &sum_u8);
        break;
    case LK_POOL:
        p->lay[st.out_id[0]] = LAYOUT_NHWC;
        s = make(L, &st, LAYOUT_NHWC, NULL, &taken);
        if (!taken) p->lay[st.out_id[0]] = LAYOUT_PLAIN;
        break;
    case LK_ELTWISE:
        s = make(L, &st, p->lay[st.in_id[0]], NULL, &taken);
        if (taken) p->lay[st.out_id[0]] = p->lay[st.in_id[0]];
        break;
    case LK_DECONV:
        set_input(L, &st, 0, in_layout(L, st.in_id[0], LAYOUT_NHWC, st.n, &s));
        if (!s) s = make(L, &st, LAYOUT_NHWC, NULL, &taken);
        if (taken) p->lay[st.out_id[0]] = LAYOUT_NHWC;
        break;
    case LK_BINARY:
        lay = binary_layout(p, &st);
        for (int k = 0; k < 2; k++)
            set_input(L, &st, k, in_layout(L, st.in_id[k], lay, st.n, &s));
        if (!s && lists(lays, n_lays, lay)) s = make(L, &st, lay, NULL, &taken);
        if (taken) p->lay[st.out_id[0]] = lay;
        break;
    case LK_BACKEND:
        s = backend_step(L, &st, lays[0], &taken);
        break;
    case LK_QDQ:
    case LK_TVIEW:
    case LK_SLICE:
    case LK_RESIZE:
    case LK_CONCAT:
    case LK_SPLIT:
        s = place_shared(L, &st, kind, orig, n_orig, i, &taken);
        break;
    case LK_PLAIN:
        break;
    }
    if (s) return s;
    if (!taken && kind != LK_CONV) st = orig[i]; /* place_conv restored it itself */
    if (!taken && (s = place_plain(L, &st, &taken))) return s;
    if (taken && st.sum_id >= 0 && st.k.state && !st.sum_apart)
        residual_in_place(L, &st, orig, n_orig, i, sum_u8);
    step *slot = push_step(L);
    if (!slot) return eng_fail(GLINT_ERR_NOMEM, "too many steps");
    *slot = st;
    return GLINT_OK;
}

/* Graph outputs must be plain: convert the ones a step wrote in another
 * layout. */
static glint_status plain_outputs(lctx *L)
{
    plan *p = L->p;
    const graph *g = &p->m->g;
    glint_status s = GLINT_OK;
    for (int v = 0, n_vals = p->n_vals; v < n_vals; v++) {
        if (!p->out_live[v] || p->is_const[v] || p->lay[v] == LAYOUT_PLAIN) continue;
        /* the producer writes a new value in its layout; the output id gets
         * the plain copy */
        layout from = p->lay[v];
        int nv = eng_plan_add_value(p);
        if (nv < 0) return eng_fail(GLINT_ERR_NOMEM, "too many values");
        p->t[nv] = p->t[v];
        p->lay[nv] = from;
        forget_copies(L, nv);
        for (int i = 0; i < L->n_out; i++) {
            step *st = &L->out[i];
            for (int j = 0; j < 8; j++)
                if (st->out_id[j] == v && st->reorder_from < 0) {
                    st->out_id[j] = nv;
                    st->ctx.out[j] = &p->t[nv];
                }
            for (int j = 0; j < st->n_in_ids; j++)
                if (st->in_id[j] == v) set_input(L, st, j, nv);
            if (st->sum_id == v) {
                st->sum_id = nv;
                st->ctx.sum = &p->t[nv];
            }
            if (st->reorder_from == v) st->reorder_from = nv;
        }
        for (int w = 0; w < p->n_vals; w++)
            if (w != v && p->alias[w] == v) p->alias[w] = nv;
        p->lay[v] = LAYOUT_PLAIN;
        step *r = push_step(L);
        if (!r) return eng_fail(GLINT_ERR_NOMEM, "too many steps");
        r->n = g->vals[v].producer >= 0 ? &g->nodes[g->vals[v].producer] : &g->nodes[0];
        r->op = eng_op_get(OP_Identity);
        r->reorder_from = nv;
        r->reorder_dst = v;
        r->ctx.n = r->n;
        r->ctx.n_in = r->ctx.n_out = 1;
        r->ctx.in[0] = &p->t[nv];
        r->ctx.out[0] = &p->t[v];
        r->n_in_ids = 1;
        r->in_id[0] = nv;
        r->out_id[0] = v;
        r->single = eng_plan_small(p, r);
        eng_plan_threads(p, r);
        s = L->be->make_reorder(L->bs, p, r, nv, v, from, LAYOUT_PLAIN);
        eng_plan_threads(p, NULL);
        if (s) return s;
    }
    return GLINT_OK;
}

/* Concat in place: an input produced by an NHWC copy kernel (Split, Slice,
 * nearest Resize) and read by nothing else is written straight into its
 * channel slot of the Concat's output, which then skips it. */
static void concat_in_place(plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        step *cat = &p->steps[i];
        if (cat->k.run != eng_nhwc_concat_run) continue;
        int o = cat->out_id[0];
        int64_t C = p->t[o].dims[1], at = 0;
        /* in_place is a 32-bit mask; in_id holds 16 */
        int max_in = (int)(sizeof cat->in_id / sizeof cat->in_id[0]);
        for (int k = 0; k < cat->n_in_ids && k < max_in && k < 32; k++) {
            int v = cat->in_id[k];
            int64_t cv = p->t[v].dims[1];
            int64_t slot = at;
            at += cv;
            step *prod = NULL;
            int which = -1;
            for (int j = 0; j < i && !prod; j++)
                for (int q = 0; q < p->steps[j].n->n_out && q < 8; q++)
                    if (p->steps[j].out_id[q] == v && p->steps[j].reorder_from < 0) {
                        prod = &p->steps[j];
                        which = q;
                    }
            if (!prod || (prod->k.run != eng_nhwc_split_run && prod->k.run != eng_nhwc_slice_run &&
                          prod->k.run != eng_nhwc_resize_run))
                continue;
            bool aliased = p->alias[v] != v;
            for (int w = 0; w < p->n_vals && !aliased; w++)
                aliased = w != v && p->alias[w] == v;
            if (aliased || eng_plan_readers(p, v) != 1 || p->is_const[v]) continue;
            p->alias[v] = o;
            p->alias_off[v] = slot * (int64_t)glint_dtype_size(p->t[o].dtype);
            prod->out_stride[which] = C;
            cat->in_place |= 1u << k;
            cat->k.impl = p->t[o].dtype == GLINT_U8 ? "glint:concat_u8_nhwc(part in place)"
                                                    : "glint:concat_nhwc(part in place)";
        }
    }
}

glint_status eng_layout_plan(plan *p, const backend_iface *be, void *state)
{
    glint_status s = GLINT_OK;
    lctx L = {.p = p, .be = be, .bs = state, .cap = p->n_steps * 3 + p->m->g.n_outputs + 16};
    L.out = calloc((size_t)L.cap, sizeof *L.out);
    L.qo = calloc((size_t)p->cap_vals, sizeof *L.qo);
    bool ok = L.out && L.qo;
    for (int l = 0; l < LAYOUT_COUNT; l++)
        ok &= (L.as[l] = malloc((size_t)p->cap_vals * sizeof(int))) != NULL;
    if (!ok) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int v = 0; v < p->cap_vals; v++)
        forget_copies(&L, v);
    plan_qout(&L, p->steps, p->n_steps);
    for (int i = 0; i < p->n_steps && !s; i++)
        s = place_step(&L, p->steps, p->n_steps, i);
    if (!s) s = plain_outputs(&L);
    if (!s) drop_unread_dequantize(&L);
    if (s) {
        for (int i = 0; i < L.n_out; i++)
            if (L.out[i].k.destroy) L.out[i].k.destroy(L.out[i].k.state);
        goto done;
    }
    free(p->steps);
    p->steps = L.out;
    p->n_steps = L.n_out;
    p->cap_steps = L.cap;
    L.out = NULL;
    concat_in_place(p);
done:
    free(L.out);
    for (int l = 0; l < LAYOUT_COUNT; l++)
        free(L.as[l]);
    free(L.qo);
    return s;
}
