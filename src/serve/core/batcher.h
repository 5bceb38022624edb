/* The dynamic batcher of one model: engine instances that run batches formed
 * from images as they arrive.
 *
 * Images never wait in a list to be copied into a batch: a worker thread that
 * has decoded an image reserves a row of the batch tensor now forming
 * (batcher_reserve; a batch holds images of one size), writes the prepared
 * image straight into it, and commits
 * it (batcher_commit). Each instance owns two batch tensors, so one fills
 * while the other runs. An idle instance closes the forming batch and runs it
 * once every reserved row is committed and
 *   - it holds max_batch rows, or a row of another size waits, or
 *   - it holds a preferred batch size, or
 *   - its first row has waited max_queue_delay (0: at once; what waited while
 *     the instances were busy is the batch).
 * After the run, the instance calls each committed item's done() with the
 * outputs, on the instance thread.
 *
 * Threads: batcher_reserve/commit from worker threads (they may block while
 * every batch tensor is full; never call them from the event loop); done()
 * on instance threads; stats are atomics readable from any thread.
 */
#ifndef GLINT_SERVE_BATCHER_H
#define GLINT_SERVE_BATCHER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "glint/engine.h"

#define BATCHER_MAX_BATCH 32
#define BATCHER_MAX_INSTANCES 16
#define BATCHER_MAX_OUTPUTS 16

typedef struct batcher_options {
    int instances; /* engine contexts (>= 1) */
    int threads;   /* engine threads per context (>= 1) */
    int max_batch; /* 1..BATCHER_MAX_BATCH */
    int64_t max_queue_delay_us;
    int preferred[BATCHER_MAX_BATCH]; /* rising; n_preferred of them */
    int n_preferred;
    int64_t input_dims[4]; /* [-, C, H, W] of one image (dims[0] ignored): planned at warm-up */
    int64_t max_hw[2];     /* the largest H, W a row may have (batch room); 0: input_dims' */
    int bf16;              /* contexts compute convolutions in bf16 */
    /* > threads: one more context of this many threads, shared, on which a
     * lone batch runs (no other instance running, nothing else waiting), so
     * that a request alone gets every core; 0: none */
    int solo_threads;
} batcher_options;

/* What an item learns when its batch has run. */
typedef struct batch_result {
    glint_status status;       /* GLINT_OK or the run's failure (message in `error`) */
    const char *error;         /* valid during the call */
    const glint_context *ctx;  /* outputs: glint_context_output(ctx, i, ...) */
    int row;                   /* this item's row in the outputs */
    int batch_size;            /* rows in the batch */
    uint64_t start_ns, end_ns; /* the run, CLOCK_MONOTONIC */
} batch_result;

typedef struct batch_item batch_item;
struct batch_item {
    /* Called once, on an instance thread, after the run. The outputs are
     * valid only during the call. */
    void (*done)(batch_item *it, const batch_result *r);
    uint64_t commit_ns; /* set by batcher_commit: when the row was ready */
};

/* A reserved row: write `floats` floats to `data`, then commit it. */
typedef struct batch_slot {
    void *batch; /* opaque */
    int row;
    float *data;
    size_t floats;
} batch_slot;

/* Counters since creation (monotonic), for metrics. */
typedef struct batcher_stats {
    atomic_uint_fast64_t executions;                        /* batches run */
    atomic_uint_fast64_t inferences;                        /* rows run (committed items) */
    atomic_uint_fast64_t compute_ns;                        /* time in glint_context_run */
    atomic_uint_fast64_t failures;                          /* runs that failed */
    atomic_uint_fast64_t by_size[BATCHER_MAX_BATCH + 1];    /* executions per batch size */
    atomic_uint_fast64_t by_size_ns[BATCHER_MAX_BATCH + 1]; /* their run time */
    atomic_int pending_rows;                                /* reserved, not yet run */
    atomic_uint_fast64_t image_ns;  /* per-image run time, moving average (0: none yet) */
    atomic_uint_fast64_t solo_runs; /* batches run on the solo context */
    atomic_int solo_ready;          /* the solo context is built and warm */
    atomic_size_t weights_freed;    /* bytes of the model's own weights let go once every context
                                     * had planned its shapes (glint_model_trim) */
} batcher_stats;

typedef struct batcher batcher;

/* Creates the instances (contexts of `m`, which must outlive the batcher),
 * starts their threads and warms every batch size 1..max_batch on each, in
 * parallel; returns when all are warm. Returns 0 and *out (free with
 * batcher_destroy), or -1 with a message in err. */
int batcher_create(glint_model *m, const batcher_options *o, batcher **out, char *err,
                   size_t err_size);

/* Stops taking reservations, runs what is committed, joins the instances and
 * frees everything. Accepts NULL. */
void batcher_destroy(batcher *b);

/* Reserves a row of the forming batch, waiting while every batch tensor is
 * full. Returns 0, or -1 if the batcher is stopping. */
int batcher_reserve(batcher *b, batch_slot *s);
/* Same for an image of h x w (at most max_hw): a batch holds images of one
 * size, so a row of another size closes the forming batch and opens the
 * next (rect letterboxing, text lines; the context plans each size on first
 * use). -2 for a size out of range. */
int batcher_reserve_hw(batcher *b, int h, int w, batch_slot *s);

/* Hands the row over once it is written; `it` NULL gives the row up (its
 * image failed): it is run but nobody is told. Never blocks for long. */
void batcher_commit(batcher *b, batch_slot *s, batch_item *it);

const batcher_stats *batcher_get_stats(const batcher *b);
const batcher_options *batcher_get_options(const batcher *b);
/* Bytes of activation memory of all instances. */
size_t batcher_arena_bytes(const batcher *b);

/* The shape and type of one row of output i (dims[0] = 1, data NULL), as
 * the warmed contexts produce it: sizes a protocol's output buffers before
 * the run. 0, or -1 if there is no such output. Any thread (set before
 * batcher_create returns). */
int batcher_output_row(const batcher *b, int i, glint_tensor *shape);

#endif
