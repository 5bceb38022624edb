/* The dynamic batcher of one model (see batcher.h).
 *
 * State under one mutex: the batch tensors (instances + 1 of them: at most
 * one per running instance plus the one forming), which one is forming, and
 * the stop flag. Instances wait on cv_inst for a batch to close, workers on
 * cv_free for a batch to reserve rows in, and a closing instance on
 * cv_commit for the rows still being written.
 *
 * Low load, low latency: with solo_threads, instance 0 also builds a context
 * of that many threads (all the usable CPUs), once the model is ready. An instance that takes a
 * batch while no other instance runs and no other row waits runs it there, so a lone request gets
 * every core; under load each instance runs on its own context and the instances share the cores. A
 * batch that arrives during a solo run runs beside it on its instance's context (briefly more
 * threads than cores). The solo context has no activation memory of its own: it runs in that of
 * the instance running it, whose own context is idle meanwhile.
 */
#include "serve/core/batcher.h"
#include "util/clock.h"
#include "util/thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { B_FREE, B_FORMING, B_RUNNING };

typedef struct batch {
    float *data; /* max_batch images of the largest size */
    int state;
    int h, w;   /* the size of its images (rect letterboxing varies it per batch) */
    int sealed; /* a row of another size waits: no more rows, close it now */
    int reserved, committed;
    uint64_t open_ns; /* first reservation */
    batch_item *items[BATCHER_MAX_BATCH];
} batch;

typedef struct instance {
    batcher *owner;
    pthread_t thread;
    int started;
    glint_context *ctx;
} instance;

struct batcher {
    glint_model *model;
    batcher_options opt;
    size_t image_floats;
    pthread_mutex_t mu;
    pthread_cond_t cv_inst, cv_free, cv_commit, cv_warm;
    batch *batches;
    int n_batches;
    batch *forming;
    int stopping;
    int warm_left;       /* instances still warming */
    char warm_err[256];  /* first warm-up failure */
    int n_out_rows;      /* outputs whose row shape is known (set once, under mu) */
    glint_context *solo; /* solo_threads context, or NULL */
    int solo_busy;       /* a batch runs on it */
    int running;         /* instances inside run_batch */
    glint_tensor out_row[BATCHER_MAX_OUTPUTS]; /* one row of each output (dims[0] = 1) */
    instance inst[BATCHER_MAX_INSTANCES];
    batcher_stats stats;
};

static int is_preferred(const batcher_options *o, int n)
{
    for (int i = 0; i < o->n_preferred; i++)
        if (o->preferred[i] == n) return 1;
    return 0;
}

/* The forming batch if an instance should take it now; else NULL and
 * *until the time to look again (0: when something happens). */
static batch *closable(batcher *b, uint64_t *until)
{
    batch *f = b->forming;
    *until = 0;
    if (!f || f->reserved == 0) return NULL;
    if (b->stopping || f->sealed || f->reserved >= b->opt.max_batch ||
        is_preferred(&b->opt, f->reserved))
        return f;
    uint64_t due = f->open_ns + (uint64_t)b->opt.max_queue_delay_us * 1000u;
    if (clock_now_ns() >= due) return f;
    *until = due;
    return NULL;
}

static void wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t until_ns)
{
    /* the condvars use CLOCK_MONOTONIC (see batcher_create) */
    struct timespec ts = {.tv_sec = (time_t)(until_ns / 1000000000u),
                          .tv_nsec = (long)(until_ns % 1000000000u)};
    pthread_cond_timedwait(cv, mu, &ts);
}

/* The per-image run time admission predicts waits with: a moving average
 * (1/8 weight to the newest batch). Instances update it concurrently; a lost
 * update only delays the average by one batch. */
static void note_image_ns(batcher *b, uint64_t ns)
{
    uint64_t old = atomic_load_explicit(&b->stats.image_ns, memory_order_relaxed);
    uint64_t now = old ? old - old / 8 + ns / 8 : ns;
    atomic_store_explicit(&b->stats.image_ns, now, memory_order_relaxed);
}

/* Runs batch `bt` on context `ctx` and tells its items. Called unlocked. */
static void run_batch(batcher *b, glint_context *ctx, batch *bt)
{
    const glint_tensor input = {.dtype = GLINT_F32,
                                .ndim = 4,
                                .dims = {bt->reserved, b->opt.input_dims[1], bt->h, bt->w},
                                .data = bt->data};
    int used = 0;
    for (int i = 0; i < bt->reserved; i++)
        used += bt->items[i] != NULL;
    batch_result r = {.ctx = ctx, .batch_size = bt->reserved};
    if (used) {
        r.start_ns = clock_now_ns();
        r.status = glint_context_run(ctx, &input, 1);
        r.end_ns = clock_now_ns();
        r.error = r.status ? glint_last_error() : NULL;
        atomic_fetch_add(&b->stats.executions, 1);
        atomic_fetch_add(&b->stats.inferences, (uint_fast64_t)used);
        atomic_fetch_add(&b->stats.compute_ns, r.end_ns - r.start_ns);
        atomic_fetch_add(&b->stats.by_size[bt->reserved], 1);
        atomic_fetch_add(&b->stats.by_size_ns[bt->reserved], r.end_ns - r.start_ns);
        if (r.status)
            atomic_fetch_add(&b->stats.failures, 1);
        else if (ctx != b->solo) /* admission predicts loaded waits: instances' own times */
            note_image_ns(b, (r.end_ns - r.start_ns) / (uint64_t)used);
    }
    for (int i = 0; i < bt->reserved; i++) {
        if (!bt->items[i]) continue;
        r.row = i;
        bt->items[i]->done(bt->items[i], &r);
    }
    atomic_fetch_sub(&b->stats.pending_rows, bt->reserved);
}

/* Creates a context of `threads` threads and warms it; with `lender`, in
 * the lender's activation memory (the solo context: see the top). */
static int context_warm(batcher *b, int threads, glint_context *lender, glint_context **ctx)
{
    /* the square size is planned now for every batch size; other sizes
     * (rect letterboxing) on first use, a few per batch size kept */
    glint_context_options co = {.threads = threads,
                                .max_batch = b->opt.max_batch,
                                .bf16 = b->opt.bf16,
                                .max_plans = 4 * b->opt.max_batch < 8 ? 8 : 4 * b->opt.max_batch};
    co.input_dims[2] = b->opt.input_dims[2];
    co.input_dims[3] = b->opt.input_dims[3];
    if (glint_context_create(b->model, &co, ctx)) return -1;
    if (lender) glint_context_borrow_arena(*ctx, lender);
    return glint_context_warm(*ctx) ? -1 : 0;
}

static int instance_warm(batcher *b, instance *in)
{
    if (context_warm(b, b->opt.threads, NULL, &in->ctx)) {
        pthread_mutex_lock(&b->mu);
        if (!b->warm_err[0]) snprintf(b->warm_err, sizeof b->warm_err, "%s", glint_last_error());
        pthread_mutex_unlock(&b->mu);
        return -1;
    }
    pthread_mutex_lock(&b->mu);
    if (!b->n_out_rows) { /* the first instance warmed: its outputs' row shapes */
        int n = glint_model_num_outputs(b->model);
        for (int i = 0; i < n && i < BATCHER_MAX_OUTPUTS; i++) {
            glint_context_output(in->ctx, i, &b->out_row[i]);
            b->out_row[i].data = NULL;
            if (b->out_row[i].ndim > 0) b->out_row[i].dims[0] = 1;
        }
        b->n_out_rows = n < BATCHER_MAX_OUTPUTS ? n : BATCHER_MAX_OUTPUTS;
    }
    pthread_mutex_unlock(&b->mu);
    return 0;
}

/* Whether the contexts planned at creation every shape they will run (the
 * model's sizes are fixed, or fixed by input_dims with no larger rows). */
static bool shapes_all_planned(const batcher *b)
{
    for (int i = 0; i < glint_model_num_inputs(b->model); i++) {
        glint_io_info info;
        glint_model_input_info(b->model, i, &info);
        for (int d = 1; d < info.ndim; d++) {
            bool given = i == 0 && d < 4 && b->opt.input_dims[d] > 0 &&
                         (d < 2 || b->opt.max_hw[d - 2] == b->opt.input_dims[d]);
            if (info.dims[d] < 0 && !given) return false;
        }
    }
    return true;
}

static void *instance_main(void *arg)
{
    instance *in = arg;
    batcher *b = in->owner;
    thread_mark_batch(); /* inference (and its OpenMP team) yields to the event loop */
    int failed = instance_warm(b, in);
    pthread_mutex_lock(&b->mu);
    b->warm_left--;
    pthread_cond_broadcast(&b->cv_warm);
    if (!failed && in == &b->inst[0] && b->opt.solo_threads > b->opt.threads) {
        /* the solo context after the model is ready: not on the cold start;
         * meanwhile the other instances serve */
        pthread_mutex_unlock(&b->mu);
        glint_context *solo = NULL;
        if (context_warm(b, b->opt.solo_threads, in->ctx, &solo)) {
            fprintf(stderr,
                    "glint serve: no solo context (%s): a lone request runs on its instance\n",
                    glint_last_error());
            glint_context_free(solo);
            solo = NULL;
        }
        pthread_mutex_lock(&b->mu);
        b->solo = solo;
        atomic_store(&b->stats.solo_ready, solo != NULL);
    }
    if (!failed && in == &b->inst[0]) { /* every context warm: nothing plans again */
        while (b->warm_left > 0)
            pthread_cond_wait(&b->cv_warm, &b->mu);
        if (!b->warm_err[0] && shapes_all_planned(b)) {
            pthread_mutex_unlock(&b->mu);
            atomic_store(&b->stats.weights_freed, glint_model_trim(b->model));
            pthread_mutex_lock(&b->mu);
        }
    }
    while (!failed) {
        uint64_t until;
        batch *bt = closable(b, &until);
        if (!bt) {
            if (b->stopping) break;
            if (until)
                wait_until(&b->cv_inst, &b->mu, until);
            else
                pthread_cond_wait(&b->cv_inst, &b->mu);
            continue;
        }
        b->forming = NULL;
        bt->state = B_RUNNING;
        pthread_cond_broadcast(&b->cv_free); /* workers may open the next batch */
        while (bt->committed < bt->reserved)
            pthread_cond_wait(&b->cv_commit, &b->mu);
        int solo = b->solo && !b->solo_busy && b->running == 0 &&
                   atomic_load(&b->stats.pending_rows) == bt->reserved;
        b->solo_busy |= solo;
        b->running++;
        pthread_mutex_unlock(&b->mu);
        if (solo) { /* in the memory of this instance's context, idle meanwhile */
            glint_context_borrow_arena(b->solo, in->ctx);
            atomic_fetch_add(&b->stats.solo_runs, 1);
        }
        run_batch(b, solo ? b->solo : in->ctx, bt);
        pthread_mutex_lock(&b->mu);
        b->running--;
        if (solo) b->solo_busy = 0;
        bt->state = B_FREE;
        bt->reserved = bt->committed = bt->sealed = 0;
        memset(bt->items, 0, sizeof bt->items);
        pthread_cond_broadcast(&b->cv_free);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void stop_and_join(batcher *b)
{
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    pthread_cond_broadcast(&b->cv_inst);
    pthread_cond_broadcast(&b->cv_free);
    pthread_cond_broadcast(&b->cv_commit);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->opt.instances; i++)
        if (b->inst[i].started) {
            pthread_join(b->inst[i].thread, NULL);
            b->inst[i].started = 0;
        }
}

void batcher_destroy(batcher *b)
{
    if (!b) return;
    stop_and_join(b);
    for (int i = 0; i < b->opt.instances; i++)
        glint_context_free(b->inst[i].ctx);
    glint_context_free(b->solo);
    for (int i = 0; b->batches && i < b->n_batches; i++)
        free(b->batches[i].data);
    free(b->batches);
    pthread_cond_destroy(&b->cv_inst);
    pthread_cond_destroy(&b->cv_free);
    pthread_cond_destroy(&b->cv_commit);
    pthread_cond_destroy(&b->cv_warm);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int check_options(const batcher_options *o, char *err, size_t err_size)
{
    if (o->instances < 1 || o->instances > BATCHER_MAX_INSTANCES || o->threads < 1 ||
        o->max_batch < 1 || o->max_batch > BATCHER_MAX_BATCH || o->max_queue_delay_us < 0 ||
        o->n_preferred < 0 || o->n_preferred > BATCHER_MAX_BATCH) {
        snprintf(err, err_size, "bad batcher options (instances %d, threads %d, max_batch %d)",
                 o->instances, o->threads, o->max_batch);
        return -1;
    }
    for (int d = 1; d < 4; d++)
        if (o->input_dims[d] < 1 || o->input_dims[d] > 65536) {
            snprintf(err, err_size, "bad input size");
            return -1;
        }
    return 0;
}

static int init_sync(batcher *b)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) return -1;
    int rc = pthread_mutex_init(&b->mu, NULL) || pthread_cond_init(&b->cv_inst, &ca) ||
             pthread_cond_init(&b->cv_free, &ca) || pthread_cond_init(&b->cv_commit, &ca) ||
             pthread_cond_init(&b->cv_warm, &ca);
    pthread_condattr_destroy(&ca);
    return rc ? -1 : 0;
}

int batcher_create(glint_model *m, const batcher_options *o, batcher **out, char *err,
                   size_t err_size)
{
    *out = NULL;
    if (check_options(o, err, err_size)) return -1;
    batcher *b = calloc(1, sizeof *b);
    if (!b || init_sync(b)) {
        free(b);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    b->model = m;
    b->opt = *o;
    if (b->opt.max_hw[0] < b->opt.input_dims[2]) b->opt.max_hw[0] = b->opt.input_dims[2];
    if (b->opt.max_hw[1] < b->opt.input_dims[3]) b->opt.max_hw[1] = b->opt.input_dims[3];
    b->image_floats = (size_t)(o->input_dims[1] * b->opt.max_hw[0] * b->opt.max_hw[1]);
    b->n_batches = o->instances + 1;
    b->batches = calloc((size_t)b->n_batches, sizeof *b->batches);
    for (int i = 0; b->batches && i < b->n_batches; i++)
        if (!(b->batches[i].data = malloc((size_t)o->max_batch * b->image_floats * sizeof(float))))
            goto oom;
    if (!b->batches) goto oom;
    b->warm_left = o->instances;
    for (int i = 0; i < o->instances; i++) {
        b->inst[i].owner = b;
        if (pthread_create(&b->inst[i].thread, NULL, instance_main, &b->inst[i])) {
            pthread_mutex_lock(&b->mu);
            b->warm_left -= o->instances - i;
            snprintf(b->warm_err, sizeof b->warm_err, "cannot start a thread: %s", strerror(errno));
            pthread_mutex_unlock(&b->mu);
            break;
        }
        b->inst[i].started = 1;
    }
    pthread_mutex_lock(&b->mu);
    while (b->warm_left > 0)
        pthread_cond_wait(&b->cv_warm, &b->mu);
    int failed = b->warm_err[0] != 0;
    if (failed) snprintf(err, err_size, "%s", b->warm_err);
    pthread_mutex_unlock(&b->mu);
    if (failed) {
        batcher_destroy(b);
        return -1;
    }
    *out = b;
    return 0;
oom:
    snprintf(err, err_size, "out of memory for %d batch tensors", b->n_batches);
    batcher_destroy(b);
    return -1;
}

/* A batch in state FREE, or NULL. */
static batch *free_batch(batcher *b)
{
    for (int i = 0; i < b->n_batches; i++)
        if (b->batches[i].state == B_FREE) return &b->batches[i];
    return NULL;
}

int batcher_reserve(batcher *b, batch_slot *s)
{
    return batcher_reserve_hw(b, (int)b->opt.input_dims[2], (int)b->opt.input_dims[3], s);
}

int batcher_reserve_hw(batcher *b, int h, int w, batch_slot *s)
{
    if (h < 1 || w < 1 || h > b->opt.max_hw[0] || w > b->opt.max_hw[1]) return -2;
    pthread_mutex_lock(&b->mu);
    batch *f;
    for (;;) {
        if (b->stopping) {
            pthread_mutex_unlock(&b->mu);
            return -1;
        }
        f = b->forming;
        if (f && f->reserved == 0) {
            f->h = h;
            f->w = w;
        }
        if (f && !f->sealed && f->reserved < b->opt.max_batch && f->h == h && f->w == w) break;
        if (f && !f->sealed && (f->h != h || f->w != w)) {
            f->sealed = 1; /* run it as it is; this row opens the next batch */
            pthread_cond_broadcast(&b->cv_inst);
        }
        if (!f && (f = free_batch(b))) {
            f->state = B_FORMING;
            f->h = h;
            f->w = w;
            f->sealed = 0;
            b->forming = f;
            break;
        }
        pthread_cond_wait(&b->cv_free, &b->mu);
    }
    if (f->reserved == 0) f->open_ns = clock_now_ns();
    size_t floats = (size_t)b->opt.input_dims[1] * (size_t)h * (size_t)w;
    s->batch = f;
    s->row = f->reserved++;
    s->data = f->data + (size_t)s->row * floats;
    s->floats = floats;
    atomic_fetch_add(&b->stats.pending_rows, 1);
    pthread_cond_broadcast(&b->cv_inst);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

void batcher_commit(batcher *b, batch_slot *s, batch_item *it)
{
    batch *bt = s->batch;
    if (it) it->commit_ns = clock_now_ns();
    pthread_mutex_lock(&b->mu);
    bt->items[s->row] = it;
    if (++bt->committed == bt->reserved) pthread_cond_broadcast(&b->cv_commit);
    pthread_mutex_unlock(&b->mu);
}

const batcher_stats *batcher_get_stats(const batcher *b)
{
    return &b->stats;
}

const batcher_options *batcher_get_options(const batcher *b)
{
    return &b->opt;
}

size_t batcher_arena_bytes(const batcher *b)
{
    size_t n = 0;
    for (int i = 0; i < b->opt.instances; i++)
        n += glint_context_arena_bytes(b->inst[i].ctx);
    batcher *mb = (batcher *)b; /* b->solo is set once, under mu */
    pthread_mutex_lock(&mb->mu);
    n += mb->solo ? glint_context_arena_bytes(mb->solo) : 0;
    pthread_mutex_unlock(&mb->mu);
    return n;
}

int batcher_output_row(const batcher *b, int i, glint_tensor *shape)
{
    if (i < 0 || i >= b->n_out_rows) return -1;
    *shape = b->out_row[i];
    return 0;
}
