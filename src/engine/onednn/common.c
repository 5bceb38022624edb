/* Common oneDNN plumbing: the CPU engine, memory descriptors, and the
 * generic primitive kernel (prim_k) most steps run. */
#include "onednn_impl.h"

#include "util/cpus.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
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
    if (k->pd) dnnl_primitive_desc_destroy(k->pd);
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

/* The kernel of pd (its primitive made with the plan's others, see
 * eng_onednn_create_prims); takes ownership of pd. */
glint_status eng_onednn_prim_make(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl)
{
    prim_k *k = calloc(1, sizeof *k);
    if (!k) {
        dnnl_primitive_desc_destroy(pd);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    k->stream = eng_onednn_stream(p);
    k->src1_arg = -1;
    k->sum_arg = -1;
    k->pd = pd;
    k->nthr = omp_get_max_threads();
    st->k = (kernel){eng_onednn_prim_run, eng_onednn_prim_free, k, impl};
    /* cppcheck-suppress memleak ; the kernel made above owns k */
    return GLINT_OK;
}

typedef struct prim_jobs {
    prim_k **k;
    int n;
    atomic_int next, failed; /* failed: 1 + the job that failed, 0 none */
} prim_jobs;

static void *create_prims(void *arg)
{
    prim_jobs *j = arg;
    int threads = omp_get_max_threads();
    for (int i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        prim_k *k = j->k[i];
        if (omp_get_max_threads() != k->nthr) omp_set_num_threads(k->nthr);
        if (dnnl_primitive_create(&k->prim, k->pd) != dnnl_success) {
            k->prim = NULL;
            int none = 0;
            atomic_compare_exchange_strong(&j->failed, &none, i + 1);
            continue;
        }
        dnnl_primitive_desc_destroy(k->pd);
        k->pd = NULL;
    }
    if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
    return NULL;
}

#define CREATE_MAX_THREADS 8

glint_status eng_onednn_create_prims(plan *p)
{
    prim_jobs j = {0};
    const step **of = NULL;
    if (p->n_steps && (!(j.k = malloc((size_t)p->n_steps * sizeof *j.k)) ||
                       !(of = malloc((size_t)p->n_steps * sizeof *of)))) {
        free(j.k);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < p->n_steps; i++) {
        const step *st = &p->steps[i];
        if (st->k.run != eng_onednn_prim_run && st->k.run != eng_onednn_qconv_run) continue;
        prim_k *k = st->k.state; /* first in a qconv kernel's state too */
        if (!k->pd) continue;
        of[j.n] = st;
        j.k[j.n++] = k;
    }
    int helpers = cpus_usable() - 1;
    if (helpers > j.n - 1) helpers = j.n - 1;
    if (helpers > CREATE_MAX_THREADS - 1) helpers = CREATE_MAX_THREADS - 1;
    pthread_t th[CREATE_MAX_THREADS];
    int started = 0;
    while (started < helpers && !pthread_create(&th[started], NULL, create_prims, &j))
        started++;
    create_prims(&j); /* this thread too; alone when no helper started */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    int bad = atomic_load(&j.failed);
    glint_status s = GLINT_OK;
    if (bad)
        s = eng_fail(GLINT_ERR_BACKEND, "node '%s': oneDNN cannot create its primitive",
                     of[bad - 1]->n->name);
    free(j.k);
    free(of);
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
