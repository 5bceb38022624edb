/* The public engine API: models (graph + weights, shared) and contexts (one
 * plan per batch size over one arena, used by one thread at a time). */
#include "backend.h"
#include "util/cpus.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_MODEL_BYTES ((size_t)2 << 30) /* protobuf's own limit */
#define MAX_BATCH 256
#define MAX_BOUND_INPUTS 16 /* inputs read in place by glint_context_run */

glint_status glint_model_load_buffer(const void *data, size_t size, const char *base_dir,
                                     glint_model **out)
{
    *out = NULL;
    glint_model *m = calloc(1, sizeof *m);
    if (!m) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->cache_lock, NULL);
    pthread_rwlock_init(&m->weights_lock, NULL);
    glint_status s = eng_onnx_parse(data, size, base_dir, &m->g);
    if (!s) s = eng_passes_run(m);
    if (!s && (!(m->const_runtime = calloc((size_t)m->g.n_vals + 1, sizeof *m->const_runtime)) ||
               !(m->released = calloc((size_t)m->g.n_vals + 1, sizeof *m->released))))
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
    if (s) {
        glint_model_free(m);
        return s;
    }
    /* Check shapes and count FLOPs of one image: plan batch 1 with the
     * reference backend (no kernels built). A plan that needs inputs frozen
     * first (shape tensors fed at run time) is left to context creation. */
    plan p;
    s = eng_plan_build(m, 1, NULL, &eng_backend_ref, false, &p);
    if (s && s != GLINT_ERR_UNSUPPORTED) {
        glint_model_free(m);
        return s;
    }
    if (!s) {
        m->flops = p.flops;
        eng_plan_dispose(&p);
    }
    *out = m;
    return GLINT_OK;
}

glint_status glint_model_load(const char *path, glint_model **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return eng_fail(GLINT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return eng_fail(GLINT_ERR_IO, "%s is not a regular file", path);
    }
    glint_status s = GLINT_OK;
    void *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET)) {
        s = eng_fail(GLINT_ERR_IO, "cannot read %s", path);
    } else if ((size_t)size > MAX_MODEL_BYTES) {
        s = eng_fail(GLINT_ERR_NOMEM, "%s is %ld bytes, above the 2 GiB protobuf limit", path,
                     size);
    } else if (!(buf = malloc((size_t)size + 1))) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory reading %s", path);
    } else if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        s = eng_fail(GLINT_ERR_IO, "short read on %s", path);
    }
    fclose(f);
    if (!s) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        s = glint_model_load_buffer(buf, (size_t)size, dir, out);
        if (s) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s", glint_last_error());
            eng_fail(s, "%s: %s", path, msg);
        }
    }
    free(buf);
    return s;
}

void glint_model_free(glint_model *m)
{
    if (!m) return;
    for (int i = 0; i < ENG_MODEL_CACHES; i++)
        if (m->caches[i].be && m->caches[i].be->model_cache_free)
            m->caches[i].be->model_cache_free(m->caches[i].data);
    pthread_mutex_destroy(&m->cache_lock);
    pthread_rwlock_destroy(&m->weights_lock);
    free(m->const_runtime);
    free(m->released);
    eng_graph_dispose(&m->g);
    free(m);
}

/* The backend cache able to give back constant v's data (dst NULL: ask
 * only); false when none can. The caller holds m->cache_lock. */
static bool unpack_const(glint_model *m, int v, void *dst)
{
    for (int i = 0; i < ENG_MODEL_CACHES; i++) {
        const backend_iface *be = m->caches[i].be;
        if (be && be->model_cache_unpack &&
            be->model_cache_unpack(m->caches[i].data, v, &m->g.vals[v], dst))
            return true;
    }
    return false;
}

/* Bytes of graph constant gv's data. */
static size_t const_bytes(const value *gv)
{
    size_t n = glint_dtype_size(gv->dtype);
    for (int d = 0; d < gv->ndim; d++)
        n *= (size_t)gv->dims[d];
    return n;
}

#define TRIM_MIN_BYTES 4096 /* smaller constants are not worth the bookkeeping */

size_t glint_model_trim(glint_model *m)
{
    size_t freed = 0;
    pthread_rwlock_wrlock(&m->weights_lock);
    pthread_mutex_lock(&m->cache_lock);
    for (int v = 0; v < m->g.n_vals; v++) {
        value *gv = &m->g.vals[v];
        if (!gv->data || m->const_runtime[v] || const_bytes(gv) < TRIM_MIN_BYTES ||
            !unpack_const(m, v, NULL))
            continue;
        freed += const_bytes(gv);
        free(gv->data);
        gv->data = NULL;
        m->released[v] = true;
        m->n_released++;
    }
    pthread_mutex_unlock(&m->cache_lock);
    pthread_rwlock_unlock(&m->weights_lock);
    return freed;
}

/* Gives the constants glint_model_trim let go their data back, from the
 * backends' copies. The caller holds weights_lock for writing. */
static glint_status restore_consts(glint_model *m)
{
    glint_status s = GLINT_OK;
    pthread_mutex_lock(&m->cache_lock);
    for (int v = 0; v < m->g.n_vals && m->n_released; v++) {
        value *gv = &m->g.vals[v];
        if (!m->released[v]) continue;
        void *d = malloc(const_bytes(gv));
        if (!d || !unpack_const(m, v, d)) {
            free(d);
            s = eng_fail(GLINT_ERR_BACKEND, "cannot restore the weights '%s'", gv->name);
            break;
        }
        gv->data = d;
        m->released[v] = false;
        m->n_released--;
    }
    pthread_mutex_unlock(&m->cache_lock);
    return s;
}

/* Takes weights_lock for reading a model whose constants are all there. */
static glint_status weights_read_lock(glint_model *m)
{
    for (;;) {
        pthread_rwlock_rdlock(&m->weights_lock);
        if (!m->n_released) return GLINT_OK;
        pthread_rwlock_unlock(&m->weights_lock);
        pthread_rwlock_wrlock(&m->weights_lock);
        glint_status s = restore_consts(m);
        pthread_rwlock_unlock(&m->weights_lock);
        if (s) return s;
    }
}

static void io_info(const graph *g, int v, glint_io_info *info)
{
    const value *val = &g->vals[v];
    info->name = val->name;
    info->dtype = val->dtype;
    info->ndim = val->ndim < 0 ? 0 : val->ndim;
    memcpy(info->dims, val->dims, sizeof info->dims);
}

int glint_model_num_inputs(const glint_model *m)
{
    return m->g.n_inputs;
}

int glint_model_num_outputs(const glint_model *m)
{
    return m->g.n_outputs;
}

void glint_model_input_info(const glint_model *m, int i, glint_io_info *info)
{
    io_info(&m->g, m->g.inputs[i], info);
}

void glint_model_output_info(const glint_model *m, int i, glint_io_info *info)
{
    io_info(&m->g, m->g.outputs[i], info);
}

glint_status glint_model_freeze_input(glint_model *m, int i, const glint_tensor *t)
{
    graph *g = &m->g;
    glint_status s = weights_read_lock(m); /* no constant let go (glint_model_trim) */
    pthread_rwlock_unlock(&m->weights_lock);
    if (s) return s;
    if (i < 0 || i >= g->n_inputs) return eng_fail(GLINT_ERR_INVALID, "no input %d", i);
    value *v = &g->vals[g->inputs[i]];
    if (t->dtype != v->dtype || (v->ndim >= 0 && t->ndim != v->ndim) || t->ndim < 0 ||
        t->ndim > MAXD)
        return eng_fail(GLINT_ERR_INVALID, "input '%s': value type or rank differs", v->name);
    if (eng_dims_count_checked(t->dims, t->ndim) < 0)
        return eng_fail(GLINT_ERR_SHAPE, "input '%s': negative or too large dimensions", v->name);
    for (int d = 0; d < t->ndim && v->ndim >= 0; d++)
        if (v->dims[d] >= 0 && v->dims[d] != t->dims[d])
            return eng_fail(GLINT_ERR_SHAPE, "input '%s': dimension %d differs", v->name, d);
    size_t bytes = eng_tensor_bytes(t);
    void *data = malloc(bytes ? bytes : 1);
    if (!data) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    if (bytes) memcpy(data, t->data, bytes);
    free(v->data);
    v->data = data;
    v->ndim = t->ndim;
    memcpy(v->dims, t->dims, sizeof v->dims);
    memmove(&g->inputs[i], &g->inputs[i + 1], (size_t)(g->n_inputs - i - 1) * sizeof *g->inputs);
    g->n_inputs--;
    return GLINT_OK;
}

const char *glint_model_metadata(const glint_model *m, const char *key)
{
    for (int i = 0; i < m->g.n_meta; i++)
        if (!strcmp(m->g.meta_keys[i], key)) return m->g.meta_vals[i];
    return NULL;
}

double glint_model_flops(const glint_model *m)
{
    return m->flops;
}

/* ---- contexts ---- */
#define DEFAULT_MAX_PLANS 8
#define DEFAULT_MAX_PIXELS ((int64_t)1 << 24)

/* A plan of the context: its input shapes are its key (p.t of the graph
 * inputs). */
typedef struct cplan {
    plan p;
    uint64_t used; /* context tick of its last run */
    bool pinned;   /* planned at creation: never evicted */
    void *bound;   /* the arena memory its tensors point into */
} cplan;

/* Activation memory: a context's own, which another context may borrow. */
typedef struct arena {
    void *p;
    size_t bytes;
} arena;

struct glint_context {
    glint_model *m;
    glint_context_options opt;
    cplan **plans;
    int n_plans, cap_plans;
    cplan *last; /* the plan last run (outputs, profile) */
    arena own;   /* shared by every plan: the largest one's size */
    arena *ar;   /* the one runs use: &own, or a lender's (glint_context_borrow_arena) */
    uint64_t tick;
    glint_observer observe;
    void *observe_user;
    glint_context_stats st;
};

static bool batch_is_free(const glint_model *m)
{
    for (int i = 0; i < m->g.n_inputs; i++) {
        const value *v = &m->g.vals[m->g.inputs[i]];
        if (v->ndim < 1 || v->dims[0] >= 0) return false;
    }
    return m->g.n_inputs > 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Memory a plan holds besides the arena: its tables and folded constants. */
static size_t plan_bytes(const plan *p)
{
    size_t per_val = sizeof *p->t + sizeof *p->is_const + sizeof *p->owned + sizeof *p->offset +
                     sizeof *p->alias + sizeof *p->alias_off + sizeof *p->lay;
    size_t n = (size_t)p->cap_vals * per_val + (size_t)p->cap_steps * sizeof *p->steps;
    for (int v = 0; v < p->n_vals; v++)
        if (p->owned[v]) n += eng_tensor_bytes(&p->t[v]);
    return n;
}

static void cplan_free(cplan *cp)
{
    if (!cp) return;
    eng_plan_dispose(&cp->p);
    free(cp);
}

/* Drops the least recently used plan not planned at creation. */
static void evict_one(glint_context *c, const cplan *keep)
{
    int lru = -1;
    for (int i = 0; i < c->n_plans; i++) {
        const cplan *cp = c->plans[i];
        if (cp->pinned || cp == keep) continue;
        if (lru < 0 || cp->used < c->plans[lru]->used) lru = i;
    }
    if (lru < 0) return;
    c->st.plan_bytes -= plan_bytes(&c->plans[lru]->p);
    cplan_free(c->plans[lru]);
    c->plans[lru] = c->plans[--c->n_plans];
    c->st.plans_evicted++;
}

static int unpinned(const glint_context *c)
{
    int n = 0;
    for (int i = 0; i < c->n_plans; i++)
        n += !c->plans[i]->pinned;
    return n;
}

/* Grows a to at least `bytes` (its contents are not kept: plans bound to
 * the old memory rebind before their next run, see plan_bind). */
static glint_status arena_reserve(arena *a, size_t bytes)
{
    if (bytes <= a->bytes && a->p) return GLINT_OK;
    size_t size = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, size ? size : 64);
    if (!p) return eng_fail(GLINT_ERR_NOMEM, "cannot allocate %zu bytes of activations", size);
    free(a->p);
    a->p = p;
    a->bytes = bytes;
    return GLINT_OK;
}

/* Points cp's tensors into the arena the context runs on, grown to fit it. */
static glint_status plan_bind(glint_context *c, cplan *cp)
{
    glint_status s = arena_reserve(c->ar, cp->p.arena_bytes);
    if (s) return s;
    if (cp->bound != c->ar->p) {
        eng_plan_bind(&cp->p, c->ar->p);
        cp->bound = c->ar->p;
    }
    return GLINT_OK;
}

/* Builds a plan (shapes: every input's shape, or NULL for batch `batch` at
 * opt.input_dims), binds it, growing the arena when it needs more; on
 * success *out is the context's new plan. */
static glint_status add_plan(glint_context *c, const glint_tensor *shapes, int batch, bool pinned,
                             cplan **out)
{
    if (c->n_plans == c->cap_plans) {
        int cap = c->cap_plans ? 2 * c->cap_plans : 16;
        cplan **np = realloc(c->plans, (size_t)cap * sizeof *np);
        if (!np) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        c->plans = np;
        c->cap_plans = cap;
    }
    cplan *cp = calloc(1, sizeof *cp);
    if (!cp) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    double t0 = now_ms();
    const backend_iface *be = eng_backend_get(c->opt.backend);
    glint_status s = weights_read_lock(c->m);
    if (s) {
        free(cp);
        return s;
    }
    s = shapes ? eng_plan_build_shapes(c->m, shapes, be, c->opt.bf16 != 0, &cp->p)
               : eng_plan_build(c->m, batch, c->opt.input_dims, be, c->opt.bf16 != 0, &cp->p);
    if (!s) { /* what this plan reads at run time, the trim keeps */
        pthread_mutex_lock(&c->m->cache_lock);
        eng_plan_const_reads(&cp->p, c->m->const_runtime);
        pthread_mutex_unlock(&c->m->cache_lock);
    }
    pthread_rwlock_unlock(&c->m->weights_lock);
    if (s) {
        free(cp);
        return s;
    }
    if ((s = plan_bind(c, cp))) {
        cplan_free(cp);
        return s;
    }
    cp->p.observe = c->observe;
    cp->p.observe_user = c->observe_user;
    cp->pinned = pinned;
    c->plans[c->n_plans++] = cp;
    double ms = now_ms() - t0;
    c->st.plans_built++;
    c->st.build_ms += ms;
    c->st.last_build_ms = ms;
    c->st.plan_bytes += plan_bytes(&cp->p);
    int max_plans = c->opt.max_plans > 0 ? c->opt.max_plans : DEFAULT_MAX_PLANS;
    while (!pinned && unpinned(c) > max_plans)
        evict_one(c, cp);
    *out = cp;
    return GLINT_OK;
}

/* Whether every non-batch axis of every input is fixed (by the model or by
 * opt.input_dims): then creation plans every batch size. */
static bool shape_known(const glint_context *c)
{
    const graph *g = &c->m->g;
    for (int i = 0; i < g->n_inputs; i++) {
        const value *v = &g->vals[g->inputs[i]];
        if (v->ndim < 0) return false;
        for (int d = 1; d < v->ndim; d++)
            if (v->dims[d] < 0 && (i > 0 || c->opt.input_dims[d] <= 0)) return false;
    }
    return true;
}

glint_status glint_context_create(glint_model *m, const glint_context_options *opt,
                                  glint_context **out)
{
    *out = NULL;
    glint_context *c = calloc(1, sizeof *c);
    if (!c) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    c->m = m;
    c->ar = &c->own;
    if (opt) c->opt = *opt;
    if (c->opt.max_batch <= 0) c->opt.max_batch = 1;
    if (c->opt.threads <= 0) c->opt.threads = cpus_usable();
    if (c->opt.max_pixels <= 0) c->opt.max_pixels = DEFAULT_MAX_PIXELS;
    glint_status s = GLINT_OK;
    if (c->opt.max_batch > MAX_BATCH) {
        s = eng_fail(GLINT_ERR_INVALID, "max_batch %d is above %d", c->opt.max_batch, MAX_BATCH);
        goto fail;
    }
    if (c->opt.max_batch > 1 && !batch_is_free(m)) {
        s = eng_fail(GLINT_ERR_INVALID, "the model has a fixed batch size; max_batch must be 1");
        goto fail;
    }
    omp_set_num_threads(c->opt.threads);
    for (int b = 1; shape_known(c) && b <= c->opt.max_batch; b++) {
        cplan *cp = NULL;
        if ((s = add_plan(c, NULL, b, true, &cp))) goto fail;
        if (b == 1 && m->flops == 0) m->flops = cp->p.flops;
    }
    c->last = c->n_plans ? c->plans[0] : NULL;
    *out = c;
    return GLINT_OK;
fail:
    glint_context_free(c);
    return s;
}

void glint_context_free(glint_context *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_plans; i++)
        cplan_free(c->plans[i]);
    free(c->plans);
    free(c->own.p);
    free(c);
}

glint_status glint_context_warm(glint_context *c)
{
    const graph *g = &c->m->g;
    if (omp_get_max_threads() != c->opt.threads) omp_set_num_threads(c->opt.threads);
    for (int k = 0; k < c->n_plans; k++) {
        plan *p = &c->plans[k]->p;
        glint_status s = plan_bind(c, c->plans[k]);
        if (s) return s;
        for (int i = 0; i < g->n_inputs; i++) {
            glint_tensor *t = &p->t[g->inputs[i]];
            memset(t->data, 0, eng_tensor_bytes(t));
        }
        if ((s = eng_plan_run(p, false))) return s;
    }
    return GLINT_OK;
}

size_t glint_context_arena_bytes(const glint_context *c)
{
    return c->own.bytes;
}

void glint_context_borrow_arena(glint_context *c, glint_context *lender)
{
    arena *a = lender && lender != c ? &lender->own : &c->own;
    if (a == c->ar) return;
    c->ar = a;
    if (a != &c->own) { /* its own memory is not needed while it borrows */
        free(c->own.p);
        c->own = (arena){0};
    }
}

void glint_context_get_stats(const glint_context *c, glint_context_stats *st)
{
    *st = c->st;
    st->plans = c->n_plans;
    st->arena_bytes = c->own.bytes;
    st->interpreted = c->last ? c->last->p.n_tail : 0;
}

/* Checks input i of a run against the model's declaration: type, rank,
 * fixed sizes, the batch and pixel bounds. */
static glint_status check_input(const glint_context *c, int i, const glint_tensor *in)
{
    const graph *g = &c->m->g;
    const value *v = &g->vals[g->inputs[i]];
    char a[128], b[128];
    if (in->ndim < 0 || in->ndim > MAXD)
        return eng_fail(GLINT_ERR_SHAPE, "input '%s' has rank %d (at most %d)", v->name, in->ndim,
                        MAXD);
    if (in->dtype != v->dtype)
        return eng_fail(GLINT_ERR_INVALID, "input '%s' must be %s, got %s", v->name,
                        glint_dtype_name(v->dtype), glint_dtype_name(in->dtype));
    if (v->ndim >= 0 && in->ndim != v->ndim)
        return eng_fail(GLINT_ERR_SHAPE, "input '%s' must have shape %s, got %s", v->name,
                        eng_dims_str(v->dims, v->ndim, a, sizeof a),
                        eng_dims_str(in->dims, in->ndim, b, sizeof b));
    int64_t pixels = 1;
    bool batch_free = batch_is_free(c->m);
    for (int d = 0; d < in->ndim; d++) {
        int64_t decl = v->ndim < 0 ? -1 : v->dims[d]; /* no declared shape: every axis free */
        if (decl >= 0 && in->dims[d] != decl)
            return eng_fail(GLINT_ERR_SHAPE, "input '%s' must have shape %s, got %s", v->name,
                            eng_dims_str(v->dims, v->ndim, a, sizeof a),
                            eng_dims_str(in->dims, in->ndim, b, sizeof b));
        if (decl >= 0) continue;
        if (d == 0 && batch_free && (in->dims[0] < 1 || in->dims[0] > c->opt.max_batch))
            return eng_fail(GLINT_ERR_SHAPE, "batch %lld is outside 1..%d", (long long)in->dims[0],
                            c->opt.max_batch);
        if (in->dims[d] < 1)
            return eng_fail(GLINT_ERR_SHAPE, "input '%s': axis %d is %lld (at least 1)", v->name, d,
                            (long long)in->dims[d]);
        if (d > 0 || !batch_free) {
            if (in->dims[d] > c->opt.max_pixels / pixels)
                return eng_fail(GLINT_ERR_SHAPE,
                                "input '%s' of shape %s is above the context's %lld pixels",
                                v->name, eng_dims_str(in->dims, in->ndim, b, sizeof b),
                                (long long)c->opt.max_pixels);
            pixels *= in->dims[d];
        }
    }
    if (!in->data) return eng_fail(GLINT_ERR_INVALID, "input '%s' has no data", v->name);
    return GLINT_OK;
}

static bool plan_fits(const glint_context *c, const cplan *cp, const glint_tensor *inputs)
{
    const graph *g = &c->m->g;
    for (int i = 0; i < g->n_inputs; i++) {
        const glint_tensor *t = &cp->p.t[g->inputs[i]];
        if (t->ndim != inputs[i].ndim ||
            memcmp(t->dims, inputs[i].dims, (size_t)t->ndim * sizeof *t->dims))
            return false;
    }
    return true;
}

/* The plan for these inputs' shapes, built on first use. */
static glint_status plan_for(glint_context *c, const glint_tensor *inputs, plan **out)
{
    cplan *cp = c->last && plan_fits(c, c->last, inputs) ? c->last : NULL;
    for (int i = 0; !cp && i < c->n_plans; i++)
        if (plan_fits(c, c->plans[i], inputs)) cp = c->plans[i];
    glint_status s;
    if (!cp && (s = add_plan(c, inputs, 0, false, &cp))) return s;
    if ((s = plan_bind(c, cp))) return s;
    cp->used = ++c->tick;
    c->last = cp;
    *out = &cp->p;
    return GLINT_OK;
}

/* Whether input v may be read where the caller holds `data` instead of
 * being copied into its arena slot: no other value shares its buffer (a
 * view of it), it is no graph output (read from its slot after the run),
 * and data is not inside this context's arena (an earlier output fed
 * back, which steps may overwrite while the input is still read). */
static bool bindable(const glint_context *c, const plan *p, int v, const void *data)
{
    const graph *g = &c->m->g;
    for (int w = 0; w < p->n_vals; w++)
        if (w != v && p->alias[w] == v) return false;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) return false;
    const char *a = c->ar->p, *d = data;
    return !(d >= a && d < a + c->ar->bytes);
}

glint_status glint_context_run(glint_context *c, const glint_tensor *inputs, int n_inputs)
{
    const graph *g = &c->m->g;
    if (n_inputs != g->n_inputs)
        return eng_fail(GLINT_ERR_INVALID, "the model takes %d inputs, got %d", g->n_inputs,
                        n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        glint_status s = check_input(c, i, &inputs[i]);
        if (s) return s;
    }
    if (omp_get_max_threads() != c->opt.threads) omp_set_num_threads(c->opt.threads);
    plan *p;
    glint_status s = plan_for(c, inputs, &p);
    if (s) return s;
    /* An input is read where the caller holds it when that is safe (no step
     * writes a graph input; see bindable), else copied into its slot. */
    void *slot[MAX_BOUND_INPUTS] = {0};
    for (int i = 0; i < n_inputs; i++) {
        glint_tensor *t = &p->t[g->inputs[i]];
        if (t->data == inputs[i].data) continue;
        if (i < MAX_BOUND_INPUTS && bindable(c, p, g->inputs[i], inputs[i].data)) {
            slot[i] = t->data;
            t->data = (void *)inputs[i].data;
        } else {
            memcpy(t->data, inputs[i].data, eng_tensor_bytes(t));
        }
    }
    for (int i = 0; p->observe && i < n_inputs; i++)
        p->observe(p->observe_user, g->vals[g->inputs[i]].name, &p->t[g->inputs[i]]);
    s = eng_plan_run(p, c->opt.profile != 0);
    for (int i = 0; i < n_inputs && i < MAX_BOUND_INPUTS; i++)
        if (slot[i]) p->t[g->inputs[i]].data = slot[i];
    return s;
}

void glint_context_observe(glint_context *c, glint_observer fn, void *user)
{
    c->observe = fn;
    c->observe_user = user;
    for (int i = 0; i < c->n_plans; i++) {
        c->plans[i]->p.observe = fn;
        c->plans[i]->p.observe_user = user;
    }
}

void glint_context_output(const glint_context *c, int i, glint_tensor *out)
{
    if (!c->last) {
        glint_io_info info;
        io_info(&c->m->g, c->m->g.outputs[i], &info);
        *out = (glint_tensor){.dtype = info.dtype, .ndim = info.ndim};
        memcpy(out->dims, info.dims, sizeof out->dims);
        return;
    }
    *out = c->last->p.t[c->m->g.outputs[i]];
}

size_t glint_context_profile(const glint_context *c, char *buf, size_t size)
{
    if (!c->last) {
        if (size) buf[0] = 0;
        return 0;
    }
    const plan *p = &c->last->p;
    size_t len = 0;
    double total = 0;
    int runs = p->prof_runs ? p->prof_runs : 1;
    for (int i = 0; i < p->n_steps; i++)
        total += p->steps[i].us;
    total += p->tail_us;
    for (int i = 0; i <= p->n_steps; i++) {
        if (i == p->n_steps) { /* the nodes of run-time shapes, as one line */
            if (!p->n_tail) break;
            char name[64], line[512];
            snprintf(name, sizeof name, "(%d nodes of run-time shapes)", p->n_tail);
            int n = snprintf(line, sizeof line, "%-48.48s %-18s %-40.40s %9.1f %5.1f%%\n", name,
                             "Interpreter", "ref", p->tail_us / runs,
                             total > 0 ? 100.0 * p->tail_us / total : 0.0);
            if (n > 0 && len + (size_t)n < size) memcpy(buf + len, line, (size_t)n + 1);
            if (n > 0) len += (size_t)n;
            break;
        }
        const step *st = &p->steps[i];
        const char *op = st->reorder_from >= 0 ? "Reorder" : eng_op_get(st->n->op)->name;
        char impl[64], line[512];
        snprintf(impl, sizeof impl, "%s%s", st->k.impl ? st->k.impl : "ref",
                 st->single && c->opt.threads > 1 ? " (1 thread)" : "");
        int n = snprintf(line, sizeof line, "%-48.48s %-18s %-40.40s %9.1f %5.1f%%\n", st->n->name,
                         op, impl, st->us / runs, total > 0 ? 100.0 * st->us / total : 0.0);
        if (n < 0) continue;
        if (len + (size_t)n < size) memcpy(buf + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    return len;
}
