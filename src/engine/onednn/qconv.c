/* int8 convolution (GlintQConv: the QDQ form folded by passes.c) and the
 * bf16 convolution kernel, both a reorder into a scratch then a oneDNN
 * convolution. */
#include "onednn_impl.h"

#include <omp.h>

#include "simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    prim_k conv;            /* first: plan_finish reads copy_sum through a prim_k pointer */
    dnnl_primitive_t quant; /* NULL: the input is u8 already */
    dnnl_memory_t q_src, q_dst, q_zp;
    void *scratch;
    float *bias; /* oneDNN 2.x adds it before scaling: bias / scale (- z * sum(w)) */
    int32_t zp;
    int stem_c;    /* > 0: a plain f32 input of stem_c <= 4 channels, quantized here into
                    * 4-channel u8 pixels (eng_simd_quantize_planes) */
    float inv;     /* 1 / its scale */
    char impl[64]; /* oneDNN's kernel, then the input (f32q: quantized here, u8:
                    * by its producer), +zp: a oneDNN zero point, and the output type */
} qconv_k;

static void qconv_free(void *p)
{
    qconv_k *q = p;
    if (!q) return;
    if (q->conv.prim) dnnl_primitive_destroy(q->conv.prim);
    if (q->conv.pd) dnnl_primitive_desc_destroy(q->conv.pd);
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

glint_status eng_onednn_qconv_run(step *st)
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
                eng_simd_quantize_planes((const float *)x + n * q->stem_c * HW + p0, HW, q->stem_c,
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
    DN(dnnl_reorder_primitive_desc_create(&rpd, src_md, eng_onednn_engine, u8_md, eng_onednn_engine,
                                          a));
    DN(dnnl_primitive_create(&q->quant, rpd));
    DN(dnnl_memory_create(&q->q_src, src_md, eng_onednn_engine, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&q->q_dst, u8_md, eng_onednn_engine, q->scratch));
    DN(dnnl_memory_create(&q->q_zp, &zp_md, eng_onednn_engine, &q->zp));
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
    int64_t M = w->dims[0], per = eng_tensor_count(w) / M;
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
    dnnl_dims_t strides = {0}, dil = {0}, pl = {0}, pr = {0};
    eng_onednn_conv_geom(n, x, w, y, strides, dil, pl, pr);
    return !pl[0] && !pl[1] && !pr[0] && !pr[1];
}

glint_status eng_onednn_qconv_make(plan *p, step *st, layout src_lay, const qout *oq, bool *taken)
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
    if (!eng_qconv_input_q(p, st, &in_q)) return GLINT_OK;
    bool u8_in = x->dtype == GLINT_U8;
    /* a plain image of <= 4 channels: quantized straight into 4-channel u8
     * pixels (no NCHW -> NHWC reorder first), weights padded with zeros */
    bool stem = !u8_in && src_lay == LAYOUT_PLAIN && x->dims[1] <= 4 &&
                eng_attr_i(n, "group", 1) == 1 && eng_simd_has_avx2();
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
    eng_onednn_md_4d(&x_md, x, src_lay);
    dnnl_dims_t xd = {x->dims[0], stem ? 4 : x->dims[1], x->dims[2], x->dims[3]}, one = {1};
    dnnl_memory_desc_init_by_tag(&u8_md, 4, xd, dnnl_u8, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&zp_md, 1, one, dnnl_s32, dnnl_x);
    if (!eng_onednn_conv_desc(n, x, w, y, bias, &u8_md, dnnl_s8, oq->on ? dnnl_u8 : dnnl_f32, &cd,
                              &w_plain, &b_md, &dst_md))
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
    if ((s = eng_onednn_conv_primitive(p, n, &cd, pattr, oq, NULL, &w_plain, w->data, &pd, &impl,
                                       &wdata, &w_copy)) ||
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
    q->conv.stream = eng_onednn_stream(p);
    q->conv.src1_arg = -1;
    q->conv.pd = pd; /* its primitive made with the plan's others */
    q->conv.nthr = omp_get_max_threads();
    pd = NULL;
    prim_k *k = &q->conv;
    k->src_arg = 0;
    if ((s = eng_onednn_add_mem(k, DNNL_ARG_SRC, &u8_md, u8_in ? DNNL_MEMORY_NONE : q->scratch)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_WEIGHTS, &w_copy, wdata)) ||
        (bias && (s = eng_onednn_add_mem(k, DNNL_ARG_BIAS, &b_md, q->bias))) ||
        (!fold &&
         (s = eng_onednn_add_mem(k, DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, &zp_md, &q->zp))))
        goto fail;
    k->dst_arg = k->n_args;
    if ((s = eng_onednn_add_mem(k, DNNL_ARG_DST, &dst_md, DNNL_MEMORY_NONE))) goto fail;
    if (stem) {
        q->stem_c = (int)x->dims[1];
        q->inv = 1.0f / in_q.scale;
    } else if (!u8_in && (s = qconv_quantizer(q, &x_md, &u8_md, 1.0f / in_q.scale))) {
        goto fail;
    }
    if (st->sum_id >= 0) {
        k->copy_sum = true; /* cleared by plan_finish when it works in place */
        k->sum_bytes = eng_tensor_bytes(y);
    }
    snprintf(q->impl, sizeof q->impl, "%s %s%s>%s", impl,
             u8_in  ? "u8"
             : stem ? "nchw-f32q"
                    : "f32q",
             fold ? "" : "+zp", oq->on ? "u8" : "f32");
    st->k = (kernel){eng_onednn_qconv_run, qconv_free, q, q->impl};
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
glint_status eng_onednn_bf16_kernel(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                    const dnnl_memory_desc_t *x_md,
                                    const dnnl_memory_desc_t *conv_src,
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
    q->conv.stream = eng_onednn_stream(p);
    q->conv.src1_arg = -1;
    q->conv.pd = pd; /* its primitive made with the plan's others */
    q->conv.nthr = omp_get_max_threads();
    pd = NULL;
    if ((s = eng_onednn_weighted_args(&q->conv, conv_src, w_md, wdata, b_md, bias, dst_md)))
        goto fail;
    dnnl_memory_set_data_handle(q->conv.args[0].memory, q->scratch);
    DN(dnnl_reorder_primitive_desc_create(&rpd, x_md, eng_onednn_engine, conv_src,
                                          eng_onednn_engine, NULL));
    DN(dnnl_primitive_create(&q->quant, rpd));
    DN(dnnl_memory_create(&q->q_src, x_md, eng_onednn_engine, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&q->q_dst, conv_src, eng_onednn_engine, q->scratch));
    snprintf(q->impl, sizeof q->impl, "%s f32>bf16>f32", impl);
    st->k = (kernel){eng_onednn_qconv_run, qconv_free, q, q->impl};
    q = NULL;
fail:
    qconv_free(q);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return s;
}
