/* One KServe v2 inference request on its way through the core, whatever
 * carries it (HTTP/JSON in kserve_http.c, gRPC in kserve_grpc.c): the
 * parsed request (kserve.h) checked against the model, its rows fed to the
 * model's batcher, each row's outputs copied into the request's tensors.
 * Also what both transports read of a model: its tensors' shapes as
 * served, and a snapshot of Triton's statistics.
 *
 * A transport creates the sreq with a proto state that starts with a
 * kserve_req (kserve_infer_init), fills k->kreq, then calls
 * kserve_infer_start on a worker; its sreq_ops take item_ran and dispose
 * from here and build the answer from k->outs in their own `finished`.
 */
#ifndef GLINT_SERVE_KSERVE_INFER_H
#define GLINT_SERVE_KSERVE_INFER_H

#include <pthread.h>

#include "serve/core/request.h"
#include "serve/kserve/kserve.h"

/* One output tensor of an inference request, filled row by row. */
typedef struct kserve_out {
    const char *name;
    int index; /* the model's output index */
    glint_dtype dtype;
    int ndim;
    int64_t dims[GLINT_MAX_DIMS]; /* dims[0]: the request's rows */
    size_t row_bytes;
    uint8_t *data; /* rows x row_bytes, in the request's arena (or malloc'ed: lazy, BYTES) */
    int binary;
    size_t bytes; /* KSERVE_BYTES: the size of data (its elements serialized) */
} kserve_out;

/* An inference request's own state (request.h's proto, or its first member). */
typedef struct kserve_req {
    kserve_request kreq;
    long long header_len; /* HTTP: Inference-Header-Content-Length, -1 if none */
    int n_out;
    int rows;
    /* The input is not the serving size (a free height or width): the
     * outputs' shapes are learnt from the first row that runs, which
     * allocates them under mu. */
    int lazy;
    int mu_init;
    pthread_mutex_t mu;
    kserve_out outs[KSERVE_MAX_TENSORS];
} kserve_req;

/* The protocol extensions glint serves (NULL-terminated). */
extern const char *const KSERVE_EXTENSIONS[];

/* Prepares a zeroed kserve_req. */
void kserve_infer_init(kserve_req *k);
/* With k->kreq parsed (r->proto starts with k): checks it against the
 * model, applies its timeout, sizes the outputs, admits the rows and feeds
 * them to the batcher (parse_t0: when parsing began, for the statistics'
 * compute_input); on any failure finishes r with the error (400 for
 * the request's, 503 refused, 500 ours). Worker thread. */
void kserve_infer_start(sreq *r, uint64_t parse_t0);
/* sreq_ops.item_ran: copies row res->row of each output into r's tensors. */
int kserve_infer_item_ran(sitem *it, const batch_result *res);
/* sreq_ops.dispose (or part of it). */
void kserve_infer_dispose(sreq *r);
/* 0 if every row of r succeeded, else finishes r with the first error and
 * returns -1. */
int kserve_infer_rows_ok(sreq *r);

/* Whether the model's tensors carry a batch axis its config shows as -1
 * (Triton's max_batch_size > 0). */
int kserve_model_batched(const repo_model *m);
/* The model's input (outputs 0) or output count as KServe shows it: a
 * pipeline has one of each (image and answer, BYTES). */
int kserve_model_num_io(const repo_model *m, int outputs);
/* Triton's platform of the model: "onnx", a pipeline "ensemble". */
const char *kserve_model_platform(const repo_model *m);
/* A pipeline's stage as Triton's ensemble_scheduling step shows it: the
 * model, its input fed from the ensemble's tensor in_tensor, its output
 * giving out_tensor. */
typedef struct kserve_step {
    const char *model, *in_name, *in_tensor, *out_name, *out_tensor;
} kserve_step;
/* The steps of pipeline m into steps[0..CHAIN_MAX_STAGES); their count (0
 * for a model). */
int kserve_model_steps(const repo_model *m, kserve_step *steps);
/* Input or output i of the model as served: a 4-D input's spatial axes at
 * the configured size unless the model takes each picture's size (rect). */
void kserve_model_io(const repo_model *m, int outputs, int i, glint_io_info *io);

typedef struct kserve_dur {
    uint64_t count, ns;
} kserve_dur;

/* Triton's statistics of one model, in one snapshot (the three compute
 * counts of the same moment). */
typedef struct kserve_stats {
    uint64_t last_inference_ms, inference_count, execution_count;
    kserve_dur success, fail, queue, compute_input, compute_infer, compute_output, cache_hit,
        cache_miss;
    int n_batch; /* batch sizes that ran */
    struct {
        int batch_size;
        kserve_dur compute_input, compute_infer, compute_output;
    } batch[BATCHER_MAX_BATCH];
} kserve_stats;

void kserve_stats_read(const repo_model *m, kserve_stats *st);

/* A repository load (POST /v2/repository/models/{m}/load, RPC
 * RepositoryModelLoad): the proto state of its sreq, or its first member. */
typedef struct kserve_load {
    repo_entry *entry;
    repo_model *loaded;
    char err[SERVE_ERR_MAX];
} kserve_load;

/* Loads e (not READY nor LOADING) on a worker for r, which has no model;
 * r finishes with 200 {} or 400 {"error"}. Loop thread. */
void kserve_load_begin(sreq *r, repo_entry *e);
/* r's ops: on_loop (installs the model, or marks e unavailable) and
 * dispose. */
void kserve_load_installed(sreq *r);
void kserve_load_dispose(sreq *r);

#endif
