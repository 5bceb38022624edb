/* The per-model weight cache: weights reordered into the layout a primitive
 * asks for, once per model, shared by every plan and context (the backend's
 * model cache, see eng_backend_model_cache). */
#include "onednn_impl.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct wentry {
    int node;
    int val;                 /* the graph constant it was made from, or -1 (a plan's fold) */
    dnnl_memory_desc_t have; /* ... in this view of that constant's data */
    dnnl_memory_desc_t md;
    void *data;
    struct wentry *next;
} wentry;

void eng_onednn_wcache_free(void *p)
{
    for (wentry *e = p, *n; e; e = n) {
        n = e->next;
        free(e->data);
        free(e);
    }
}

/* Returns weights of node `ni` reordered into `want` (from plain `have` at
 * src), reordering them on first use; NULL on failure. */
void *eng_onednn_cached_weights(plan *p, int ni, const dnnl_memory_desc_t *have, const void *src,
                                const dnnl_memory_desc_t *want)
{
    glint_model *m = (glint_model *)p->m;
    pthread_mutex_lock(&m->cache_lock);
    void **cache = eng_backend_model_cache(m, &eng_backend_onednn);
    void *out = NULL;
    if (!cache) goto done;
    for (wentry *e = *cache; e; e = e->next)
        if (e->node == ni && dnnl_memory_desc_equal(&e->md, want)) {
            out = e->data;
            goto done;
        }
    size_t bytes = dnnl_memory_desc_get_size(want);
    wentry *e = calloc(1, sizeof *e);
    void *data = aligned_alloc(64, (bytes + 63) / 64 * 64);
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    bool ok = e && data &&
              dnnl_memory_create(&ms, have, eng_onednn_engine, (void *)src) == dnnl_success &&
              dnnl_memory_create(&md, want, eng_onednn_engine, data) == dnnl_success &&
              dnnl_reorder_primitive_desc_create(&rpd, have, eng_onednn_engine, want,
                                                 eng_onednn_engine, NULL) == dnnl_success &&
              dnnl_primitive_create(&r, rpd) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        ok = dnnl_primitive_execute(r, eng_onednn_stream(p), 2, args) == dnnl_success &&
             dnnl_stream_wait(eng_onednn_stream(p)) == dnnl_success;
    }
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    if (!ok) {
        free(e);
        free(data);
        goto done;
    }
    e->node = ni;
    e->val = -1;
    const graph *g = &m->g;
    const node *n = &g->nodes[ni];
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && g->vals[n->in[k]].data == src) e->val = n->in[k];
    e->have = *have;
    e->md = *want;
    e->data = data;
    e->next = *cache;
    *cache = e;
    out = data;
    p->weight_bytes += bytes;
done:
    pthread_mutex_unlock(&m->cache_lock);
    return out;
}

/* The f32 copy in the cache made from all of graph constant v's data, or NULL. */
static const wentry *f32_copy(void *cache, const value *gv, int v)
{
    size_t bytes = (size_t)glint_dtype_size(gv->dtype);
    for (int d = 0; d < gv->ndim; d++)
        bytes *= (size_t)gv->dims[d];
    for (const wentry *e = cache; e; e = e->next)
        if (e->val == v && gv->dtype == GLINT_F32 && e->md.data_type == dnnl_f32 &&
            e->have.data_type == dnnl_f32 && dnnl_memory_desc_get_size(&e->have) == bytes)
            return e;
    return NULL;
}

bool eng_onednn_wcache_unpack(void *cache, int v, const value *gv, void *dst)
{
    const wentry *e = f32_copy(cache, gv, v);
    if (!e || !dst) return e != NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_stream_t stream = NULL;
    bool ok =
        dnnl_memory_create(&ms, &e->md, eng_onednn_engine, e->data) == dnnl_success &&
        dnnl_memory_create(&md, &e->have, eng_onednn_engine, dst) == dnnl_success &&
        dnnl_reorder_primitive_desc_create(&rpd, &e->md, eng_onednn_engine, &e->have,
                                           eng_onednn_engine, NULL) == dnnl_success &&
        dnnl_primitive_create(&r, rpd) == dnnl_success &&
        dnnl_stream_create(&stream, eng_onednn_engine, dnnl_stream_default_flags) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        ok = dnnl_primitive_execute(r, stream, 2, args) == dnnl_success &&
             dnnl_stream_wait(stream) == dnnl_success;
    }
    if (stream) dnnl_stream_destroy(stream);
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    return ok;
}
