/* glint serve: command line and config file for the HTTP server
 * (src/serve/server.h).
 *
 * --config FILE is a YAML mapping with the long option names as keys, '-'
 * written as '_' (listen: 127.0.0.1:8080, models: models, max_batch: 4,
 * model: [yolov8n, resnet18], ...); flags given on the command line win.
 */
#include "cli/cli.h"
#include "model/fileio.h"
#include "model/model_conf.h"
#include "model/precision.h"
#include "serve/serve.h"
#include "util/cpus.h"

#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SERVE_MAX_MODELS 64

typedef struct serve_cli {
    serve_options o;
    char *host; /* owned copy from --listen */
    const char *load[SERVE_MAX_MODELS];
    int n_load;
    char *owned[SERVE_MAX_MODELS + 8]; /* strings from the config file */
    int n_owned;
} serve_cli;

static void usage(void)
{
    printf(
        "usage: glint serve [options]\n"
        "Serves the models of a model repository over HTTP (see docs/serve.md).\n"
        "  --models DIR            model repository: a folder per model (default models)\n"
        "  --model NAME            load only this model (repeatable; default all)\n"
        "  --listen HOST:PORT      (default 127.0.0.1:8080; port 0 picks a free one)\n"
        "  --config FILE           YAML with these options as keys (flags win)\n"
        "  --workers N             decode workers (default: usable CPUs, see docs/serve.md)\n"
        "  --instances N           engine instances per model (default: usable CPUs)\n"
        "  --threads N             engine threads per instance (default: usable\n"
        "                          CPUs / instances)\n"
        "  --max-batch N           largest dynamic batch (default 1)\n"
        "  --max-queue-delay-us N  longest wait for a batch to fill (default 0)\n"
        "  --max-queue N           images waiting per model before 503 (default 64)\n"
        "  --max-queue-ms N        latency budget: 503 + Retry-After when a request's predicted\n"
        "                          wait (images ahead x per-image run time / instances) is\n"
        "                          over it; 0 = none (default 500)\n"
        "  --solo-threads N        a lone request (no other running or waiting) runs on one\n"
        "                          more context of N threads; 0 = none (default: the usable\n"
        "                          CPUs, when there are several instances)\n"
        "  --timeout-ms N          default request deadline (default 30000)\n"
        "  --max-body-mb N         request body limit (default 50)\n"
        "  --max-connections N     beyond it connections get 503 (default 1024)\n"
        "  --idle-timeout-ms N     drop clients that stall a request (default 10000)\n"
        "  --cache-mb N            response cache, 0 = off (default 64)\n"
        "  --cache-ttl-s N         (default 300)\n"
        "  --slow-ms N             log requests slower than this (default 1000)\n"
        "  --drain-timeout-ms N    longest drain on SIGTERM (default 30000)\n"
        "  --ready-file PATH       write HOST:PORT there once ready\n"
        "  --precision f32|int8|bf16|auto  int8 serves model.int8.onnx (glint quantize)\n"
        "                          of each model; bf16 computes convolutions in bf16; auto:\n"
        "                          the fastest at load of f32 and those whose agreement\n"
        "                          report passes (the choice is logged)\n"
        "  --edge-config FILE      Groundlight edge config (YAML: detectors, presets,\n"
        "                          upstream; see docs/edge.md), reloaded when it changes\n"
        "  --state-dir DIR         escalation outbox database (default glint-state)\n"
        "  --api-keys FILE         API keys (NAME SHA256-of-the-key per line, reloaded when\n"
        "                          it changes): required on admin routes, and on every\n"
        "                          route but the probes when listening beyond loopback\n"
        "  --require-api-key 0|1   1: a key on every route but the probes, on loopback too\n"
        "  --grpc-listen [HOST:]PORT  KServe v2 over gRPC (Triton's GRPCInferenceService)\n"
        "                          there too; HOST defaults to --listen's (Triton: 8001)\n"
        "  --rate-limit RPS        requests/s per client (its API key, else its address;\n"
        "                          0: none): over it 429 with Retry-After; every answer\n"
        "                          carries RateLimit-Limit/Remaining/Reset\n"
        "  --rate-limit-burst N    requests a client may send at once (default ceil(RPS))\n"
        "  --redis URL             the fleet's Redis (redis://[[USER]:PASS@]HOST[:PORT][/DB]\n"
        "                          or unix:///PATH): a second cache level shared by the\n"
        "                          replicas, and rate limits that hold across them\n"
        "                          (docs/serve.md); down or slow: served without it\n"
        "  --redis-timeout-ms N    a Redis command's deadline (default 20)\n"
        "  --splits FILE           YAML: model names routed to versions by weight (A/B,\n"
        "                          canaries with automatic rollback; docs/serve.md),\n"
        "                          reloaded when it changes\n"
        "  --streams FILE          YAML: camera streams (RTSP, HTTP MJPEG, files) read by\n"
        "                          glint itself into models (docs/streams.md)\n"
        "  --mqtt URL              publish the streams' answers to this MQTT broker\n"
        "                          (mqtt://[USER[:PASS]@]HOST[:PORT]; retained, QoS 1)\n"
        "  --deepstack-model NAME  the model of DeepStack's POST /v1/vision/detection\n"
        "                          (default: the first detection model; docs/serve.md)\n"
        "model.yaml settings (max_batch, instances, threads, ...) win over the flags.\n");
}

static int parse_listen(serve_cli *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v) {
        fprintf(stderr, "glint serve: --listen needs HOST:PORT, got '%s'\n", v);
        return -1;
    }
    c->o.port = (int)cli_int("--listen port", colon + 1, 0, 65535);
    free(c->host);
    c->host = strndup(v, (size_t)(colon - v));
    if (c->host && c->host[0] == '[') { /* [::1] */
        size_t n = strlen(c->host);
        if (n > 2 && c->host[n - 1] == ']') {
            memmove(c->host, c->host + 1, n - 2);
            c->host[n - 2] = 0;
        }
    }
    c->o.host = c->host;
    return c->host ? 0 : -1;
}

/* Applies option `name` (without "--", '_' or '-') = value. 0, -1 on a bad
 * value, 1 if the name is unknown. */
static int set_option(serve_cli *c, const char *name, const char *v)
{
    serve_options *o = &c->o;
    char n[64];
    snprintf(n, sizeof n, "%s", name);
    for (char *p = n; *p; p++)
        if (*p == '_') *p = '-';
    if (!strcmp(n, "models"))
        o->models_dir = v;
    else if (!strcmp(n, "listen"))
        return parse_listen(c, v);
    else if (!strcmp(n, "model")) {
        if (c->n_load == SERVE_MAX_MODELS) return -1;
        c->load[c->n_load++] = v;
    } else if (!strcmp(n, "workers"))
        o->workers = (int)cli_int("--workers", v, 1, 256);
    else if (!strcmp(n, "instances"))
        o->instances = (int)cli_int("--instances", v, 1, 16);
    else if (!strcmp(n, "threads"))
        o->threads = (int)cli_int("--threads", v, 1, 1024);
    else if (!strcmp(n, "max-batch"))
        o->max_batch = (int)cli_int("--max-batch", v, 1, 32);
    else if (!strcmp(n, "max-queue-delay-us"))
        o->max_queue_delay_us = cli_int("--max-queue-delay-us", v, 0, 10000000);
    else if (!strcmp(n, "max-queue"))
        o->max_queue = (int)cli_int("--max-queue", v, 1, 1000000);
    else if (!strcmp(n, "max-queue-ms"))
        o->max_queue_ms = (int)cli_int("--max-queue-ms", v, 0, 3600000);
    else if (!strcmp(n, "solo-threads"))
        o->solo_threads = (int)cli_int("--solo-threads", v, 0, 1024);
    else if (!strcmp(n, "timeout-ms"))
        o->timeout_ms = (int)cli_int("--timeout-ms", v, 1, 3600000);
    else if (!strcmp(n, "max-body-mb"))
        o->max_body = (size_t)cli_int("--max-body-mb", v, 1, 4096) << 20;
    else if (!strcmp(n, "max-connections"))
        o->max_connections = (int)cli_int("--max-connections", v, 1, 1000000);
    else if (!strcmp(n, "idle-timeout-ms"))
        o->idle_timeout_ms = (int)cli_int("--idle-timeout-ms", v, 100, 3600000);
    else if (!strcmp(n, "cache-mb"))
        o->cache_bytes = (size_t)cli_int("--cache-mb", v, 0, 65536) << 20;
    else if (!strcmp(n, "cache-ttl-s"))
        o->cache_ttl_s = (int)cli_int("--cache-ttl-s", v, 1, 86400 * 365);
    else if (!strcmp(n, "slow-ms"))
        o->slow_ms = cli_double("--slow-ms", v, 0, 1e9);
    else if (!strcmp(n, "drain-timeout-ms"))
        o->drain_timeout_ms = (int)cli_int("--drain-timeout-ms", v, 0, 3600000);
    else if (!strcmp(n, "ready-file"))
        o->ready_file = v;
    else if (!strcmp(n, "edge-config"))
        o->edge_config = v;
    else if (!strcmp(n, "deepstack-model"))
        o->deepstack_model = v;
    else if (!strcmp(n, "grpc-listen"))
        o->grpc_listen = v;
    else if (!strcmp(n, "rate-limit"))
        o->rate_limit_rps = cli_double("--rate-limit", v, 0, 1e6);
    else if (!strcmp(n, "redis"))
        o->redis_url = v;
    else if (!strcmp(n, "splits"))
        o->splits = v;
    else if (!strcmp(n, "streams"))
        o->streams = v;
    else if (!strcmp(n, "mqtt"))
        o->mqtt_url = v;
    else if (!strcmp(n, "redis-timeout-ms"))
        o->redis_timeout_ms = (int)cli_int("--redis-timeout-ms", v, 1, 60000);
    else if (!strcmp(n, "rate-limit-burst"))
        o->rate_limit_burst = (int)cli_int("--rate-limit-burst", v, 1, 1000000);
    else if (!strcmp(n, "api-keys"))
        o->api_keys = v;
    else if (!strcmp(n, "require-api-key"))
        o->require_api_key = (int)cli_int("--require-api-key", v, 0, 1);
    else if (!strcmp(n, "state-dir"))
        o->state_dir = v;
    else if (!strcmp(n, "precision")) {
        if ((o->precision = precision_parse(v)) < 0) {
            fprintf(stderr, "glint serve: --precision is f32, int8, bf16 or auto, got '%s'\n", v);
            return -1;
        }
    } else
        return 1;
    return 0;
}

static const char *keep(serve_cli *c, const char *s)
{
    if (c->n_owned == (int)(sizeof c->owned / sizeof c->owned[0])) return NULL;
    char *d = strdup(s);
    if (d) c->owned[c->n_owned++] = d;
    return d;
}

/* Reads --config FILE; options already set on the command line are applied
 * again after it. Returns 0 or -1 (message printed). */
static int read_config(serve_cli *c, const char *path)
{
    size_t len = 0;
    unsigned char *buf = fileio_read(path, (size_t)1 << 20, &len);
    if (!buf) {
        fprintf(stderr, "glint serve: --config %s: %s\n", path, strerror(errno));
        return -1;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, buf, len);
    int rc = -1;
    if (!yaml_parser_load(&p, &doc)) {
        fprintf(stderr, "glint serve: %s: line %zu: %s\n", path, p.problem_mark.line + 1,
                p.problem ? p.problem : "invalid YAML");
        goto out_parser;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE) {
        fprintf(stderr, "glint serve: %s: expected a mapping of options\n", path);
        goto out;
    }
    for (yaml_node_pair_t *kv = root ? root->data.mapping.pairs.start : NULL;
         root && kv < root->data.mapping.pairs.top; kv++) {
        yaml_node_t *k = yaml_document_get_node(&doc, kv->key);
        yaml_node_t *v = yaml_document_get_node(&doc, kv->value);
        if (k->type != YAML_SCALAR_NODE) goto bad;
        const char *key = (const char *)k->data.scalar.value;
        if (v->type == YAML_SEQUENCE_NODE && !strcmp(key, "model")) {
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(&doc, *it);
                const char *val = e->type == YAML_SCALAR_NODE
                                      ? keep(c, (const char *)e->data.scalar.value)
                                      : NULL;
                if (!val || set_option(c, key, val)) goto bad;
            }
            continue;
        }
        if (v->type != YAML_SCALAR_NODE) goto bad;
        const char *val = keep(c, (const char *)v->data.scalar.value);
        int r = val ? set_option(c, key, val) : -1;
        if (r == 1) {
            fprintf(stderr, "glint serve: %s: unknown option '%s'\n", path, key);
            goto out;
        }
        if (r) goto bad;
        continue;
    bad:
        fprintf(stderr, "glint serve: %s: line %zu: bad value for '%s'\n", path,
                k->start_mark.line + 1,
                k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
        goto out;
    }
    rc = 0;
out:
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&p);
    free(buf);
    return rc;
}

/* Applies the command-line flags (all but --config). Returns 0, -1 on a
 * usage error, -2 for --help. */
static int parse_flags(serve_cli *c, int argc, char **argv, const char **config)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -2;
        if (strncmp(a, "--", 2) || i + 1 >= argc) {
            fprintf(stderr, "glint serve: unexpected '%s' (try --help)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--config")) {
            if (config) *config = v;
            continue;
        }
        if (config) continue; /* first pass: only find --config */
        int r = set_option(c, a + 2, v);
        if (r == 1) fprintf(stderr, "glint serve: unknown option '%s' (try --help)\n", a);
        if (r) return -1;
    }
    return 0;
}

/* OpenMP threads that spin between parallel regions take the cores the
 * event loop and the decode workers need: measured here, YOLOv8n at 2
 * threads beside one busy process ran 1.4 images/s with libgomp's default
 * spinning and 8.7 with OMP_WAIT_POLICY=passive. And libgomp's default team
 * is every CPU of the affinity mask, blind to a container's CPU quota. It
 * reads its settings once, when it loads, so glint serve sets SERVE_OMP_ENV
 * unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, and OMP_NUM_THREADS
 * to the usable CPUs (util/cpus.h) unless the user set it, and starts itself
 * again if it set either. `argv` is main()'s argv + 1. */
#define SERVE_OMP_ENV "GOMP_SPINCOUNT", "1000"
static void omp_env(char **argv)
{
    int set = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        if (setenv(SERVE_OMP_ENV, 1)) return;
        set = 1;
    }
    if (!getenv("OMP_NUM_THREADS")) {
        char n[16];
        snprintf(n, sizeof n, "%d", cpus_usable());
        if (setenv("OMP_NUM_THREADS", n, 1)) return;
        set = 1;
    }
    if (!set) return;
    execv("/proc/self/exe", argv - 1);
    fprintf(stderr, "glint serve: warning: cannot restart with the OpenMP settings: %s\n",
            strerror(errno));
}

int cmd_serve(int argc, char **argv)
{
    omp_env(argv);
    serve_cli c;
    memset(&c, 0, sizeof c);
    serve_options_default(&c.o);
    const char *config = NULL;
    int rc = parse_flags(&c, argc, argv, &config);
    if (!rc && config) rc = read_config(&c, config);
    if (!rc) {
        int n_cfg = c.n_load; /* models named on the command line replace the file's */
        rc = parse_flags(&c, argc, argv, NULL);
        if (c.n_load > n_cfg && n_cfg) {
            memmove(c.load, c.load + n_cfg, (size_t)(c.n_load - n_cfg) * sizeof c.load[0]);
            c.n_load -= n_cfg;
        }
    }
    if (rc == -2) usage();
    if (!rc) {
        c.o.load = c.n_load ? c.load : NULL;
        c.o.n_load = c.n_load;
        rc = serve_run(&c.o);
    } else {
        rc = rc == -2 ? 0 : 2;
    }
    for (int i = 0; i < c.n_owned; i++)
        free(c.owned[i]);
    free(c.host);
    return rc;
}
