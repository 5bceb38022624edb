/* split: a model name that routes to versions by weight (A/B tests and
 * canaries), and the canary's judge.
 *
 * A split is a name clients use (`detector`) over up to SPLIT_MAX_VERSIONS
 * models of the repository (its versions: `yolov8n_v1`, `yolov8n_v2`), each
 * with a weight. The document (the --splits YAML file, or the JSON body of
 * PUT /v1/splits/{name}) is a mapping of split names:
 *
 *   detector:
 *     versions: {yolov8n_v1: 90, yolov8n_v2: 10}   weights >= 0, sum > 0
 *     sticky: true          a client keeps its version (default true)
 *     canary:               optional: one version on probation
 *       version: yolov8n_v2
 *       window_s: 30        judged over windows this long (default 30)
 *       min_requests: 20    each side needs this many in a window (default 20)
 *       error_margin: 0.02  rolled back when its share of failed requests
 *                           exceeds the others' + this (default 0.02)
 *       latency_margin: 0.5 ... or its p99 the others' x (1 + this) (default 0.5)
 *       promote_after_s: 0  promoted (all the weight) after this long without
 *                           a bad window; 0: only by POST .../promote (default)
 *
 * Choosing (split_choose): with `sticky`, rendezvous hashing weighted by the
 * weights: each version scores -ln(u) / weight, u a hash of (client, version)
 * in (0, 1), and the lowest score wins. So a client lands on version i with
 * probability weight_i / sum, keeps it for as long as the weights stay, only
 * the clients that must move move when weights change, and every replica
 * (same hash, no state) picks the same version for a client. Not sticky: a
 * random draw by weight per request.
 *
 * Judging (split_judge): failed = 5xx answers (internal errors, timeouts,
 * refusals under load); 4xx are the client's. p99 comes from the latency
 * histogram's window (linear within a bucket, as Prometheus's
 * histogram_quantile does); p99 differences under 1 ms are ignored.
 *
 * Pure logic: no threads, no clock of its own. */
#ifndef GLINT_SERVE_CORE_SPLIT_H
#define GLINT_SERVE_CORE_SPLIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/core/metrics.h"

#define SPLIT_MAX_VERSIONS 8
#define SPLIT_NAME_MAX 128
#define SPLIT_MAX 64 /* splits in a document */

typedef enum split_state {
    SPLIT_STEADY,      /* no canary */
    SPLIT_WATCHING,    /* a canary on probation */
    SPLIT_ROLLED_BACK, /* its weight went to 0 */
    SPLIT_PROMOTED,    /* it took all the weight */
} split_state;

typedef struct split_canary {
    int version; /* index in versions; -1: none */
    double window_s;
    int min_requests;
    double error_margin, latency_margin;
    double promote_after_s;
} split_canary;

/* A window's figures of one side (the canary, or the other versions). */
typedef struct split_window {
    uint64_t requests, failed;
    double p99_s; /* 0 without requests */
} split_window;

typedef struct split_version {
    char model[SPLIT_NAME_MAX];
    double weight;     /* now */
    double configured; /* as the document said */
    uint64_t routed;   /* requests sent to it */
    /* the window's start: the model's counters then */
    uint64_t base_requests, base_failed;
    uint64_t base_cumulative[METRICS_HIST_MAX_BOUNDS + 1];
    const void *base_model; /* the loaded model they were read from */
} split_version;

typedef struct split {
    char name[SPLIT_NAME_MAX];
    int sticky;
    int n;
    split_version v[SPLIT_MAX_VERSIONS];
    split_canary canary;
    split_state state;
    char verdict[256];        /* why the state is what it is */
    uint64_t window_start_ns; /* 0: not started */
    uint64_t clean_since_ns;  /* first judged window without a regression */
    uint64_t rollbacks, promotions, windows_judged;
    split_window last_canary, last_others; /* the last window judged */
} split;

typedef struct split_table {
    split *s; /* n of them, sorted by name */
    int n;
} split_table;

/* One split from its JSON object (the document's value for `name`). 0, or
 * -1 with err. */
int split_parse_one(const char *name, const json_t *o, split *out, char *err, size_t err_size);
/* A whole document ({name: split, ...}) into *t (emptied first on success
 * only). 0, or -1 with err. */
int split_parse(const json_t *doc, split_table *t, char *err, size_t err_size);
void split_table_dispose(split_table *t);
/* The split called name[0..len), or NULL. */
split *split_find(const split_table *t, const char *name, size_t len);
/* Puts sp into t (replacing the one of its name). 0, or -1 (no memory, or
 * SPLIT_MAX splits already). */
int split_put(split_table *t, const split *sp);
/* Carries the run-time state (weights after a rollback or promotion,
 * counters) of splits whose versions and weights did not change from old
 * into t (a reloaded file). */
void split_carry(split_table *t, const split_table *old);

/* The version for a request: by weight, sticky on client[0..clen) (any
 * bytes; clen 0 = no client: drawn with rnd), else drawn with rnd (any 64
 * random bits). -1 if every weight is 0. */
int split_choose(const split *sp, const char *client, size_t clen, uint64_t rnd);

/* Whether the canary regressed in a window: 1 (why set), 0 (no), -1 (too
 * few requests on a side to judge). */
int split_judge(const split_canary *c, const split_window *canary, const split_window *others,
                char *why, size_t why_size);

/* The q-quantile (0 < q < 1) of the observations between two cumulative
 * snapshots of a histogram with these bounds: linear within the bucket it
 * falls in (the +Inf bucket gives the last finite bound); 0 if none. */
double split_quantile(const double *bounds, int nbounds, const uint64_t *cum_before,
                      const uint64_t *cum_after, double q);

/* Moves all the weight to the canary (promote 1) or takes its weight away
 * (promote 0), with the reason; no-op without a canary. */
void split_settle(split *sp, int promote, const char *why);

/* The split as JSON (name, sticky, versions with weights and routed counts,
 * canary settings, state, verdict, last window). */
json_t *split_json(const split *sp);

const char *split_state_name(split_state s);

#endif
