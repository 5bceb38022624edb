/* KServe v2 over gRPC: Triton's inference.GRPCInferenceService on its own
 * port (--grpc-listen), on the same repository, batcher, limits and keys
 * as HTTP (kserve_grpc.h). Loop thread unless noted.
 *
 * ModelInfer and ModelStreamInfer: the loop reads only the model's name
 * and version from the message (a scan of the top-level fields), then a
 * worker unpacks it (protobuf-c, into the request's arena) into a
 * kserve_request and the common path (kserve_infer.h) takes it to the
 * batcher; the answer is packed by the thread that finished the last row
 * and sent by the loop. A stream's answers go out in the order they are
 * ready; an answer that failed is a ModelStreamInferResponse with its
 * error_message, and the stream goes on.
 */
#include "serve/kserve/kserve_grpc.h"

#include "grpc_service.pb-c.h"
#include "model/precision.h"
#include "serve/core/server_impl.h"
#include "serve/kserve/grpc_transport.h"
#include "serve/kserve/kserve_grpc_msg.h"
#include "serve/kserve/kserve_infer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "/inference.GRPCInferenceService/"

typedef struct gstate gstate;
typedef struct call_state call_state;

typedef void (*method_fn)(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len);

typedef struct method {
    const char *name;
    method_fn fn;
    serve_access access;
} method;

static const method METHODS[];
enum { N_CODES = 17 };

struct gstate {
    server *s;
    grpc_server *g;
    char host[256];
    int beyond_loopback;         /* every call but the probes wants a key */
    uint64_t calls[16][N_CODES]; /* per method and final status */
};

/* An inference request of a call (the sreq's proto). */
typedef struct ginfer {
    kserve_req k; /* first: the common path's state */
    grpc_call *call;
    call_state *cs;
    struct ginfer *prev, *next; /* the call's requests in flight */
    int stream;
} ginfer;

/* A call's state: its method and its inference requests in flight. */
struct call_state {
    gstate *st;
    int method; /* index in METHODS */
    int messages;
    int half_closed;
    int pending;
    ginfer *reqs;
    struct gload *load;  /* a repository load under way, or NULL */
    struct grate *rates; /* request messages waiting for the fleet's rate verdict */
};

/* ---- answers ---- */

static int grpc_code(int status)
{
    switch (status) {
    case 400:
        return GRPC_INVALID_ARGUMENT;
    case 401:
        return GRPC_UNAUTHENTICATED;
    case 404:
        return GRPC_NOT_FOUND;
    case 409:
        return GRPC_FAILED_PRECONDITION;
    case 413:
        return GRPC_RESOURCE_EXHAUSTED;
    case 429:
    case 503:
        return GRPC_UNAVAILABLE;
    case 501:
        return GRPC_UNIMPLEMENTED;
    case 504:
        return GRPC_DEADLINE_EXCEEDED;
    default:
        return status >= 200 && status < 300 ? GRPC_OK : GRPC_INTERNAL;
    }
}

/* Ends call c with code (counted). c may be freed when this returns. */
static void end(call_state *cs, grpc_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void end(call_state *cs, grpc_call *c, int code, const char *fmt, ...)
{
    char msg[SERVE_ERR_MAX] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    if (cs) cs->st->calls[cs->method][code < N_CODES ? code : GRPC_UNKNOWN]++;
    grpc_call_finish(c, code, msg[0] ? msg : NULL);
}

/* A packed message with room for the transport's prefix (malloc'd), or
 * NULL. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(GRPC_PREFIX + *len + 1);
    if (buf) protobuf_c_message_pack(m, buf + GRPC_PREFIX);
    return buf;
}

/* Answers a unary call with m and OK. */
static void reply(call_state *cs, grpc_call *c, const ProtobufCMessage *m)
{
    size_t len;
    uint8_t *buf = pack(m, &len);
    if (!buf) {
        end(cs, c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (cs) cs->st->calls[cs->method][GRPC_OK]++;
    grpc_call_reply(c, buf, len);
}

/* The request message of a unary call, or NULL (the call is answered). */
static ProtobufCMessage *unpack(call_state *cs, grpc_call *c, const ProtobufCMessageDescriptor *d,
                                const uint8_t *msg, size_t len)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, msg);
    if (!m) end(cs, c, GRPC_INVALID_ARGUMENT, "malformed %s", d->short_name);
    return m;
}

/* Whether version names the one version glint serves ("" or "1"); if not
 * the call is answered. */
static int version_ok(call_state *cs, grpc_call *c, const char *name, const char *version)
{
    if (!version[0] || !strcmp(version, "1")) return 1;
    end(cs, c, GRPC_NOT_FOUND, "model '%.100s' has only version 1", name);
    return 0;
}

static const char *call_key(grpc_call *c, size_t *len);

/* The call's client for limits and splits (serve_client_key): its metadata
 * key, else its address. Returns the length written to key. */
static size_t call_client(grpc_call *c, char *key, size_t cap)
{
    size_t tl = 0;
    const char *tok = call_key(c, &tl);
    struct sockaddr_storage ss;
    socklen_t sl = grpc_call_peer(c, (struct sockaddr *)&ss);
    return serve_client_key(tok, tl, sl ? (struct sockaddr *)&ss : NULL, key, cap);
}

/* A split's version for the call's client: a reference, or NULL with the
 * gRPC code and message. */
static repo_model *split_model(server *s, grpc_call *c, const char *name, int *code, char *err,
                               size_t err_size)
{
    char client[RATELIMIT_KEY_MAX + 8];
    size_t cl = call_client(c, client, sizeof client);
    int status;
    repo_model *m = serve_route_model(s, name, strlen(name), client, cl, &status, err, err_size);
    if (!m) *code = status == 404 ? GRPC_NOT_FOUND : GRPC_UNAVAILABLE;
    return m;
}

/* The ready model called name (a reference; a split's version for this
 * client), or NULL with the call answered. */
static repo_model *ready_model(call_state *cs, grpc_call *c, const char *name, const char *version)
{
    if (!version_ok(cs, c, name, version)) return NULL;
    server *s = cs->st->s;
    if (split_find(&s->splits, name, strlen(name))) {
        int code;
        char err[SERVE_ERR_MAX];
        repo_model *m = split_model(s, c, name, &code, err, sizeof err);
        if (!m) end(cs, c, code, "%s", err);
        return m;
    }
    if (!repo_find(s, name, strlen(name))) {
        end(cs, c, GRPC_NOT_FOUND, "unknown model '%.100s'", name);
        return NULL;
    }
    repo_model *m = repo_get(s, name, strlen(name));
    if (!m) end(cs, c, GRPC_UNAVAILABLE, "model '%.100s' is not ready", name);
    return m;
}

/* ---- health and metadata ---- */

static int server_ready(server *s)
{
    int ready = !s->draining;
    for (int i = 0; i < s->n_entries; i++)
        ready &= s->entries[i]->state != ENTRY_LOADING;
    return ready;
}

static void server_live(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len)
{
    (void)st, (void)msg, (void)len;
    Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
    r.live = 1;
    reply(cs, c, &r.base);
}

static void server_ready_rpc(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg,
                             size_t len)
{
    (void)msg, (void)len;
    Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
    r.ready = server_ready(st->s);
    reply(cs, c, &r.base);
}

static void model_ready(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len)
{
    Inference__ModelReadyRequest *q =
        (void *)unpack(cs, c, &inference__model_ready_request__descriptor, msg, len);
    if (!q) return;
    if (version_ok(cs, c, q->name, q->version)) {
        repo_entry *e = repo_find(st->s, q->name, strlen(q->name));
        if (!e) {
            end(cs, c, GRPC_NOT_FOUND, "unknown model '%.100s'", q->name);
        } else {
            Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
            r.ready = e->state == ENTRY_READY;
            reply(cs, c, &r.base);
        }
    }
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

static void server_metadata(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg,
                            size_t len)
{
    (void)st, (void)msg, (void)len;
    Inference__ServerMetadataResponse r = INFERENCE__SERVER_METADATA_RESPONSE__INIT;
    r.name = "glint";
    r.version = GLINT_VERSION;
    while (KSERVE_EXTENSIONS[r.n_extensions])
        r.n_extensions++;
    r.extensions = (char **)KSERVE_EXTENSIONS;
    reply(cs, c, &r.base);
}

/* The model's tensors as metadata (t and dims: room for n each). */
static void tensors_meta(const repo_model *m, int outputs, int n,
                         Inference__ModelMetadataResponse__TensorMetadata *t,
                         Inference__ModelMetadataResponse__TensorMetadata **pt,
                         int64_t (*dims)[GLINT_MAX_DIMS], glint_io_info *io)
{
    for (int i = 0; i < n; i++) {
        kserve_model_io(m, outputs, i, &io[i]);
        inference__model_metadata_response__tensor_metadata__init(&t[i]);
        t[i].name = (char *)io[i].name;
        const char *dt = kserve_datatype_name(io[i].dtype);
        t[i].datatype = (char *)(dt ? dt : "INVALID");
        memcpy(dims[i], io[i].dims, sizeof dims[i]);
        t[i].n_shape = (size_t)io[i].ndim;
        t[i].shape = dims[i];
        pt[i] = &t[i];
    }
}

static void model_metadata(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len)
{
    (void)st;
    Inference__ModelMetadataRequest *q =
        (void *)unpack(cs, c, &inference__model_metadata_request__descriptor, msg, len);
    if (!q) return;
    repo_model *m = ready_model(cs, c, q->name, q->version);
    if (m) {
        int ni = kserve_model_num_io(m, 0), no = kserve_model_num_io(m, 1);
        Inference__ModelMetadataResponse__TensorMetadata *t = calloc((size_t)(ni + no), sizeof *t);
        Inference__ModelMetadataResponse__TensorMetadata **pt =
            calloc((size_t)(ni + no), sizeof *pt);
        int64_t(*dims)[GLINT_MAX_DIMS] = calloc((size_t)(ni + no), sizeof *dims);
        glint_io_info *io = calloc((size_t)(ni + no), sizeof *io);
        if (t && pt && dims && io) {
            tensors_meta(m, 0, ni, t, pt, dims, io);
            tensors_meta(m, 1, no, t + ni, pt + ni, dims + ni, io + ni);
            static char *const versions[] = {"1"};
            Inference__ModelMetadataResponse r = INFERENCE__MODEL_METADATA_RESPONSE__INIT;
            r.name = m->name;
            r.n_versions = 1;
            r.versions = (char **)versions;
            r.platform = (char *)kserve_model_platform(m);
            r.n_inputs = (size_t)ni;
            r.inputs = pt;
            r.n_outputs = (size_t)no;
            r.outputs = pt + ni;
            reply(cs, c, &r.base);
        } else {
            end(cs, c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        free(t), free(pt), free(dims), free(io);
        repo_model_release(m);
    }
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

static Inference__DataType config_type(glint_dtype t)
{
    if (t == KSERVE_BYTES) return INFERENCE__DATA_TYPE__TYPE_STRING;
    switch (t) {
    case GLINT_F32:
        return INFERENCE__DATA_TYPE__TYPE_FP32;
    case GLINT_F64:
        return INFERENCE__DATA_TYPE__TYPE_FP64;
    case GLINT_U8:
        return INFERENCE__DATA_TYPE__TYPE_UINT8;
    case GLINT_I8:
        return INFERENCE__DATA_TYPE__TYPE_INT8;
    case GLINT_I32:
        return INFERENCE__DATA_TYPE__TYPE_INT32;
    case GLINT_I64:
        return INFERENCE__DATA_TYPE__TYPE_INT64;
    case GLINT_BOOL:
        return INFERENCE__DATA_TYPE__TYPE_BOOL;
    default:
        return INFERENCE__DATA_TYPE__TYPE_INVALID;
    }
}

#define MAX_IO 64

static void model_config(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len)
{
    (void)st;
    Inference__ModelConfigRequest *q =
        (void *)unpack(cs, c, &inference__model_config_request__descriptor, msg, len);
    if (!q) return;
    repo_model *m = ready_model(cs, c, q->name, q->version);
    if (!m) {
        protobuf_c_message_free_unpacked(&q->base, NULL);
        return;
    }
    const batcher_options *o = batcher_get_options(m->batcher);
    int batched = kserve_model_batched(m);
    int ni = kserve_model_num_io(m, 0), no = kserve_model_num_io(m, 1);
    if (ni > MAX_IO) ni = MAX_IO;
    if (no > MAX_IO) no = MAX_IO;
    Inference__ModelInput in[MAX_IO], *pin[MAX_IO];
    Inference__ModelOutput out[MAX_IO], *pout[MAX_IO];
    glint_io_info io[2 * MAX_IO];
    for (int i = 0; i < ni + no; i++) {
        int is_out = i >= ni, k = is_out ? i - ni : i;
        kserve_model_io(m, is_out, k, &io[i]);
        int from = batched ? 1 : 0;
        size_t nd = io[i].ndim > from ? (size_t)(io[i].ndim - from) : 0;
        if (is_out) {
            inference__model_output__init(&out[k]);
            out[k] = (Inference__ModelOutput)INFERENCE__MODEL_OUTPUT__INIT;
            out[k].name = (char *)io[i].name;
            out[k].data_type = config_type(io[i].dtype);
            out[k].n_dims = nd;
            out[k].dims = io[i].dims + from;
            pout[k] = &out[k];
        } else {
            in[k] = (Inference__ModelInput)INFERENCE__MODEL_INPUT__INIT;
            in[k].name = (char *)io[i].name;
            in[k].data_type = config_type(io[i].dtype);
            in[k].format = io[i].ndim == 4 ? INFERENCE__MODEL_INPUT__FORMAT__FORMAT_NCHW
                                           : INFERENCE__MODEL_INPUT__FORMAT__FORMAT_NONE;
            in[k].n_dims = nd;
            in[k].dims = io[i].dims + from;
            pin[k] = &in[k];
        }
    }
    Inference__ModelDynamicBatching dyn = INFERENCE__MODEL_DYNAMIC_BATCHING__INIT;
    int32_t pref[BATCHER_MAX_BATCH];
    for (int i = 0; i < o->n_preferred; i++)
        pref[i] = o->preferred[i];
    dyn.n_preferred_batch_size = (size_t)o->n_preferred;
    dyn.preferred_batch_size = pref;
    dyn.max_queue_delay_microseconds = (uint64_t)o->max_queue_delay_us;
    Inference__ModelInstanceGroup grp = INFERENCE__MODEL_INSTANCE_GROUP__INIT, *pgrp = &grp;
    grp.name = m->name;
    grp.count = o->instances;
    grp.kind = INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU;
    char threads[16], maxq[16];
    snprintf(threads, sizeof threads, "%d", o->threads);
    snprintf(maxq, sizeof maxq, "%d", m->max_queue);
    const char *keys[4] = {"task", "precision", "threads", "max_queue"};
    const char *vals[4] = {model_task_name(m->conf->task), precision_name(m->pkg.precision),
                           threads, maxq};
    Inference__ModelParameter pv[4];
    Inference__ModelConfig__ParametersEntry pe[4], *ppe[4];
    for (int i = 0; i < 4; i++) {
        pv[i] = (Inference__ModelParameter)INFERENCE__MODEL_PARAMETER__INIT;
        pv[i].string_value = (char *)vals[i];
        pe[i] = (Inference__ModelConfig__ParametersEntry)
            INFERENCE__MODEL_CONFIG__PARAMETERS_ENTRY__INIT;
        pe[i].key = (char *)keys[i];
        pe[i].value = &pv[i];
        ppe[i] = &pe[i];
    }
    Inference__ModelConfig cfg = INFERENCE__MODEL_CONFIG__INIT;
    cfg.name = m->name;
    cfg.platform = (char *)kserve_model_platform(m);
    cfg.backend = "glint";
    cfg.max_batch_size = batched ? o->max_batch : 0;
    cfg.n_input = (size_t)ni;
    cfg.input = pin;
    cfg.n_output = (size_t)no;
    cfg.output = pout;
    kserve_step steps[CHAIN_MAX_STAGES];
    int n_steps = kserve_model_steps(m, steps);
    Inference__ModelEnsembling ens = INFERENCE__MODEL_ENSEMBLING__INIT;
    Inference__ModelEnsembling__Step step[CHAIN_MAX_STAGES], *pst[CHAIN_MAX_STAGES];
    Inference__ModelEnsembling__Step__InputMapEntry im[CHAIN_MAX_STAGES], *pim[CHAIN_MAX_STAGES];
    Inference__ModelEnsembling__Step__OutputMapEntry om[CHAIN_MAX_STAGES], *pom[CHAIN_MAX_STAGES];
    for (int i = 0; i < n_steps; i++) { /* a pipeline: Triton's ensemble scheduling */
        im[i] = (Inference__ModelEnsembling__Step__InputMapEntry)
            INFERENCE__MODEL_ENSEMBLING__STEP__INPUT_MAP_ENTRY__INIT;
        im[i].key = (char *)steps[i].in_name;
        im[i].value = (char *)steps[i].in_tensor;
        pim[i] = &im[i];
        om[i] = (Inference__ModelEnsembling__Step__OutputMapEntry)
            INFERENCE__MODEL_ENSEMBLING__STEP__OUTPUT_MAP_ENTRY__INIT;
        om[i].key = (char *)steps[i].out_name;
        om[i].value = (char *)steps[i].out_tensor;
        pom[i] = &om[i];
        step[i] = (Inference__ModelEnsembling__Step)INFERENCE__MODEL_ENSEMBLING__STEP__INIT;
        step[i].model_name = (char *)steps[i].model;
        step[i].model_version = -1;
        step[i].n_input_map = 1;
        step[i].input_map = &pim[i];
        step[i].n_output_map = 1;
        step[i].output_map = &pom[i];
        pst[i] = &step[i];
    }
    ens.n_step = (size_t)n_steps;
    ens.step = pst;
    if (n_steps)
        cfg.ensemble_scheduling = &ens;
    else
        cfg.dynamic_batching = &dyn;
    cfg.n_instance_group = 1;
    cfg.instance_group = &pgrp;
    cfg.n_parameters = 4;
    cfg.parameters = ppe;
    Inference__ModelConfigResponse r = INFERENCE__MODEL_CONFIG_RESPONSE__INIT;
    r.config = &cfg;
    reply(cs, c, &r.base);
    repo_model_release(m);
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* ---- statistics ---- */

typedef struct stats_msg {
    Inference__ModelStatistics ms;
    Inference__InferStatistics is;
    Inference__StatisticDuration d[8];
    Inference__InferBatchStatistics b[BATCHER_MAX_BATCH], *pb[BATCHER_MAX_BATCH];
    Inference__StatisticDuration bd[BATCHER_MAX_BATCH][3];
} stats_msg;

static Inference__StatisticDuration *duration(Inference__StatisticDuration *d, kserve_dur v)
{
    *d = (Inference__StatisticDuration)INFERENCE__STATISTIC_DURATION__INIT;
    d->count = v.count;
    d->ns = v.ns;
    return d;
}

static void stats_fill(stats_msg *x, const repo_model *m)
{
    kserve_stats st;
    kserve_stats_read(m, &st);
    x->ms = (Inference__ModelStatistics)INFERENCE__MODEL_STATISTICS__INIT;
    x->is = (Inference__InferStatistics)INFERENCE__INFER_STATISTICS__INIT;
    x->ms.name = m->name;
    x->ms.version = "1";
    x->ms.last_inference = st.last_inference_ms;
    x->ms.inference_count = st.inference_count;
    x->ms.execution_count = st.execution_count;
    x->is.success = duration(&x->d[0], st.success);
    x->is.fail = duration(&x->d[1], st.fail);
    x->is.queue = duration(&x->d[2], st.queue);
    x->is.compute_input = duration(&x->d[3], st.compute_input);
    x->is.compute_infer = duration(&x->d[4], st.compute_infer);
    x->is.compute_output = duration(&x->d[5], st.compute_output);
    x->is.cache_hit = duration(&x->d[6], st.cache_hit);
    x->is.cache_miss = duration(&x->d[7], st.cache_miss);
    x->ms.inference_stats = &x->is;
    for (int i = 0; i < st.n_batch; i++) {
        Inference__InferBatchStatistics *b = &x->b[i];
        *b = (Inference__InferBatchStatistics)INFERENCE__INFER_BATCH_STATISTICS__INIT;
        b->batch_size = (uint64_t)st.batch[i].batch_size;
        b->compute_input = duration(&x->bd[i][0], st.batch[i].compute_input);
        b->compute_infer = duration(&x->bd[i][1], st.batch[i].compute_infer);
        b->compute_output = duration(&x->bd[i][2], st.batch[i].compute_output);
        x->pb[i] = b;
    }
    x->ms.n_batch_stats = (size_t)st.n_batch;
    x->ms.batch_stats = x->pb;
}

static void model_statistics(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg,
                             size_t len)
{
    Inference__ModelStatisticsRequest *q =
        (void *)unpack(cs, c, &inference__model_statistics_request__descriptor, msg, len);
    if (!q) return;
    server *s = st->s;
    repo_model *only = NULL;
    if (q->name[0] && !(only = ready_model(cs, c, q->name, q->version))) {
        protobuf_c_message_free_unpacked(&q->base, NULL);
        return;
    }
    stats_msg *x = calloc((size_t)s->n_entries + 1, sizeof *x);
    Inference__ModelStatistics **pms = calloc((size_t)s->n_entries + 1, sizeof *pms);
    if (x && pms) {
        size_t n = 0;
        for (int i = 0; i < s->n_entries; i++) {
            const repo_model *m = s->entries[i]->model;
            if (s->entries[i]->state != ENTRY_READY || (only && m != only)) continue;
            stats_fill(&x[n], m);
            pms[n] = &x[n].ms;
            n++;
        }
        Inference__ModelStatisticsResponse r = INFERENCE__MODEL_STATISTICS_RESPONSE__INIT;
        r.n_model_stats = n;
        r.model_stats = pms;
        reply(cs, c, &r.base);
    } else {
        end(cs, c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    free(x);
    free(pms);
    repo_model_release(only);
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* ---- repository ---- */

static void repository_index(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg,
                             size_t len)
{
    Inference__RepositoryIndexRequest *q =
        (void *)unpack(cs, c, &inference__repository_index_request__descriptor, msg, len);
    if (!q) return;
    server *s = st->s;
    Inference__RepositoryIndexResponse__ModelIndex *mi =
        calloc((size_t)s->n_entries + 1, sizeof *mi);
    Inference__RepositoryIndexResponse__ModelIndex **pmi =
        calloc((size_t)s->n_entries + 1, sizeof *pmi);
    if (mi && pmi) {
        static const char *const states[] = {"UNAVAILABLE", "LOADING", "READY", "UNLOADING"};
        size_t n = 0;
        for (int i = 0; i < s->n_entries; i++) {
            repo_entry *e = s->entries[i];
            if (q->ready && e->state != ENTRY_READY) continue;
            inference__repository_index_response__model_index__init(&mi[n]);
            mi[n].name = e->name;
            mi[n].version = "1";
            mi[n].state = (char *)states[e->state];
            mi[n].reason = e->state != ENTRY_READY ? e->reason : "";
            pmi[n] = &mi[n];
            n++;
        }
        Inference__RepositoryIndexResponse r = INFERENCE__REPOSITORY_INDEX_RESPONSE__INIT;
        r.n_models = n;
        r.models = pmi;
        reply(cs, c, &r.base);
    } else {
        end(cs, c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    free(mi);
    free(pmi);
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* A repository load's sreq state. */
typedef struct gload {
    kserve_load l; /* first */
    grpc_call *call;
    call_state *cs;
} gload;

static void load_done(sreq *r)
{
    kserve_load_installed(r);
    gload *gl = r->proto;
    if (!gl->call) return; /* the client went away */
    gl->cs->pending--;
    gl->cs->load = NULL;
    if (r->status == 200) {
        Inference__RepositoryModelLoadResponse a = INFERENCE__REPOSITORY_MODEL_LOAD_RESPONSE__INIT;
        reply(gl->cs, gl->call, &a.base);
    } else {
        end(gl->cs, gl->call, GRPC_INVALID_ARGUMENT, "%s", gl->l.err);
    }
}

static const sreq_ops load_ops = {.on_loop = load_done, .dispose = kserve_load_dispose};

static void repository_load(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg,
                            size_t len)
{
    Inference__RepositoryModelLoadRequest *q =
        (void *)unpack(cs, c, &inference__repository_model_load_request__descriptor, msg, len);
    if (!q) return;
    repo_entry *e = repo_find(st->s, q->model_name, strlen(q->model_name));
    if (!e) {
        end(cs, c, GRPC_NOT_FOUND, "no model '%.100s' in the repository", q->model_name);
    } else if (e->state == ENTRY_READY) {
        Inference__RepositoryModelLoadResponse a = INFERENCE__REPOSITORY_MODEL_LOAD_RESPONSE__INIT;
        reply(cs, c, &a.base);
    } else if (e->state == ENTRY_LOADING) {
        end(cs, c, GRPC_FAILED_PRECONDITION, "model '%s' is loading", e->name);
    } else {
        sreq *r = sreq_create(st->s, NULL, NULL, &load_ops, sizeof(gload));
        if (!r) {
            end(cs, c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        } else {
            gload *gl = r->proto;
            gl->call = c;
            gl->cs = cs;
            cs->load = gl;
            cs->pending++;
            grpc_call_set_user(c, cs);
            kserve_load_begin(r, e);
        }
    }
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

static void repository_unload(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg,
                              size_t len)
{
    Inference__RepositoryModelUnloadRequest *q =
        (void *)unpack(cs, c, &inference__repository_model_unload_request__descriptor, msg, len);
    if (!q) return;
    repo_entry *e = repo_find(st->s, q->model_name, strlen(q->model_name));
    if (!e) {
        end(cs, c, GRPC_NOT_FOUND, "no model '%.100s' in the repository", q->model_name);
    } else if (e->state == ENTRY_LOADING) {
        end(cs, c, GRPC_FAILED_PRECONDITION, "model '%s' is loading", e->name);
    } else {
        repo_unload(st->s, e);
        Inference__RepositoryModelUnloadResponse a =
            INFERENCE__REPOSITORY_MODEL_UNLOAD_RESPONSE__INIT;
        reply(cs, c, &a.base);
    }
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* ---- inference ---- */

static void *arena_pb_alloc(void *a, size_t size)
{
    return arena_alloc_raw(a, size ? size : 1);
}

static void arena_pb_free(void *a, void *p)
{
    (void)a, (void)p; /* freed with the arena */
}

/* workq job: unpack the message into the request's arena, then the common
 * path. Worker thread. */
static void infer_job(workq_job *job)
{
    sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, job, job);
    ginfer *g = r->proto;
    uint64_t t0 = serve_now_ns();
    ProtobufCAllocator al = {
        .alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = r->mem};
    Inference__ModelInferRequest *q; /* in the arena: freed with it */
    char err[SERVE_ERR_MAX];
    if (kserve_grpc_parse_infer(r->body, r->body_len, &al, &q, &g->k.kreq, err, sizeof err)) {
        sreq_finish_error(r, 400, "%s", err);
        return;
    }
    kserve_infer_start(r, t0);
}

/* Every row ran: packs the answer (any thread). */
static void infer_finished(sreq *r)
{
    ginfer *g = r->proto;
    kserve_req *k = &g->k;
    if (kserve_infer_rows_ok(r)) return;
    Inference__ModelInferResponse__InferOutputTensor ot[KSERVE_MAX_TENSORS],
        *pot[KSERVE_MAX_TENSORS];
    ProtobufCBinaryData raw[KSERVE_MAX_TENSORS];
    for (int i = 0; i < k->n_out; i++) {
        kserve_out *o = &k->outs[i];
        ot[i] = (Inference__ModelInferResponse__InferOutputTensor)
            INFERENCE__MODEL_INFER_RESPONSE__INFER_OUTPUT_TENSOR__INIT;
        ot[i].name = (char *)o->name;
        ot[i].datatype = (char *)kserve_datatype_name(o->dtype);
        ot[i].n_shape = (size_t)o->ndim;
        ot[i].shape = o->dims;
        pot[i] = &ot[i];
        raw[i].len = o->dtype == KSERVE_BYTES ? o->bytes : o->row_bytes * (size_t)k->rows;
        raw[i].data = o->data;
    }
    Inference__ModelInferResponse a = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    a.model_name = r->rm->name;
    a.model_version = "1";
    a.id = k->kreq.id ? k->kreq.id : "";
    a.n_outputs = (size_t)k->n_out;
    a.outputs = pot;
    a.n_raw_output_contents = (size_t)k->n_out;
    a.raw_output_contents = raw;
    Inference__ModelStreamInferResponse sa = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
    sa.infer_response = &a;
    size_t len;
    uint8_t *buf = pack(g->stream ? &sa.base : &a.base, &len);
    if (!buf) {
        sreq_finish_error(r, 500, "out of memory for the answer");
        return;
    }
    r->status = 200;
    r->resp = (char *)buf;
    r->resp_len = len;
    sreq_finish(r);
}

static void unlink_req(ginfer *g)
{
    if (!g->cs) return;
    if (g->prev)
        g->prev->next = g->next;
    else
        g->cs->reqs = g->next;
    if (g->next) g->next->prev = g->prev;
    g->cs->pending--;
    g->cs = NULL;
}

/* The message of an error answer ({"error": msg}). */
static void error_text(const sreq *r, char *out, size_t cap)
{
    json_t *j = r->resp ? json_loadb(r->resp, r->resp_len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "error"));
    snprintf(out, cap, "%s", m ? m : "inference failed");
    json_decref(j);
}

/* On the loop: sends the answer on its call, if the call is still there. */
static void infer_on_loop(sreq *r)
{
    ginfer *g = r->proto;
    grpc_call *c = g->call;
    call_state *cs = g->cs;
    if (!c) return;
    unlink_req(g);
    g->call = NULL;
    if (r->status == 200) {
        uint8_t *buf = (uint8_t *)r->resp;
        size_t len = r->resp_len;
        r->resp = NULL; /* taken */
        r->resp_len = 0;
        if (!g->stream) {
            cs->st->calls[cs->method][GRPC_OK]++;
            grpc_call_reply(c, buf, len);
            return;
        }
        grpc_call_send(c, buf, len);
    } else {
        char msg[SERVE_ERR_MAX];
        error_text(r, msg, sizeof msg);
        if (!g->stream) {
            /* refused because its deadline cannot be met, or could not be */
            int code = grpc_code(r->status);
            if (code == GRPC_UNAVAILABLE && serve_now_ns() >= r->deadline_ns)
                code = GRPC_DEADLINE_EXCEEDED;
            else if (code == GRPC_UNAVAILABLE) /* overloaded: as HTTP's Retry-After: 1 */
                grpc_call_retry_pushback(c, 1000);
            end(cs, c, code, "%s", msg);
            return;
        }
        Inference__ModelStreamInferResponse sa = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
        sa.error_message = msg;
        size_t len;
        uint8_t *buf = pack(&sa.base, &len);
        if (buf) grpc_call_send(c, buf, len);
    }
    if (cs->half_closed && !cs->pending) end(cs, c, GRPC_OK, NULL);
}

static void infer_dispose(sreq *r)
{
    ginfer *g = r->proto;
    unlink_req(g);
    kserve_infer_dispose(r);
}

static const sreq_ops infer_ops = {.item_ran = kserve_infer_item_ran,
                                   .finished = infer_finished,
                                   .on_loop = infer_on_loop,
                                   .dispose = infer_dispose};

/* A stream's error answer, or the unary call's end. */
static void infer_refuse(call_state *cs, grpc_call *c, int stream, int code, const char *msg)
{
    if (!stream) {
        end(cs, c, code, "%s", msg);
        return;
    }
    Inference__ModelStreamInferResponse sa = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
    sa.error_message = (char *)msg;
    size_t len;
    uint8_t *buf = pack(&sa.base, &len);
    if (buf) grpc_call_send(c, buf, len);
}

/* The refusal of a request message over its client's rate. */
/* The refusal of a request message over a limit of rps per client (on
 * `model` if not NULL). */
static void refuse_rate(call_state *cs, grpc_call *c, int stream, double rps,
                        const ratelimit_verdict *v, const char *model)
{
    char err[SERVE_ERR_MAX];
    serve_rate_refusal(err, sizeof err, rps, v, model);
    if (!stream) grpc_call_retry_pushback(c, (int)ceil(v->retry_after_s * 1000));
    infer_refuse(cs, c, stream, GRPC_RESOURCE_EXHAUSTED, err);
}

/* --rate-limit decided on this replica: 1, or 0 with the message refused. */
static int local_rate_ok(server *s, call_state *cs, grpc_call *c, int stream)
{
    char client[RATELIMIT_KEY_MAX + 8];
    size_t cl = call_client(c, client, sizeof client);
    ratelimit_verdict v;
    if (serve_rate_check(s, client, cl, &v)) return 1;
    refuse_rate(cs, c, stream, s->opt.rate_limit_rps, &v, NULL);
    return 0;
}

/* A request message waiting for the fleet's verdict (a copy of it). */
typedef struct grate {
    gstate *st;
    grpc_call *call; /* NULL once the call closed */
    call_state *cs;
    struct grate *next;
    int stream;
    size_t len;
    uint8_t msg[];
} grate;

static void infer_admitted(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len,
                           int stream);

static void on_fleet_verdict(void *arg, const ratelimit_verdict *v)
{
    grate *g = arg;
    call_state *cs = g->cs;
    if (cs) {
        for (grate **p = &cs->rates; *p; p = &(*p)->next)
            if (*p == g) {
                *p = g->next;
                break;
            }
        cs->pending--;
        server *s = g->st->s;
        grpc_call *c = g->call;
        if (s->stopping || s->draining)
            infer_refuse(cs, c, g->stream, GRPC_UNAVAILABLE, "the server is shutting down");
        else if (v && !v->allowed) {
            metrics_counter_inc(&s->rate_limited);
            refuse_rate(cs, c, g->stream, s->opt.rate_limit_rps, v, NULL);
        } else if (v || local_rate_ok(s, cs, c, g->stream)) {
            if (!v) metrics_counter_inc(&s->rate_local);
            infer_admitted(g->st, c, cs, g->msg, g->len, g->stream);
        }
        if (g->stream && cs->half_closed && !cs->pending) end(cs, c, GRPC_OK, NULL);
    }
    free(g);
}

/* Asks the fleet's Redis about the call's client (the verdict goes on with
 * a copy of the message); 0 if it will answer, -1 if Redis is down. */
static int ask_fleet_rate(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len,
                          int stream)
{
    server *s = st->s;
    if (!fleet_up(s->fleet)) return -1;
    char key[RATELIMIT_KEY_MAX + 8];
    size_t kl = call_client(c, key, sizeof key);
    grate *g = malloc(sizeof *g + len);
    if (!g) return -1;
    *g = (grate){.st = st, .call = c, .cs = cs, .stream = stream, .len = len};
    memcpy(g->msg, msg, len);
    if (fleet_rate_check(s->fleet, key, kl, s->opt.rate_limit_rps, s->rate_burst, on_fleet_verdict,
                         g)) {
        free(g);
        return -1;
    }
    g->next = cs->rates;
    cs->rates = g;
    cs->pending++; /* the call (a half-closed stream) ends after the verdict */
    return 0;
}

static void infer_message(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len,
                          int stream)
{
    server *s = st->s;
    if (s->draining) {
        infer_refuse(cs, c, stream, GRPC_UNAVAILABLE, "the server is shutting down");
        return;
    }
    /* --rate-limit: each request message counts, as an HTTP request does; with
     * --redis the fleet's count decides */
    if (s->limits && s->fleet && !ask_fleet_rate(st, c, cs, msg, len, stream)) return;
    if (s->limits && s->fleet) metrics_counter_inc(&s->rate_local);
    if (s->limits && !local_rate_ok(s, cs, c, stream)) return;
    infer_admitted(st, c, cs, msg, len, stream);
}

/* A request message within its client's rate: to its model. */
static void infer_admitted(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len,
                           int stream)
{
    server *s = st->s;
    char name[256], version[32], err[SERVE_ERR_MAX];
    if (kserve_grpc_peek_model(msg, len, name, sizeof name, version, sizeof version)) {
        infer_refuse(cs, c, stream, GRPC_INVALID_ARGUMENT, "malformed ModelInferRequest");
        return;
    }
    int code = GRPC_OK;
    repo_model *m = NULL;
    if (version[0] && strcmp(version, "1")) {
        code = GRPC_NOT_FOUND;
        snprintf(err, sizeof err, "model '%.100s' has only version 1", name);
    } else if (split_find(&s->splits, name, strlen(name))) {
        m = split_model(s, c, name, &code, err, sizeof err);
    } else if (!repo_find(s, name, strlen(name))) {
        code = GRPC_NOT_FOUND;
        snprintf(err, sizeof err, "unknown model '%.100s'", name);
    } else if (!(m = repo_get(s, name, strlen(name)))) {
        code = GRPC_UNAVAILABLE;
        snprintf(err, sizeof err, "model '%.100s' is not ready", name);
    }
    if (code != GRPC_OK) {
        infer_refuse(cs, c, stream, code, err);
        return;
    }
    if (m->limits) { /* model.yaml's rate_limit */
        char client[RATELIMIT_KEY_MAX + 8];
        size_t cl = call_client(c, client, sizeof client);
        ratelimit_verdict v;
        if (!serve_model_rate_check(s, m, client, cl, &v)) {
            refuse_rate(cs, c, stream, m->conf->serving.rate_limit / m->limit_share, &v, m->name);
            repo_model_release(m);
            return;
        }
    }
    sreq *r = sreq_create(s, NULL, m, &infer_ops, sizeof(ginfer)); /* takes m */
    if (r && !(r->body = arena_memdup(r->mem, msg, len ? len : 1))) {
        sreq_destroy(r);
        r = NULL;
    }
    if (!r) {
        infer_refuse(cs, c, stream, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    r->body_len = len;
    ginfer *g = r->proto;
    kserve_infer_init(&g->k);
    g->call = c;
    g->cs = cs;
    g->stream = stream;
    g->next = cs->reqs;
    if (cs->reqs) cs->reqs->prev = g;
    cs->reqs = g;
    cs->pending++;
    r->deadline_ns = r->t_start + (uint64_t)r->rm->timeout_ms * 1000000u;
    uint64_t t = grpc_call_timeout_ns(c);
    if (t && r->t_start + t < r->deadline_ns) r->deadline_ns = r->t_start + t;
    sreq_track(r);
    r->job.fn = infer_job;
    workq_push(s->workers, &r->job);
}

static void model_infer(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg, size_t len)
{
    infer_message(st, c, cs, msg, len, 0);
}

static void model_stream_infer(gstate *st, grpc_call *c, call_state *cs, const uint8_t *msg,
                               size_t len)
{
    infer_message(st, c, cs, msg, len, 1);
}

/* ---- calls ---- */

static const method METHODS[] = {
    {"ServerLive", server_live, SERVE_ACCESS_OPEN},
    {"ServerReady", server_ready_rpc, SERVE_ACCESS_OPEN},
    {"ModelReady", model_ready, SERVE_ACCESS_DEFAULT},
    {"ServerMetadata", server_metadata, SERVE_ACCESS_DEFAULT},
    {"ModelMetadata", model_metadata, SERVE_ACCESS_DEFAULT},
    {"ModelInfer", model_infer, SERVE_ACCESS_DEFAULT},
    {"ModelStreamInfer", model_stream_infer, SERVE_ACCESS_DEFAULT},
    {"ModelConfig", model_config, SERVE_ACCESS_DEFAULT},
    {"ModelStatistics", model_statistics, SERVE_ACCESS_DEFAULT},
    {"RepositoryIndex", repository_index, SERVE_ACCESS_DEFAULT},
    {"RepositoryModelLoad", repository_load, SERVE_ACCESS_ADMIN},
    {"RepositoryModelUnload", repository_unload, SERVE_ACCESS_ADMIN},
    {"(unknown)", NULL, SERVE_ACCESS_DEFAULT},
};
enum { N_METHODS = sizeof METHODS / sizeof METHODS[0], STREAM_METHOD = 6, UNKNOWN_METHOD = 12 };

/* The key a call presents (authorization: Bearer, else x-api-token). */
static const char *call_key(grpc_call *c, size_t *len)
{
    const char *a = grpc_call_metadata(c, "authorization");
    if (a && !strncasecmp(a, "Bearer ", 7)) {
        *len = strlen(a + 7);
        return a + 7;
    }
    a = grpc_call_metadata(c, "x-api-token");
    *len = a ? strlen(a) : 0;
    return a;
}

static void on_start(grpc_call *c, void *ud)
{
    gstate *st = ud;
    server *s = st->s;
    call_state *cs = calloc(1, sizeof *cs);
    if (!cs) {
        grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    cs->st = st;
    cs->method = UNKNOWN_METHOD;
    grpc_call_set_user(c, cs);
    const char *path = grpc_call_path(c);
    if (!strncmp(path, SERVICE, strlen(SERVICE)))
        for (int i = 0; i < UNKNOWN_METHOD; i++)
            if (!strcmp(path + strlen(SERVICE), METHODS[i].name)) cs->method = i;
    if (cs->method == UNKNOWN_METHOD) {
        end(cs, c, GRPC_UNIMPLEMENTED, "glint does not serve %.200s", path);
        return;
    }
    metrics_counter_inc(&s->http_requests);
    serve_access a = METHODS[cs->method].access;
    if (!s->auth || a == SERVE_ACCESS_OPEN || (a == SERVE_ACCESS_DEFAULT && !st->beyond_loopback))
        return;
    size_t len = 0;
    const char *key = call_key(c, &len);
    if (auth_check(s->auth, key, len) < 0)
        end(cs, c, GRPC_UNAUTHENTICATED,
            "%s: send it as 'authorization: Bearer KEY' or "
            "'x-api-token: KEY' metadata",
            key ? "this API key is not known" : "this call needs an API key");
}

static void on_message(grpc_call *c, const uint8_t *msg, size_t len, void *ud)
{
    gstate *st = ud;
    call_state *cs = grpc_call_user(c);
    if (!cs || cs->method == UNKNOWN_METHOD) return;
    if (cs->messages++ && cs->method != STREAM_METHOD) {
        end(cs, c, GRPC_INVALID_ARGUMENT, "%s takes one message", METHODS[cs->method].name);
        return;
    }
    METHODS[cs->method].fn(st, c, cs, msg, len);
}

static void on_half_close(grpc_call *c, void *ud)
{
    (void)ud;
    call_state *cs = grpc_call_user(c);
    if (!cs) return;
    cs->half_closed = 1;
    if (cs->pending) return;
    if (cs->method == STREAM_METHOD)
        end(cs, c, GRPC_OK, NULL);
    else if (!cs->messages)
        end(cs, c, GRPC_INVALID_ARGUMENT, "%s needs a request message", METHODS[cs->method].name);
}

static void on_closed(grpc_call *c, void *ud)
{
    (void)ud;
    call_state *cs = grpc_call_user(c);
    if (!cs) return;
    for (ginfer *g = cs->reqs; g; g = g->next) { /* their answers have nowhere to go */
        g->call = NULL;
        g->cs = NULL;
    }
    if (cs->load) { /* the load goes on; its answer has nowhere to go */
        cs->load->call = NULL;
        cs->load->cs = NULL;
    }
    for (grate *g = cs->rates; g; g = g->next) { /* their verdicts have nowhere to go */
        g->call = NULL;
        g->cs = NULL;
    }
    free(cs);
}

/* ---- the module ---- */

static int start(server *s, void **state, char *err, size_t err_size)
{
    const char *v = s->opt.grpc_listen;
    if (!v) return 0;
    gstate *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    *state = st;
    st->s = s;
    const char *colon = strrchr(v, ':');
    const char *port_s = colon ? colon + 1 : v;
    if (colon) {
        size_t n = (size_t)(colon - v);
        if (n >= 2 && v[0] == '[' && v[n - 1] == ']') v++, n -= 2;
        snprintf(st->host, sizeof st->host, "%.*s", (int)n, v);
    } else {
        snprintf(st->host, sizeof st->host, "%s", s->opt.host);
    }
    char *end_p;
    long port = strtol(port_s, &end_p, 10);
    if (!port_s[0] || *end_p || port < 0 || port > 65535 || !st->host[0]) {
        snprintf(err, err_size, "--grpc-listen needs [HOST:]PORT, got '%s'", s->opt.grpc_listen);
        return -1;
    }
    st->beyond_loopback = s->beyond_loopback || !serve_is_loopback(st->host);
    static const grpc_handler h = {.on_start = on_start,
                                   .on_message = on_message,
                                   .on_half_close = on_half_close,
                                   .on_closed = on_closed};
    char e[256];
    st->g = grpc_server_create(s->loop, st->host, (int)port, &h, st, s->opt.max_body,
                               s->opt.max_connections, e, sizeof e);
    if (!st->g) {
        snprintf(err, err_size, "--grpc-listen: %s", e);
        return -1;
    }
    fprintf(stderr, "glint serve: KServe v2 over gRPC on %s:%d\n", st->host,
            grpc_server_port(st->g));
    return 0;
}

#define IDLE_NS (300ull * 1000000000u) /* an idle connection is let go after 5 minutes */

static void tick(server *s, void *state)
{
    gstate *st = state;
    if (st)
        grpc_server_sweep(st->g, serve_now_ns(), (uint64_t)s->opt.idle_timeout_ms * 1000000u,
                          IDLE_NS);
}

static void drain(server *s, void *state)
{
    (void)s;
    gstate *st = state;
    if (st) grpc_server_drain(st->g);
}

static void stop(server *s, void *state)
{
    (void)s;
    gstate *st = state;
    if (!st) return;
    grpc_server_free(st->g);
    free(st);
}

static json_t *health(server *s, void *state)
{
    (void)s;
    gstate *st = state;
    if (!st) return json_pack("{s:b}", "enabled", 0);
    uint64_t calls = 0, failed = 0;
    for (int i = 0; i < N_METHODS; i++)
        for (int k = 0; k < N_CODES; k++) {
            calls += st->calls[i][k];
            if (k) failed += st->calls[i][k];
        }
    return json_pack("{s:b, s:s, s:i, s:i, s:I, s:I}", "enabled", 1, "host", st->host, "port",
                     grpc_server_port(st->g), "connections", grpc_server_connections(st->g),
                     "calls", (json_int_t)calls, "calls_failed", (json_int_t)failed);
}

static const char *const CODE_NAMES[N_CODES] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

static void metrics(server *s, void *state, strbuf *sb)
{
    (void)s;
    gstate *st = state;
    if (!st) return;
    strbuf_appendf(sb, "# HELP glint_grpc_calls_total gRPC calls ended, by method and status.\n"
                       "# TYPE glint_grpc_calls_total counter\n");
    for (int i = 0; i < N_METHODS; i++)
        for (int k = 0; k < N_CODES; k++)
            if (st->calls[i][k])
                strbuf_appendf(sb, "glint_grpc_calls_total{method=\"%s\",code=\"%s\"} %llu\n",
                               METHODS[i].name, CODE_NAMES[k], (unsigned long long)st->calls[i][k]);
    strbuf_appendf(sb,
                   "# HELP glint_grpc_connections Open gRPC connections.\n"
                   "# TYPE glint_grpc_connections gauge\nglint_grpc_connections %d\n",
                   grpc_server_connections(st->g));
}

const serve_module kserve_grpc_module = {.name = "grpc",
                                         .start = start,
                                         .tick = tick,
                                         .drain = drain,
                                         .stop = stop,
                                         .health = health,
                                         .metrics = metrics};
