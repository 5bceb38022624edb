/* The backend registry: the table behind each public glint_backend choice,
 * the list the op-by-op tests walk, and the per-model cache slots. */
#include "backend.h"

#include <stddef.h>

const backend_iface *eng_backend_get(glint_backend which)
{
    return which == GLINT_BACKEND_REF ? &eng_backend_ref : &eng_backend_onednn;
}

static const backend_iface *const g_backends[] = {&eng_backend_onednn};

const backend_iface *const *eng_backend_list(int *n)
{
    *n = (int)(sizeof g_backends / sizeof *g_backends);
    return g_backends;
}

void **eng_backend_model_cache(glint_model *m, const backend_iface *be)
{
    for (int i = 0; i < ENG_MODEL_CACHES; i++) {
        if (!m->caches[i].be) m->caches[i].be = be;
        if (m->caches[i].be == be) return &m->caches[i].data;
    }
    return NULL;
}
