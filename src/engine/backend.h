/* Backends: a backend is a table of functions plus an opaque per-plan state
 * (the shape of ggml's ggml-backend-impl.h).
 *
 * eng_plan_build() (plan.c) takes a table. After shape inference, if the table
 * has `layouts`, the layout planner (layout.c) walks the plan's steps once
 * and, for each, asks the backend in which layouts it can run the step
 * (best first), converts the step's inputs into the layout it picks
 * (conversion steps made by `make_reorder`) and asks `make_kernel` for the
 * kernel; a step no backend takes runs the reference kernel on plain
 * tensors. The planner knows no backend by name: a new backend (a GPU one)
 * is a new table and folder, not an edit to the planner.
 *
 * Threads: plan-time functions run on the thread that builds the plan; the
 * per-model cache is shared by every plan of a model, so `model_cache`
 * access holds glint_model.cache_lock. */
#ifndef GLINT_BACKEND_H
#define GLINT_BACKEND_H

#include "plan.h"

/* How a convolution's output is quantized for its readers: u8 = y / scale +
 * zp, rounded and saturated as QuantizeLinear (on: false = f32 output).
 * sum_u8: its residual (POST_SUM) is u8 too, (v - sum_zp) * sum_scale, and
 * is copied into the output buffer before the convolution adds to it. */
typedef struct qout {
    bool on;
    float scale;
    uint8_t zp;
    bool sum_u8;
    float sum_scale;
    int32_t sum_zp;
} qout;

#define BACKEND_MAX_LAYOUTS 4

typedef struct backend_iface {
    const char *name;
    /* Per-plan state: *state is handed to every other call for plan p and
     * freed by plan_free (which accepts NULL). NULL plan_init: no state. */
    glint_status (*plan_init)(plan *p, void **state);
    void (*plan_free)(void *state);
    /* The layouts in which the backend can run step st (its inputs as they
     * are now in p->lay), best first, into lays (BACKEND_MAX_LAYOUTS at
     * most); returns their count, 0 = not this backend (the reference kernel
     * runs it). NULL: the backend runs nothing itself and the layout planner
     * does not run (the reference backend). */
    int (*layouts)(void *state, const plan *p, const step *st, layout *lays);
    /* Makes st->k for st with its data input in layout `lay` (already
     * converted); a Conv-like step with oq->on writes u8 as oq says. Sets
     * *taken = false, without an error, when it declines after all. Sets the
     * layouts of the values it writes (p->lay) when they are not `lay`. */
    glint_status (*make_kernel)(void *state, plan *p, step *st, layout lay, const qout *oq,
                                bool *taken);
    /* Makes the kernel of conversion step st: value src in layout `from` into
     * value dst in layout `to`. */
    glint_status (*make_reorder)(void *state, plan *p, step *st, int src, int dst, layout from,
                                 layout to);
    /* Called once every step has its kernel and every alias is known (may
     * refuse the plan); NULL: nothing to do. */
    glint_status (*plan_finish)(void *state, plan *p);
    /* Frees the backend's per-model cache (see eng_backend_model_cache);
     * NULL: it keeps none. Accepts NULL. */
    void (*model_cache_free)(void *cache);
    /* Writes graph constant v's data (gv: its value) into dst from a copy the
     * cache holds of all of it, exactly (an f32 reorder of the f32 data); with
     * dst NULL, says whether it could. NULL: it never can. The caller holds
     * glint_model.cache_lock. */
    bool (*model_cache_unpack)(void *cache, int v, const value *gv, void *dst);
} backend_iface;

/* The backends (backend_ref.c, onednn/backend.c). */
extern const backend_iface eng_backend_ref;
extern const backend_iface eng_backend_onednn;

/* The table behind a public backend choice. */
const backend_iface *eng_backend_get(glint_backend which);
/* Every registered backend that runs kernels of its own (not the reference),
 * for tests: *n receives their count. */
const backend_iface *const *eng_backend_list(int *n);

/* The slot of be's cache in model m (NULL until the backend sets it; freed
 * with the model by be->model_cache_free). The caller holds m->cache_lock.
 * NULL when every slot is taken by other backends. */
void **eng_backend_model_cache(glint_model *m, const backend_iface *be);

/* The layout planner (layout.c): gives every step of p a layout and a kernel
 * of backend be (state: its per-plan state) or the reference kernel, inserts
 * conversions, and keeps graph outputs plain. Called by eng_plan_build before
 * memory planning. */
glint_status eng_layout_plan(plan *p, const backend_iface *be, void *state);

/* Whether a backend may run GlintQConv step st (constant parameters, 2-D)
 * and, if so, the scale and zero point with which it quantizes its input
 * (layout.c; graph semantics, shared by every int8 backend). */
bool eng_qconv_input_q(const plan *p, const step *st, qout *q);

#endif
