/* A request of glint serve on its way through the core, whatever protocol
 * brought it: its memory (one arena, freed in one step), its images or
 * tensor rows (items) through decode -> batch -> answer, and the answer
 * handed back to the loop.
 *
 * The core knows a protocol only through the request's table (sreq_ops)
 * and its opaque `proto` pointer: the protocol says what an item's batch
 * row becomes, what the request's answer is once every item is answered,
 * and what to free. batcher.h is the model: a callback, no names.
 *
 * Threads and ownership:
 *   - the event loop owns the sockets, the h2o request and every sreq until
 *     it is handed to a worker; it never blocks on inference or decoding;
 *   - workers (decode, parsing, database writes) and engine instances move
 *     a request on; the thread that answers its last item calls
 *     ops->finished, which builds the answer and calls sreq_finish (or hands
 *     the request to a worker that does); the loop writes the response and
 *     destroys the request.
 */
#ifndef GLINT_SERVE_CORE_REQUEST_H
#define GLINT_SERVE_CORE_REQUEST_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#include "model/answer.h"
#include "serve/core/arena.h"
#include "serve/core/batcher.h"
#include "serve/core/repo.h"
#include "serve/core/workq.h"

#define SERVE_MAX_IMAGES 64 /* image parts in one request */

typedef struct sreq sreq;

/* One image (or tensor row) of a request. */
typedef struct sitem {
    batch_item bi; /* first: the batcher's view */
    workq_job job;
    sreq *owner;
    repo_model *rm;      /* the model it runs on, if not the request's (borrowed: the
                            protocol holds a reference until the request is freed) */
    int index;           /* in the request */
    const uint8_t *data; /* the image bytes (in the request's body copy) */
    size_t size;
    const vision_image *pixels; /* or the picture, decoded already (the protocol keeps it
                                   until the request is freed) */
    const char *name;           /* multipart filename (in the arena) or NULL */
    vision_transform tf;
    int status; /* 0 while pending; HTTP status once answered */
    char err[SERVE_ERR_MAX];
    json_t *answer; /* an answer object the protocol built (freed with the request) */
    uint64_t decode_ns, prep_ns, queue_ns, infer_ns, post_ns;
    int batch_size;
    struct chain_run *run; /* a pipeline's picture and rows (chain.h), or NULL */
} sitem;

/* What a protocol does with its requests. Every pointer may be NULL. */
typedef struct sreq_ops {
    /* An item's batch row ran: turn row res->row of the outputs into the
     * item's part of the answer (instance thread; the outputs are valid only
     * during the call). 0, or -1 with it->err (the item fails with 500). */
    int (*item_ran)(sitem *it, const batch_result *res);
    /* Every item is answered (the thread of the last one): set the answer
     * (r->status, r->resp...) and hand r back with sreq_finish(), now or
     * from a worker. NULL: the core answers with the first item's error. */
    void (*finished)(sreq *r);
    /* On the loop, just before r's answer is written. */
    void (*on_loop)(sreq *r);
    /* Frees what r->proto holds outside the arena (the loop, when r is
     * destroyed). */
    void (*dispose)(sreq *r);
} sreq_ops;

struct sreq {
    h2o_multithread_message_t msg; /* to the loop, when answered */
    workq_job job;                 /* a protocol's job (parsing, database writes) */
    server *srv;
    arena *mem;     /* everything the request allocates; r itself lives in it */
    h2o_req_t *req; /* NULL once h2o disposed of it (client gone) */
    void *tracker;  /* in req's pool: points back here */
    repo_model *rm; /* a reference, or NULL */
    const sreq_ops *ops;
    void *proto;                   /* the protocol's state of this request (in the arena) */
    uint64_t t_start, deadline_ns; /* CLOCK_MONOTONIC */
    const uint8_t *body;           /* copy of the request body (in the arena) */
    size_t body_len;
    int n_items;
    atomic_int left; /* items not yet answered */
    sitem *items;    /* in the arena */
    /* the answer, set by the thread that finished last */
    int status;
    char *resp; /* malloc'd; the response body */
    size_t resp_len;
    size_t resp_header_len; /* KServe binary: JSON part's length (a header) */
    const char *content_type;
    int cacheable; /* a 200 that goes into the response cache under cache_key */
    uint8_t cache_key[64];
    size_t cache_klen;
    fail_reason reason;
    char timing[160]; /* Server-Timing value */
};

/* The model item `it` runs on: its own, else its request's. */
static inline repo_model *sitem_model(const sitem *it)
{
    return it->rm ? it->rm : it->owner->rm;
}

/* Monotonic nanoseconds. */
uint64_t serve_now_ns(void);

/* A new request for `req` on model rm (takes that reference; rm may be
 * NULL) with `proto_size` zeroed bytes of protocol state at r->proto. NULL
 * if out of memory (rm is then released). Loop thread. */
sreq *sreq_create(server *s, h2o_req_t *req, repo_model *rm, const sreq_ops *ops,
                  size_t proto_size);
/* Frees r: ops->dispose, the answer, the model reference and the arena. */
void sreq_destroy(sreq *r);
/* Copies the h2o request body into r's arena (r->body). 0 or -1 (OOM). */
int sreq_copy_body(sreq *r, const h2o_req_t *req);
/* Allocates n items over r (in the arena), owned by r. 0 or -1 (OOM). */
int sreq_items(sreq *r, int n);
/* Tracks r as in flight (the drain waits for it) and ties it to its h2o
 * request, if it has one, so that a vanished client is noticed. Loop thread. */
void sreq_track(sreq *r);
/* Undoes sreq_track (r waited for something on the loop and goes on, or
 * ends, from there). r->req is NULL if the client went away meanwhile. */
void sreq_untrack(sreq *r);
/* Hands a finished request back to the loop (any thread). */
void sreq_finish(sreq *r);
/* Sets r's answer to {key: msg} with `status` (any thread). */
void sreq_set_errorv(sreq *r, int status, const char *key, const char *fmt, va_list ap);
/* Sets r's answer to {"error": msg} with `status` (any thread). */
void sreq_set_error(sreq *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Finishes r at once with {"error": msg} and `status` (any thread). */
void sreq_finish_error(sreq *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets r's answer to the JSON text `body` (taken: malloc'd) with status. */
void sreq_set_body(sreq *r, int status, char *body);
/* Admits n more images on r's model: 0, or -1 with the reason in why (a
 * rejection, counted) when its queue holds max_queue images, or when the
 * wait predicted for r (images ahead x the model's per-image run time /
 * instances) is over max_queue_ms or past r's deadline. Any thread. */
int sreq_admit(sreq *r, int n, char *why, size_t cap);

/* ---- the pipeline (pipeline.c) ---- */

/* Queues every item of an image request (r->items with data/size set) on
 * the workers: decode, prepare into a batch row, run, ops->item_ran. Loop
 * thread. */
void pipeline_submit_images(sreq *r);
/* Commits tensor row `row` (`bytes` of floats, the model's input of h x w)
 * of item it to its model's batcher (any thread; the deadline is checked
 * first). */
void pipeline_submit_row(sitem *it, const void *row, size_t bytes, int h, int w);
/* Finishes item `it` with an error (any thread). */
void sitem_fail(sitem *it, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Counts a row that ran on m (queued queue_ns) in m's statistics: queue
 * time, and for the first row of a batch its run time and size. */
void pipeline_count_run(repo_model *m, uint64_t queue_ns, const batch_result *res);
/* Counts the answer of a row that ran on m: its input time (decode and
 * prepare), run and answer-building time. */
void pipeline_count_output(repo_model *m, uint64_t input_ns, uint64_t post_ns,
                           const batch_result *res);
/* Counts a pipeline's step on model m (one of its rows, answered in ns
 * from its commit) as a request of m, as Triton counts an ensemble's steps
 * in its composing models' statistics. */
void pipeline_count_step(repo_model *m, uint64_t ns);
/* Item it is answered (200): counted, and done. Any thread. */
void sitem_answered(sitem *it);
/* Builds it->answer, the answer object `glint run` prints, from row
 * res->row under parameters p (instance thread). 0 or -1 with it->err. */
int pipeline_answer(sitem *it, const batch_result *res, const answer_params *p);

#endif
