/* Common oneDNN plumbing: the CPU engine, memory descriptors, and the
 * generic primitive kernel (prim_k) most steps run. */
#include "onednn_impl.h"

#include <stdlib.h>
#include <string.h>

dnnl_engine_t eng_onednn_engine;

dnnl_stream_t eng_onednn_stream(plan *p)
{
    return ((onednn_state *)p->be_state)->stream;
}

/* ---- memory descriptors ---- */
void eng_onednn_md_4d(dnnl_memory_desc_t *md, const glint_tensor *t, layout l)
{
    dnnl_dims_t d = {t->dims[0], t->dims[1], t->dims[2], t->dims[3]};
    dnnl_memory_desc_init_by_tag(md, 4, d, t->dtype == GLINT_U8 ? dnnl_u8 : dnnl_f32,
                                 l == LAYOUT_NHWC ? dnnl_nhwc : dnnl_nchw);
}

bool eng_onednn_impl_is_ref(dnnl_primitive_desc_t pd, const char **name)
{
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    *name = impl ? impl : "?";
    return impl && strstr(impl, "ref") != NULL;
}

void eng_onednn_prim_free(void *p)
{
    prim_k *k = p;
    if (!k) return;
    if (k->prim) dnnl_primitive_destroy(k->prim);
    for (int i = 0; i < k->n_args; i++)
        if (k->args[i].memory) dnnl_memory_destroy(k->args[i].memory);
    free(k);
}

glint_status eng_onednn_prim_run(step *st)
{
    prim_k *k = st->k.state;
    void *dst = st->ctx.out[0]->data;
    if (k->copy_sum && st->ctx.sum->data != dst) memcpy(dst, st->ctx.sum->data, k->sum_bytes);
    dnnl_memory_set_data_handle(k->args[k->src_arg].memory, (void *)st->ctx.in[k->src_in]->data);
    if (k->src1_arg >= 0)
        dnnl_memory_set_data_handle(k->args[k->src1_arg].memory,
                                    (void *)st->ctx.in[k->src1_in]->data);
    dnnl_memory_set_data_handle(k->args[k->dst_arg].memory, dst);
    if (k->sum_arg >= 0)
        dnnl_memory_set_data_handle(k->args[k->sum_arg].memory, (void *)st->ctx.sum->data);
    if (dnnl_primitive_execute(k->prim, k->stream, k->n_args, k->args) != dnnl_success ||
        dnnl_stream_wait(k->stream) != dnnl_success)
        return eng_fail(GLINT_ERR_BACKEND, "node '%s': oneDNN execution failed", st->n->name);
    return GLINT_OK;
}

bool eng_onednn_pd_fast(const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t pattr,
                        dnnl_primitive_desc_t *pd, const char **impl)
{
    if (dnnl_primitive_desc_create(pd, desc, pattr, eng_onednn_engine, NULL) != dnnl_success) {
        *pd = NULL;
        return false;
    }
    if (eng_onednn_impl_is_ref(*pd, impl)) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
        return false;
    }
    return true;
}

/* Creates the primitive of pd and memory objects for its args; takes
 * ownership of pd. */
glint_status eng_onednn_prim_make(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl)
{
    glint_status s = GLINT_OK;
    prim_k *k = calloc(1, sizeof *k);
    if (!k) {
        dnnl_primitive_desc_destroy(pd);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    k->stream = eng_onednn_stream(p);
    k->src1_arg = -1;
    k->sum_arg = -1;
    DN(dnnl_primitive_create(&k->prim, pd));
    dnnl_primitive_desc_destroy(pd);
    st->k = (kernel){eng_onednn_prim_run, eng_onednn_prim_free, k, impl};
    return GLINT_OK;
fail:
    dnnl_primitive_desc_destroy(pd);
    eng_onednn_prim_free(k);
    return s;
}

glint_status eng_onednn_add_mem(prim_k *k, int arg, const dnnl_memory_desc_t *md, void *data)
{
    dnnl_memory_t m;
    if (dnnl_memory_create(&m, md, eng_onednn_engine, data) != dnnl_success)
        return eng_fail(GLINT_ERR_BACKEND, "oneDNN: memory creation failed");
    k->args[k->n_args++] = (dnnl_exec_arg_t){arg, m};
    return GLINT_OK;
}

/* Adds the memories of a weighted primitive (convolution, deconvolution,
 * matmul): bound src and dst, constant weights and optional bias (bias NULL:
 * none). */
glint_status eng_onednn_weighted_args(prim_k *k, const dnnl_memory_desc_t *src,
                                      const dnnl_memory_desc_t *w, const void *wdata,
                                      const dnnl_memory_desc_t *b, const void *bdata,
                                      const dnnl_memory_desc_t *dst)
{
    glint_status s;
    k->src_arg = 0;
    if ((s = eng_onednn_add_mem(k, DNNL_ARG_SRC, src, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_WEIGHTS, w, (void *)wdata)) ||
        (b && (s = eng_onednn_add_mem(k, DNNL_ARG_BIAS, b, (void *)bdata))))
        return s;
    k->dst_arg = k->n_args;
    return eng_onednn_add_mem(k, DNNL_ARG_DST, dst, DNNL_MEMORY_NONE);
}

glint_status eng_onednn_prim_weighted(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                      const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *w,
                                      const void *wdata, const dnnl_memory_desc_t *b,
                                      const void *bdata, const dnnl_memory_desc_t *dst)
{
    glint_status s = eng_onednn_prim_make(p, st, pd, impl);
    if (s) return s;
    if ((s = eng_onednn_weighted_args(st->k.state, src, w, wdata, b, bdata, dst))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
    }
    return s;
}

/* Builds a primitive that reads one bound tensor and writes another
 * (pooling, reorder, eltwise, softmax); takes ownership of pd. On failure
 * the step is left without a kernel. */
glint_status eng_onednn_prim_unary(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                   int src_arg, const dnnl_memory_desc_t *src, int dst_arg,
                                   const dnnl_memory_desc_t *dst)
{
    glint_status s = eng_onednn_prim_make(p, st, pd, impl);
    if (s) return s;
    prim_k *k = st->k.state;
    k->src_arg = 0;
    k->dst_arg = 1;
    if ((s = eng_onednn_add_mem(k, src_arg, src, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, dst_arg, dst, DNNL_MEMORY_NONE))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
    }
    return s;
}
