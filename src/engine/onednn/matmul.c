/* Gemm, MatMul and GlintMatMul as oneDNN matmuls on plain tensors: with
 * constant weights (a Linear layer: bias and fused post-ops, a residual
 * sum), or with both operands computed (attention's Q x K^T and P x V,
 * batched with numpy broadcasting of the batch axes). */
#include "onednn_impl.h"

#include <string.h>

#define MM_MAX_DIMS 6

/* Row-major strides of a tensor of dims (ndim) for oneDNN. */
static void plain_strides(const dnnl_dims_t d, int ndim, dnnl_dims_t st)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= d[i] ? d[i] : 1;
    }
}

/* A[..., M, K] x B[..., K, N] with both operands bound at run time: the
 * batch axes of A, B and Y padded with leading 1s to one rank (oneDNN
 * broadcasts a batch axis of 1). 1-D operands stay on the reference. */
static glint_status batched_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const op_ctx *c = &st->ctx;
    const glint_tensor *a = c->in[0], *b = c->in[1], *y = c->out[0];
    int nd = y->ndim;
    if (a->ndim < 2 || b->ndim < 2 || nd > MM_MAX_DIMS || st->n->n_post || c->n_in > 2)
        return GLINT_OK;
    dnnl_dims_t ad = {0}, bd = {0}, yd = {0}, as = {0}, bs = {0}, ys = {0};
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        ad[i] = ia >= 0 ? a->dims[ia] : 1;
        bd[i] = ib >= 0 ? b->dims[ib] : 1;
        yd[i] = y->dims[i];
    }
    plain_strides(ad, nd, as);
    plain_strides(bd, nd, bs);
    plain_strides(yd, nd, ys);
    dnnl_memory_desc_t a_md, b_md, y_md;
    if (dnnl_memory_desc_init_by_strides(&a_md, nd, ad, dnnl_f32, as) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&b_md, nd, bd, dnnl_f32, bs) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&y_md, nd, yd, dnnl_f32, ys) != dnnl_success)
        return GLINT_OK;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    const char *impl;
    if (dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &y_md) != dnnl_success ||
        !eng_onednn_pd_fast(&md, NULL, &pd, &impl))
        return GLINT_OK;
    if ((s = eng_onednn_prim_make(p, st, pd, impl))) return s;
    prim_k *k = st->k.state;
    k->src_arg = 0;
    k->src1_arg = 1;
    k->src1_in = 1;
    k->dst_arg = 2;
    if ((s = eng_onednn_add_mem(k, DNNL_ARG_SRC, &a_md, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_WEIGHTS, &b_md, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_DST, &y_md, DNNL_MEMORY_NONE))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
        return s;
    }
    *taken = true;
    return GLINT_OK;
}

glint_status eng_onednn_matmul_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const node *n = st->n;
    op_ctx *c = &st->ctx;
    const glint_tensor *a = c->in[0], *b = c->in[1], *y = c->out[0];
    *taken = false;
    bool gemm = n->op == OP_Gemm;
    if (a->dtype != GLINT_F32 || b->dtype != GLINT_F32 || a->ndim < 2) return GLINT_OK;
    if (!p->is_const[st->in_id[1]]) return gemm ? GLINT_OK : batched_make(p, st, taken);
    if (b->ndim != 2) return GLINT_OK;
    bool ta = gemm && eng_attr_i(n, "transA", 0), tb = gemm && eng_attr_i(n, "transB", 0);
    if (ta || (gemm && (eng_attr_f(n, "alpha", 1) != 1 || eng_attr_f(n, "beta", 1) != 1)))
        return GLINT_OK;
    int64_t K = a->dims[a->ndim - 1], M = eng_tensor_count(a) / (K ? K : 1),
            N = y->dims[y->ndim - 1];
    const glint_tensor *bias = c->n_in > 2 ? c->in[2] : NULL;
    if (bias &&
        (!p->is_const[st->in_id[2]] || eng_tensor_count(bias) != N || bias->dtype != GLINT_F32))
        return GLINT_OK;
    dnnl_memory_desc_t a_md, b_md, b_any, c_md, y_md;
    dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {1, N}, yd = {M, N};
    dnnl_dims_t bst = {tb ? 1 : N, tb ? K : 1};
    dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dnnl_f32, bst);
    /* the weights in whatever layout the kernel wants (packed once, per
     * model, in the weight cache) */
    dnnl_memory_desc_init_by_tag(&b_any, 2, bd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&y_md, 2, yd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t pattr = NULL;
    dnnl_post_ops_t po = NULL;
    bool ok = dnnl_matmul_desc_init(&md, &a_md, &b_any, bias ? &c_md : NULL, &y_md) == dnnl_success;
    if (ok && n->n_post) { /* GlintMatMul's activation and residual sum */
        ok = dnnl_primitive_attr_create(&pattr) == dnnl_success &&
             dnnl_post_ops_create(&po) == dnnl_success && eng_onednn_post_ops(n, NULL, &y_md, po) &&
             dnnl_primitive_attr_set_post_ops(pattr, po) == dnnl_success;
    }
    ok = ok && dnnl_primitive_desc_create(&pd, &md, pattr, eng_onednn_engine, NULL) == dnnl_success;
    if (po) dnnl_post_ops_destroy(po);
    if (pattr) dnnl_primitive_attr_destroy(pattr);
    if (!ok) return GLINT_OK;
    const char *impl;
    if (eng_onednn_impl_is_ref(pd, &impl)) {
        dnnl_primitive_desc_destroy(pd);
        return GLINT_OK;
    }
    dnnl_memory_desc_t w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const void *wdata =
        eng_onednn_cached_weights(p, (int)(n - p->m->g.nodes), &b_md, b->data, &w_md);
    if (!wdata) {
        dnnl_primitive_desc_destroy(pd);
        return eng_fail(GLINT_ERR_NOMEM, "node '%s': cannot pack its weights", n->name);
    }
    if ((s = eng_onednn_prim_weighted(p, st, pd, impl, &a_md, &w_md, wdata, bias ? &c_md : NULL,
                                      bias ? bias->data : NULL, &y_md)))
        return s;
    if (st->sum_id >= 0 && eng_onednn_sum_binary(n)) { /* src1 of a binary add */
        prim_k *k = st->k.state;
        k->sum_arg = k->n_args;
        int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(eng_onednn_sum_index(n)) | DNNL_ARG_SRC_1;
        if ((s = eng_onednn_add_mem(k, arg, &y_md, DNNL_MEMORY_NONE))) {
            st->k.destroy(st->k.state);
            memset(&st->k, 0, sizeof st->k);
            return s;
        }
        st->sum_apart = true;
    } else if (st->sum_id >= 0) {
        prim_k *k = st->k.state;
        k->copy_sum = true; /* cleared by plan_finish when it works in place */
        k->sum_bytes = eng_tensor_bytes(y);
    }
    st->packed_in |= 1u << 1;
    *taken = true;
    return GLINT_OK;
}
