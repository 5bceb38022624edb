/* Add / Sub / Mul / Div with numpy broadcasting of one side, on any layout,
 * as a oneDNN binary primitive. */
#include "onednn_impl.h"

#include <string.h>

/* ---- Add/Sub/Mul/Div with numpy broadcasting of one side, any layout ---- */
bool eng_onednn_binary_alg(op_id op, dnnl_alg_kind_t *alg, bool *commutes)
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
glint_status eng_onednn_binary_make(plan *p, step *st, layout lay, bool *taken)
{
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const glint_tensor *y = c->out[0];
    dnnl_alg_kind_t alg;
    bool commutes;
    *taken = false;
    if (c->n_in != 2 || !eng_onednn_binary_alg(st->n->op, &alg, &commutes) ||
        y->dtype != GLINT_F32 || c->in[0]->dtype != GLINT_F32 || c->in[1]->dtype != GLINT_F32 ||
        y->ndim < 1 || y->ndim > 6 || eng_tensor_count(y) == 0)
        return GLINT_OK;
    int big = same_dims(c->in[0], y) ? 0 : same_dims(c->in[1], y) && commutes ? 1 : -1;
    if (big < 0) return GLINT_OK;
    /* rank 3 as rank 4 with a leading 1: [3, H, W] - [3, 1, 1] (an image without its
     * batch axis, torchvision's detection transform) is then a per-channel
     * broadcast, which oneDNN's JIT kernels take */
    int nd = y->ndim == 3 ? 4 : y->ndim;
    dnnl_memory_desc_t m0, m1, my;
    md_bcast(&m0, c->in[big], nd, lay);
    md_bcast(&m1, c->in[1 - big], nd, lay);
    md_bcast(&my, y, nd, lay);
    dnnl_binary_desc_t bd;
    dnnl_primitive_desc_t pd;
    const char *impl;
    if (dnnl_binary_desc_init(&bd, alg, &m0, &m1, &my) != dnnl_success ||
        !eng_onednn_pd_fast(&bd, NULL, &pd, &impl))
        return GLINT_OK;
    if ((s = eng_onednn_prim_make(p, st, pd, impl))) return s;
    prim_k *k = st->k.state;
    k->src_arg = 0;
    k->src_in = big;
    k->src1_arg = 1;
    k->src1_in = 1 - big;
    k->dst_arg = 2;
    if ((s = eng_onednn_add_mem(k, DNNL_ARG_SRC_0, &m0, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_SRC_1, &m1, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_DST, &my, DNNL_MEMORY_NONE))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
        return s;
    }
    *taken = true;
    return GLINT_OK;
}
