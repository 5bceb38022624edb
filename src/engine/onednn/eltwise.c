/* Element-wise unary operators on any dense layout, and Softmax /
 * LogSoftmax on plain tensors, as oneDNN primitives (a strided Softmax falls
 * to the shared kernel). */
#include "onednn_impl.h"

#include <string.h>

/* ---- element-wise and softmax on any dense layout ---- */
bool eng_onednn_eltwise_alg(const node *n, dnnl_alg_kind_t *alg, float *a, float *b)
{
    op_id op = n->op;
    *a = 0;
    *b = 0;
    if (op == OP_Relu)
        *alg = dnnl_eltwise_relu;
    else if (op == OP_LeakyRelu) {
        *alg = dnnl_eltwise_relu;
        *a = eng_attr_f(n, "alpha", 0.01f);
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
    else if (op == OP_Gelu)
        *alg = !strcmp(eng_attr_s(n, "approximate", "none"), "tanh") ? dnnl_eltwise_gelu_tanh
                                                                     : dnnl_eltwise_gelu_erf;
    else
        return false;
    return true;
}

/* A unary op as a oneDNN eltwise over the flat element count (any layout). */
glint_status eng_onednn_eltwise_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const glint_tensor *x = st->ctx.in[0];
    dnnl_alg_kind_t alg;
    float a, b;
    *taken = false;
    if (x->dtype != GLINT_F32 || !eng_onednn_eltwise_alg(st->n, &alg, &a, &b)) return GLINT_OK;
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {eng_tensor_count(x)};
    if (d[0] == 0) return GLINT_OK;
    dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_x);
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_desc_t pd;
    const char *impl;
    if (dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &md, a, b) !=
            dnnl_success ||
        !eng_onednn_pd_fast(&ed, NULL, &pd, &impl))
        return GLINT_OK;
    if ((s = eng_onednn_prim_unary(p, st, pd, impl, DNNL_ARG_SRC, &md, DNNL_ARG_DST, &md)))
        return s;
    *taken = true;
    return GLINT_OK;
}

/* Softmax / LogSoftmax on a plain tensor. */
glint_status eng_onednn_softmax_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const glint_tensor *x = st->ctx.in[0];
    *taken = false;
    if (x->dtype != GLINT_F32 || x->ndim < 1 || x->ndim > 6 || eng_tensor_count(x) == 0)
        return GLINT_OK;
    int opset = p->m->g.opset;
    int axis = eng_norm_axis(eng_attr_i(st->n, "axis", opset < 13 ? 1 : -1), x->ndim);
    dnnl_dims_t d;
    int nd;
    if (opset < 13) { /* coerced to 2-D at axis */
        d[0] = eng_dims_count(x->dims, axis);
        d[1] = eng_dims_count(x->dims + axis, x->ndim - axis);
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
    dnnl_alg_kind_t alg = st->n->op == OP_LogSoftmax ? dnnl_softmax_log : dnnl_softmax_accurate;
    if (dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, alg, &md, &md, axis) !=
            dnnl_success ||
        dnnl_primitive_desc_create(&pd, &sd, NULL, eng_onednn_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (eng_onednn_impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        /* oneDNN 2.6 has no fast kernel for a non-innermost axis (YOLO's DFL) */
        if (alg == dnnl_softmax_accurate && axis < nd - 1) {
            eng_nhwc_softmax_strided_make(st);
            *taken = true;
        }
        return GLINT_OK;
    }
    if ((s = eng_onednn_prim_unary(p, st, pd, impl, DNNL_ARG_SRC, &md, DNNL_ARG_DST, &md)))
        return s;
    *taken = true;
    return GLINT_OK;
}

/* Transpose of a plain f32 tensor (rank 2..6) as a oneDNN reorder from a
 * view of the input with permuted strides into the plain output (ViT's
 * head splits and merges). */
glint_status eng_onednn_transpose_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const glint_tensor *x = st->ctx.in[0], *y = st->ctx.out[0];
    *taken = false;
    const int64_t *perm;
    int nd = x->ndim;
    if (x->dtype != GLINT_F32 || nd < 2 || nd > 6 || eng_tensor_count(x) == 0 ||
        eng_attr_ints(st->n, "perm", &perm) != nd)
        return GLINT_OK;
    dnnl_dims_t yd = {0}, xs = {0}, src_st = {0};
    int64_t str = 1;
    for (int i = nd - 1; i >= 0; i--) {
        xs[i] = str;
        str *= x->dims[i];
    }
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd) return GLINT_OK;
        yd[i] = y->dims[i];
        src_st[i] = xs[perm[i]];
    }
    static const dnnl_format_tag_t plain[] = {dnnl_a,    dnnl_ab,    dnnl_abc,
                                              dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    dnnl_memory_desc_t a, b;
    if (dnnl_memory_desc_init_by_strides(&a, nd, yd, dnnl_f32, src_st) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&b, nd, yd, dnnl_f32, plain[nd - 1]) != dnnl_success)
        return GLINT_OK;
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, &a, eng_onednn_engine, &b, eng_onednn_engine,
                                           NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (eng_onednn_impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    if ((s = eng_onednn_prim_unary(p, st, pd, impl, DNNL_ARG_FROM, &a, DNNL_ARG_TO, &b))) return s;
    *taken = true;
    return GLINT_OK;
}
