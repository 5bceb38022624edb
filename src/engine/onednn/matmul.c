/* Gemm / MatMul with constant weights as a oneDNN matmul on plain tensors. */
#include "onednn_impl.h"

#include <string.h>

/* ---- Gemm / MatMul with constant weights, as a oneDNN matmul ---- */
glint_status eng_onednn_matmul_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const node *n = st->n;
    op_ctx *c = &st->ctx;
    const glint_tensor *a = c->in[0], *b = c->in[1], *y = c->out[0];
    *taken = false;
    bool gemm = n->op == OP_Gemm;
    if (a->dtype != GLINT_F32 || b->ndim != 2 || !p->is_const[st->in_id[1]] || a->ndim < 2)
        return GLINT_OK;
    bool ta = gemm && eng_attr_i(n, "transA", 0), tb = gemm && eng_attr_i(n, "transB", 0);
    if (ta || (gemm && (eng_attr_f(n, "alpha", 1) != 1 || eng_attr_f(n, "beta", 1) != 1)) ||
        n->n_post)
        return GLINT_OK;
    int64_t K = a->dims[a->ndim - 1], M = eng_tensor_count(a) / (K ? K : 1),
            N = y->dims[y->ndim - 1];
    const glint_tensor *bias = gemm && c->n_in > 2 ? c->in[2] : NULL;
    if (bias &&
        (!p->is_const[st->in_id[2]] || eng_tensor_count(bias) != N || bias->dtype != GLINT_F32))
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
        dnnl_primitive_desc_create(&pd, &md, NULL, eng_onednn_engine, NULL) != dnnl_success)
        return GLINT_OK;
    const char *impl;
    if (eng_onednn_impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    if ((s = eng_onednn_prim_weighted(p, st, pd, impl, &a_md, &b_md, b->data, bias ? &c_md : NULL,
                                      bias ? bias->data : NULL, &y_md)))
        return s;
    *taken = true;
    return GLINT_OK;
}
