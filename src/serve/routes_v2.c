/* The KServe v2 / Open Inference Protocol, as Triton speaks it:
 *   GET  /v2                                    server metadata and extensions
 *   GET  /v2/health/live, /v2/health/ready
 *   GET  /v2/models/{m}[/versions/1]            model metadata
 *   GET  /v2/models/{m}[/versions/1]/ready
 *   GET  /v2/models/{m}[/versions/1]/config     Triton's model configuration
 *   GET  /v2/models[/{m}[/versions/1]]/stats    statistics extension
 *   POST /v2/models/{m}[/versions/1]/infer      JSON or binary tensors
 *   POST /v2/repository/index                   model repository extension
 *   POST /v2/repository/models/{m}/load|unload
 * Inference requests are parsed on a worker; their rows go through the
 * model's batcher like decoded images. Loop thread unless noted. */
#include "serve/precision.h"
#include "serve/server_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const EXTENSIONS[] = {"binary_tensor_data", "statistics",
                                         "model_repository",   "model_configuration",
                                         "schedule_policy",    NULL};

static int is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && !memcmp(p, lit, n);
}

static int method_is(h2o_req_t *req, const char *m)
{
    return is(req->method.base, req->method.len, m);
}

static json_t *shape_json(const int64_t *dims, int ndim, int from)
{
    json_t *a = json_array();
    for (int d = from; a && d < ndim; d++)
        json_array_append_new(a, json_integer(dims[d]));
    return a;
}

/* [{"name", "datatype", "shape"}] of the model's inputs or outputs. */
static json_t *io_json(const repo_model *m, int outputs, int triton_config)
{
    json_t *a = json_array();
    int n = outputs ? glint_model_num_outputs(m->model) : glint_model_num_inputs(m->model);
    int batched = batcher_get_options(m->batcher)->max_batch > 1 || m->conf.batch_free;
    for (int i = 0; a && i < n; i++) {
        glint_io_info io;
        if (outputs)
            glint_model_output_info(m->model, i, &io);
        else
            glint_model_input_info(m->model, i, &io);
        int64_t dims[GLINT_MAX_DIMS];
        memcpy(dims, io.dims, sizeof dims);
        if (!outputs && io.ndim == 4) { /* free spatial axes run at the configured size */
            dims[2] = m->conf.spec.height;
            dims[3] = m->conf.spec.width;
        }
        const char *dt = kserve_datatype_name(io.dtype);
        json_t *o;
        if (triton_config) {
            char type[32];
            snprintf(type, sizeof type, "TYPE_%s", dt ? dt : "INVALID");
            o = json_pack("{s:s, s:s, s:o}", "name", io.name, "data_type", type, "dims",
                          shape_json(dims, io.ndim, batched ? 1 : 0));
        } else {
            o = json_pack("{s:s, s:s, s:o}", "name", io.name, "datatype", dt ? dt : "INVALID",
                          "shape", shape_json(dims, io.ndim, 0));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static void server_metadata(h2o_req_t *req)
{
    json_t *ext = json_array();
    for (int i = 0; EXTENSIONS[i]; i++)
        json_array_append_new(ext, json_string(EXTENSIONS[i]));
    serve_respond_json(
        req, 200,
        json_pack("{s:s, s:s, s:o}", "name", "glint", "version", GLINT_VERSION, "extensions", ext));
}

static void model_metadata(h2o_req_t *req, const repo_model *m)
{
    serve_respond_json(
        req, 200,
        json_pack("{s:s, s:[s], s:s, s:o, s:o, s:{s:s, s:s}}", "name", m->name, "versions", "1",
                  "platform", "onnx", "inputs", io_json(m, 0, 0), "outputs", io_json(m, 1, 0),
                  "parameters", "precision", precision_name(m->precision),
                  "precision_note", m->precision_note));
}

static void model_config(h2o_req_t *req, const repo_model *m)
{
    const batcher_options *o = batcher_get_options(m->batcher);
    json_t *pref = json_array();
    for (int i = 0; i < o->n_preferred; i++)
        json_array_append_new(pref, json_integer(o->preferred[i]));
    int batched = o->max_batch > 1 || m->conf.batch_free;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:o, s:o, s:{s:o, s:I}, s:[{s:s, s:i, s:s}], s:{s:s, s:s, s:i, "
        "s:i}}",
        "name", m->name, "platform", "onnx", "backend", "glint", "max_batch_size",
        batched ? o->max_batch : 0, "input", io_json(m, 0, 1), "output", io_json(m, 1, 1),
        "dynamic_batching", "preferred_batch_size", pref, "max_queue_delay_microseconds",
        (json_int_t)o->max_queue_delay_us, "instance_group", "name", m->name, "count", o->instances,
        "kind", "KIND_CPU", "parameters", "task", model_task_name(m->conf.task), "precision",
        precision_name(m->precision), "threads", o->threads, "max_queue",
        m->max_queue);
    serve_respond_json(req, 200, j);
}

static json_t *dur(uint64_t count, uint64_t ns)
{
    return json_pack("{s:I, s:I}", "count", (json_int_t)count, "ns", (json_int_t)ns);
}

static json_t *model_stats_json(const repo_model *m)
{
    const model_stats *st = &m->stats;
    const batcher_stats *bs = batcher_get_stats(m->batcher);
    uint64_t execs = atomic_load(&bs->executions);
    json_t *batches = json_array();
    for (int b = 1; b <= BATCHER_MAX_BATCH; b++) {
        uint64_t n = atomic_load(&bs->by_size[b]);
        if (n)
            json_array_append_new(batches, json_pack("{s:i, s:o}", "batch_size", b, "compute_infer",
                                                     dur(n, atomic_load(&bs->by_size_ns[b]))));
    }
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}, s:o}", "name",
        m->name, "version", "1", "last_inference", (json_int_t)atomic_load(&st->last_inference_ms),
        "inference_count", (json_int_t)atomic_load(&bs->inferences), "execution_count",
        (json_int_t)execs, "inference_stats", "success",
        dur(atomic_load(&st->success_count), atomic_load(&st->success_ns)), "fail",
        dur(atomic_load(&st->fail_count), atomic_load(&st->fail_ns)), "queue",
        dur(atomic_load(&st->queue_count), atomic_load(&st->queue_ns)), "compute_input",
        dur(atomic_load(&st->input_count), atomic_load(&st->input_ns)), "compute_infer",
        dur(execs, atomic_load(&bs->compute_ns)), "compute_output",
        dur(atomic_load(&st->output_count), atomic_load(&st->output_ns)), "cache_hit",
        dur(atomic_load(&st->cache_hit_count), atomic_load(&st->cache_hit_ns)), "cache_miss",
        dur(atomic_load(&st->cache_miss_count), atomic_load(&st->cache_miss_ns)), "batch_stats",
        batches);
}

static void stats(server *s, h2o_req_t *req, const repo_model *only)
{
    json_t *a = json_array();
    for (int i = 0; i < s->n_entries; i++) {
        const repo_model *m = s->entries[i].model;
        if (s->entries[i].state != ENTRY_READY || (only && m != only)) continue;
        json_array_append_new(a, model_stats_json(m));
    }
    serve_respond_json(req, 200, json_pack("{s:o}", "model_stats", a));
}

/* ---- inference ---- */

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
    const kserve_request *k = &r->kreq;
    glint_io_info in;
    glint_model_input_info(m->model, m->conf.input, &in);
    if (k->n_inputs != 1 || strcmp(k->inputs[0].name, in.name)) {
        snprintf(err, err_size, "model %s takes one input, '%s' (%s [-1, 3, %d, %d])", m->name,
                 in.name, "FP32", m->conf.spec.height, m->conf.spec.width);
        return -1;
    }
    const kserve_tensor *t = &k->inputs[0];
    if (t->dtype != GLINT_F32 || t->ndim != 4 || t->dims[1] != 3 ||
        t->dims[2] != m->conf.spec.height || t->dims[3] != m->conf.spec.width || t->dims[0] < 1) {
        snprintf(err, err_size, "input '%s' must be FP32 [N, 3, %d, %d]", in.name,
                 m->conf.spec.height, m->conf.spec.width);
        return -1;
    }
    if (t->dims[0] > m->max_queue) {
        snprintf(err, err_size, "input '%s' has %lld rows, more than the queue holds (%d)", in.name,
                 (long long)t->dims[0], m->max_queue);
        return -1;
    }
    int n = k->n_outputs ? k->n_outputs : glint_model_num_outputs(m->model);
    if (n > KSERVE_MAX_TENSORS) n = KSERVE_MAX_TENSORS;
    for (int i = 0; i < n; i++) {
        int idx = i;
        int binary = k->binary_output_default;
        if (k->n_outputs) {
            if ((idx = output_index(m, k->outputs[i].name)) < 0) {
                snprintf(err, err_size, "model %s has no output '%s'", m->name, k->outputs[i].name);
                return -1;
            }
            binary = k->outputs[i].binary;
        }
        glint_io_info io;
        glint_model_output_info(m->model, idx, &io);
        r->outs[i].name = io.name;
        r->outs[i].dtype = io.dtype;
        r->outs[i].binary = binary;
        r->outs[i].ndim = idx; /* the model output index until the first row arrives */
    }
    r->n_out = n;
    return (int)t->dims[0];
}

/* workq job: parse, check, admit, and feed the rows to the batcher. */
static void v2_parse_job(workq_job *job)
{
    sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, job, job);
    repo_model *m = r->rm;
    char err[SERVE_ERR_MAX];
    uint64_t t0 = serve_now_ns();
    if (kserve_parse_request(r->body, r->body_len, r->header_len, 0, &r->kreq, err, sizeof err)) {
        serve_finish_error(r, 400, "%s", err);
        return;
    }
    int rows = v2_check(r, err, sizeof err);
    if (rows < 0) {
        serve_finish_error(r, 400, "%s", err);
        return;
    }
    if (r->kreq.timeout_us > 0) r->deadline_ns = r->t_start + (uint64_t)r->kreq.timeout_us * 1000u;
    if (atomic_fetch_add(&m->pending, rows) + rows > m->max_queue) {
        atomic_fetch_sub(&m->pending, rows);
        serve_finish_error(r, 503, "model %s: queue full (%d images waiting)", m->name,
                           m->max_queue);
        return;
    }
    if (!(r->items = calloc((size_t)rows, sizeof *r->items))) {
        atomic_fetch_sub(&m->pending, rows);
        serve_finish_error(r, 500, "out of memory");
        return;
    }
    r->n_items = rows;
    atomic_init(&r->left, rows);
    const kserve_tensor *t = &r->kreq.inputs[0];
    size_t row_bytes = t->size / (size_t)rows;
    uint64_t parse_ns = serve_now_ns() - t0;
    for (int i = 0; i < rows; i++) {
        sitem *it = &r->items[i];
        it->owner = r;
        it->index = i;
        it->decode_ns = parse_ns / (uint64_t)rows;
        if (serve_now_ns() > r->deadline_ns) {
            sitem_fail(it, 504, "deadline passed before row %d ran", i);
            continue;
        }
        batch_slot slot;
        if (batcher_reserve(m->batcher, &slot)) {
            sitem_fail(it, 503, "the server is shutting down");
            continue;
        }
        uint64_t c0 = serve_now_ns();
        memcpy(slot.data, (const uint8_t *)t->data + (size_t)i * row_bytes, row_bytes);
        it->prep_ns = serve_now_ns() - c0;
        pipeline_item_ran_init(it);
        batcher_commit(m->batcher, &slot, &it->bi);
    }
}

int v2_item_ran(sitem *it, const batch_result *res)
{
    sreq *r = it->owner;
    pthread_mutex_lock(&r->out_mu);
    int rc = 0;
    for (int k = 0; k < r->n_out && !rc; k++) {
        if (r->outs[k].data) continue;
        glint_tensor t;
        glint_context_output(res->ctx, r->outs[k].ndim, &t);
        size_t row = glint_dtype_size(t.dtype);
        for (int d = 1; d < t.ndim; d++)
            row *= (size_t)t.dims[d];
        if (t.ndim < 1 || t.dims[0] != res->batch_size) {
            snprintf(it->err, sizeof it->err, "output '%s' has no batch axis", r->outs[k].name);
            rc = -1;
            break;
        }
        r->outs[k].ndim = t.ndim;
        memcpy(r->outs[k].dims, t.dims, sizeof t.dims);
        r->outs[k].dims[0] = r->n_items;
        r->outs[k].dtype = t.dtype;
        r->outs[k].row_bytes = row;
        size_t bytes = row * (size_t)r->n_items;
        if (!(r->outs[k].data = malloc(bytes ? bytes : 1))) {
            snprintf(it->err, sizeof it->err, "out of memory");
            rc = -1;
        }
    }
    pthread_mutex_unlock(&r->out_mu);
    if (rc) return rc;
    for (int k = 0; k < r->n_out; k++) {
        glint_tensor t;
        glint_context_output(res->ctx, output_index(r->rm, r->outs[k].name), &t);
        memcpy(r->outs[k].data + (size_t)it->index * r->outs[k].row_bytes,
               (const uint8_t *)t.data + (size_t)res->row * r->outs[k].row_bytes,
               r->outs[k].row_bytes);
    }
    return 0;
}

void v2_finish(sreq *r)
{
    for (int i = 0; i < r->n_items; i++)
        if (r->items[i].status != 200) {
            sreq_set_error(r, r->items[i].status, "%s", r->items[i].err);
            return;
        }
    kserve_output outs[KSERVE_MAX_TENSORS];
    for (int k = 0; k < r->n_out; k++)
        outs[k] = (kserve_output){.name = r->outs[k].name,
                                  .dtype = r->outs[k].dtype,
                                  .ndim = r->outs[k].ndim,
                                  .dims = r->outs[k].dims,
                                  .data = r->outs[k].data,
                                  .binary = r->outs[k].binary};
    char *body = NULL;
    size_t len = 0, hlen = 0;
    if (kserve_build_response(r->rm->name, "1", r->kreq.id, outs, r->n_out, &body, &len, &hlen)) {
        sreq_set_error(r, 500, "cannot build the response");
        return;
    }
    r->status = 200;
    r->resp = body;
    r->resp_len = len;
    r->resp_header_len = hlen;
    r->content_type = hlen ? "application/octet-stream" : "application/json";
}

static void infer(server *s, h2o_req_t *req, repo_model *m)
{
    if (s->draining) {
        serve_respond_error(s, req, 503, "the server is shutting down");
        repo_model_release(m);
        return;
    }
    sreq *r = sreq_create(s, req, m, SREQ_KSERVE);
    if (!r || !(r->body = malloc(req->entity.len ? req->entity.len : 1))) {
        serve_respond_error(s, req, 500, "out of memory");
        if (r)
            sreq_destroy(r);
        else
            repo_model_release(m);
        return;
    }
    char hb[32];
    const char *h = serve_header(req, "inference-header-content-length", hb, sizeof hb);
    if (h) {
        char *end;
        errno = 0;
        long long v = strtoll(h, &end, 10);
        if (*end || errno || v < 0 || (size_t)v > req->entity.len) {
            serve_respond_error(s, req, 400,
                                "Inference-Header-Content-Length must be 0..%zu, got '%s'",
                                req->entity.len, h);
            sreq_destroy(r);
            return;
        }
        r->header_len = v;
    }
    if (req->entity.len) memcpy(r->body, req->entity.base, req->entity.len);
    r->body_len = req->entity.len;
    r->deadline_ns = r->t_start + (uint64_t)m->timeout_ms * 1000000u;
    serve_track(s, r);
    r->job.fn = v2_parse_job;
    workq_push(s->workers, &r->job);
}

/* ---- repository extension ---- */

static void repository_index(server *s, h2o_req_t *req)
{
    json_t *a = json_array();
    for (int i = 0; i < s->n_entries; i++) {
        const repo_entry *e = &s->entries[i];
        static const char *const states[] = {"UNAVAILABLE", "LOADING", "READY", "UNLOADING"};
        json_t *o = json_pack("{s:s, s:s, s:s}", "name", e->name, "version", "1", "state",
                              states[e->state]);
        if (o && e->state != ENTRY_READY && e->reason[0])
            json_object_set_new(o, "reason", json_string(e->reason));
        json_array_append_new(a, o);
    }
    serve_respond_json(req, 200, a);
}

/* Runs on the loop when a load finished: installs the model. */
static void load_installed(sreq *r)
{
    repo_entry *e = r->entry;
    if (r->status != 200) {
        e->state = ENTRY_UNAVAILABLE;
        snprintf(e->reason, sizeof e->reason, "%s", r->load_err ? r->load_err : "load failed");
        return;
    }
    e->model = r->loaded;
    r->loaded = NULL;
    e->state = ENTRY_READY;
    e->reason[0] = 0;
    if (r->srv->cache) resp_cache_clear(r->srv->cache);
}

static void load_job(workq_job *job)
{
    sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, job, job);
    char err[SERVE_ERR_MAX];
    if (repo_entry_load(r->srv, r->entry, &r->loaded, err, sizeof err)) {
        r->load_err = strdup(err); /* the table is the loop's: load_installed copies it */
        serve_finish_error(r, 400, "failed to load '%s': %s", r->entry->name, err);
        return;
    }
    r->status = 200;
    r->resp = strdup("{}");
    r->resp_len = r->resp ? 2 : 0;
    serve_finish(r);
}

static void load_model(server *s, h2o_req_t *req, repo_entry *e)
{
    if (e->state == ENTRY_READY) {
        serve_respond(req, 200, "application/json", "{}", 2);
        return;
    }
    if (e->state == ENTRY_LOADING) {
        serve_respond_error(s, req, 409, "model '%s' is loading", e->name);
        return;
    }
    sreq *r = sreq_create(s, req, NULL, SREQ_ADMIN);
    if (!r) {
        serve_respond_error(s, req, 500, "out of memory");
        return;
    }
    e->state = ENTRY_LOADING;
    r->entry = e;
    r->on_loop = load_installed;
    serve_track(s, r);
    r->job.fn = load_job;
    workq_push(s->workers, &r->job);
}

static void unload_model(server *s, h2o_req_t *req, repo_entry *e)
{
    if (e->state == ENTRY_LOADING) {
        serve_respond_error(s, req, 409, "model '%s' is loading", e->name);
        return;
    }
    if (e->state == ENTRY_READY) {
        repo_model *m = e->model;
        e->model = NULL;
        e->state = ENTRY_UNAVAILABLE;
        e->generation++;
        snprintf(e->reason, sizeof e->reason, "unloaded");
        if (s->cache) resp_cache_clear(s->cache);
        repo_model_release(m); /* freed once its last request is answered */
    }
    serve_respond(req, 200, "application/json", "{}", 2);
}

static int route_repository(server *s, h2o_req_t *req, const char *p, size_t n)
{
    if (is(p, n, "/index")) {
        if (!method_is(req, "POST") && !method_is(req, "GET"))
            serve_respond_error(s, req, 405, "use POST");
        else
            repository_index(s, req);
        return 0;
    }
    if (n < 8 || memcmp(p, "/models/", 8)) return -1;
    const char *name = p + 8;
    const char *slash = memchr(name, '/', (size_t)(p + n - name));
    if (!slash) return -1;
    const char *verb = slash + 1;
    size_t vlen = (size_t)(p + n - verb);
    int load = is(verb, vlen, "load"), unload = is(verb, vlen, "unload");
    if (!load && !unload) return -1;
    if (!method_is(req, "POST")) {
        serve_respond_error(s, req, 405, "use POST");
        return 0;
    }
    repo_entry *e = repo_find(s, name, (size_t)(slash - name));
    if (!e) {
        serve_respond_error(s, req, 404, "no model '%.*s' in the repository",
                            (int)(slash - name < 100 ? slash - name : 100), name);
        return 0;
    }
    if (load)
        load_model(s, req, e);
    else
        unload_model(s, req, e);
    return 0;
}

/* /v2/models/{m}[/versions/1][/verb] */
static int route_model(server *s, h2o_req_t *req, const char *p, size_t n)
{
    const char *end = p + n;
    const char *slash = memchr(p, '/', n);
    size_t nlen = slash ? (size_t)(slash - p) : n;
    const char *rest = slash ? slash : end;
    if (nlen == 5 && !memcmp(p, "stats", 5) && rest == end) {
        stats(s, req, NULL);
        return 0;
    }
    if ((size_t)(end - rest) >= 10 && !memcmp(rest, "/versions/", 10)) {
        const char *v = rest + 10;
        const char *vs = memchr(v, '/', (size_t)(end - v));
        const char *vend = vs ? vs : end;
        if (!is(v, (size_t)(vend - v), "1")) {
            serve_respond_error(s, req, 404, "model '%.*s' has only version 1",
                                (int)(nlen < 100 ? nlen : 100), p);
            return 0;
        }
        rest = vend;
    }
    size_t rlen = (size_t)(end - rest);
    repo_entry *e = repo_find(s, p, nlen);
    if (!e) {
        serve_respond_error(s, req, 404, "unknown model '%.*s'", (int)(nlen < 100 ? nlen : 100), p);
        return 0;
    }
    if (is(rest, rlen, "/ready")) {
        serve_respond(req, e->state == ENTRY_READY ? 200 : 400, "application/json", "", 0);
        return 0;
    }
    repo_model *m = repo_get(s, p, nlen);
    if (!m) {
        serve_respond_error(s, req, 400, "model '%s' is not ready", e->name);
        return 0;
    }
    if (is(rest, rlen, "/infer")) {
        if (!method_is(req, "POST")) {
            serve_respond_error(s, req, 405, "use POST");
            repo_model_release(m);
        } else {
            infer(s, req, m); /* takes the reference */
        }
        return 0;
    }
    if (!method_is(req, "GET"))
        serve_respond_error(s, req, 405, "use GET");
    else if (rlen == 0)
        model_metadata(req, m);
    else if (is(rest, rlen, "/config"))
        model_config(req, m);
    else if (is(rest, rlen, "/stats"))
        stats(s, req, m);
    else
        serve_respond_error(s, req, 404, "no such route");
    repo_model_release(m);
    return 0;
}

int route_v2(server *s, h2o_req_t *req, const char *path, size_t len)
{
    if (len < 3 || memcmp(path, "/v2", 3) || (len > 3 && path[3] != '/')) return -1;
    const char *p = path + 3;
    size_t n = len - 3;
    if (n == 0 || is(p, n, "/")) {
        server_metadata(req);
        return 0;
    }
    if (is(p, n, "/health/live")) {
        serve_respond(req, 200, "application/json", "", 0);
        return 0;
    }
    if (is(p, n, "/health/ready")) {
        int ready = !s->draining;
        for (int i = 0; i < s->n_entries; i++)
            ready &= s->entries[i].state != ENTRY_LOADING;
        serve_respond(req, ready ? 200 : 503, "application/json", "", 0);
        return 0;
    }
    if (n > 11 && !memcmp(p, "/repository", 11)) return route_repository(s, req, p + 11, n - 11);
    if (n > 8 && !memcmp(p, "/models/", 8)) return route_model(s, req, p + 8, n - 8);
    return -1;
}
