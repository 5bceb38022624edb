/* oneDNN backend.
 *
 * dnnl_prepare() walks a plan's steps once, gives each a layout and a kernel:
 *  - Conv (2-D, f32, fused post-ops) runs as a oneDNN convolution writing
 *    NHWC; its weights are reordered once into the layout the primitive asks
 *    for and shared by every plan and context of the model (model->wcache);
 *    a fused residual (POST_SUM) is accumulated in place in the residual's
 *    own buffer when nothing reads it later;
 *  - MaxPool/AveragePool/GlobalAveragePool on NHWC run as oneDNN pooling;
 *  - Concat and Split along channels (f32 or u8), and nearest
 *    Resize/Upsample, on NHWC run as copy kernels here; QuantizeLinear and
 *    DequantizeLinear with one scale run on any layout;
 *  - everything else runs the reference kernel on plain (NCHW) tensors.
 * Where a tensor's layout differs from what its consumer needs, a reorder
 * step is inserted (once per tensor and layout). Graph outputs are plain.
 * Every primitive's implementation is checked: a `ref` kernel on the hot
 * path falls back to the reference kernel instead (it is 100x slower).
 *
 * Threads: kernels run on the thread that calls plan_run, with the OpenMP
 * thread count of its context. */
#include "ops_impl.h"
#include "plan.h"
#include "simd.h"
#include "vmath.h"

#include <float.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- engine, stream, status ---- */
static dnnl_engine_t g_engine;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static dnnl_status_t g_engine_status;

static void engine_init(void)
{
    g_engine_status = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
}

typedef struct dnn {
    dnnl_stream_t stream;
} dnn;

static void dnn_free(void *p)
{
    dnn *d = p;
    if (d && d->stream) dnnl_stream_destroy(d->stream);
    free(d);
}

#define DN(call)                                                                                   \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            s = eng_fail(GLINT_ERR_BACKEND, "oneDNN: %s failed (status %d)", #call, (int)st_);     \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static dnnl_stream_t plan_stream(plan *p)
{
    return ((dnn *)p->backend)->stream;
}

/* ---- memory descriptors ---- */
static void md_4d(dnnl_memory_desc_t *md, const glint_tensor *t, layout l)
{
    dnnl_dims_t d = {t->dims[0], t->dims[1], t->dims[2], t->dims[3]};
    dnnl_memory_desc_init_by_tag(md, 4, d, t->dtype == GLINT_U8 ? dnnl_u8 : dnnl_f32,
                                 l == LAYOUT_NHWC ? dnnl_nhwc : dnnl_nchw);
}

static bool impl_is_ref(dnnl_primitive_desc_t pd, const char **name)
{
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    *name = impl ? impl : "?";
    return impl && strstr(impl, "ref") != NULL;
}

/* ---- weight cache (per model, shared across plans and contexts) ---- */
typedef struct wentry {
    int node;
    dnnl_memory_desc_t md;
    void *data;
    struct wentry *next;
} wentry;

static void wcache_free(void *p)
{
    for (wentry *e = p, *n; e; e = n) {
        n = e->next;
        free(e->data);
        free(e);
    }
}

/* Returns weights of node `ni` reordered into `want` (from plain `have` at
 * src), reordering them on first use; NULL on failure. */
static void *cached_weights(plan *p, int ni, const dnnl_memory_desc_t *have, const void *src,
                            const dnnl_memory_desc_t *want)
{
    glint_model *m = (glint_model *)p->m;
    pthread_mutex_lock(&m->cache_lock);
    m->wcache_free = wcache_free;
    void *out = NULL;
    for (wentry *e = m->wcache; e; e = e->next)
        if (e->node == ni && dnnl_memory_desc_equal(&e->md, want)) {
            out = e->data;
            goto done;
        }
    size_t bytes = dnnl_memory_desc_get_size(want);
    wentry *e = calloc(1, sizeof *e);
    void *data = aligned_alloc(64, (bytes + 63) / 64 * 64);
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    bool ok = e && data && dnnl_memory_create(&ms, have, g_engine, (void *)src) == dnnl_success &&
              dnnl_memory_create(&md, want, g_engine, data) == dnnl_success &&
              dnnl_reorder_primitive_desc_create(&rpd, have, g_engine, want, g_engine, NULL) ==
                  dnnl_success &&
              dnnl_primitive_create(&r, rpd) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        ok = dnnl_primitive_execute(r, plan_stream(p), 2, args) == dnnl_success &&
             dnnl_stream_wait(plan_stream(p)) == dnnl_success;
    }
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    if (!ok) {
        free(e);
        free(data);
        goto done;
    }
    e->node = ni;
    e->md = *want;
    e->data = data;
    e->next = m->wcache;
    m->wcache = e;
    out = data;
    p->weight_bytes += bytes;
done:
    pthread_mutex_unlock(&m->cache_lock);
    return out;
}

/* ---- generic primitive kernel ---- */
typedef struct prim_k {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    int n_args;
    dnnl_exec_arg_t args[5];
    int src_arg, dst_arg;  /* indices into args of the bound tensors */
    int src_in;            /* ctx input bound to src_arg (0 unless swapped) */
    int src1_arg, src1_in; /* second bound input (binary), src1_arg < 0: none */
    bool copy_sum;         /* copy the residual (ctx.sum) into dst first */
    size_t sum_bytes;
} prim_k;

static void prim_free(void *p)
{
    prim_k *k = p;
    if (!k) return;
    if (k->prim) dnnl_primitive_destroy(k->prim);
    for (int i = 0; i < k->n_args; i++)
        if (k->args[i].memory) dnnl_memory_destroy(k->args[i].memory);
    free(k);
}

static glint_status prim_run(step *st)
{
    prim_k *k = st->k.state;
    void *dst = st->ctx.out[0]->data;
    if (k->copy_sum && st->ctx.sum->data != dst) memcpy(dst, st->ctx.sum->data, k->sum_bytes);
    dnnl_memory_set_data_handle(k->args[k->src_arg].memory, (void *)st->ctx.in[k->src_in]->data);
    if (k->src1_arg >= 0)
        dnnl_memory_set_data_handle(k->args[k->src1_arg].memory,
                                    (void *)st->ctx.in[k->src1_in]->data);
    dnnl_memory_set_data_handle(k->args[k->dst_arg].memory, dst);
    if (dnnl_primitive_execute(k->prim, k->stream, k->n_args, k->args) != dnnl_success ||
        dnnl_stream_wait(k->stream) != dnnl_success)
        return eng_fail(GLINT_ERR_BACKEND, "node '%s': oneDNN execution failed", st->n->name);
    return GLINT_OK;
}

/* Creates the primitive of pd and memory objects for its args; takes
 * ownership of pd. */
static glint_status prim_make(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl)
{
    glint_status s = GLINT_OK;
    prim_k *k = calloc(1, sizeof *k);
    if (!k) {
        dnnl_primitive_desc_destroy(pd);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    k->stream = plan_stream(p);
    k->src1_arg = -1;
    DN(dnnl_primitive_create(&k->prim, pd));
    dnnl_primitive_desc_destroy(pd);
    st->k = (kernel){prim_run, prim_free, k, impl};
    return GLINT_OK;
fail:
    dnnl_primitive_desc_destroy(pd);
    prim_free(k);
    return s;
}

static glint_status add_mem(prim_k *k, int arg, const dnnl_memory_desc_t *md, void *data)
{
    dnnl_memory_t m;
    if (dnnl_memory_create(&m, md, g_engine, data) != dnnl_success)
        return eng_fail(GLINT_ERR_BACKEND, "oneDNN: memory creation failed");
    k->args[k->n_args++] = (dnnl_exec_arg_t){arg, m};
    return GLINT_OK;
}

/* Adds the memories of a weighted primitive (convolution, deconvolution,
 * matmul): bound src and dst, constant weights and optional bias (bias NULL:
 * none). */
static glint_status weighted_args(prim_k *k, const dnnl_memory_desc_t *src,
                                  const dnnl_memory_desc_t *w, const void *wdata,
                                  const dnnl_memory_desc_t *b, const void *bdata,
                                  const dnnl_memory_desc_t *dst)
{
    glint_status s;
    k->src_arg = 0;
    if ((s = add_mem(k, DNNL_ARG_SRC, src, DNNL_MEMORY_NONE)) ||
        (s = add_mem(k, DNNL_ARG_WEIGHTS, w, (void *)wdata)) ||
        (b && (s = add_mem(k, DNNL_ARG_BIAS, b, (void *)bdata))))
        return s;
    k->dst_arg = k->n_args;
    return add_mem(k, DNNL_ARG_DST, dst, DNNL_MEMORY_NONE);
}

/* Builds a primitive that reads one bound tensor and writes another
 * (pooling, reorder, eltwise, softmax); takes ownership of pd. On failure
 * the step is left without a kernel. */
static glint_status prim_unary(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                               int src_arg, const dnnl_memory_desc_t *src, int dst_arg,
                               const dnnl_memory_desc_t *dst)
{
    glint_status s = prim_make(p, st, pd, impl);
    if (s) return s;
    prim_k *k = st->k.state;
    k->src_arg = 0;
    k->dst_arg = 1;
    if ((s = add_mem(k, src_arg, src, DNNL_MEMORY_NONE)) ||
        (s = add_mem(k, dst_arg, dst, DNNL_MEMORY_NONE))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
    }
    return s;
}

/* ---- Conv ---- */
/* How a convolution's output is quantized for its readers: u8 = y / scale +
 * zp, rounded and saturated as QuantizeLinear (on: false = f32 output).
 * sum_u8: its residual (POST_SUM) is u8 too, (v - sum_zp) * sum_scale, and
 * is copied into the output buffer before the convolution adds to it. */
typedef struct qout {
    bool on;
    float scale;
    uint8_t zp;
    bool sum_u8;
    float sum_scale;
    int32_t sum_zp;
} qout;

/* Appends node n's fused post-ops to po; a residual sum reads the output
 * buffer as oq says (u8 with a scale and zero point) when oq->sum_u8. */
static bool post_ops_make(const node *n, const qout *oq, dnnl_post_ops_t po)
{
    for (int i = 0; i < n->n_post; i++) {
        const post_op *q = &n->post[i];
        float a = q->alpha, b = q->beta;
        dnnl_status_t r = dnnl_success;
        switch (q->kind) {
        case POST_RELU:
            r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_relu, a, 0);
            break;
        case POST_CLIP:
            r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_clip, a < -FLT_MAX ? -FLT_MAX : a,
                                             b > FLT_MAX ? FLT_MAX : b);
            break;
        case POST_SIGMOID:
            r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_logistic, 0, 0);
            break;
        case POST_SWISH:
            r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_swish, 1, 0);
            break;
        case POST_TANH:
            r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_tanh, 0, 0);
            break;
        case POST_HARDSWISH:
            if (a != 1.0f / 6 || b != 0.5f) return false;
            r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_hardswish, 0, 0);
            break;
        case POST_HARDSIGMOID:
            r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_linear, a, b);
            if (r == dnnl_success) r = dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_clip, 0, 1);
            break;
        case POST_SUM:
            r = oq && oq->sum_u8
                    ? dnnl_post_ops_append_sum_v3(po, oq->sum_scale, oq->sum_zp, dnnl_u8)
                    : dnnl_post_ops_append_sum(po, 1.0f);
            break;
        case POST_NONE:
            break;
        }
        if (r != dnnl_success) return false;
    }
    return true;
}

/* Strides, dilations (oneDNN counts from 0) and begin/end pads of a 2-D
 * Conv node from its attributes and shapes: out = (in + pl + pr - ek) / s + 1. */
static void conv_geom(const node *n, const glint_tensor *x, const glint_tensor *w,
                      const glint_tensor *y, dnnl_dims_t strides, dnnl_dims_t dil, dnnl_dims_t pl,
                      dnnl_dims_t pr)
{
    const int64_t *v;
    int64_t st_h = 1, st_w = 1, dl_h = 1, dl_w = 1;
    if (attr_ints(n, "strides", &v) == 2) {
        st_h = v[0];
        st_w = v[1];
    }
    if (attr_ints(n, "dilations", &v) == 2) {
        dl_h = v[0];
        dl_w = v[1];
    }
    int64_t kh = w->dims[2], kw = w->dims[3];
    int64_t pl_h = 0, pl_w = 0;
    const char *ap = attr_s(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET") && attr_ints(n, "pads", &v) == 4) {
        pl_h = v[0];
        pl_w = v[1];
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        int64_t th = (y->dims[2] - 1) * st_h + (kh - 1) * dl_h + 1 - x->dims[2];
        int64_t tw = (y->dims[3] - 1) * st_w + (kw - 1) * dl_w + 1 - x->dims[3];
        th = th < 0 ? 0 : th;
        tw = tw < 0 ? 0 : tw;
        bool up = !strcmp(ap, "SAME_UPPER");
        pl_h = up ? th / 2 : th - th / 2;
        pl_w = up ? tw / 2 : tw - tw / 2;
    }
    strides[0] = st_h;
    strides[1] = st_w;
    dil[0] = dl_h - 1;
    dil[1] = dl_w - 1;
    pl[0] = pl_h;
    pl[1] = pl_w;
    pr[0] = (y->dims[2] - 1) * st_h + (kh - 1) * dl_h + 1 - x->dims[2] - pl_h;
    pr[1] = (y->dims[3] - 1) * st_w + (kw - 1) * dl_w + 1 - x->dims[3] - pl_w;
}

/* Weight descriptors of a 2-D convolution of type t: any (for the primitive)
 * and plain (oihw, or goihw with groups). */
static void conv_weight_mds(const glint_tensor *w, int64_t G, dnnl_data_type_t t,
                            dnnl_memory_desc_t *any, dnnl_memory_desc_t *plain)
{
    int64_t M = w->dims[0], kh = w->dims[2], kw = w->dims[3];
    if (G == 1) {
        dnnl_dims_t wd = {M, w->dims[1], kh, kw};
        dnnl_memory_desc_init_by_tag(any, 4, wd, t, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(plain, 4, wd, t, dnnl_oihw);
    } else {
        dnnl_dims_t wd = {G, M / G, w->dims[1], kh, kw};
        dnnl_memory_desc_init_by_tag(any, 5, wd, t, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(plain, 5, wd, t, dnnl_goihw);
    }
}

/* The descriptor of 2-D Conv node n reading src_md with weights of type wt
 * (*w_plain: their plain oihw/goihw md), an optional f32 bias (*b_md) and
 * NHWC output of type dt (*dst_md). False when oneDNN cannot express it. */
static bool conv_desc(const node *n, const glint_tensor *x, const glint_tensor *w,
                      const glint_tensor *y, bool bias, const dnnl_memory_desc_t *src_md,
                      dnnl_data_type_t wt, dnnl_data_type_t dt, dnnl_convolution_desc_t *cd,
                      dnnl_memory_desc_t *w_plain, dnnl_memory_desc_t *b_md,
                      dnnl_memory_desc_t *dst_md)
{
    dnnl_memory_desc_t w_any;
    dnnl_dims_t bd = {w->dims[0]}, strides, dil, pl, pr;
    dnnl_dims_t yd = {y->dims[0], y->dims[1], y->dims[2], y->dims[3]};
    dnnl_memory_desc_init_by_tag(dst_md, 4, yd, dt, dnnl_nhwc);
    conv_weight_mds(w, attr_i(n, "group", 1), wt, &w_any, w_plain);
    dnnl_memory_desc_init_by_tag(b_md, 1, bd, dnnl_f32, dnnl_x);
    conv_geom(n, x, w, y, strides, dil, pl, pr);
    return dnnl_dilated_convolution_forward_desc_init(
               cd, dnnl_forward_inference, dnnl_convolution_direct, src_md, &w_any,
               bias ? b_md : NULL, dst_md, strides, dil, pl, pr) == dnnl_success;
}

/* The primitive of convolution cd on the attributes pattr plus node n's
 * post-ops (then, with oq, the quantization y / scale + zp of a u8 output),
 * and n's weights (plain md w_plain at wsrc) reordered once into the layout
 * it asks for (model cache). *pd stays NULL, without an error, when oneDNN
 * cannot express it or offers only a reference kernel. */
static glint_status conv_primitive(plan *p, const node *n, const dnnl_convolution_desc_t *cd,
                                   dnnl_primitive_attr_t pattr, const qout *oq,
                                   const dnnl_memory_desc_t *w_plain, const void *wsrc,
                                   dnnl_primitive_desc_t *pd, const char **impl, void **wdata,
                                   dnnl_memory_desc_t *w_md)
{
    glint_status s = GLINT_OK;
    dnnl_post_ops_t po = NULL;
    *pd = NULL;
    DN(dnnl_post_ops_create(&po));
    if (!post_ops_make(n, oq, po)) goto fail;
    if (oq && oq->on &&
        dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_linear, 1.0f / oq->scale, oq->zp) !=
            dnnl_success)
        goto fail;
    DN(dnnl_primitive_attr_set_post_ops(pattr, po));
    if (dnnl_primitive_desc_create(pd, cd, pattr, g_engine, NULL) != dnnl_success) {
        *pd = NULL;
        goto fail;
    }
    if (impl_is_ref(*pd, impl)) goto drop;
    *w_md = *dnnl_primitive_desc_query_md(*pd, dnnl_query_weights_md, 0);
    if (!(*wdata = cached_weights(p, (int)(n - p->m->g.nodes), w_plain, wsrc, w_md))) {
        s = eng_fail(GLINT_ERR_BACKEND, "node '%s': weight reorder failed", n->name);
        goto drop;
    }
    goto fail;
drop:
    dnnl_primitive_desc_destroy(*pd);
    *pd = NULL;
fail:
    if (po) dnnl_post_ops_destroy(po);
    return s;
}

/* Builds the convolution of st (a GlintQConv writes u8 as oq says when
 * oq->on); *taken = false (and no error) when oneDNN offers only a reference
 * kernel or cannot express the node. */
static glint_status qconv_make(plan *p, step *st, layout src_lay, const qout *oq, bool *taken);
/* The kernel of a float Conv computed in bf16 (plan.bf16): primitive pd
 * (taken over) reading conv_src, after a reorder of the input (x_md) into
 * it. */
static glint_status bf16_kernel(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                const dnnl_memory_desc_t *x_md, const dnnl_memory_desc_t *conv_src,
                                const dnnl_memory_desc_t *w_md, void *wdata,
                                const dnnl_memory_desc_t *b_md, const void *bias,
                                const dnnl_memory_desc_t *dst_md);

static glint_status conv_make(plan *p, step *st, layout src_lay, const qout *oq, bool *taken)
{
    if (st->n->op == OP_GlintQConv) return qconv_make(p, st, src_lay, oq, taken);
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const node *n = st->n;
    const glint_tensor *x = c->in[0], *w = c->in[1], *y = c->out[0];
    const glint_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
    dnnl_primitive_attr_t pattr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    *taken = false;
    if (x->ndim != 4 || !p->is_const[st->in_id[1]] || (b && !p->is_const[st->in_id[2]]))
        return GLINT_OK;
    /* bf16 (plan.bf16): the convolution reads a bf16 NHWC copy of its input
     * and bf16 weights (reordered once from the f32 ones) */
    dnnl_memory_desc_t src_md, conv_src, dst_md, w_plain, w_any, b_md;
    dnnl_convolution_desc_t cd;
    md_4d(&src_md, x, src_lay);
    conv_src = src_md;
    if (p->bf16) {
        dnnl_dims_t xd = {x->dims[0], x->dims[1], x->dims[2], x->dims[3]};
        dnnl_memory_desc_init_by_tag(&conv_src, 4, xd, dnnl_bf16, dnnl_nhwc);
    }
    if (!conv_desc(n, x, w, y, b != NULL, &conv_src, p->bf16 ? dnnl_bf16 : dnnl_f32, dnnl_f32, &cd,
                   &w_plain, &b_md, &dst_md))
        return GLINT_OK;
    conv_weight_mds(w, attr_i(n, "group", 1), dnnl_f32, &w_any, &w_plain); /* the f32 source */
    DN(dnnl_primitive_attr_create(&pattr));
    const char *impl;
    void *wdata;
    dnnl_memory_desc_t w_copy;
    if ((s = conv_primitive(p, n, &cd, pattr, NULL, &w_plain, w->data, &pd, &impl, &wdata,
                            &w_copy)))
        goto fail;
    if (!pd && p->bf16) { /* no bf16 kernel for it here (only oneDNN's reference): f32 */
        dnnl_primitive_attr_destroy(pattr);
        p->bf16 = false;
        s = conv_make(p, st, src_lay, oq, taken);
        p->bf16 = true;
        p->f32_convs += *taken;
        return s;
    }
    if (!pd) goto fail;
    dnnl_primitive_desc_t pd_keep = pd;
    pd = NULL;
    p->bf16_convs += p->bf16;
    if (p->bf16)
        s = bf16_kernel(p, st, pd_keep, impl, &src_md, &conv_src, &w_copy, wdata, b ? &b_md : NULL,
                        b ? b->data : NULL, &dst_md);
    else if (!(s = prim_make(p, st, pd_keep, impl)))
        s = weighted_args(st->k.state, &src_md, &w_copy, wdata, b ? &b_md : NULL,
                          b ? b->data : NULL, &dst_md);
    if (s) goto fail;
    if (st->sum_id >= 0) { /* the prim_k first in either kernel's state */
        prim_k *k = st->k.state;
        k->copy_sum = true; /* cleared by dnnl_prepare when it works in place */
        k->sum_bytes = tensor_bytes(y);
    }
    *taken = true;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (pattr) dnnl_primitive_attr_destroy(pattr);
    if (s && st->k.destroy) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
    }
    return s;
}

/* ---- int8 convolution (GlintQConv: the QDQ form folded by passes.c) ----
 * One step, up to two primitives: unless its producer already wrote it as
 * u8 (see plan_qout), a reorder quantizes the f32 input (NHWC or plain) into
 * a u8 NHWC scratch (x / scale + zero point, saturated, as QuantizeLinear);
 * then a u8 x s8 convolution with output scales x_scale * w_scale[m], the
 * bias and the fused post-ops writes f32 NHWC, or u8 NHWC quantized for its
 * readers. The zero point z is folded into the bias (- z * sum of the
 * channel's weights) when the convolution has no padding, where that is
 * exact; otherwise it is a oneDNN src zero point (slower kernels). */
typedef struct qconv_k {
    prim_k conv;            /* first: dnnl_prepare reads copy_sum through a prim_k pointer */
    dnnl_primitive_t quant; /* NULL: the input is u8 already */
    dnnl_memory_t q_src, q_dst, q_zp;
    void *scratch;
    float *bias; /* oneDNN 2.x adds it before scaling: bias / scale (- z * sum(w)) */
    int32_t zp;
    int stem_c;    /* > 0: a plain f32 input of stem_c <= 4 channels, quantized here into
                    * 4-channel u8 pixels (simd_quantize_planes) */
    float inv;     /* 1 / its scale */
    char impl[64]; /* oneDNN's kernel, then the input (f32q: quantized here, u8:
                    * by its producer), +zp: a oneDNN zero point, and the output type */
} qconv_k;

static void qconv_free(void *p)
{
    qconv_k *q = p;
    if (!q) return;
    if (q->conv.prim) dnnl_primitive_destroy(q->conv.prim);
    for (int i = 0; i < q->conv.n_args; i++)
        if (q->conv.args[i].memory) dnnl_memory_destroy(q->conv.args[i].memory);
    if (q->quant) dnnl_primitive_destroy(q->quant);
    if (q->q_src) dnnl_memory_destroy(q->q_src);
    if (q->q_dst) dnnl_memory_destroy(q->q_dst);
    if (q->q_zp) dnnl_memory_destroy(q->q_zp);
    free(q->scratch);
    free(q->bias);
    free(q);
}

static glint_status qconv_run(step *st)
{
    qconv_k *q = st->k.state;
    prim_k *k = &q->conv;
    void *dst = st->ctx.out[0]->data, *x = (void *)st->ctx.in[0]->data;
    if (k->copy_sum && st->ctx.sum->data != dst) memcpy(dst, st->ctx.sum->data, k->sum_bytes);
    dnnl_memory_set_data_handle(k->args[k->dst_arg].memory, dst);
    bool ok = true;
    if (q->stem_c) {
        const glint_tensor *t = st->ctx.in[0];
        int64_t N = t->dims[0], HW = t->dims[2] * t->dims[3], chunks = (HW + 4095) / 4096;
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = 0; j < chunks; j++) {
                int64_t p0 = j * 4096, len = HW - p0 < 4096 ? HW - p0 : 4096;
                simd_quantize_planes((const float *)x + n * q->stem_c * HW + p0, HW, q->stem_c,
                                     q->inv, q->zp, (uint32_t *)q->scratch + n * HW + p0, len);
            }
    } else if (q->quant) {
        dnnl_memory_set_data_handle(q->q_src, x);
        dnnl_exec_arg_t qa[3] = {{DNNL_ARG_FROM, q->q_src},
                                 {DNNL_ARG_TO, q->q_dst},
                                 {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_TO, q->q_zp}};
        ok = dnnl_primitive_execute(q->quant, k->stream, q->q_zp ? 3 : 2, qa) == dnnl_success;
    } else {
        dnnl_memory_set_data_handle(k->args[k->src_arg].memory, x);
    }
    if (!ok || dnnl_primitive_execute(k->prim, k->stream, k->n_args, k->args) != dnnl_success ||
        dnnl_stream_wait(k->stream) != dnnl_success)
        return eng_fail(GLINT_ERR_BACKEND, "node '%s': oneDNN execution failed", st->n->name);
    return GLINT_OK;
}

/* The quantizing reorder of q: x (md src_md) -> u8 NHWC scratch. */
static glint_status qconv_quantizer(qconv_k *q, const dnnl_memory_desc_t *src_md,
                                    const dnnl_memory_desc_t *u8_md, float inv_scale)
{
    glint_status s = GLINT_OK;
    dnnl_primitive_attr_t a = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    int zmask_rt = DNNL_RUNTIME_S32_VAL;
    dnnl_dims_t one = {1};
    dnnl_memory_desc_t zp_md;
    dnnl_memory_desc_init_by_tag(&zp_md, 1, one, dnnl_s32, dnnl_x);
    DN(dnnl_primitive_attr_create(&a));
    DN(dnnl_primitive_attr_set_output_scales(a, 1, 0, &inv_scale));
    DN(dnnl_primitive_attr_set_zero_points(a, DNNL_ARG_DST, 1, 0, &zmask_rt));
    DN(dnnl_reorder_primitive_desc_create(&rpd, src_md, g_engine, u8_md, g_engine, a));
    DN(dnnl_primitive_create(&q->quant, rpd));
    DN(dnnl_memory_create(&q->q_src, src_md, g_engine, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&q->q_dst, u8_md, g_engine, q->scratch));
    DN(dnnl_memory_create(&q->q_zp, &zp_md, g_engine, &q->zp));
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (a) dnnl_primitive_attr_destroy(a);
    return s;
}

/* Output scales x_scale * w_scale[m] (malloc'ed, n of them). */
static float *qconv_scales(const op_ctx *c, int64_t *n)
{
    const glint_tensor *ws = c->in[4];
    int64_t k = 1;
    for (int d = 0; d < ws->ndim; d++)
        k *= ws->dims[d];
    float *sc = malloc((size_t)k * sizeof *sc);
    if (!sc) return NULL;
    float sx = *(const float *)c->in[1]->data;
    for (int64_t i = 0; i < k; i++)
        sc[i] = (float)((double)sx * ((const float *)ws->data)[i]);
    *n = k;
    return sc;
}

/* The bias oneDNN adds to the integer sums of c's convolution: bias[m] /
 * scale[m] - zp * sum of output channel m's weights (malloc'ed, M of them;
 * bias absent = 0). */
static float *qconv_bias(const op_ctx *c, const float *scales, int64_t n_scales, int32_t zp)
{
    const glint_tensor *w = c->in[3], *b = c->in[6];
    int64_t M = w->dims[0], per = tensor_count(w) / M;
    float *out = malloc((size_t)M * sizeof *out);
    if (!out) return NULL;
    for (int64_t m = 0; m < M; m++) {
        const int8_t *wm = (const int8_t *)w->data + m * per;
        int64_t sum = 0;
        for (int64_t k = 0; k < per; k++)
            sum += wm[k];
        double bm = b ? ((const float *)b->data)[m] / scales[n_scales > 1 ? m : 0] : 0;
        out[m] = (float)(bm - (double)zp * (double)sum);
    }
    return out;
}

/* Whether Conv node n reads no padding (so that a zero point folds into the
 * bias exactly). */
static bool conv_unpadded(const node *n, const glint_tensor *x, const glint_tensor *w,
                          const glint_tensor *y)
{
    dnnl_dims_t strides, dil, pl, pr;
    conv_geom(n, x, w, y, strides, dil, pl, pr);
    return !pl[0] && !pl[1] && !pr[0] && !pr[1];
}

/* Whether oneDNN may run GlintQConv step st (constant parameters, 2-D) and,
 * if so, the scale and zero point with which it quantizes its input. */
static bool qconv_input_q(const plan *p, const step *st, qout *q)
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

static glint_status qconv_make(plan *p, step *st, layout src_lay, const qout *oq, bool *taken)
{
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const node *n = st->n;
    const glint_tensor *x = c->in[0], *w = c->in[3], *y = c->out[0];
    dnnl_primitive_attr_t pattr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    qconv_k *q = NULL;
    float *scales = NULL;
    qout in_q;
    *taken = false;
    if (!qconv_input_q(p, st, &in_q)) return GLINT_OK;
    bool u8_in = x->dtype == GLINT_U8;
    /* a plain image of <= 4 channels: quantized straight into 4-channel u8
     * pixels (no NCHW -> NHWC reorder first), weights padded with zeros */
    bool stem = !u8_in && src_lay == LAYOUT_PLAIN && x->dims[1] <= 4 &&
                attr_i(n, "group", 1) == 1 && simd_has_avx2();
    if (src_lay == LAYOUT_PLAIN && !stem) return GLINT_OK;
    glint_tensor wpad = *w;
    if (stem) {
        int64_t M = w->dims[0], C = w->dims[1], khw = w->dims[2] * w->dims[3];
        int8_t *wp = calloc((size_t)(M * 4 * khw), 1);
        if (!wp) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        for (int64_t m = 0; m < M; m++)
            memcpy(wp + m * 4 * khw, (const int8_t *)w->data + m * C * khw, (size_t)(C * khw));
        wpad.dims[1] = 4;
        wpad.data = wp;
        w = &wpad;
    }
    bool fold = in_q.zp == 0 || conv_unpadded(n, x, w, y);
    bool bias = c->in[6] || (fold && in_q.zp);
    int64_t n_scales = 0;
    dnnl_memory_desc_t x_md, u8_md, dst_md, w_plain, b_md, zp_md;
    dnnl_convolution_desc_t cd;
    md_4d(&x_md, x, src_lay);
    dnnl_dims_t xd = {x->dims[0], stem ? 4 : x->dims[1], x->dims[2], x->dims[3]}, one = {1};
    dnnl_memory_desc_init_by_tag(&u8_md, 4, xd, dnnl_u8, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&zp_md, 1, one, dnnl_s32, dnnl_x);
    if (!conv_desc(n, x, w, y, bias, &u8_md, dnnl_s8, oq->on ? dnnl_u8 : dnnl_f32, &cd, &w_plain,
                   &b_md, &dst_md))
        goto fail;
    if (!(scales = qconv_scales(c, &n_scales))) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int zp_rt = DNNL_RUNTIME_S32_VAL;
    DN(dnnl_primitive_attr_create(&pattr));
    DN(dnnl_primitive_attr_set_output_scales(pattr, n_scales, n_scales > 1 ? 1 << 1 : 0, scales));
    if (!fold) DN(dnnl_primitive_attr_set_zero_points(pattr, DNNL_ARG_SRC, 1, 0, &zp_rt));
    const char *impl;
    void *wdata;
    dnnl_memory_desc_t w_copy;
    if ((s = conv_primitive(p, n, &cd, pattr, oq, &w_plain, w->data, &pd, &impl, &wdata,
                            &w_copy)) ||
        !pd)
        goto fail;
    if (!(q = calloc(1, sizeof *q)) ||
        (!u8_in &&
         !(q->scratch = aligned_alloc(64, (dnnl_memory_desc_get_size(&u8_md) + 63) / 64 * 64))) ||
        (bias && !(q->bias = qconv_bias(c, scales, n_scales, fold ? in_q.zp : 0)))) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        goto fail;
    }
    q->zp = in_q.zp;
    q->conv.stream = plan_stream(p);
    q->conv.src1_arg = -1;
    DN(dnnl_primitive_create(&q->conv.prim, pd));
    prim_k *k = &q->conv;
    k->src_arg = 0;
    if ((s = add_mem(k, DNNL_ARG_SRC, &u8_md, u8_in ? DNNL_MEMORY_NONE : q->scratch)) ||
        (s = add_mem(k, DNNL_ARG_WEIGHTS, &w_copy, wdata)) ||
        (bias && (s = add_mem(k, DNNL_ARG_BIAS, &b_md, q->bias))) ||
        (!fold && (s = add_mem(k, DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, &zp_md, &q->zp))))
        goto fail;
    k->dst_arg = k->n_args;
    if ((s = add_mem(k, DNNL_ARG_DST, &dst_md, DNNL_MEMORY_NONE))) goto fail;
    if (stem) {
        q->stem_c = (int)x->dims[1];
        q->inv = 1.0f / in_q.scale;
    } else if (!u8_in && (s = qconv_quantizer(q, &x_md, &u8_md, 1.0f / in_q.scale))) {
        goto fail;
    }
    if (st->sum_id >= 0) {
        k->copy_sum = true; /* cleared by dnnl_prepare when it works in place */
        k->sum_bytes = tensor_bytes(y);
    }
    snprintf(q->impl, sizeof q->impl, "%s %s%s>%s", impl,
             u8_in  ? "u8"
             : stem ? "nchw-f32q"
                    : "f32q",
             fold ? "" : "+zp", oq->on ? "u8" : "f32");
    st->k = (kernel){qconv_run, qconv_free, q, q->impl};
    q = NULL;
    *taken = true;
fail:
    qconv_free(q);
    free(scales);
    if (stem) free(wpad.data); /* the cache holds the reordered copy */
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (pattr) dnnl_primitive_attr_destroy(pattr);
    return s;
}

/* ---- bf16 convolution (plan.bf16) ----
 * The qconv_k kernel without quantization: a reorder rounds the f32 input
 * into a bf16 NHWC scratch, then a bf16 convolution (weights rounded to bf16
 * once, f32 bias, the node's post-ops) accumulates and writes f32 NHWC. */
static glint_status bf16_kernel(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                const dnnl_memory_desc_t *x_md, const dnnl_memory_desc_t *conv_src,
                                const dnnl_memory_desc_t *w_md, void *wdata,
                                const dnnl_memory_desc_t *b_md, const void *bias,
                                const dnnl_memory_desc_t *dst_md)
{
    glint_status s = GLINT_OK;
    dnnl_primitive_desc_t rpd = NULL;
    qconv_k *q = calloc(1, sizeof *q);
    if (!q ||
        !(q->scratch = aligned_alloc(64, (dnnl_memory_desc_get_size(conv_src) + 63) / 64 * 64))) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        goto fail;
    }
    q->conv.stream = plan_stream(p);
    q->conv.src1_arg = -1;
    DN(dnnl_primitive_create(&q->conv.prim, pd));
    if ((s = weighted_args(&q->conv, conv_src, w_md, wdata, b_md, bias, dst_md))) goto fail;
    dnnl_memory_set_data_handle(q->conv.args[0].memory, q->scratch);
    DN(dnnl_reorder_primitive_desc_create(&rpd, x_md, g_engine, conv_src, g_engine, NULL));
    DN(dnnl_primitive_create(&q->quant, rpd));
    DN(dnnl_memory_create(&q->q_src, x_md, g_engine, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&q->q_dst, conv_src, g_engine, q->scratch));
    snprintf(q->impl, sizeof q->impl, "%s f32>bf16>f32", impl);
    st->k = (kernel){qconv_run, qconv_free, q, q->impl};
    q = NULL;
fail:
    qconv_free(q);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

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
static glint_status dequant_nhwc_run(step *st)
{
    const qout *q = st->k.state;
    dequant_u8(st->ctx.in[0]->data, st->ctx.out[0]->data, tensor_count(st->ctx.in[0]), q->zp,
               q->scale);
    return GLINT_OK;
}

/* ConvTranspose (2-D, f32, no post-ops) as a oneDNN deconvolution on NHWC. */
static glint_status deconv_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const glint_tensor *x = c->in[0], *w = c->in[1], *y = c->out[0];
    const glint_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
    *taken = false;
    int64_t pl[2], sd[2], dl[2];
    if (x->ndim != 4 || st->n->n_post || !p->is_const[st->in_id[1]] ||
        (b && !p->is_const[st->in_id[2]]) || !conv_transpose_geometry(c, pl, sd, dl))
        return GLINT_OK;
    int64_t G = attr_i(st->n, "group", 1), kh = w->dims[2], kw = w->dims[3];
    int64_t IC = x->dims[1], OC = y->dims[1];
    dnnl_dims_t strides = {sd[0], sd[1]}, dil = {dl[0] - 1, dl[1] - 1}, padl = {pl[0], pl[1]};
    dnnl_dims_t padr = {(x->dims[2] - 1) * sd[0] + (kh - 1) * dl[0] + 1 - y->dims[2] - pl[0],
                        (x->dims[3] - 1) * sd[1] + (kw - 1) * dl[1] + 1 - y->dims[3] - pl[1]};
    dnnl_memory_desc_t src_md, dst_md, w_any, w_plain, b_md;
    md_4d(&src_md, x, LAYOUT_NHWC);
    md_4d(&dst_md, y, LAYOUT_NHWC);
    if (G == 1) {
        dnnl_dims_t wd = {OC, IC, kh, kw};
        dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&w_plain, 4, wd, dnnl_f32, dnnl_iohw);
    } else {
        dnnl_dims_t wd = {G, OC / G, IC / G, kh, kw};
        dnnl_memory_desc_init_by_tag(&w_any, 5, wd, dnnl_f32, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&w_plain, 5, wd, dnnl_f32, dnnl_giohw);
    }
    dnnl_dims_t bd = {OC};
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x);
    dnnl_deconvolution_desc_t dd;
    dnnl_primitive_desc_t pd;
    if (dnnl_dilated_deconvolution_forward_desc_init(
            &dd, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md, &w_any,
            b ? &b_md : NULL, &dst_md, strides, dil, padl, padr) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &dd, NULL, g_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t w_copy = *w_md;
    void *wdata = cached_weights(p, (int)(st->n - p->m->g.nodes), &w_plain, w->data, &w_copy);
    if (!wdata) {
        dnnl_primitive_desc_destroy(pd);
        return eng_fail(GLINT_ERR_BACKEND, "node '%s': weight reorder failed", st->n->name);
    }
    if ((s = prim_make(p, st, pd, impl))) return s;
    if ((s = weighted_args(st->k.state, &src_md, &w_copy, wdata, b ? &b_md : NULL,
                           b ? b->data : NULL, &dst_md)))
        goto fail;
    *taken = true;
    return GLINT_OK;
fail:
    st->k.destroy(st->k.state);
    memset(&st->k, 0, sizeof st->k);
    return s;
}

/* ---- pooling on NHWC ---- */
static glint_status pool_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const node *n = st->n;
    const glint_tensor *x = c->in[0], *y = c->out[0];
    *taken = false;
    bool global = n->op == OP_GlobalAveragePool;
    bool is_max = n->op == OP_MaxPool;
    if (x->ndim != 4 || (x->dtype != GLINT_F32 && !(is_max && x->dtype == GLINT_U8)))
        return GLINT_OK;
    dnnl_dims_t k = {0}, sd = {1, 1}, dl = {0, 0}, pl = {0, 0}, pr = {0};
    const int64_t *v;
    if (global) {
        k[0] = x->dims[2];
        k[1] = x->dims[3];
    } else {
        if (attr_ints(n, "kernel_shape", &v) != 2) return GLINT_OK;
        k[0] = v[0];
        k[1] = v[1];
        if (attr_ints(n, "strides", &v) == 2) {
            sd[0] = v[0];
            sd[1] = v[1];
        }
        if (attr_ints(n, "dilations", &v) == 2) {
            dl[0] = v[0] - 1;
            dl[1] = v[1] - 1;
        }
        const char *ap = attr_s(n, "auto_pad", "NOTSET");
        if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID")) return GLINT_OK;
        if (!strcmp(ap, "NOTSET") && attr_ints(n, "pads", &v) == 4) {
            pl[0] = v[0];
            pl[1] = v[1];
        }
    }
    for (int i = 0; i < 2; i++)
        pr[i] =
            (y->dims[2 + i] - 1) * sd[i] + (k[i] - 1) * (dl[i] + 1) + 1 - x->dims[2 + i] - pl[i];
    dnnl_alg_kind_t alg = is_max                              ? dnnl_pooling_max
                          : attr_i(n, "count_include_pad", 0) ? dnnl_pooling_avg_include_padding
                                                              : dnnl_pooling_avg_exclude_padding;
    /* ceil_mode windows that hang past the padding: oneDNN's include-padding
     * average counts them differently from ONNX; leave those to ref */
    if (alg == dnnl_pooling_avg_include_padding && attr_i(n, "ceil_mode", 0)) return GLINT_OK;
    dnnl_memory_desc_t src_md, dst_md;
    md_4d(&src_md, x, LAYOUT_NHWC);
    md_4d(&dst_md, y, LAYOUT_NHWC);
    dnnl_pooling_v2_desc_t pdsc;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src_md, &dst_md, sd,
                                          k, dl, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &pdsc, NULL, g_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    if ((s = prim_unary(p, st, pd, impl, DNNL_ARG_SRC, &src_md, DNNL_ARG_DST, &dst_md))) return s;
    *taken = true;
    return GLINT_OK;
}

/* ---- reorders between plain and NHWC ---- */
static glint_status to_plain_run(step *st);

static glint_status reorder_make(plan *p, step *st, int src, int dst, layout from, layout to)
{
    glint_status s = GLINT_OK;
    if (from == LAYOUT_NHWC && to == LAYOUT_PLAIN && p->t[src].dtype == GLINT_F32 &&
        simd_has_avx2()) { /* faster than oneDNN's jit:uni reorder here */
        st->k = (kernel){to_plain_run, NULL, NULL, "glint:nhwc_to_plain"};
        st->planes_ok = true;
        return GLINT_OK;
    }
    dnnl_memory_desc_t a, b;
    md_4d(&a, &p->t[src], from);
    md_4d(&b, &p->t[dst], to);
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, &a, g_engine, &b, g_engine, NULL));
    const char *impl;
    impl_is_ref(pd, &impl);
    return prim_unary(p, st, pd, impl, DNNL_ARG_FROM, &a, DNNL_ARG_TO, &b);
fail:
    return s;
}

/* ---- copy kernels on NHWC: Concat/Split along channels, nearest resize ---- */
static glint_status concat_nhwc_run(step *st)
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
            simd_transpose((const float *)x->data + (n * HW + p0) * C, C,
                           y + (n * ctot + coff) * ps + p0, ps, len, C);
        }
}

static int64_t plane_stride(const step *st)
{
    const glint_tensor *o = st->ctx.out[0];
    return st->plane_stride ? st->plane_stride : o->dims[2] * o->dims[3];
}

/* f32 NHWC -> plain (a reorder step). */
static glint_status to_plain_run(step *st)
{
    nhwc_into_plain(st->ctx.in[0], st->ctx.out[0]->data, st->ctx.in[0]->dims[1], 0,
                    plane_stride(st));
    return GLINT_OK;
}

/* A channel Concat of f32 NHWC tensors written plain, for readers that
 * want it plain (Reshape): each input transposed into its channel planes,
 * instead of an NHWC Concat and a reorder of the whole. */
static glint_status concat_plain_run(step *st)
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
static glint_status dfl_run(step *st)
{
    const glint_tensor *x = st->ctx.in[0];
    int64_t rows = x->dims[0] * x->dims[1], R = x->dims[2], L = x->dims[3];
    int64_t blocks = (L + 255) / 256;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t j = b * 256, w = L - j < 256 ? L - j : 256;
            simd_dfl((const float *)x->data + r * R * L + j,
                     (float *)st->ctx.out[0]->data + r * L + j, R, L, w);
        }
    return GLINT_OK;
}

static glint_status split_nhwc_run(step *st)
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
static glint_status slice_nhwc_run(step *st)
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

static bool slice_make(step *st)
{
    int64_t start, *state;
    if (st->ctx.in[0]->dtype != GLINT_F32 || !slice_channel_range(&st->ctx, &start) ||
        !(state = malloc(sizeof *state)))
        return false;
    *state = start;
    st->k = (kernel){slice_nhwc_run, free, state, "glint:slice_nhwc"};
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

static glint_status resize_nhwc_run(step *st)
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

static bool resize_make(step *st)
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
    if (!k->map_h || !k->map_w || !resize_nearest_map(c, 2, k->map_h) ||
        !resize_nearest_map(c, 3, k->map_w)) {
        resize_free(k);
        return false;
    }
    st->k = (kernel){resize_nhwc_run, resize_free, k,
                     x->dtype == GLINT_U8 ? "glint:resize_nearest_u8_nhwc"
                                          : "glint:resize_nearest_nhwc"};
    return true;
}

/* ---- element-wise and softmax on any dense layout ---- */
static bool eltwise_alg(const node *n, dnnl_alg_kind_t *alg, float *a, float *b)
{
    op_id op = n->op;
    *a = 0;
    *b = 0;
    if (op == OP_Relu)
        *alg = dnnl_eltwise_relu;
    else if (op == OP_LeakyRelu) {
        *alg = dnnl_eltwise_relu;
        *a = attr_f(n, "alpha", 0.01f);
    } else if (op == OP_Sigmoid)
        *alg = dnnl_eltwise_logistic;
    else if (op == OP_Tanh)
        *alg = dnnl_eltwise_tanh;
    else if (op == OP_Exp)
        *alg = dnnl_eltwise_exp;
    else if (op == OP_Sqrt)
        *alg = dnnl_eltwise_sqrt;
    else if (op == OP_Abs)
        *alg = dnnl_eltwise_abs;
    else if (op == OP_HardSwish)
        *alg = dnnl_eltwise_hardswish;
    else
        return false;
    return true;
}

/* A unary op as a oneDNN eltwise over the flat element count (any layout). */
static glint_status eltwise_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const glint_tensor *x = st->ctx.in[0];
    dnnl_alg_kind_t alg;
    float a, b;
    *taken = false;
    if (x->dtype != GLINT_F32 || !eltwise_alg(st->n, &alg, &a, &b)) return GLINT_OK;
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {tensor_count(x)};
    if (d[0] == 0) return GLINT_OK;
    dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_x);
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_desc_t pd;
    if (dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &md, a, b) !=
            dnnl_success ||
        dnnl_primitive_desc_create(&pd, &ed, NULL, g_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    if ((s = prim_unary(p, st, pd, impl, DNNL_ARG_SRC, &md, DNNL_ARG_DST, &md))) return s;
    *taken = true;
    return GLINT_OK;
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
    int axis = norm_axis(attr_i(st->n, "axis", -1), x->ndim);
    int64_t outer = dims_count(x->dims, axis), n = x->dims[axis];
    int64_t inner = dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    const float *X = x->data;
    float *Y = st->ctx.out[0]->data;
    int64_t blocks = (inner + SOFTMAX_BLOCK - 1) / SOFTMAX_BLOCK;
    bool avx2 = st->k.state != NULL;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < outer * blocks; b++) {
        int64_t o = b / blocks, i = b % blocks * SOFTMAX_BLOCK;
        int64_t w = inner - i < SOFTMAX_BLOCK ? inner - i : SOFTMAX_BLOCK;
        if (avx2)
            simd_softmax_columns(X + o * n * inner + i, Y + o * n * inner + i, n, inner, w);
        else
            softmax_block(X + o * n * inner + i, Y + o * n * inner + i, n, inner, w);
    }
    return GLINT_OK;
}

/* Softmax / LogSoftmax on a plain tensor. */
static glint_status softmax_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const glint_tensor *x = st->ctx.in[0];
    *taken = false;
    if (x->dtype != GLINT_F32 || x->ndim < 1 || x->ndim > 6 || tensor_count(x) == 0)
        return GLINT_OK;
    int opset = p->m->g.opset;
    int axis = norm_axis(attr_i(st->n, "axis", opset < 13 ? 1 : -1), x->ndim);
    dnnl_dims_t d;
    int nd;
    if (opset < 13) { /* coerced to 2-D at axis */
        d[0] = dims_count(x->dims, axis);
        d[1] = dims_count(x->dims + axis, x->ndim - axis);
        nd = 2;
        axis = 1;
    } else {
        nd = x->ndim;
        for (int i = 0; i < nd; i++)
            d[i] = x->dims[i];
    }
    static const dnnl_format_tag_t plain[] = {dnnl_a,    dnnl_ab,    dnnl_abc,
                                              dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    dnnl_memory_desc_t md;
    dnnl_memory_desc_init_by_tag(&md, nd, d, dnnl_f32, plain[nd - 1]);
    dnnl_softmax_v2_desc_t sd;
    dnnl_primitive_desc_t pd;
    dnnl_alg_kind_t alg =
        st->n->op == OP_LogSoftmax ? dnnl_softmax_log : dnnl_softmax_accurate;
    if (dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, alg, &md, &md, axis) !=
            dnnl_success ||
        dnnl_primitive_desc_create(&pd, &sd, NULL, g_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        /* oneDNN 2.6 has no fast kernel for a non-innermost axis (YOLO's DFL) */
        if (alg == dnnl_softmax_accurate && axis < nd - 1) {
            /* state: non-NULL selects the AVX2 kernel (a static marker) */
            static const char avx2_marker = 1;
            bool avx2 = simd_has_avx2();
            st->k = (kernel){softmax_strided_run, NULL, avx2 ? (void *)&avx2_marker : NULL,
                             avx2 ? "glint:softmax_strided_avx2" : "glint:softmax_strided"};
            *taken = true;
        }
        /* oneDNN 2.6 has no fast kernel for a non-innermost axis (YOLO's DFL) */
        if (alg == dnnl_softmax_accurate && axis < nd - 1) {
            /* state: non-NULL selects the AVX2 kernel (a static marker) */
            static const char avx2_marker = 1;
            bool avx2 = simd_has_avx2();
            st->k = (kernel){softmax_strided_run, NULL, avx2 ? (void *)&avx2_marker : NULL,
                             avx2 ? "glint:softmax_strided_avx2" : "glint:softmax_strided"};
            *taken = true;
        }
        return GLINT_OK;
    }
    if ((s = prim_unary(p, st, pd, impl, DNNL_ARG_SRC, &md, DNNL_ARG_DST, &md))) return s;
    *taken = true;
    return GLINT_OK;
}

/* ---- Gemm / MatMul with constant weights, as a oneDNN matmul ---- */
static glint_status matmul_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const node *n = st->n;
    op_ctx *c = &st->ctx;
    const glint_tensor *a = c->in[0], *b = c->in[1], *y = c->out[0];
    *taken = false;
    bool gemm = n->op == OP_Gemm;
    if (a->dtype != GLINT_F32 || b->ndim != 2 || !p->is_const[st->in_id[1]] || a->ndim < 2)
        return GLINT_OK;
    bool ta = gemm && attr_i(n, "transA", 0), tb = gemm && attr_i(n, "transB", 0);
    if (ta || (gemm && (attr_f(n, "alpha", 1) != 1 || attr_f(n, "beta", 1) != 1)) || n->n_post)
        return GLINT_OK;
    int64_t K = a->dims[a->ndim - 1], M = tensor_count(a) / (K ? K : 1), N = y->dims[y->ndim - 1];
    const glint_tensor *bias = gemm && c->n_in > 2 ? c->in[2] : NULL;
    if (bias && (!p->is_const[st->in_id[2]] || tensor_count(bias) != N || bias->dtype != GLINT_F32))
        return GLINT_OK;
    dnnl_memory_desc_t a_md, b_md, c_md, y_md;
    dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {1, N}, yd = {M, N};
    dnnl_dims_t bst = {tb ? 1 : N, tb ? K : 1};
    dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dnnl_f32, bst);
    dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&y_md, 2, yd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    if (dnnl_matmul_desc_init(&md, &a_md, &b_md, bias ? &c_md : NULL, &y_md) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, g_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    if ((s = prim_make(p, st, pd, impl))) return s;
    if ((s = weighted_args(st->k.state, &a_md, &b_md, b->data, bias ? &c_md : NULL,
                           bias ? bias->data : NULL, &y_md)))
        goto fail;
    *taken = true;
    return GLINT_OK;
fail:
    st->k.destroy(st->k.state);
    memset(&st->k, 0, sizeof st->k);
    return s;
}

/* ---- Add/Sub/Mul/Div with numpy broadcasting of one side, any layout ---- */
static bool binary_alg(op_id op, dnnl_alg_kind_t *alg, bool *commutes)
{
    *commutes = true;
    if (op == OP_Add)
        *alg = dnnl_binary_add;
    else if (op == OP_Mul)
        *alg = dnnl_binary_mul;
    else if (op == OP_Sub) {
        *alg = dnnl_binary_sub;
        *commutes = false;
    } else if (op == OP_Div) {
        *alg = dnnl_binary_div;
        *commutes = false;
    } else
        return false;
    return true;
}

static bool same_dims(const glint_tensor *a, const glint_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

/* Describes t broadcast to rank nd (leading 1s) in layout l. */
static void md_bcast(dnnl_memory_desc_t *md, const glint_tensor *t, int nd, layout l)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - t->ndim);
        d[i] = j >= 0 ? t->dims[j] : 1;
    }
    static const dnnl_format_tag_t plain[] = {dnnl_a,    dnnl_ab,    dnnl_abc,
                                              dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32,
                                 l == LAYOUT_NHWC && nd == 4 ? dnnl_nhwc : plain[nd - 1]);
}

/* `lay` is the layout the step runs in (both inputs are in it, or layout-
 * invariant). */
static glint_status binary_make(plan *p, step *st, layout lay, bool *taken)
{
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const glint_tensor *y = c->out[0];
    dnnl_alg_kind_t alg;
    bool commutes;
    *taken = false;
    if (c->n_in != 2 || !binary_alg(st->n->op, &alg, &commutes) || y->dtype != GLINT_F32 ||
        c->in[0]->dtype != GLINT_F32 || c->in[1]->dtype != GLINT_F32 || y->ndim < 1 ||
        y->ndim > 6 || tensor_count(y) == 0)
        return GLINT_OK;
    int big = same_dims(c->in[0], y) ? 0 : same_dims(c->in[1], y) && commutes ? 1 : -1;
    if (big < 0) return GLINT_OK;
    dnnl_memory_desc_t m0, m1, my;
    md_bcast(&m0, c->in[big], y->ndim, lay);
    md_bcast(&m1, c->in[1 - big], y->ndim, lay);
    md_bcast(&my, y, y->ndim, lay);
    dnnl_binary_desc_t bd;
    dnnl_primitive_desc_t pd;
    if (dnnl_binary_desc_init(&bd, alg, &m0, &m1, &my) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &bd, NULL, g_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    if ((s = prim_make(p, st, pd, impl))) return s;
    prim_k *k = st->k.state;
    k->src_arg = 0;
    k->src_in = big;
    k->src1_arg = 1;
    k->src1_in = 1 - big;
    k->dst_arg = 2;
    if ((s = add_mem(k, DNNL_ARG_SRC_0, &m0, DNNL_MEMORY_NONE)) ||
        (s = add_mem(k, DNNL_ARG_SRC_1, &m1, DNNL_MEMORY_NONE)) ||
        (s = add_mem(k, DNNL_ARG_DST, &my, DNNL_MEMORY_NONE))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
        return s;
    }
    *taken = true;
    return GLINT_OK;
}

/* ---- QuantizeLinear / DequantizeLinear with one scale, on any layout ----
 * The same arithmetic as the reference kernels (ops_quant.c): q = x / s in
 * float, rounded half to even, + z, saturated; x = (q - z) * s. */
typedef struct qdq_k {
    float scale;
    int32_t zp;
} qdq_k;

static glint_status quantize_run(step *st)
{
    const qdq_k *k = st->k.state;
    const float *x = st->ctx.in[0]->data;
    uint8_t *y = st->ctx.out[0]->data;
    int64_t count = tensor_count(st->ctx.in[0]);
    float s = k->scale, z = (float)k->zp;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; i++) {
        float v = nearbyintf(x[i] / s) + z;
        y[i] = (uint8_t)(v != v || v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return GLINT_OK;
}

static glint_status dequantize_run(step *st)
{
    const qdq_k *k = st->k.state;
    dequant_u8(st->ctx.in[0]->data, st->ctx.out[0]->data, tensor_count(st->ctx.in[0]), k->zp,
               k->scale);
    return GLINT_OK;
}

/* Whether step st is a QuantizeLinear (f32 -> u8) or DequantizeLinear (u8
 * -> f32) with one constant scale and u8 zero point; with k, also builds
 * its kernel (state malloc'ed, freed by the kernel's destroy). */
static bool qdq_make(const plan *p, const step *st, kernel *k)
{
    op_id op = st->n->op;
    bool q = op == OP_QuantizeLinear;
    if ((!q && op != OP_DequantizeLinear) || st->n_in_ids < 2) return false;
    const op_ctx *c = &st->ctx;
    const glint_tensor *x = c->in[0], *sc = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
    if (x->dtype != (q ? GLINT_F32 : GLINT_U8) || c->out[0]->dtype != (q ? GLINT_U8 : GLINT_F32) ||
        !p->is_const[st->in_id[1]] || sc->dtype != GLINT_F32 || tensor_count(sc) != 1 ||
        (zp && (!p->is_const[st->in_id[2]] || zp->dtype != GLINT_U8 || tensor_count(zp) != 1)))
        return false;
    if (!k) return true;
    qdq_k *s = malloc(sizeof *s);
    if (!s) return false;
    *s = (qdq_k){*(const float *)sc->data, zp ? *(const uint8_t *)zp->data : 0};
    *k = (kernel){q ? quantize_run : dequantize_run, free, s,
                  q ? "glint:quantize" : "glint:dequantize"};
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
    step *out; /* the new step list */
    int n_out, cap;
    int *as_nhwc, *as_plain; /* per value: id of its copy in the other layout, or -1 */
    qout *qo;                /* per value: written as u8 for its GlintQConv readers */
} lctx;

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
static step *convert_step(lctx *L, int v, glint_dtype t, layout lay, const node *consumer,
                          int *nv, glint_status *s)
{
    plan *p = L->p;
    *nv = plan_add_value(p);
    step *r = push_step(L);
    if (*nv < 0 || !r) {
        *s = eng_fail(GLINT_ERR_NOMEM, "too many steps");
        return NULL;
    }
    p->t[*nv] = p->t[v];
    p->t[*nv].dtype = t;
    p->t[*nv].data = NULL;
    p->lay[*nv] = lay;
    L->as_nhwc[*nv] = L->as_plain[*nv] = -1;
    r->n = consumer;
    r->op = op_get(OP_Identity);
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
    if (t->ndim == 4 && (t->dims[1] == 1 || t->dims[2] * t->dims[3] == 1))
        return v; /* NCHW and NHWC are the same bytes */
    int *cache = want == LAYOUT_NHWC ? L->as_nhwc : L->as_plain;
    if (cache[v] >= 0) return cache[v];
    int nv;
    step *r = convert_step(L, v, t->dtype, want, consumer, &nv, s);
    if (!r) return v;
    r->reorder_from = v;
    r->reorder_dst = nv;
    if ((*s = reorder_make(p, r, v, nv, p->lay[v], want))) return v;
    cache[v] = nv;
    return nv;
}

static void set_input(lctx *L, step *st, int k, int id)
{
    st->in_id[k] = id;
    st->ctx.in[k] = &L->p->t[id];
}

static bool is4d_f32(const plan *p, int v)
{
    return v >= 0 && p->t[v].ndim == 4 && p->t[v].dtype == GLINT_F32;
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
    r->k = (kernel){dequant_nhwc_run, free, q, "glint:dequantize_nhwc"};
    return nv;
}

/* Which GlintQConv outputs are written as u8 (L->qo): those read by
 * GlintQConv steps only, as their data input, all quantizing it with one
 * scale and zero point; the readers then skip their quantizing reorder. Not
 * a graph output, not one with a residual sum (that one stays f32). */
static void plan_qout(lctx *L, const step *orig, int n)
{
    plan *p = L->p;
    const graph *g = &p->m->g;
    for (int v = 0; v < p->cap_vals; v++)
        L->qo[v].on = false;
    for (int i = 0; i < n; i++) {
        const step *st = &orig[i];
        int y = st->out_id[0];
        qout q = {0}, rq;
        if (!qconv_input_q(p, st, &rq) || st->sum_id >= 0 || p->t[y].ndim != 4 ||
            p->t[y].dtype != GLINT_F32)
            continue;
        bool ok = true;
        for (int k = 0; k < g->n_outputs; k++)
            ok &= g->outputs[k] != y;
        for (int j = 0; j < n && ok; j++) {
            const step *r = &orig[j];
            bool other = r->sum_id == y;
            for (int k = 1; k < r->n_in_ids; k++)
                other |= r->in_id[k] == y;
            if (r->in_id[0] != y && !other) continue;
            ok = !other && r->in_id[0] == y && qconv_input_q(p, r, &rq) &&
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
        if (d->out_id[0] != v || d->k.run != dequantize_run) continue;
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
    const graph *g = &L->p->m->g;
    int w = 0;
    for (int i = 0; i < L->n_out; i++) {
        step *d = &L->out[i];
        bool read = d->k.run != dequantize_run;
        for (int k = 0; k < g->n_outputs && !read; k++)
            read = g->outputs[k] == d->out_id[0];
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
    LK_SLICE, /* a channel range of an NHWC tensor */
    LK_QDQ,   /* per-tensor QuantizeLinear / DequantizeLinear: any layout */
} lkind;

static lkind kind_of(const plan *p, const step *st)
{
    op_id op = st->n->op;
    int x = st->in_id[0];
    if (op == OP_Conv) return is4d_f32(p, x) ? LK_CONV : LK_PLAIN;
    if (qdq_make(p, st, NULL)) return LK_QDQ;
    if (op == OP_GlintQConv) /* u8: its producer quantized it (plan_qout) */
        return is4d_f32(p, x) || (x >= 0 && p->t[x].dtype == GLINT_U8) ? LK_CONV : LK_PLAIN;
    if (op == OP_ConvTranspose) return is4d_f32(p, x) ? LK_DECONV : LK_PLAIN;
    dnnl_alg_kind_t alg;
    float a, b;
    if (eltwise_alg(st->n, &alg, &a, &b)) return LK_ELTWISE;
    bool commutes;
    if (binary_alg(op, &alg, &commutes) && st->n_in_ids == 2) return LK_BINARY;
    bool nhwc_in = x >= 0 && p->lay[x] == LAYOUT_NHWC;
    if (op == OP_MaxPool || op == OP_AveragePool || op == OP_GlobalAveragePool)
        return nhwc_in ? LK_POOL : LK_PLAIN;
    if (op == OP_Resize || op == OP_Upsample) return nhwc_in ? LK_RESIZE : LK_PLAIN;
    if (op == OP_Slice) return nhwc_in ? LK_SLICE : LK_PLAIN;
    if (op == OP_Split)
        return nhwc_in && norm_axis(attr_i(st->n, "axis", 0), 4) == 1 ? LK_SPLIT : LK_PLAIN;
    if (op == OP_Concat) {
        int o = st->out_id[0];
        if (!is4d_f32(p, o) && !(p->t[o].ndim == 4 && p->t[o].dtype == GLINT_U8)) return LK_PLAIN;
        if (norm_axis(attr_i(st->n, "axis", 0), 4) != 1) return LK_PLAIN;
        bool any_nhwc = false;
        for (int i = 0; i < st->n_in_ids; i++) {
            if (p->is_const[st->in_id[i]]) return LK_PLAIN;
            any_nhwc |= p->lay[st->in_id[i]] == LAYOUT_NHWC;
        }
        return any_nhwc ? LK_CONCAT : LK_PLAIN;
    }
    return LK_PLAIN;
}

/* Whether value v (or a view of it) is read by a step after index i of the
 * original list, or is a graph output. */
static bool read_later(const plan *p, const step *orig, int n, int i, int v)
{
    const graph *g = &p->m->g;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) return true;
    for (int j = 0; j < n; j++) {
        bool reads = orig[j].sum_id == v;
        for (int k = 0; k < orig[j].n_in_ids; k++)
            reads |= orig[j].in_id[k] == v;
        if (!reads) continue;
        if (j > i) return true;
        if (orig[j].op->view && !orig[j].k.run && orig[j].in_id[0] == v &&
            read_later(p, orig, n, i, orig[j].out_id[0]))
            return true;
    }
    return false;
}

/* Whether every later reader of v is a Reshape or Flatten (which read it
 * plain), at least one. */
static bool reshaped_only(const plan *p, const step *orig, int n, int i, int v)
{
    const graph *g = &p->m->g;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) return false;
    int readers = 0;
    for (int j = 0; j < n; j++) {
        bool reads = orig[j].sum_id == v;
        for (int k = 0; k < orig[j].n_in_ids; k++)
            reads |= orig[j].in_id[k] == v;
        if (!reads) continue;
        if (j <= i ||
            (orig[j].n->op != OP_Reshape && orig[j].n->op != OP_Flatten))
            return false;
        readers++;
    }
    return readers > 0;
}

static glint_status place_step(lctx *L, const step *orig, int n_orig, int i)
{
    plan *p = L->p;
    glint_status s = GLINT_OK;
    step st = orig[i];
    lkind kind = kind_of(p, &st);
    bool taken = false, sum_u8 = false;
    const node *nd = st.n;
    if (kind == LK_CONV) {
        int x = st.in_id[0];
        /* a plain input with few channels (the image) goes in as NCHW; into
         * an int8 convolution only with <= 4 channels, which qconv_make
         * quantizes straight into 4-channel u8 pixels (oneDNN's NCHW f32 ->
         * NHWC u8 reorder costs more than a reorder to NHWC f32 and then the
         * NHWC quantization: 2.4 against 2.0 ms for YOLOv8n's stem) */
        bool qconv = nd->op == OP_GlintQConv;
        layout src_lay =
            p->lay[x] == LAYOUT_NHWC || p->t[x].dims[1] >= 8 || (qconv && p->t[x].dims[1] > 4)
                ? LAYOUT_NHWC
                : LAYOUT_PLAIN;
        qout gq;
        const qout *oq = qconv_graph_qout(&st, &gq) ? &gq : &L->qo[st.out_id[0]];
        if (src_lay == LAYOUT_PLAIN) { /* oneDNN may have no fast NCHW kernel */
            set_input(L, &st, 0, x);
            if ((s = conv_make(p, &st, src_lay, oq, &taken))) return s;
            if (!taken) src_lay = LAYOUT_NHWC;
        }
        if (!taken) set_input(L, &st, 0, in_layout(L, x, src_lay, nd, &s));
        if (st.sum_id >= 0) {
            st.sum_id = in_layout(L, st.sum_id, LAYOUT_NHWC, nd, &s);
            st.ctx.sum = &p->t[st.sum_id];
        }
        if (s) return s;
        p->lay[st.out_id[0]] = LAYOUT_NHWC;
        qout uq;
        int u8_sum = oq->on && !taken ? sum_from_u8(L, st.sum_id, oq, &uq) : -1;
        if (u8_sum >= 0) { /* the residual's u8 source instead of its dequantized copy */
            int f32_sum = st.sum_id;
            st.sum_id = u8_sum;
            st.ctx.sum = &p->t[u8_sum];
            if ((s = conv_make(p, &st, src_lay, &uq, &taken))) return s;
            if (taken) {
                sum_u8 = true;
            } else {
                st.sum_id = f32_sum;
                st.ctx.sum = &p->t[f32_sum];
            }
        }
        if (!taken && (s = conv_make(p, &st, src_lay, oq, &taken))) return s;
        if (taken && oq->on) p->t[st.out_id[0]].dtype = GLINT_U8;
        if (!taken) {
            p->lay[st.out_id[0]] = LAYOUT_PLAIN;
            st = orig[i];
            if (L->qo[x].on) set_input(L, &st, 0, dequantized(L, x, nd, &s));
            if (s) return s;
        }
    } else if (kind == LK_POOL) {
        p->lay[st.out_id[0]] = LAYOUT_NHWC;
        if ((s = pool_make(p, &st, &taken))) return s;
        if (!taken) p->lay[st.out_id[0]] = LAYOUT_PLAIN;
    } else if (kind == LK_ELTWISE) {
        if ((s = eltwise_make(p, &st, &taken))) return s;
        if (taken) p->lay[st.out_id[0]] = p->lay[st.in_id[0]];
    } else if (kind == LK_DECONV) {
        set_input(L, &st, 0, in_layout(L, st.in_id[0], LAYOUT_NHWC, nd, &s));
        if (s) return s;
        if ((s = deconv_make(p, &st, &taken))) return s;
        if (taken)
            p->lay[st.out_id[0]] = LAYOUT_NHWC;
        else
            st = orig[i];
    } else if (kind == LK_BINARY) {
        /* NHWC if an input is NHWC and the other is NHWC-compatible */
        layout lay = LAYOUT_PLAIN;
        for (int k = 0; k < 2; k++)
            if (p->lay[st.in_id[k]] == LAYOUT_NHWC) lay = LAYOUT_NHWC;
        if (lay == LAYOUT_NHWC && p->t[st.out_id[0]].ndim != 4) lay = LAYOUT_PLAIN;
        for (int k = 0; k < 2 && lay == LAYOUT_NHWC; k++) {
            /* a constant operand is plain: usable on NHWC only if, broadcast
             * to rank 4, it has one channel or one pixel */
            const glint_tensor *t = &p->t[st.in_id[k]];
            int64_t d[4];
            for (int j = 0; j < 4; j++)
                d[j] = j - (4 - t->ndim) >= 0 ? t->dims[j - (4 - t->ndim)] : 1;
            if (p->is_const[st.in_id[k]] && d[1] != 1 && d[2] * d[3] != 1) lay = LAYOUT_PLAIN;
        }
        for (int k = 0; k < 2; k++)
            set_input(L, &st, k, in_layout(L, st.in_id[k], lay, nd, &s));
        if (s) return s;
        if ((s = binary_make(p, &st, lay, &taken))) return s;
        if (taken)
            p->lay[st.out_id[0]] = lay;
        else
            st = orig[i];
    } else if (kind == LK_QDQ) {
        taken = qdq_make(p, &st, &st.k);
        if (taken) p->lay[st.out_id[0]] = p->lay[st.in_id[0]];
    } else if (kind == LK_SLICE) {
        taken = slice_make(&st);
        if (taken) p->lay[st.out_id[0]] = LAYOUT_NHWC;
    } else if (kind == LK_RESIZE) {
        taken = resize_make(&st);
        if (taken) p->lay[st.out_id[0]] = LAYOUT_NHWC;
    } else if (kind == LK_CONCAT) {
        for (int k = 0; k < st.n_in_ids; k++)
            set_input(L, &st, k, in_layout(L, st.in_id[k], LAYOUT_NHWC, nd, &s));
        if (s) return s;
        bool u8 = p->t[st.out_id[0]].dtype == GLINT_U8;
        bool plain = !u8 && reshaped_only(p, orig, n_orig, i, st.out_id[0]) && simd_has_avx2();
        st.k = (kernel){plain ? concat_plain_run : concat_nhwc_run, NULL, NULL,
                        plain ? "glint:concat_nhwc_to_plain"
                        : u8  ? "glint:concat_u8_nhwc"
                              : "glint:concat_nhwc"};
        p->lay[st.out_id[0]] = plain ? LAYOUT_PLAIN : LAYOUT_NHWC;
        st.planes_ok = plain;
        taken = true;
    } else if (kind == LK_SPLIT) {
        st.k = (kernel){split_nhwc_run, NULL, NULL,
                        p->t[st.in_id[0]].dtype == GLINT_U8 ? "glint:split_u8_nhwc"
                                                            : "glint:split_nhwc"};
        for (int k = 0; k < nd->n_out; k++)
            p->lay[st.out_id[k]] = LAYOUT_NHWC;
        taken = true;
    }
    if (!taken) { /* plain tensors: oneDNN softmax, else the reference kernel */
        for (int k = 0; k < st.n_in_ids; k++)
            if (st.in_id[k] >= 0)
                set_input(L, &st, k, in_layout(L, st.in_id[k], LAYOUT_PLAIN, nd, &s));
        if (st.sum_id >= 0) {
            st.sum_id = in_layout(L, st.sum_id, LAYOUT_PLAIN, nd, &s);
            st.ctx.sum = &p->t[st.sum_id];
        }
        if (s) return s;
        if (nd->op == OP_Softmax || nd->op == OP_LogSoftmax)
            if ((s = softmax_make(p, &st, &taken))) return s;
        if (nd->op == OP_GlintDFL && simd_has_avx2()) {
            st.k = (kernel){dfl_run, NULL, NULL, "glint:dfl_avx2"};
            taken = true;
        }
        if (nd->op == OP_Gemm || nd->op == OP_MatMul)
            if ((s = matmul_make(p, &st, &taken))) return s;
    }
    /* residual in place: write into the residual's buffer when nothing later
     * reads it (and it is not a graph input, which the caller owns) */
    if (taken && st.sum_id >= 0 && st.k.state) {
        int r = st.sum_id;
        bool graph_input = false;
        for (int k = 0; k < p->m->g.n_inputs; k++)
            graph_input |= p->m->g.inputs[k] == r;
        if (!graph_input && !read_later(p, orig, n_orig, i, sum_u8 ? r : orig[i].sum_id))
            p->alias[st.out_id[0]] = r;
    }
    step *slot = push_step(L);
    if (!slot) return eng_fail(GLINT_ERR_NOMEM, "too many steps");
    *slot = st;
    return GLINT_OK;
}

/* Graph outputs must be plain: convert the ones a NHWC step produced. */
static glint_status plain_outputs(lctx *L)
{
    plan *p = L->p;
    const graph *g = &p->m->g;
    glint_status s = GLINT_OK;
    for (int k = 0; k < g->n_outputs; k++) {
        int v = g->outputs[k];
        if (p->is_const[v] || p->lay[v] == LAYOUT_PLAIN) continue;
        /* the producer writes a new NHWC value; the output id gets the plain copy */
        int nv = plan_add_value(p);
        if (nv < 0) return eng_fail(GLINT_ERR_NOMEM, "too many values");
        p->t[nv] = p->t[v];
        p->lay[nv] = LAYOUT_NHWC;
        L->as_nhwc[nv] = L->as_plain[nv] = -1;
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
        L->as_plain[nv] = -1;
        step *r = push_step(L);
        if (!r) return eng_fail(GLINT_ERR_NOMEM, "too many steps");
        r->n = g->vals[v].producer >= 0 ? &g->nodes[g->vals[v].producer] : &g->nodes[0];
        r->op = op_get(OP_Identity);
        r->reorder_from = nv;
        r->reorder_dst = v;
        r->ctx.n = r->n;
        r->ctx.n_in = r->ctx.n_out = 1;
        r->ctx.in[0] = &p->t[nv];
        r->ctx.out[0] = &p->t[v];
        r->n_in_ids = 1;
        r->in_id[0] = nv;
        r->out_id[0] = v;
        if ((s = reorder_make(p, r, nv, v, LAYOUT_NHWC, LAYOUT_PLAIN))) return s;
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
        if (cat->k.run != concat_nhwc_run) continue;
        int o = cat->out_id[0];
        int64_t C = p->t[o].dims[1], at = 0;
        for (int k = 0; k < cat->n_in_ids && k < 32; k++) {
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
            if (!prod || (prod->k.run != split_nhwc_run && prod->k.run != slice_nhwc_run &&
                          prod->k.run != resize_nhwc_run))
                continue;
            bool aliased = p->alias[v] != v;
            for (int w = 0; w < p->n_vals && !aliased; w++)
                aliased = w != v && p->alias[w] == v;
            if (aliased || plan_readers(p, v) != 1 || p->is_const[v]) continue;
            p->alias[v] = o;
            p->alias_off[v] = slot * (int64_t)glint_dtype_size(p->t[o].dtype);
            prod->out_stride[which] = C;
            cat->in_place |= 1u << k;
            cat->k.impl = p->t[o].dtype == GLINT_U8 ? "glint:concat_u8_nhwc(part in place)"
                                                    : "glint:concat_nhwc(part in place)";
        }
    }
}

glint_status dnnl_prepare(plan *p)
{
    pthread_once(&g_once, engine_init);
    if (g_engine_status != dnnl_success)
        return eng_fail(GLINT_ERR_BACKEND, "oneDNN: no CPU engine (status %d)",
                        (int)g_engine_status);
    glint_status s = GLINT_OK;
    dnn *d = calloc(1, sizeof *d);
    if (!d) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    p->backend = d;
    p->backend_free = dnn_free;
    DN(dnnl_stream_create(&d->stream, g_engine, dnnl_stream_default_flags));
    lctx L = {.p = p, .cap = p->n_steps * 3 + p->m->g.n_outputs + 16};
    L.out = calloc((size_t)L.cap, sizeof *L.out);
    L.as_nhwc = malloc((size_t)p->cap_vals * sizeof(int));
    L.as_plain = malloc((size_t)p->cap_vals * sizeof(int));
    L.qo = calloc((size_t)p->cap_vals, sizeof *L.qo);
    if (!L.out || !L.as_nhwc || !L.as_plain || !L.qo) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int v = 0; v < p->cap_vals; v++)
        L.as_nhwc[v] = L.as_plain[v] = -1;
    plan_qout(&L, p->steps, p->n_steps);
    for (int i = 0; i < p->n_steps && !s; i++)
        s = place_step(&L, p->steps, p->n_steps, i);
    if (!s && p->bf16 && !p->bf16_convs && p->f32_convs)
        s = eng_fail(GLINT_ERR_UNSUPPORTED, "bf16: oneDNN offers no bf16 convolution kernel on "
                                            "this CPU (it needs AVX512); use f32 or int8");
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
    /* a residual accumulated in place needs no copy */
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        if ((st->k.run != prim_run && st->k.run != qconv_run) || st->sum_id < 0) continue;
        prim_k *k = st->k.state;
        if (p->alias[st->out_id[0]] == st->sum_id) k->copy_sum = false;
    }
    concat_in_place(p);
done:
    free(L.out);
    free(L.as_nhwc);
    free(L.as_plain);
    free(L.qo);
    return s;
fail:
    return s;
}
