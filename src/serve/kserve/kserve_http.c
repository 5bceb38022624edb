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
#include "serve/kserve/kserve_http.h"

#include "model/precision.h"
#include "serve/core/server_impl.h"
#include "serve/kserve/kserve.h"
#include "serve/kserve/kserve_infer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    int n = kserve_model_num_io(m, outputs);
    int batched = kserve_model_batched(m);
    for (int i = 0; a && i < n; i++) {
        glint_io_info io;
        kserve_model_io(m, outputs, i, &io);
        const char *dt = kserve_datatype_name(io.dtype);
        json_t *o;
        if (triton_config) {
            char type[32];
            snprintf(type, sizeof type, "TYPE_%s",
                     io.dtype == KSERVE_BYTES ? "STRING"
                     : dt                     ? dt
                                              : "INVALID");
            o = json_pack("{s:s, s:s, s:o}", "name", io.name, "data_type", type, "dims",
                          shape_json(io.dims, io.ndim, batched ? 1 : 0));
        } else {
            o = json_pack("{s:s, s:s, s:o}", "name", io.name, "datatype", dt ? dt : "INVALID",
                          "shape", shape_json(io.dims, io.ndim, 0));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static void server_metadata(h2o_req_t *req)
{
    json_t *ext = json_array();
    for (int i = 0; KSERVE_EXTENSIONS[i]; i++)
        json_array_append_new(ext, json_string(KSERVE_EXTENSIONS[i]));
    serve_respond_json(
        req, 200,
        json_pack("{s:s, s:s, s:o}", "name", "glint", "version", GLINT_VERSION, "extensions", ext));
}

static void model_metadata(h2o_req_t *req, const repo_model *m)
{
    serve_respond_json(req, 200,
                       json_pack("{s:s, s:[s], s:s, s:o, s:o, s:{s:s, s:s}}", "name", m->name,
                                 "versions", "1", "platform", kserve_model_platform(m), "inputs",
                                 io_json(m, 0, 0), "outputs", io_json(m, 1, 0), "parameters",
                                 "precision", precision_name(m->pkg.precision), "precision_note",
                                 m->pkg.precision_note));
}

static void model_config(h2o_req_t *req, const repo_model *m)
{
    const batcher_options *o = batcher_get_options(m->batcher);
    json_t *pref = json_array();
    for (int i = 0; i < o->n_preferred; i++)
        json_array_append_new(pref, json_integer(o->preferred[i]));
    int batched = kserve_model_batched(m);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:o, s:o, s:{s:o, s:I}, s:[{s:s, s:i, s:s}], s:{s:s, s:s, s:i, "
        "s:i}}",
        "name", m->name, "platform", kserve_model_platform(m), "backend", "glint", "max_batch_size",
        batched ? o->max_batch : 0, "input", io_json(m, 0, 1), "output", io_json(m, 1, 1),
        "dynamic_batching", "preferred_batch_size", pref, "max_queue_delay_microseconds",
        (json_int_t)o->max_queue_delay_us, "instance_group", "name", m->name, "count", o->instances,
        "kind", "KIND_CPU", "parameters", "task", model_task_name(m->conf->task), "precision",
        precision_name(m->pkg.precision), "threads", o->threads, "max_queue", m->max_queue);
    kserve_step steps[CHAIN_MAX_STAGES];
    int n = kserve_model_steps(m, steps);
    if (n) { /* a pipeline: Triton's ensemble scheduling instead of a batcher of its own */
        json_t *st = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(st, json_pack("{s:s, s:i, s:{s:s}, s:{s:s}}", "model_name",
                                                steps[i].model, "model_version", -1, "input_map",
                                                steps[i].in_name, steps[i].in_tensor, "output_map",
                                                steps[i].out_name, steps[i].out_tensor));
        json_object_del(j, "dynamic_batching");
        json_object_set_new(j, "ensemble_scheduling", json_pack("{s:o}", "step", st));
    }
    serve_respond_json(req, 200, j);
}

static json_t *dur(kserve_dur d)
{
    return json_pack("{s:I, s:I}", "count", (json_int_t)d.count, "ns", (json_int_t)d.ns);
}

static json_t *model_stats_json(const repo_model *m)
{
    kserve_stats st;
    kserve_stats_read(m, &st);
    json_t *batches = json_array();
    for (int b = 0; b < st.n_batch; b++)
        json_array_append_new(batches, json_pack("{s:i, s:o, s:o, s:o}", "batch_size",
                                                 st.batch[b].batch_size, "compute_input",
                                                 dur(st.batch[b].compute_input), "compute_infer",
                                                 dur(st.batch[b].compute_infer), "compute_output",
                                                 dur(st.batch[b].compute_output)));
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}, s:o}", "name",
        m->name, "version", "1", "last_inference", (json_int_t)st.last_inference_ms,
        "inference_count", (json_int_t)st.inference_count, "execution_count",
        (json_int_t)st.execution_count, "inference_stats", "success", dur(st.success), "fail",
        dur(st.fail), "queue", dur(st.queue), "compute_input", dur(st.compute_input),
        "compute_infer", dur(st.compute_infer), "compute_output", dur(st.compute_output),
        "cache_hit", dur(st.cache_hit), "cache_miss", dur(st.cache_miss), "batch_stats", batches);
}

static void stats(server *s, h2o_req_t *req, const repo_model *only)
{
    json_t *a = json_array();
    for (int i = 0; i < s->n_entries; i++) {
        const repo_model *m = s->entries[i]->model;
        if (s->entries[i]->state != ENTRY_READY || (only && m != only)) continue;
        json_array_append_new(a, model_stats_json(m));
    }
    serve_respond_json(req, 200, json_pack("{s:o}", "model_stats", a));
}

/* ---- inference ---- */

/* workq job: parse, then the common path (check, admit, feed the batcher). */
static void v2_parse_job(workq_job *job)
{
    sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, job, job);
    kserve_req *k = r->proto;
    char err[SERVE_ERR_MAX];
    uint64_t t0 = serve_now_ns();
    if (kserve_parse_request(r->body, r->body_len, k->header_len, 0, &k->kreq, err, sizeof err)) {
        sreq_finish_error(r, 400, "%s", err);
        return;
    }
    kserve_infer_start(r, t0);
}

/* Every row ran: the response (any thread). */
static void v2_finished(sreq *r)
{
    kserve_req *k = r->proto;
    if (kserve_infer_rows_ok(r)) return;
    kserve_output outs[KSERVE_MAX_TENSORS];
    for (int i = 0; i < k->n_out; i++)
        outs[i] = (kserve_output){.name = k->outs[i].name,
                                  .dtype = k->outs[i].dtype,
                                  .ndim = k->outs[i].ndim,
                                  .dims = k->outs[i].dims,
                                  .data = k->outs[i].data,
                                  .binary = k->outs[i].binary,
                                  .bytes = k->outs[i].bytes};
    char *body = NULL;
    size_t len = 0, hlen = 0;
    if (kserve_build_response(r->rm->name, "1", k->kreq.id, outs, k->n_out, &body, &len, &hlen)) {
        sreq_finish_error(r, 500, "cannot build the response");
        return;
    }
    r->status = 200;
    r->resp = body;
    r->resp_len = len;
    r->resp_header_len = hlen;
    r->content_type = hlen ? "application/octet-stream" : "application/json";
    sreq_finish(r);
}

static const sreq_ops infer_ops = {
    .item_ran = kserve_infer_item_ran, .finished = v2_finished, .dispose = kserve_infer_dispose};

static void infer(server *s, h2o_req_t *req, repo_model *m)
{
    if (s->draining) {
        serve_respond_error(s, req, 503, "the server is shutting down");
        repo_model_release(m);
        return;
    }
    sreq *r = sreq_create(s, req, m, &infer_ops, sizeof(kserve_req));
    if (!r || sreq_copy_body(r, req)) {
        serve_respond_error(s, req, 500, "out of memory");
        sreq_destroy(r);
        return;
    }
    kserve_req *k = r->proto;
    kserve_infer_init(k);
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
        k->header_len = v;
    }
    r->deadline_ns = r->t_start + (uint64_t)m->timeout_ms * 1000000u;
    sreq_track(r);
    r->job.fn = v2_parse_job;
    workq_push(s->workers, &r->job);
}

/* ---- repository extension ---- */

static void repository_index(server *s, h2o_req_t *req)
{
    json_t *a = json_array();
    for (int i = 0; i < s->n_entries; i++) {
        const repo_entry *e = s->entries[i];
        static const char *const states[] = {"UNAVAILABLE", "LOADING", "READY", "UNLOADING"};
        json_t *o = json_pack("{s:s, s:s, s:s}", "name", e->name, "version", "1", "state",
                              states[e->state]);
        if (o && e->state != ENTRY_READY && e->reason[0])
            json_object_set_new(o, "reason", json_string(e->reason));
        json_array_append_new(a, o);
    }
    serve_respond_json(req, 200, a);
}

static const sreq_ops load_ops = {.on_loop = kserve_load_installed, .dispose = kserve_load_dispose};

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
    sreq *r = sreq_create(s, req, NULL, &load_ops, sizeof(kserve_load));
    if (!r) {
        serve_respond_error(s, req, 500, "out of memory");
        return;
    }
    kserve_load_begin(r, e);
}

static void unload_model(server *s, h2o_req_t *req, repo_entry *e)
{
    if (e->state == ENTRY_LOADING) {
        serve_respond_error(s, req, 409, "model '%s' is loading", e->name);
        return;
    }
    repo_unload(s, e);
    serve_respond(req, 200, "application/json", "{}", 2);
}

static int route_repository(server *s, h2o_req_t *req, const char *p, size_t n)
{
    if (serve_path_is(p, n, "/index")) {
        if (!serve_method_is(req, "POST") && !serve_method_is(req, "GET"))
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
    int load = serve_path_is(verb, vlen, "load"), unload = serve_path_is(verb, vlen, "unload");
    if (!load && !unload) return -1;
    if (!serve_method_is(req, "POST")) {
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

static int model_verb(server *s, h2o_req_t *req, repo_model *m, const char *rest, size_t rlen);

/* /v2/models/{m}[/versions/1][/verb]; {m} may be a split (its version for
 * this client answers) */
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
        if (!serve_path_is(v, (size_t)(vend - v), "1")) {
            serve_respond_error(s, req, 404, "model '%.*s' has only version 1",
                                (int)(nlen < 100 ? nlen : 100), p);
            return 0;
        }
        rest = vend;
    }
    size_t rlen = (size_t)(end - rest);
    if (split_find(&s->splits, p, nlen)) { /* the version this client gets */
        char client[RATELIMIT_KEY_MAX + 8], err[SERVE_ERR_MAX];
        size_t cl = serve_req_client(req, client, sizeof client);
        int status;
        repo_model *m = serve_route_model(s, p, nlen, client, cl, &status, err, sizeof err);
        if (serve_path_is(rest, rlen, "/ready"))
            serve_respond(req, m ? 200 : 400, "application/json", "", 0);
        else if (!m)
            serve_respond_error(s, req, status, "%s", err);
        else
            return model_verb(s, req, m, rest, rlen);
        repo_model_release(m);
        return 0;
    }
    repo_entry *e = repo_find(s, p, nlen);
    if (!e) {
        serve_respond_error(s, req, 404, "unknown model '%.*s'", (int)(nlen < 100 ? nlen : 100), p);
        return 0;
    }
    if (serve_path_is(rest, rlen, "/ready")) {
        serve_respond(req, e->state == ENTRY_READY ? 200 : 400, "application/json", "", 0);
        return 0;
    }
    repo_model *m = repo_get(s, p, nlen);
    if (!m) {
        serve_respond_error(s, req, 400, "model '%s' is not ready", e->name);
        return 0;
    }
    return model_verb(s, req, m, rest, rlen);
}

/* A model route's verb (rest: "", "/infer", "/config", "/stats") on m (the
 * reference is taken). */
static int model_verb(server *s, h2o_req_t *req, repo_model *m, const char *rest, size_t rlen)
{
    if (serve_path_is(rest, rlen, "/infer")) {
        if (!serve_method_is(req, "POST")) {
            serve_respond_error(s, req, 405, "use POST");
            repo_model_release(m);
        } else if (!serve_model_limit(s, req, m)) { /* answered 429 */
            repo_model_release(m);
        } else {
            infer(s, req, m); /* takes the reference */
        }
        return 0;
    }
    if (!serve_method_is(req, "GET"))
        serve_respond_error(s, req, 405, "use GET");
    else if (rlen == 0)
        model_metadata(req, m);
    else if (serve_path_is(rest, rlen, "/config"))
        model_config(req, m);
    else if (serve_path_is(rest, rlen, "/stats"))
        stats(s, req, m);
    else
        serve_respond_error(s, req, 404, "no such route");
    repo_model_release(m);
    return 0;
}

static int route(server *s, void *state, h2o_req_t *req, const char *path, size_t len)
{
    if (len < 3 || memcmp(path, "/v2", 3) || (len > 3 && path[3] != '/')) return -1;
    const char *p = path + 3;
    size_t n = len - 3;
    if (n == 0 || serve_path_is(p, n, "/")) {
        server_metadata(req);
        return 0;
    }
    if (serve_path_is(p, n, "/health/live")) {
        serve_respond(req, 200, "application/json", "", 0);
        return 0;
    }
    if (serve_path_is(p, n, "/health/ready")) {
        int ready = !s->draining;
        for (int i = 0; i < s->n_entries; i++)
            ready &= s->entries[i]->state != ENTRY_LOADING;
        serve_respond(req, ready ? 200 : 503, "application/json", "", 0);
        return 0;
    }
    if (n > 11 && !memcmp(p, "/repository", 11)) return route_repository(s, req, p + 11, n - 11);
    if (n > 8 && !memcmp(p, "/models/", 8)) return route_model(s, req, p + 8, n - 8);
    return -1;
}

/* With API keys: the probes are open; loading and unloading models is admin. */
static serve_access kserve_access(const h2o_req_t *req, const char *path, size_t len)
{
    (void)req;
    if (serve_path_is(path, len, "/v2/health/live") || serve_path_is(path, len, "/v2/health/ready"))
        return SERVE_ACCESS_OPEN;
    if (serve_path_starts(path, len, "/v2/repository/models/") &&
        ((len > 5 && !memcmp(path + len - 5, "/load", 5)) ||
         (len > 7 && !memcmp(path + len - 7, "/unload", 7))))
        return SERVE_ACCESS_ADMIN;
    return SERVE_ACCESS_DEFAULT;
}

const serve_module kserve_module = {.name = "kserve", .access = kserve_access, .route = route};
