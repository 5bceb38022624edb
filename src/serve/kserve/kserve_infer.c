/* A KServe v2 inference request through the core, whatever carries it
 * (kserve_infer.h). */
#include "serve/kserve/kserve_infer.h"

#include "serve/core/server_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const KSERVE_EXTENSIONS[] = {"binary_tensor_data", "statistics",
                                         "model_repository",   "model_configuration",
                                         "schedule_policy",    NULL};

void kserve_infer_init(kserve_req *k)
{
    k->header_len = -1;
    k->mu_init = !pthread_mutex_init(&k->mu, NULL);
}

/* The model output index called name, or -1. */
static int output_index(const repo_model *m, const char *name)
{
    for (int i = 0; i < glint_model_num_outputs(m->model); i++) {
        glint_io_info io;
        glint_model_output_info(m->model, i, &io);
        if (!strcmp(io.name, name)) return i;
    }
    return -1;
}

/* Checks the parsed request against the model and lists the outputs to
 * send. Returns the row count, or -1 with err. Worker thread. */
static int v2_check(sreq *r, char *err, size_t err_size)
{
    const repo_model *m = r->rm;
    kserve_req *k = r->proto;
    const kserve_request *q = &k->kreq;
    const model_conf *c = m->conf;
    glint_io_info in;
    glint_model_input_info(m->model, c->input, &in);
    if (q->n_inputs != 1 || strcmp(q->inputs[0].name, in.name)) {
        snprintf(err, err_size, "model %s takes one input, '%s' (%s [-1, 3, %d, %d])", m->name,
                 in.name, "FP32", c->spec.height, c->spec.width);
        return -1;
    }
    const kserve_tensor *t = &q->inputs[0];
    /* a free height or width takes any size up to the serving size (the
     * batch tensors' room) */
    int free_h = in.ndim == 4 && in.dims[2] < 0, free_w = in.ndim == 4 && in.dims[3] < 0;
    int mh, mw;
    model_conf_max_hw(c, &mh, &mw);
    if (t->dtype != GLINT_F32 || t->ndim != 4 || t->dims[1] != 3 || t->dims[0] < 1 ||
        (free_h ? t->dims[2] < 1 || t->dims[2] > mh : t->dims[2] != c->spec.height) ||
        (free_w ? t->dims[3] < 1 || t->dims[3] > mw : t->dims[3] != c->spec.width)) {
        char hs[32], ws[32];
        snprintf(hs, sizeof hs, free_h ? "1..%d" : "%d", free_h ? mh : c->spec.height);
        snprintf(ws, sizeof ws, free_w ? "1..%d" : "%d", free_w ? mw : c->spec.width);
        snprintf(err, err_size, "input '%s' must be FP32 [N, 3, %s, %s]", in.name, hs, ws);
        return -1;
    }
    k->lazy = t->dims[2] != c->spec.height || t->dims[3] != c->spec.width;
    if (t->dims[0] > m->max_queue) {
        snprintf(err, err_size, "input '%s' has %lld rows, more than the queue holds (%d)", in.name,
                 (long long)t->dims[0], m->max_queue);
        return -1;
    }
    int n = q->n_outputs ? q->n_outputs : glint_model_num_outputs(m->model);
    if (n > KSERVE_MAX_TENSORS) n = KSERVE_MAX_TENSORS;
    for (int i = 0; i < n; i++) {
        kserve_out *o = &k->outs[i];
        o->index = i;
        o->binary = q->binary_output_default;
        if (q->n_outputs) {
            if ((o->index = output_index(m, q->outputs[i].name)) < 0) {
                snprintf(err, err_size, "model %s has no output '%s'", m->name, q->outputs[i].name);
                return -1;
            }
            o->binary = q->outputs[i].binary;
        }
        glint_io_info io;
        glint_model_output_info(m->model, o->index, &io);
        o->name = io.name;
    }
    k->n_out = n;
    return (int)t->dims[0];
}

/* Sizes and allocates the outputs of `rows` rows in r's arena, from the
 * shapes the model's warmed contexts gave. 0, or -1 with err. Worker. */
static int alloc_outputs(sreq *r, int rows, char *err, size_t err_size)
{
    kserve_req *k = r->proto;
    k->rows = rows;
    if (k->lazy) return 0; /* v2_item_ran allocates them */
    for (int i = 0; i < k->n_out; i++) {
        kserve_out *o = &k->outs[i];
        glint_tensor shape;
        if (batcher_output_row(r->rm->batcher, o->index, &shape) || shape.ndim < 1) {
            snprintf(err, err_size, "output '%s' has no batch axis", o->name);
            return -1;
        }
        size_t row = glint_dtype_size(shape.dtype);
        for (int d = 1; d < shape.ndim; d++)
            row *= (size_t)shape.dims[d];
        o->dtype = shape.dtype;
        o->ndim = shape.ndim;
        memcpy(o->dims, shape.dims, sizeof o->dims);
        o->dims[0] = rows;
        o->row_bytes = row;
        if (!(o->data = arena_alloc_raw(r->mem, row * (size_t)rows))) {
            snprintf(err, err_size, "out of memory for output '%s'", o->name);
            return -1;
        }
    }
    return 0;
}

/* The outputs of a request whose input is not the serving size, shaped as
 * the first row that ran (t: its batch's output, row bytes per row); the
 * rows after check against it. 0, or -1 out of memory. Instance thread. */
static int lazy_output(kserve_req *k, kserve_out *o, const glint_tensor *t, size_t row)
{
    int rc = 0;
    pthread_mutex_lock(&k->mu);
    if (!o->data && t->ndim >= 1) {
        o->dtype = t->dtype;
        o->ndim = t->ndim;
        memcpy(o->dims, t->dims, sizeof o->dims);
        o->dims[0] = k->rows;
        o->row_bytes = row;
        o->data = malloc(row * (size_t)k->rows + 1);
        rc = o->data ? 0 : -1;
    }
    pthread_mutex_unlock(&k->mu);
    return rc;
}

/* batch row ran: copies row res->row of each output into the request's
 * buffers (instance thread; no allocation but a lazy request's first row). */
int kserve_infer_item_ran(sitem *it, const batch_result *res)
{
    kserve_req *k = it->owner->proto;
    if (it->owner->rm->chain) { /* a pipeline's first model: the answer goes on from here */
        answer_params p = answer_params_of(sitem_model(it)->conf);
        return pipeline_answer(it, res, &p);
    }
    for (int i = 0; i < k->n_out; i++) {
        kserve_out *o = &k->outs[i];
        glint_tensor t;
        glint_context_output(res->ctx, o->index, &t);
        size_t row = glint_dtype_size(t.dtype);
        for (int d = 1; d < t.ndim; d++)
            row *= (size_t)t.dims[d];
        if (k->lazy && lazy_output(k, o, &t, row)) {
            snprintf(it->err, sizeof it->err, "out of memory for output '%s'", o->name);
            return -1;
        }
        if (t.ndim < 1 || t.dims[0] != res->batch_size || row != o->row_bytes ||
            t.dtype != o->dtype) {
            snprintf(it->err, sizeof it->err, "output '%s' has no batch axis", o->name);
            return -1;
        }
        memcpy(o->data + (size_t)it->index * row, (const uint8_t *)t.data + (size_t)res->row * row,
               row);
    }
    return 0;
}

/* Applies the request's timeout, admits its rows on its model and makes
 * its items. 0, or -1 with r finished (503 refused, 500 out of memory). */
static int admit_rows(sreq *r, int rows)
{
    kserve_req *k = r->proto;
    repo_model *m = r->rm;
    char why[160];
    if (k->kreq.timeout_us > 0) r->deadline_ns = r->t_start + (uint64_t)k->kreq.timeout_us * 1000u;
    if (sreq_admit(r, rows, why, sizeof why)) {
        sreq_finish_error(r, 503, "model %s: %s", m->name, why);
        return -1;
    }
    if (sreq_items(r, rows)) {
        atomic_fetch_sub(&m->pending, rows);
        sreq_finish_error(r, 500, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- pipelines: encoded images in (BYTES), JSON answers out (BYTES) ---- */

/* Checks a pipeline's request: one BYTES input "image" of N elements, at
 * most the output "answer". N, or -1 with err. */
static int chain_check(sreq *r, char *err, size_t err_size)
{
    const repo_model *m = r->rm;
    kserve_req *k = r->proto;
    const kserve_request *q = &k->kreq;
    const kserve_tensor *t = &q->inputs[0];
    if (q->n_inputs != 1 || strcmp(t->name, "image") || t->dtype != KSERVE_BYTES || t->ndim < 1 ||
        t->ndim > 2 || (t->ndim == 2 && t->dims[1] != 1)) {
        snprintf(err, err_size,
                 "model %s is a pipeline: it takes one input, 'image' (BYTES [-1]: encoded JPEG "
                 "or PNG images)",
                 m->name);
        return -1;
    }
    if (q->n_outputs > 1 || (q->n_outputs == 1 && strcmp(q->outputs[0].name, "answer"))) {
        snprintf(err, err_size, "model %s is a pipeline: its one output is 'answer' (BYTES)",
                 m->name);
        return -1;
    }
    if (t->elements < 1 || t->elements > (size_t)m->max_queue || t->elements > SERVE_MAX_IMAGES) {
        snprintf(err, err_size, "input 'image' has %zu images: 1 to %d at once", t->elements,
                 m->max_queue < SERVE_MAX_IMAGES ? m->max_queue : SERVE_MAX_IMAGES);
        return -1;
    }
    kserve_out *o = &k->outs[0];
    o->name = "answer";
    o->index = 0;
    o->dtype = KSERVE_BYTES;
    o->ndim = 1;
    o->dims[0] = (int64_t)t->elements;
    o->binary = q->n_outputs ? q->outputs[0].binary : q->binary_output_default;
    k->n_out = 1;
    k->rows = (int)t->elements;
    return k->rows;
}

/* Each image of the input through the pipeline (worker). */
static void chain_start(sreq *r)
{
    kserve_req *k = r->proto;
    char err[SERVE_ERR_MAX];
    int rows = chain_check(r, err, sizeof err);
    if (rows < 0) {
        sreq_finish_error(r, 400, "%s", err);
        return;
    }
    if (admit_rows(r, rows)) return;
    const kserve_tensor *t = &k->kreq.inputs[0];
    const uint8_t *p = t->data;
    size_t left = t->size;
    for (int i = 0; i < rows; i++) /* the parser checked the elements */
        kserve_bytes_next(&p, &left, &r->items[i].data, &r->items[i].size);
    pipeline_submit_images(r);
}

/* The items' answers as the BYTES output "answer": one JSON text each.
 * 0, or -1 out of memory. */
static int chain_answers(sreq *r)
{
    kserve_req *k = r->proto;
    kserve_out *o = &k->outs[0];
    char *text[SERVE_MAX_IMAGES];
    size_t len[SERVE_MAX_IMAGES], size = 0;
    int rc = 0;
    for (int i = 0; i < r->n_items; i++) {
        text[i] = json_dumps(r->items[i].answer, JSON_COMPACT | JSON_REAL_PRECISION(10));
        len[i] = text[i] ? strlen(text[i]) : 0;
        size += 4 + len[i];
        rc |= !text[i];
    }
    if (!rc && (o->data = malloc(size + 1))) {
        uint8_t *q = o->data;
        for (int i = 0; i < r->n_items; i++) {
            q[0] = (uint8_t)len[i];
            q[1] = (uint8_t)(len[i] >> 8);
            q[2] = (uint8_t)(len[i] >> 16);
            q[3] = (uint8_t)(len[i] >> 24);
            memcpy(q + 4, text[i], len[i]);
            q += 4 + len[i];
        }
        o->bytes = size;
    } else {
        rc = -1;
    }
    for (int i = 0; i < r->n_items; i++)
        free(text[i]);
    return rc;
}

void kserve_infer_start(sreq *r, uint64_t t0)
{
    kserve_req *k = r->proto;
    repo_model *m = r->rm;
    char err[SERVE_ERR_MAX];
    if (m->chain) {
        chain_start(r);
        return;
    }
    int rows = v2_check(r, err, sizeof err);
    if (rows < 0) {
        sreq_finish_error(r, 400, "%s", err);
        return;
    }
    if (alloc_outputs(r, rows, err, sizeof err)) {
        sreq_finish_error(r, 500, "%s", err);
        return;
    }
    if (admit_rows(r, rows)) return;
    const kserve_tensor *t = &k->kreq.inputs[0];
    size_t row_bytes = t->size / (size_t)rows;
    uint64_t parse_ns = serve_now_ns() - t0;
    for (int i = 0; i < rows; i++) {
        sitem *it = &r->items[i];
        it->decode_ns = parse_ns / (uint64_t)rows;
        pipeline_submit_row(it, (const uint8_t *)t->data + (size_t)i * row_bytes, row_bytes,
                            (int)t->dims[2], (int)t->dims[3]);
    }
}

void kserve_infer_dispose(sreq *r)
{
    kserve_req *k = r->proto;
    kserve_request_dispose(&k->kreq);
    if (r->rm && r->rm->chain) {
        free(k->outs[0].data);
        k->outs[0].data = NULL;
    }
    if (k->lazy)
        for (int i = 0; i < k->n_out; i++) {
            free(k->outs[i].data);
            k->outs[i].data = NULL;
        }
    if (k->mu_init) pthread_mutex_destroy(&k->mu);
    k->mu_init = 0;
}

int kserve_infer_rows_ok(sreq *r)
{
    for (int i = 0; i < r->n_items; i++)
        if (r->items[i].status != 200) {
            sreq_finish_error(r, r->items[i].status, "%s", r->items[i].err);
            return -1;
        }
    if (r->rm->chain && chain_answers(r)) {
        sreq_finish_error(r, 500, "out of memory for the answers");
        return -1;
    }
    return 0;
}

int kserve_model_batched(const repo_model *m)
{
    if (m->chain) return 0; /* its tensors' shapes say [-1] themselves */
    return batcher_get_options(m->batcher)->max_batch > 1 || m->conf->batch_free;
}

int kserve_model_num_io(const repo_model *m, int outputs)
{
    if (m->chain) return 1;
    return outputs ? glint_model_num_outputs(m->model) : glint_model_num_inputs(m->model);
}

int kserve_model_steps(const repo_model *m, kserve_step *steps)
{
    const chain *c = m->chain;
    for (int i = 0; c && i < c->n_stages; i++) {
        const repo_model *s = c->stages[i];
        glint_io_info in, out;
        glint_model_input_info(s->model, s->conf->input, &in);
        glint_model_output_info(s->model, s->conf->output, &out);
        int last = c->mode == CHAIN_MERGE || i == c->n_stages - 1;
        steps[i] = (kserve_step){s->name, in.name, c->mode == CHAIN_MERGE || !i ? "image" : "crops",
                                 out.name, last ? "answer" : "boxes"};
    }
    return c ? c->n_stages : 0;
}

const char *kserve_model_platform(const repo_model *m)
{
    return m->chain ? "ensemble" : "onnx";
}

void kserve_model_io(const repo_model *m, int outputs, int i, glint_io_info *io)
{
    if (m->chain) { /* encoded images in, JSON answers out */
        memset(io, 0, sizeof *io);
        io->name = outputs ? "answer" : "image";
        io->dtype = KSERVE_BYTES;
        io->ndim = 1;
        io->dims[0] = -1;
        (void)i;
        return;
    }
    if (outputs)
        glint_model_output_info(m->model, i, io);
    else
        glint_model_input_info(m->model, i, io);
    if (!outputs && io->ndim == 4 && !m->conf->spec.stride) {
        /* free spatial axes run at the configured size, unless the model is
         * served at each picture's size (rect): then they stay free (-1) */
        io->dims[2] = m->conf->spec.height;
        io->dims[3] = m->conf->spec.width;
    }
}

static kserve_dur dur(uint64_t count, uint64_t ns)
{
    return (kserve_dur){count, ns};
}

void kserve_stats_read(const repo_model *m, kserve_stats *out)
{
    model_stats *st = (model_stats *)&m->stats; /* its lock */
    const batcher_stats *bs = batcher_get_stats(m->batcher);
    struct compute_stats c, by[BATCHER_MAX_BATCH + 1];
    pthread_mutex_lock(&st->compute_mu); /* the three counts of one moment */
    c = st->compute;
    memcpy(by, st->compute_by_batch, sizeof by);
    pthread_mutex_unlock(&st->compute_mu);
    memset(out, 0, sizeof *out);
    out->last_inference_ms = atomic_load(&st->last_inference_ms);
    out->inference_count = atomic_load(&bs->inferences);
    out->execution_count = atomic_load(&bs->executions);
    out->success = dur(atomic_load(&st->success_count), atomic_load(&st->success_ns));
    out->fail = dur(atomic_load(&st->fail_count), atomic_load(&st->fail_ns));
    out->queue = dur(atomic_load(&st->queue_count), atomic_load(&st->queue_ns));
    out->compute_input = dur(c.count, c.input_ns);
    out->compute_infer = dur(c.count, c.infer_ns);
    out->compute_output = dur(c.count, c.output_ns);
    out->cache_hit = dur(atomic_load(&st->cache_hit_count), atomic_load(&st->cache_hit_ns));
    out->cache_miss = dur(atomic_load(&st->cache_miss_count), atomic_load(&st->cache_miss_ns));
    for (int b = 1; b <= BATCHER_MAX_BATCH; b++)
        if (by[b].count) {
            int n = out->n_batch++;
            out->batch[n].batch_size = b;
            out->batch[n].compute_input = dur(by[b].count, by[b].input_ns);
            out->batch[n].compute_infer = dur(by[b].count, by[b].infer_ns);
            out->batch[n].compute_output = dur(by[b].count, by[b].output_ns);
        }
}

/* ---- repository loads ---- */

void kserve_load_installed(sreq *r)
{
    kserve_load *a = r->proto;
    repo_entry *e = a->entry;
    if (e->pipeline) return; /* loaded on the loop by kserve_load_begin */
    if (r->status != 200) {
        e->state = ENTRY_UNAVAILABLE;
        snprintf(e->reason, sizeof e->reason, "%s", a->err[0] ? a->err : "load failed");
        return;
    }
    repo_install(r->srv, e, a->loaded);
    a->loaded = NULL;
}

void kserve_load_dispose(sreq *r)
{
    kserve_load *a = r->proto;
    repo_model_release(a->loaded);
}

static void load_job(workq_job *job)
{
    sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, job, job);
    kserve_load *a = r->proto;
    /* the table is the loop's: kserve_load_installed copies the error into it */
    if (repo_entry_load(r->srv, a->entry, &a->loaded, a->err, sizeof a->err)) {
        sreq_finish_error(r, 400, "failed to load '%s': %s", a->entry->name, a->err);
        return;
    }
    sreq_set_body(r, 200, strdup("{}"));
    sreq_finish(r);
}

void kserve_load_begin(sreq *r, repo_entry *e)
{
    ((kserve_load *)r->proto)->entry = e;
    sreq_track(r);
    if (e->pipeline) { /* no engine: read over the loaded models, on the loop */
        if (chain_reload(r->srv, e, NULL)) {
            sreq_finish_error(r, 400, "failed to load '%s': %s", e->name, e->last_error);
            return;
        }
        sreq_set_body(r, 200, strdup("{}"));
        sreq_finish(r);
        return;
    }
    e->state = ENTRY_LOADING;
    r->job.fn = load_job;
    workq_push(r->srv->workers, &r->job);
}
