/* The model repository of glint serve: a folder per model (model.onnx, its
 * model.yaml, optional int8 form), opened through the model layer
 * (model/package.h) into a warmed batcher, with per-model statistics.
 *
 * Threads: the table (server.entries) belongs to the loop thread; a
 * repo_model is reference-counted and may be held by any thread (a request
 * holds one until it is answered); loading runs where it is called (start-up
 * or a worker).
 */
#ifndef GLINT_SERVE_CORE_REPO_H
#define GLINT_SERVE_CORE_REPO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "model/package.h"
#include "serve/core/batcher.h"
#include "serve/core/metrics.h"

#define SERVE_ERR_MAX 512

typedef struct server server;

/* Why a request failed, for metrics (glint_request_failure_total{reason}). */
typedef enum fail_reason {
    FAIL_BAD_REQUEST, /* 4xx: bad image, bad parameters, bad body */
    FAIL_REJECTED,    /* 503: queue full, draining, connection limit */
    FAIL_TIMEOUT,     /* 504: deadline passed */
    FAIL_INTERNAL,    /* 500: inference failed */
    FAIL_COUNT
} fail_reason;

/* The failure class of an HTTP status. */
fail_reason serve_fail_reason(int status);

/* Per-model counters: Triton's statistics extension and the metrics. */
typedef struct model_stats {
    atomic_uint_fast64_t success_count, success_ns; /* requests answered 200 */
    atomic_uint_fast64_t fail_count, fail_ns;
    atomic_uint_fast64_t fail_by[FAIL_COUNT];
    atomic_uint_fast64_t queue_count, queue_ns;   /* image ready -> run starts */
    atomic_uint_fast64_t input_count, input_ns;   /* decode + prepare */
    atomic_uint_fast64_t output_count, output_ns; /* answer building */
    /* Triton's compute_input / compute_infer / compute_output: each answered
     * row adds to all three at once (its decode + prepare, its batch's run,
     * its answer) under compute_mu, so that every snapshot shows one count
     * for the three (Triton's clients check); per batch size, an execution
     * counts once (with its first row's input and output). */
    pthread_mutex_t compute_mu;
    struct compute_stats {
        uint64_t count, input_ns, infer_ns, output_ns;
    } compute, compute_by_batch[BATCHER_MAX_BATCH + 1];
    atomic_uint_fast64_t cache_hit_count, cache_hit_ns, cache_miss_count, cache_miss_ns;
    atomic_uint_fast64_t images;            /* images answered */
    atomic_uint_fast64_t last_inference_ms; /* Unix ms of the last answer */
    atomic_uint_fast64_t over_budget; /* refused: predicted wait over max_queue_ms or deadline */
    metrics_histogram request_seconds, queue_seconds, compute_seconds, batch_size;
} model_stats;

/* Adds an answered row to st->compute (and, for the first row of a batch of
 * `batch` rows, to compute_by_batch; batch 0: not the first row). */
void model_stats_compute(model_stats *st, int batch, uint64_t input_ns, uint64_t infer_ns,
                         uint64_t output_ns);

/* A loaded model. Held by the table and by every request that uses it. */
typedef struct repo_model {
    char *name;             /* folder name: the {name} of the routes */
    model_package pkg;      /* the opened folder: model, conf, precision */
    glint_model *model;     /* = pkg.model */
    const model_conf *conf; /* = &pkg.conf */
    batcher *batcher;
    int max_queue;            /* images admitted and not answered, before 503 */
    int max_queue_ms;         /* predicted wait for a run before 503; 0 none */
    int timeout_ms;           /* default deadline */
    double load_ms;           /* load + plan + warm-up */
    uint64_t file_sig;        /* model_package_sig of its folder when loaded */
    uint64_t content_id;      /* with --redis: its files' and precision's hash (0 otherwise) */
    struct ratelimit *limits; /* model.yaml's rate_limit per client, or NULL (loop thread) */
    int limit_share;          /* the replica count its rate is divided by (--redis) */
    int limit_burst;          /* rate_limit_burst, else ceil(rate_limit) */
    struct chain *chain;      /* a pipeline (chain.h): the models it runs; NULL for a model */
    atomic_int refs;
    atomic_int pending; /* images admitted, not yet answered */
    model_stats stats;
} repo_model;

/* A model folder of the repository and its state. */
typedef enum { ENTRY_UNAVAILABLE, ENTRY_LOADING, ENTRY_READY, ENTRY_UNLOADING } entry_state;
typedef struct repo_entry {
    char *name;
    char *dir;     /* the folder it loads: models_dir/name, or a version of a pulled model */
    int precision; /* a model_precision; 0: model.yaml's (the --precision flag wins) */
    char *source;  /* model.yaml's `source`: new versions are pulled from it; NULL if none */
    char source_sha256[65]; /* what its body must hash to ("" if not pinned) */
    entry_state state;
    repo_model *model;              /* READY: the loaded model (a reference) */
    char reason[SERVE_ERR_MAX];     /* why it is unavailable */
    int reloading;                  /* a repo_reload is under way */
    int generation;                 /* bumped by unload: a reload started before is void */
    uint64_t failed_sig;            /* files whose load failed: not retried until they change */
    char last_error[SERVE_ERR_MAX]; /* of the last failed reload ("" if none) */
    uint64_t load_failures;
    int pipeline;      /* its folder is a pipeline (chain.h), loaded on the loop */
    int chain_waiting; /* a pipeline to load once the models it runs are */
} repo_entry;

/* Lists the model folders of the repository (start-up). 0 or -1 with err. */
int repo_scan(server *s, char *err, size_t err_size);
/* Loads the model of entry `e` into *out (a new reference), blocking: call
 * from a worker or at start-up. The table is not touched. */
int repo_entry_load(server *s, const repo_entry *e, repo_model **out, char *err, size_t err_size);
/* Loads the model folder `dir` as a model called name (a new reference in
 * *out): opened, planned, warmed, in `precision` (a model_precision; 0:
 * model.yaml's; the server's --precision wins). Blocking; any thread; the
 * table is not touched. 0, or -1 with err. */
int repo_load_dir(server *s, const char *name, const char *dir, int precision, repo_model **out,
                  char *err, size_t err_size);
/* The entry called name[0..len), or NULL. Loop thread. */
repo_entry *repo_find(server *s, const char *name, size_t len);
/* Adds an unloaded entry called name serving folder dir (a model that is not
 * a folder of the repository: a pulled version). NULL with err if the name is
 * taken. Entries never move: the pointer stays valid. Loop thread. */
repo_entry *repo_add(server *s, const char *name, const char *dir, char *err, size_t err_size);
/* Points e at another folder (the next reload loads it). 0, or -1 when out
 * of memory. Loop thread. */
int repo_entry_set_dir(repo_entry *e, const char *dir);
/* The ready model called name, as a new reference, or NULL. Loop thread. */
repo_model *repo_get(server *s, const char *name, size_t len);
/* Drops a reference; the last one frees the model. Any thread; accepts NULL. */
void repo_model_release(repo_model *m);
/* Installs a model loaded by repo_entry_load into e (takes the reference),
 * clears the response cache and releases the one it replaces. Loop thread. */
void repo_install(server *s, repo_entry *e, repo_model *m);
/* Unloads e's model (requests in flight finish on it). Loop thread. */
void repo_unload(server *s, repo_entry *e);
void repo_free(server *s);
/* Loads entry e's model again on a worker, warms it beside the one serving
 * and swaps it in on the loop: requests in flight finish on the old one. A
 * failed load leaves the old model serving (logged, counted, in
 * e->last_error). Does nothing while a load of e is under way. Loop thread. */
void repo_reload(server *s, repo_entry *e);
/* Reloads every ready model whose files changed since it was loaded (and
 * whose new files did not already fail). Loop thread. */
void repo_reload_changed(server *s);
/* Sets how often the server looks for changed model files (seconds > 0). */
void repo_set_poll_interval(server *s, double seconds);
/* Registers repo_reload's receiver on the loop's queue (start-up). */
void repo_reload_init(server *s);
/* Polls for changed files when due (loop thread, every loop turn). */
void repo_tick(server *s);

#endif
