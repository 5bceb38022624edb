/* Pooling (max, average, global average) on NHWC as oneDNN primitives. */
#include "onednn_impl.h"

#include <string.h>

/* ---- pooling on NHWC ---- */
glint_status eng_onednn_pool_make(plan *p, step *st, bool *taken)
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
    dnnl_dims_t k = {0}, sd = {1, 1}, dl = {0, 0}, pl = {0, 0}, pr = {0}, pe = {0, 0};
    const int64_t *v;
    if (global) {
        k[0] = x->dims[2];
        k[1] = x->dims[3];
    } else {
        if (eng_attr_ints(n, "kernel_shape", &v) != 2) return GLINT_OK;
        k[0] = v[0];
        k[1] = v[1];
        if (eng_attr_ints(n, "strides", &v) == 2) {
            sd[0] = v[0];
            sd[1] = v[1];
        }
        if (eng_attr_ints(n, "dilations", &v) == 2) {
            dl[0] = v[0] - 1;
            dl[1] = v[1] - 1;
        }
        const char *ap = eng_attr_s(n, "auto_pad", "NOTSET");
        if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID")) return GLINT_OK;
        if (!strcmp(ap, "NOTSET") && eng_attr_ints(n, "pads", &v) == 4) {
            pl[0] = v[0];
            pl[1] = v[1];
            pe[0] = v[2];
            pe[1] = v[3];
        }
    }
    for (int i = 0; i < 2; i++)
        pr[i] =
            (y->dims[2 + i] - 1) * sd[i] + (k[i] - 1) * (dl[i] + 1) + 1 - x->dims[2 + i] - pl[i];
    dnnl_alg_kind_t alg = is_max ? dnnl_pooling_max
                          : eng_attr_i(n, "count_include_pad", 0)
                              ? dnnl_pooling_avg_include_padding
                              : dnnl_pooling_avg_exclude_padding;
    /* ceil_mode windows that hang past the padding: oneDNN's include-padding
     * average counts them differently from ONNX; leave those to ref (a
     * ceil_mode whose windows end inside, ResNet-vd's 2x2 on an even size,
     * is an ordinary pooling) */
    if (alg == dnnl_pooling_avg_include_padding && eng_attr_i(n, "ceil_mode", 0) &&
        (pr[0] > pe[0] || pr[1] > pe[1]))
        return GLINT_OK;
    dnnl_memory_desc_t src_md, dst_md;
    eng_onednn_md_4d(&src_md, x, LAYOUT_NHWC);
    eng_onednn_md_4d(&dst_md, y, LAYOUT_NHWC);
    dnnl_pooling_v2_desc_t pdsc;
    dnnl_primitive_desc_t pd = NULL;
    const char *impl;
    if (dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src_md, &dst_md, sd,
                                          k, dl, pl, pr) != dnnl_success ||
        !eng_onednn_pd_fast(&pdsc, NULL, &pd, &impl))
        return GLINT_OK;
    if ((s = eng_onednn_prim_unary(p, st, pd, impl, DNNL_ARG_SRC, &src_md, DNNL_ARG_DST, &dst_md)))
        return s;
    *taken = true;
    return GLINT_OK;
}
