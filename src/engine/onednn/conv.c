/* f32 convolutions (fused post-ops, residual sums, optionally computed in
 * bf16) and ConvTranspose as oneDNN primitives writing NHWC. */
#include "onednn_impl.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* Appends node n's fused post-ops to po; a residual sum reads the output
 * buffer as oq says (u8 with a scale and zero point) when oq->sum_u8. */
int eng_onednn_sum_index(const node *n)
{
    for (int i = 0; i < n->n_post; i++)
        if (n->post[i].kind == POST_SUM) return i;
    return -1;
}

bool eng_onednn_sum_binary(const node *n)
{
    return eng_onednn_sum_index(n) > 0;
}

bool eng_onednn_post_ops(const node *n, const qout *oq, const dnnl_memory_desc_t *sum_md,
                         dnnl_post_ops_t po)
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
        case POST_GELU:
            r = dnnl_post_ops_append_eltwise(
                po, 1, a ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf, 0, 0);
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
            if (i > 0 && !(oq && oq->sum_u8) && sum_md) { /* after an activation: a binary add */
                r = dnnl_post_ops_append_binary(po, dnnl_binary_add, sum_md);
                break;
            }
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
void eng_onednn_conv_geom(const node *n, const glint_tensor *x, const glint_tensor *w,
                          const glint_tensor *y, dnnl_dims_t strides, dnnl_dims_t dil,
                          dnnl_dims_t pl, dnnl_dims_t pr)
{
    const int64_t *v;
    int64_t st_h = 1, st_w = 1, dl_h = 1, dl_w = 1;
    if (eng_attr_ints(n, "strides", &v) == 2) {
        st_h = v[0];
        st_w = v[1];
    }
    if (eng_attr_ints(n, "dilations", &v) == 2) {
        dl_h = v[0];
        dl_w = v[1];
    }
    int64_t kh = w->dims[2], kw = w->dims[3];
    int64_t pl_h = 0, pl_w = 0;
    const char *ap = eng_attr_s(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET") && eng_attr_ints(n, "pads", &v) == 4) {
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
void eng_onednn_conv_weight_mds(const glint_tensor *w, int64_t G, dnnl_data_type_t t,
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
bool eng_onednn_conv_desc(const node *n, const glint_tensor *x, const glint_tensor *w,
                          const glint_tensor *y, bool bias, const dnnl_memory_desc_t *src_md,
                          dnnl_data_type_t wt, dnnl_data_type_t dt, dnnl_convolution_desc_t *cd,
                          dnnl_memory_desc_t *w_plain, dnnl_memory_desc_t *b_md,
                          dnnl_memory_desc_t *dst_md)
{
    dnnl_memory_desc_t w_any;
    dnnl_dims_t bd = {w->dims[0]}, strides = {0}, dil = {0}, pl = {0}, pr = {0};
    dnnl_dims_t yd = {y->dims[0], y->dims[1], y->dims[2], y->dims[3]};
    dnnl_memory_desc_init_by_tag(dst_md, 4, yd, dt, dnnl_nhwc);
    eng_onednn_conv_weight_mds(w, eng_attr_i(n, "group", 1), wt, &w_any, w_plain);
    dnnl_memory_desc_init_by_tag(b_md, 1, bd, dnnl_f32, dnnl_x);
    eng_onednn_conv_geom(n, x, w, y, strides, dil, pl, pr);
    return dnnl_dilated_convolution_forward_desc_init(
               cd, dnnl_forward_inference, dnnl_convolution_direct, src_md, &w_any,
               bias ? b_md : NULL, dst_md, strides, dil, pl, pr) == dnnl_success;
}

/* The primitive of convolution cd on the attributes pattr plus node n's
 * post-ops (then, with oq, the quantization y / scale + zp of a u8 output),
 * and n's weights (plain md w_plain at wsrc) reordered once into the layout
 * it asks for (model cache). *pd stays NULL, without an error, when oneDNN
 * cannot express it or offers only a reference kernel. */
glint_status eng_onednn_conv_primitive(plan *p, const node *n, const dnnl_convolution_desc_t *cd,
                                       dnnl_primitive_attr_t pattr, const qout *oq,
                                       const dnnl_memory_desc_t *sum_md,
                                       const dnnl_memory_desc_t *w_plain, const void *wsrc,
                                       dnnl_primitive_desc_t *pd, const char **impl, void **wdata,
                                       dnnl_memory_desc_t *w_md)
{
    glint_status s = GLINT_OK;
    dnnl_post_ops_t po = NULL;
    *pd = NULL;
    DN(dnnl_post_ops_create(&po));
    if (!eng_onednn_post_ops(n, oq, sum_md, po)) goto fail;
    if (oq && oq->on &&
        dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_linear, 1.0f / oq->scale, oq->zp) !=
            dnnl_success)
        goto fail;
    DN(dnnl_primitive_attr_set_post_ops(pattr, po));
    if (dnnl_primitive_desc_create(pd, cd, pattr, eng_onednn_engine, NULL) != dnnl_success) {
        *pd = NULL;
        goto fail;
    }
    if (eng_onednn_impl_is_ref(*pd, impl)) goto drop;
    *w_md = *dnnl_primitive_desc_query_md(*pd, dnnl_query_weights_md, 0);
    if (!(*wdata = eng_onednn_cached_weights(p, (int)(n - p->m->g.nodes), w_plain, wsrc, w_md))) {
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

glint_status eng_onednn_conv_make(plan *p, step *st, layout src_lay, const qout *oq, bool *taken)
{
    if (st->n->op == OP_GlintQConv) return eng_onednn_qconv_make(p, st, src_lay, oq, taken);
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
    eng_onednn_md_4d(&src_md, x, src_lay);
    conv_src = src_md;
    if (p->bf16) {
        dnnl_dims_t xd = {x->dims[0], x->dims[1], x->dims[2], x->dims[3]};
        dnnl_memory_desc_init_by_tag(&conv_src, 4, xd, dnnl_bf16, dnnl_nhwc);
    }
    if (!eng_onednn_conv_desc(n, x, w, y, b != NULL, &conv_src, p->bf16 ? dnnl_bf16 : dnnl_f32,
                              dnnl_f32, &cd, &w_plain, &b_md, &dst_md))
        return GLINT_OK;
    eng_onednn_conv_weight_mds(w, eng_attr_i(n, "group", 1), dnnl_f32, &w_any,
                               &w_plain); /* the f32 source */
    DN(dnnl_primitive_attr_create(&pattr));
    const char *impl;
    void *wdata;
    dnnl_memory_desc_t w_copy;
    if ((s = eng_onednn_conv_primitive(p, n, &cd, pattr, NULL, p->bf16 ? NULL : &dst_md, &w_plain,
                                       w->data, &pd, &impl, &wdata, &w_copy)))
        goto fail;
    if (!pd && p->bf16) { /* no bf16 kernel for it here (only oneDNN's reference): f32 */
        dnnl_primitive_attr_destroy(pattr);
        p->bf16 = false;
        s = eng_onednn_conv_make(p, st, src_lay, oq, taken);
        p->bf16 = true;
        p->f32_convs += *taken;
        return s;
    }
    if (!pd) goto fail;
    dnnl_primitive_desc_t pd_keep = pd;
    pd = NULL;
    p->bf16_convs += p->bf16;
    if (p->bf16)
        s = eng_onednn_bf16_kernel(p, st, pd_keep, impl, &src_md, &conv_src, &w_copy, wdata,
                                   b ? &b_md : NULL, b ? b->data : NULL, &dst_md);
    else
        s = eng_onednn_prim_weighted(p, st, pd_keep, impl, &src_md, &w_copy, wdata,
                                     b ? &b_md : NULL, b ? b->data : NULL, &dst_md);
    if (s) goto fail;
    if (st->sum_id >= 0 && eng_onednn_sum_binary(n) && !p->bf16) { /* src1 of a binary add */
        prim_k *k = st->k.state;
        k->sum_arg = k->n_args;
        int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(eng_onednn_sum_index(n)) | DNNL_ARG_SRC_1;
        if ((s = eng_onednn_add_mem(k, arg, &dst_md, DNNL_MEMORY_NONE))) goto fail;
        st->sum_apart = true;     /* a kernel may accumulate in dst before it adds src1 */
    } else if (st->sum_id >= 0) { /* the prim_k first in either kernel's state */
        prim_k *k = st->k.state;
        k->copy_sum = true; /* cleared by plan_finish when it works in place */
        k->sum_bytes = eng_tensor_bytes(y);
    }
    st->packed_in |= 1u << 1;
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

/* A ConvTranspose whose kernel equals its stride, without padding (the
 * 2x2 stride-2 upsampling of DB heads, U-Nets, YOLO's mask protos): every
 * input pixel writes its own kh x kw patch, so output row h * kh + i of
 * image n is input row h times the weights of tap row i, one GEMM
 * [W, IC] x [IC, kw * OC] written straight into NHWC. oneDNN's
 * deconvolution ran these at ~1.5 GFLOP/s (DB head: 14 of 34 ms). */
typedef struct patch_deconv {
    int64_t n, h, w, ic, oc, kh, kw;
    const float *wp;   /* [kh][IC][kw][OC], in the model's weight cache */
    const float *bias; /* [OC] (the plan's constant), or NULL */
} patch_deconv;

static glint_status patch_deconv_run(step *st)
{
    const patch_deconv *k = st->k.state;
    const float *x = st->ctx.in[0]->data;
    float *y = st->ctx.out[0]->data;
    const int64_t cols = k->kw * k->oc, rows = k->n * k->h * k->kh;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int64_t r = 0; r < rows; r++) { /* r = (n * H + h) * kh + i: output row r */
        int64_t i = r % k->kh, in_row = r / k->kh;
        float *c = y + r * k->w * cols;
        bad |= dnnl_sgemm('N', 'N', k->w, cols, k->ic, 1.0f, x + in_row * k->w * k->ic, k->ic,
                          k->wp + i * k->ic * cols, cols, 0.0f, c, cols) != dnnl_success;
        if (k->bias)
            for (int64_t px = 0; px < k->w * k->kw; px++)
                for (int64_t o = 0; o < k->oc; o++)
                    c[px * k->oc + o] += k->bias[o];
    }
    return bad ? eng_fail(GLINT_ERR_BACKEND, "node '%s': sgemm failed", st->n->name) : GLINT_OK;
}

static bool patch_deconv_make(plan *p, step *st, const int64_t *pl, const int64_t *sd,
                              const int64_t *dl)
{
    const op_ctx *c = &st->ctx;
    const glint_tensor *x = c->in[0], *w = c->in[1], *y = c->out[0];
    const glint_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
    int64_t kh = w->dims[2], kw = w->dims[3], ic = x->dims[1], oc = y->dims[1];
    if (eng_attr_i(st->n, "group", 1) != 1 || kh != sd[0] || kw != sd[1] || pl[0] || pl[1] ||
        dl[0] != 1 || dl[1] != 1 || w->dims[0] != ic || w->dims[1] != oc ||
        y->dims[2] != x->dims[2] * kh || y->dims[3] != x->dims[3] * kw || x->dtype != GLINT_F32 ||
        (b && !b->data))
        return false;
    /* the weights [IC][OC][kh][kw] seen as [kh][IC][kw][OC], reordered dense once per model */
    dnnl_dims_t d = {kh, ic, kw, oc}, strides = {kw, oc * kh * kw, 1, kh * kw};
    dnnl_memory_desc_t have, want;
    if (dnnl_memory_desc_init_by_strides(&have, 4, d, dnnl_f32, strides) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&want, 4, d, dnnl_f32, dnnl_abcd) != dnnl_success)
        return false;
    const float *wp =
        eng_onednn_cached_weights(p, (int)(st->n - p->m->g.nodes), &have, w->data, &want);
    patch_deconv *k = wp ? malloc(sizeof *k) : NULL;
    if (!k) return false;
    *k = (patch_deconv){x->dims[0], x->dims[2], x->dims[3], ic, oc, kh, kw, wp, b ? b->data : NULL};
    st->k = (kernel){patch_deconv_run, free, k, "glint:deconv_patch_gemm"};
    /* cppcheck-suppress memleak ; the kernel made above owns k */
    return true;
}

/* ConvTranspose (2-D, f32, no post-ops) as a oneDNN deconvolution on NHWC. */
glint_status eng_onednn_deconv_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const glint_tensor *x = c->in[0], *w = c->in[1], *y = c->out[0];
    const glint_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
    *taken = false;
    int64_t pl[2], sd[2], dl[2];
    if (x->ndim != 4 || st->n->n_post || !p->is_const[st->in_id[1]] ||
        (b && !p->is_const[st->in_id[2]]) || !eng_conv_transpose_geometry(c, pl, sd, dl))
        return GLINT_OK;
    if (patch_deconv_make(p, st, pl, sd, dl)) {
        st->packed_in |= 1u << 1;
        *taken = true;
        return GLINT_OK;
    }
    int64_t G = eng_attr_i(st->n, "group", 1), kh = w->dims[2], kw = w->dims[3];
    int64_t IC = x->dims[1], OC = y->dims[1];
    dnnl_dims_t strides = {sd[0], sd[1]}, dil = {dl[0] - 1, dl[1] - 1}, padl = {pl[0], pl[1]};
    dnnl_dims_t padr = {(x->dims[2] - 1) * sd[0] + (kh - 1) * dl[0] + 1 - y->dims[2] - pl[0],
                        (x->dims[3] - 1) * sd[1] + (kw - 1) * dl[1] + 1 - y->dims[3] - pl[1]};
    dnnl_memory_desc_t src_md, dst_md, w_any, w_plain, b_md;
    eng_onednn_md_4d(&src_md, x, LAYOUT_NHWC);
    eng_onednn_md_4d(&dst_md, y, LAYOUT_NHWC);
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
    const char *impl;
    if (dnnl_dilated_deconvolution_forward_desc_init(
            &dd, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md, &w_any,
            b ? &b_md : NULL, &dst_md, strides, dil, padl, padr) != dnnl_success ||
        !eng_onednn_pd_fast(&dd, NULL, &pd, &impl))
        return GLINT_OK;
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t w_copy = *w_md;
    void *wdata =
        eng_onednn_cached_weights(p, (int)(st->n - p->m->g.nodes), &w_plain, w->data, &w_copy);
    if (!wdata) {
        dnnl_primitive_desc_destroy(pd);
        return eng_fail(GLINT_ERR_BACKEND, "node '%s': weight reorder failed", st->n->name);
    }
    if ((s = eng_onednn_prim_weighted(p, st, pd, impl, &src_md, &w_copy, wdata, b ? &b_md : NULL,
                                      b ? b->data : NULL, &dst_md)))
        return s;
    st->packed_in |= 1u << 1;
    *taken = true;
    return GLINT_OK;
}
