/* glint serve internals shared by server.c, repo.c and the route files.
 *
 * Threads and ownership:
 *   - the event loop thread (h2o evloop) owns the sockets, the h2o requests,
 *     the model table, the response cache and every `sreq` until it is
 *     handed to a worker; it never blocks on inference or decoding;
 *   - worker threads (a workq: decoding, request parsing, model loading)
 *     and instance threads (the batchers) finish a request by building its
 *     response body and sending the sreq back to the loop through an h2o
 *     multithread queue; the loop writes the response and frees the sreq.
 */
#ifndef GLINT_SERVE_SERVER_IMPL_H
#define GLINT_SERVE_SERVER_IMPL_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#include "serve/answer.h"
#include "serve/batcher.h"
#include "serve/cache.h"
#include "serve/kserve.h"
#include "serve/metrics.h"
#include "serve/model_conf.h"
#include "serve/server.h"
#include "serve/strbuf.h"
#include "serve/workq.h"

#define SERVE_ERR_MAX 512
#define SERVE_MAX_IMAGES 64 /* image parts in one request */

/* Why a request failed, for metrics (glint_request_failure_total{reason}). */
typedef enum fail_reason {
    FAIL_BAD_REQUEST, /* 4xx: bad image, bad parameters, bad body */
    FAIL_REJECTED,    /* 503: queue full, draining, connection limit */
    FAIL_TIMEOUT,     /* 504: deadline passed */
    FAIL_INTERNAL,    /* 500: inference failed */
    FAIL_COUNT
} fail_reason;

/* Per-model counters: Triton's statistics extension and the metrics. */
typedef struct model_stats {
    atomic_uint_fast64_t success_count, success_ns; /* requests answered 200 */
    atomic_uint_fast64_t fail_count, fail_ns;
    atomic_uint_fast64_t fail_by[FAIL_COUNT];
    atomic_uint_fast64_t queue_count, queue_ns;   /* image ready -> run starts */
    atomic_uint_fast64_t input_count, input_ns;   /* decode + prepare */
    atomic_uint_fast64_t output_count, output_ns; /* answer building */
    atomic_uint_fast64_t cache_hit_count, cache_hit_ns, cache_miss_count, cache_miss_ns;
    atomic_uint_fast64_t images;            /* images answered */
    atomic_uint_fast64_t last_inference_ms; /* Unix ms of the last answer */
    metrics_histogram request_seconds, queue_seconds, compute_seconds, batch_size;
} model_stats;

/* A loaded model. Held by the table and by every request that uses it. */
typedef struct repo_model {
    char *name; /* folder name: the {name} of the routes */
    char *dir;
    glint_model *model;
    model_conf conf;
    batcher *batcher;
    int max_queue;  /* images admitted and not answered, before 503 */
    int timeout_ms; /* default deadline */
    double load_ms; /* load + plan + warm-up */
    uint64_t file_sig; /* mtimes and sizes of its files when loaded (repo_file_sig) */
    int precision;  /* MODEL_PRECISION_F32 or _INT8 (model.int8.onnx) */
    char precision_note[320]; /* how the precision was chosen (auto: the figures) */
    atomic_int refs;
    atomic_int pending; /* images admitted, not yet answered */
    model_stats stats;
} repo_model;

/* A model folder of the repository and its state. */
typedef enum { ENTRY_UNAVAILABLE, ENTRY_LOADING, ENTRY_READY, ENTRY_UNLOADING } entry_state;
typedef struct repo_entry {
    char *name;
    entry_state state;
    repo_model *model;          /* READY: the loaded model (a reference) */
    char reason[SERVE_ERR_MAX]; /* why it is unavailable */
    int reloading;              /* a repo_reload is under way */
    int generation;             /* bumped by unload: a reload started before is void */
    uint64_t failed_sig;       /* files whose load failed: not retried until they change */
    char last_error[SERVE_ERR_MAX]; /* of the last failed reload ("" if none) */
    uint64_t load_failures;
} repo_entry;

typedef struct server server;
typedef struct sreq sreq;

/* One image of a request on its way through decode, batch and answer. */
typedef struct sitem {
    batch_item bi; /* first: the batcher's view */
    workq_job job;
    sreq *owner;
    int index;           /* in the request */
    const uint8_t *data; /* the image bytes (in the request's body copy) */
    size_t size;
    char *name; /* multipart filename (owned) or NULL */
    vision_transform tf;
    int status; /* 0 while pending; HTTP status once answered */
    char err[SERVE_ERR_MAX];
    json_t *answer; /* 200: the answer object */
    uint64_t decode_ns, prep_ns, queue_ns, infer_ns, post_ns;
    int batch_size;
} sitem;

typedef enum { SREQ_V1, SREQ_KSERVE, SREQ_ADMIN, SREQ_EDGE } sreq_kind;
typedef struct edge_req edge_req;
typedef struct edge_state edge_state;

struct sreq {
    h2o_multithread_message_t msg; /* to the loop, when answered */
    workq_job job;                 /* parse job (KServe) */
    server *srv;
    h2o_req_t *req; /* NULL once h2o disposed of it (client gone) */
    void *tracker;  /* in req's pool: points back here */
    repo_model *rm; /* a reference */
    sreq_kind kind;
    void (*on_loop)(sreq *r);      /* run on the loop before the answer is sent */
    repo_entry *entry;             /* SREQ_ADMIN: the model folder loaded */
    repo_model *loaded;            /* SREQ_ADMIN: the model it gave */
    char *load_err;                /* SREQ_ADMIN: why it failed (owned) */
    uint64_t t_start, deadline_ns; /* CLOCK_MONOTONIC */
    uint8_t *body;                 /* owned copy of the request body */
    size_t body_len;
    long long header_len; /* KServe Inference-Header-Content-Length, -1 if none */
    answer_params params;
    int multi; /* answers as {"results": [...]} */
    int n_items;
    atomic_int left; /* items not yet answered */
    sitem *items;
    /* KServe */
    kserve_request kreq;
    pthread_mutex_t out_mu; /* guards the output buffers below */
    int n_out;
    struct {
        const char *name;
        glint_dtype dtype;
        int ndim;
        int64_t dims[GLINT_MAX_DIMS];
        size_t row_bytes;
        uint8_t *data;
        int binary;
    } outs[KSERVE_MAX_TENSORS];
    /* the answer, built by the thread that finished last */
    int status;
    char *resp;
    size_t resp_len;
    size_t resp_header_len; /* KServe binary: JSON part's length */
    const char *content_type;
    int cacheable;
    uint8_t cache_key[64];
    size_t cache_klen;
    fail_reason reason;
    char timing[160]; /* Server-Timing value */
    edge_req *edge;   /* SREQ_EDGE: the image query (owned) */
};

struct server {
    serve_options opt;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    int listen_fd;
    int port; /* bound port */
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t done_rx;
    h2o_multithread_receiver_t reload_rx; /* repo_reload results */
    edge_state *edge;                     /* the Groundlight edge API (routes_edge.c) */
    workq *workers;
    resp_cache *cache;
    repo_entry *entries;
    int n_entries;
    int connections;
    h2o_linklist_t conns; /* the client_conn of each open connection */
    int in_flight; /* sreqs handed off and not yet back */
    int draining;
    int stopping; /* teardown: late reloads are dropped */
    uint64_t started_ns;
    double cold_start_ms;
    /* server-wide counters */
    metrics_counter http_requests, http_errors_4xx, http_errors_5xx, conn_rejected;
    metrics_counter cache_hits, cache_misses;
};

/* ---- server.c ---- */
uint64_t serve_now_ns(void);
/* Sends a complete response; body copied. Loop thread. */
void serve_respond(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len);
/* {"error": msg} with `status`. Loop thread. */
void serve_respond_error(server *s, h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* {key: msg} with `status` (the edge API says "detail"). Loop thread. */
void serve_respond_errorv(server *s, h2o_req_t *req, int status, const char *key,
                          const char *fmt, va_list ap);
/* A json_t answer (stolen) as 200 or `status`. Loop thread. */
void serve_respond_json(h2o_req_t *req, int status, json_t *j);
/* Tracks `r` as in flight and ties it to its h2o request so that a vanished
 * client is noticed. Loop thread. */
int serve_track(server *s, sreq *r);
/* Hands a finished request back to the loop (any thread). */
void serve_finish(sreq *r);
/* Sets r's answer to {"error": msg} with `status` (any thread). */
void sreq_set_error(sreq *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets r's answer to {key: msg} with `status` (any thread). */
void sreq_set_errorv(sreq *r, int status, const char *key, const char *fmt, va_list ap);
/* Finishes r at once with {"error": msg} and `status` (any thread). */
void serve_finish_error(sreq *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Allocates an sreq for `req` on model rm (a new reference). NULL if out of
 * memory. */
sreq *sreq_create(server *s, h2o_req_t *req, repo_model *rm, sreq_kind kind);
void sreq_destroy(sreq *r);
/* Value of query parameter `name` of req (NUL-terminated copy in buf), or
 * NULL. */
const char *serve_query(h2o_req_t *req, const char *name, char *buf, size_t size);
/* Value of request header `name` (lower case) copied into buf, or NULL. */
const char *serve_header(h2o_req_t *req, const char *name, char *buf, size_t size);

/* ---- repo.c ---- */
int repo_scan(server *s, char *err, size_t err_size);
/* Loads the model of entry `e` into *out (a new reference), blocking: call
 * from a worker or at start-up. The table is not touched. */
int repo_entry_load(server *s, const repo_entry *e, repo_model **out, char *err, size_t err_size);
repo_entry *repo_find(server *s, const char *name, size_t len);
/* The ready model called name, as a new reference, or NULL. */
repo_model *repo_get(server *s, const char *name, size_t len);
void repo_model_release(repo_model *m);
void repo_free(server *s);
/* A number that changes when the files of model folder `name` change
 * (mtime and size of model.onnx, model.int8.onnx and model.yaml). */
uint64_t repo_file_sig(const server *s, const char *name);
/* Loads entry e's model again on a worker, warms it beside the one serving
 * and swaps it in on the loop: requests in flight finish on the old one. A
 * failed load leaves the old model serving (logged, counted, in
 * e->last_error). Does nothing while a load of e is under way. Loop thread. */
void repo_reload(server *s, repo_entry *e);
/* Registers repo_reload's receiver on the loop's queue (start-up). */
void repo_reload_init(server *s);

/* ---- routes ---- */
/* Each returns 0 if it answered (or took over) the request, -1 if the path
 * is not its. Loop thread. */
int route_v1(server *s, h2o_req_t *req, const char *path, size_t len);
int route_v2(server *s, h2o_req_t *req, const char *path, size_t len);
int route_ops(server *s, h2o_req_t *req, const char *path, size_t len);
int route_edge(server *s, h2o_req_t *req, const char *path, size_t len);

/* ---- routes_edge.c: the Groundlight edge API ---- */
/* Reads the edge config file (serve_options.edge_config, if any) and opens
 * the state database. 0 or -1 with err. Start-up, loop thread. */
int edge_start(server *s, char *err, size_t err_size);
/* Periodic work: picks up a changed config file, reloads changed models.
 * Loop thread, called every loop turn (cheap when nothing is due). */
void edge_tick(server *s);
/* Stops the delivery thread and frees the edge state (teardown). */
void edge_stop(server *s);
/* The edge API's part of /health: config file, detectors and how many are
 * ready, upstream, outbox depth (a new reference). Loop thread. */
json_t *edge_health(server *s);
/* The edge series of /metrics. Loop thread. */
void edge_metrics(server *s, strbuf *sb);
/* SREQ_EDGE: every item is answered; builds the image query (any thread). */
void edge_items_done(sreq *r);
void edge_req_free(edge_req *e);

/* Finishes item `it` of its request with an error (any thread). */
void sitem_fail(sitem *it, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Marks one item answered; the last one builds the response and hands the
 * request back to the loop (any thread). */
void sitem_done(sitem *it);
/* The failure class of an HTTP status. */
fail_reason serve_fail_reason(int status);
/* Queues every item of an image request (r->items with data/size set) on
 * the workers. Loop thread. */
void pipeline_submit_images(sreq *r);
/* Sets it->bi.done to the common row handler (KServe rows). */
void pipeline_item_ran_init(sitem *it);
/* /v1: builds it->answer from row res->row (instance thread); 0 or -1 with
 * it->err. */
int sitem_answer(sitem *it, const batch_result *res);
/* KServe: copies row res->row of the outputs into the request (instance
 * thread); 0 or -1 with it->err. */
int v2_item_ran(sitem *it, const batch_result *res);
/* KServe: builds the response of a request whose rows are all done. */
void v2_finish(sreq *r);

/* Per-thread scratch (decoder, image, answer workspace) of the calling
 * thread, created on first use; NULL if out of memory. */
typedef struct thread_scratch {
    vision_decoder *dec;
    vision_image img;
    answer_ws *aw;
} thread_scratch;
thread_scratch *serve_scratch(void);

#endif
