/* glint serve's core: the HTTP inference server without its protocols.
 *
 * server_run() loads the model repository (a folder per model: model.onnx and
 * model.yaml), warms every model at every batch size its batcher can form,
 * listens, and serves until SIGTERM or SIGINT, then drains: it stops
 * accepting, finishes the requests in flight and returns. The routes are
 * the modules' (module.h), asked in the order given; serve/serve.h runs it
 * with every protocol glint has. See docs/serve.md.
 */
#ifndef GLINT_SERVE_CORE_SERVER_H
#define GLINT_SERVE_CORE_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct serve_options {
    const char *host;       /* listen address (default 127.0.0.1) */
    int port;               /* 0: any free port (printed) */
    const char *models_dir; /* the model repository (default models) */
    const char **load;      /* NULL: every model of the repository; else these names */
    int n_load;
    int workers;   /* decode workers (default: cores) */
    int instances; /* engine contexts per model unless model.yaml says (default 1) */
    int threads; /* engine threads per context unless model.yaml says (default cores / instances) */
    int max_batch;              /* unless model.yaml says (default 1) */
    int64_t max_queue_delay_us; /* unless model.yaml says (default 0) */
    int max_queue;              /* images pending per model before 503 (default 64) */
    int max_queue_ms;        /* predicted queue wait per model before 503; 0 none (default 500) */
    int solo_threads;        /* a lone request's threads; 0 none, -1 usable CPUs (default) */
    int timeout_ms;          /* default request deadline (default 30000) */
    size_t max_body;         /* request body limit (default 50 MB) */
    int max_connections;     /* beyond it new connections get 503 (default 1024) */
    int idle_timeout_ms;     /* slow/half-open clients are dropped after it (default 10000) */
    size_t cache_bytes;      /* response cache size; 0 disables it (default 64 MB) */
    int cache_ttl_s;         /* (default 300) */
    double slow_ms;          /* requests slower than this are logged (default 1000) */
    int drain_timeout_ms;    /* longest drain on SIGTERM (default 30000) */
    const char *ready_file;  /* when ready, write "host:port\n" there (tests) */
    int precision;           /* a model_precision; 0: each model.yaml says (f32) */
    const char *edge_config; /* Groundlight edge config file (YAML), or NULL */
    const char *api_keys;    /* the API keys file (auth.h), or NULL: no keys */
    int require_api_key;     /* a key on every route but the probes, even on loopback
                              * (a proxy on the same host) */
    const char *deepstack_model; /* the model of DeepStack's /v1/vision/detection, or NULL:
                                  * the repository's first detection model */
    const char *state_dir;       /* outbox database folder (default glint-state) */
    const char *grpc_listen;     /* KServe v2 over gRPC: [HOST:]PORT, or NULL: none */
    double rate_limit_rps;       /* per client (API key, else address); 0: no limit */
    int rate_limit_burst;        /* requests a client may send at once (0: ceil(rps)) */
    const char *redis_url;       /* the fleet's Redis (fleet.h): shared cache and limits; or NULL */
    int redis_timeout_ms;        /* a Redis command's deadline (default 20) */
    const char *splits;          /* YAML of names routed to versions by weight (split.h), or NULL */
    const char *streams;         /* YAML of camera streams (serve/streams), or NULL */
    const char *mqtt_url;        /* MQTT broker for the streams' answers, or NULL */
} serve_options;

/* Fills *o with the defaults above. */
void serve_options_default(serve_options *o);

typedef struct serve_module serve_module;

/* Runs the server with `modules` (n of them, asked in order for each
 * request); returns the process exit status (0 after a clean drain, 1 if it
 * could not start). Logs to stderr. */
/* A listening TCP socket (non-blocking) on host:port (0: any free port),
 * its port in *bound: the fd, or -1 with err. */
int serve_listen_socket(const char *host, int port, int *bound, char *err, size_t err_size);

/* Whether host names only this machine's loopback. */
int serve_is_loopback(const char *host);

int server_run(const serve_options *o, const serve_module *const *modules, int n);

#endif
