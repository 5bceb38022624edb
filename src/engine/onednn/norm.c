/* LayerNormalization as oneDNN's layer normalization on a plain tensor. */
#include "onednn_impl.h"

#include <string.h>

/* Normalising X over its axes from `axis` on is normalising the 2-D
 * [outer, inner] view over its last axis, which is what the primitive
 * does; Scale and B must be constant and hold the whole normalised shape
 * (no broadcast), and the optional Mean / InvStdDev outputs must be absent. */
glint_status eng_onednn_layernorm_make(plan *p, step *st, bool *taken)
{
    glint_status s = GLINT_OK;
    const op_ctx *c = &st->ctx;
    const glint_tensor *x = c->in[0], *sc = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    *taken = false;
    int axis = eng_norm_axis(eng_attr_i(st->n, "axis", -1), x->ndim);
    if (x->dtype != GLINT_F32 || axis < 0 || c->n_out > 1) return GLINT_OK;
    int64_t outer = eng_dims_count(x->dims, axis);
    int64_t inner = eng_dims_count(x->dims + axis, x->ndim - axis);
    if (outer < 1 || inner < 1 || !p->is_const[st->in_id[1]] || eng_tensor_count(sc) != inner ||
        (b && (!p->is_const[st->in_id[2]] || eng_tensor_count(b) != inner)))
        return GLINT_OK;
    dnnl_memory_desc_t md, stat_md, ss_md;
    dnnl_dims_t d = {outer, inner}, sd = {outer}, cd = {inner};
    dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&stat_md, 1, sd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&ss_md, 1, cd, dnnl_f32, dnnl_a);
    unsigned flags = dnnl_use_scale | (b ? dnnl_use_shift : 0);
    dnnl_layer_normalization_desc_t ld;
    dnnl_primitive_desc_t pd;
    float eps = eng_attr_f(st->n, "epsilon", 1e-5f);
    const char *impl;
    if (dnnl_layer_normalization_forward_desc_init(&ld, dnnl_forward_inference, &md, &stat_md, eps,
                                                   flags) != dnnl_success ||
        !eng_onednn_pd_fast(&ld, NULL, &pd, &impl))
        return GLINT_OK;
    if ((s = eng_onednn_prim_unary(p, st, pd, impl, DNNL_ARG_SRC, &md, DNNL_ARG_DST, &md)))
        return s;
    prim_k *k = st->k.state;
    if ((s = eng_onednn_add_mem(k, DNNL_ARG_SCALE, &ss_md, sc->data)) ||
        (b && (s = eng_onednn_add_mem(k, DNNL_ARG_SHIFT, &ss_md, b->data)))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
        return s;
    }
    *taken = true;
    return GLINT_OK;
}
