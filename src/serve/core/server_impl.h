/* The server's state, for the core's files and the modules that read it
 * (the model table, the options, the workers, the response cache, the
 * counters). Names no protocol.
 *
 * Threads: every field belongs to the loop thread unless it says otherwise
 * (request.h describes how requests move between threads).
 */
#ifndef GLINT_SERVE_CORE_SERVER_IMPL_H
#define GLINT_SERVE_CORE_SERVER_IMPL_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdint.h>

#include "serve/core/auth.h"
#include "serve/core/cache.h"
#include "serve/core/chain.h"
#include "serve/core/fleet.h"
#include "serve/core/http.h"
#include "serve/core/metrics.h"
#include "serve/core/module.h"
#include "serve/core/ratelimit.h"
#include "serve/core/repo.h"
#include "serve/core/request.h"
#include "serve/core/split.h"
#include "serve/core/server.h"
#include "serve/core/workq.h"

#define SERVE_MAX_MODULES 16

#define SERVE_RECENT_ERRORS 20

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
    const serve_module *modules[SERVE_MAX_MODULES];
    void *module_state[SERVE_MAX_MODULES];
    int n_modules, n_started;
    workq *workers; /* any thread may push */
    resp_cache *cache;
    repo_entry **entries; /* sorted by name; an entry never moves */
    int cap_entries;
    int n_entries;
    uint64_t poll_ns, next_poll_ns; /* looking for changed model files */
    int connections;
    h2o_linklist_t conns; /* the client_conn of each open connection */
    int in_flight;        /* sreqs handed off and not yet back */
    int draining;
    int stopping; /* teardown: late reloads are dropped */
    uint64_t started_ns;
    double cold_start_ms;
    auth *auth;         /* --api-keys, or NULL */
    ratelimit *limits;  /* --rate-limit, or NULL (with Redis: the share enforced when it is down) */
    fleet *fleet;       /* --redis, or NULL */
    split_table splits; /* names routed to versions by weight (route.c) */
    uint64_t splits_mtime, next_splits_ns, splits_reloads, split_rng;
    char splits_error[SERVE_ERR_MAX]; /* the last reload's, "" if it worked */
    int limit_share;                  /* the replica count the local limiter's rate is divided by */
    int rate_burst;                   /* --rate-limit-burst, else ceil(--rate-limit) */
    /* the last SERVE_RECENT_ERRORS error answers, a ring from next_error (loop thread) */
    struct recent_error {
        char time[24]; /* UTC, ISO 8601 */
        int status;
        char path[96];
        char error[200];
    } recent_errors[SERVE_RECENT_ERRORS];
    int n_errors, next_error;
    int beyond_loopback;   /* listening on more than loopback: every route wants a key */
    uint64_t next_auth_ns; /* when to look at the keys file again */
    /* server-wide counters (any thread) */
    metrics_counter http_requests, http_errors_4xx, http_errors_5xx, conn_rejected;
    metrics_counter cache_hits, cache_misses;
    metrics_counter rate_limited;      /* requests refused 429 */
    metrics_counter rate_local;        /* with Redis: checks decided locally (Redis down or slow) */
    metrics_counter cache_shared_hits; /* answers found in Redis */
};

/* Per-thread scratch (decoder, image, answer workspace) of the calling
 * thread, created on first use; NULL if out of memory. */
typedef struct thread_scratch {
    vision_decoder *dec;
    vision_image img;
    answer_ws *aw;
} thread_scratch;
thread_scratch *serve_scratch(void);

/* Remembers an error answer for /health's recent_errors (and the status
 * page). Loop thread. */
void serve_note_error(server *s, int status, const char *path, size_t path_len, const char *msg);
/* For a module that lets its paths in itself (SERVE_ACCESS_OPEN) to take a
 * key from its own request fields (DeepStack's `api_key` form field): 1 if
 * req needs no key (no --api-keys, loopback) or presents a known one in its
 * headers or else as form_key (may be NULL). Loop thread. */
int serve_key_ok(server *s, h2o_req_t *req, const char *form_key, size_t form_len);
/* With --rate-limit: counts one request of `client` (serve_client_key's
 * name) on this replica and says whether it is within its rate (refusals
 * counted); 1 without limits. Loop thread. */
int serve_rate_check(server *s, const char *client, size_t clen, ratelimit_verdict *v);
/* The message of a refusal over a limit of rps per client (on `model` if
 * not NULL). */
void serve_rate_refusal(char *buf, size_t cap, double rps, const ratelimit_verdict *v,
                        const char *model);
/* The digest that names an image in cache keys: under the fleet's key once
 * Redis gave it (every replica hashes alike), else this process's. Loop
 * thread. */
void serve_cache_digest(server *s, const void *data, size_t len, uint8_t out[16]);
/* The API key req presents (Authorization: Bearer, else x-api-token), or
 * NULL; *len its length. */
const char *serve_presented_key(h2o_req_t *req, size_t *len);
/* A client's name for rate limits and sticky splits: "k:" + the key it
 * presents, else "a:" + its address. Returns the length written to key. */
size_t serve_client_key(const char *token, size_t tlen, const struct sockaddr *peer, char *key,
                        size_t cap);
/* serve_client_key of an HTTP request. */
size_t serve_req_client(h2o_req_t *req, char *key, size_t cap);
/* The model that answers `name` for `client` (route.c): a split's version,
 * chosen by its weights (sticky per client; client NULL: the version with
 * most weight, not counted as routed), else the repository's model of that
 * name. A new reference, or NULL with the HTTP status (404 unknown, 503 a
 * split that cannot route now) and a message. */
repo_model *serve_route_model(server *s, const char *name, size_t len, const char *client,
                              size_t clen, int *status, char *err, size_t err_size);
/* Reads --splits at start. 0, or -1 with err. */
int serve_splits_load(server *s, char *err, size_t err_size);
/* The file's reloads and the canaries' windows (at most once a second). */
void serve_splits_tick(server *s);
/* The splits in /health (a new reference) and /metrics. */
json_t *serve_splits_json(const server *s);
void serve_splits_metrics(const server *s, strbuf *sb);
/* model.yaml's rate_limit on m: counts one request of `client` and says
 * whether it passes (this replica's share of the limit when --redis counts
 * replicas); 1 without a limit. Loop thread. */
int serve_model_rate_check(server *s, repo_model *m, const char *client, size_t clen,
                           ratelimit_verdict *v);
/* The same for an HTTP request: 1, or 0 with req answered 429 (m is the
 * caller's to release either way). */
int serve_model_limit(server *s, h2o_req_t *req, repo_model *m);
/* recent_errors, oldest first (a new reference). */
json_t *serve_recent_errors_json(const server *s);

#endif
