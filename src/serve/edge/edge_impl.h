/* The edge module's parts, shared by its HTTP layer (edge_http.c) and its
 * service (edge_service.c: state, config reloads, readiness, health,
 * metrics). The escalation rules are edge_policy.h's pure functions.
 *
 * Threads: the state's config pointer, the config file and the outbox
 * handle belong to the loop thread; the recent table, the outbox and the
 * counters may be used from any thread (they lock); the rate limiter
 * locks rate_mu. A request copies the detector and preset it needs at
 * admission: a config swap never changes a request under way.
 */
#ifndef GLINT_SERVE_EDGE_IMPL_H
#define GLINT_SERVE_EDGE_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "serve/core/server_impl.h"
#include "serve/edge/edge.h"
#include "serve/edge/edge_config.h"
#include "serve/edge/edge_models.h"
#include "serve/edge/edge_outbox.h"
#include "serve/edge/edge_policy.h"
#include "serve/edge/edge_recent.h"

/* A rate-limit slot: the last escalation of one detector, process-wide. */
typedef struct rate_slot {
    char id[EDGE_ID_MAX];
    uint64_t last_ns;
} rate_slot;

typedef struct edge_state {
    server *srv;
    edge_config *cfg; /* the active config (loop thread swaps it) */
    char *config_path;
    struct stat config_st; /* of the file last read */
    uint64_t next_config_check;
    edge_recent *recent;
    edge_models *models;          /* the packages served as an upstream (loop thread) */
    struct edge_pull *pull;       /* the model updater */
    struct edge_samples *samples; /* query images kept for calibration */
    edge_outbox *outbox;          /* NULL until a state folder is needed */
    char started_at[40];
    pthread_mutex_t rate_mu;
    rate_slot *rates;
    int n_rates, cap_rates;
    int64_t cpu_prev[2]; /* /proc/stat busy, total at the last resources call */
    /* counters */
    metrics_counter iqs, confident, escalated_unconfident, escalated_audit, escalated_async,
        escalated_not_ready, rate_limited, duplicates, config_reloads, config_errors;
} edge_state;

/* The edge module's state (loop thread; NULL before its start). */
edge_state *edge_of(const server *s);

/* The model answering detector d (a new reference): its pulled version when
 * one serves (edge_pull.h), else its config's model; NULL if neither is
 * ready. Loop thread. */
repo_model *edge_detector_serving(server *s, const edge_detector *d);
/* The same for a client: when the config's model is a split (split.h), the
 * client's version (client NULL: the version with most weight). */
repo_model *edge_detector_serving_for(server *s, const edge_detector *d, const char *client,
                                      size_t clen);
/* The detector's out-of-domain model when it has one ready (a classifier; a
 * new reference), else NULL. Loop thread. */
repo_model *edge_detector_oodd(server *s, const edge_detector *d);
/* The detector's model for a client (NULL: none; see
 * edge_detector_serving_for), ready and fit for its mode (a reference), or
 * NULL with the reason. Loop thread. */
repo_model *edge_detector_model(edge_state *es, const edge_detector *d, const edge_preset *p,
                                const char *client, size_t clen, char *why, size_t size);
/* Decides a locally answered query by edge_policy_answered, asking the rate
 * limiter of detector `id` (min gap `gap_s`) when the answer hangs on it and
 * recording an escalation it lets through. Any thread. */
edge_decision edge_decide(edge_state *es, const char *id, double gap_s, edge_policy_input *in);
/* Checks a config against the repository; 0 or -1 with err. Loop thread. */
int edge_config_fits_repo(edge_state *es, const edge_config *c, char *err, size_t err_size);
/* Makes c the active config (takes the reference): opens the outbox it
 * needs, loads the models it names. Loop thread. */
void edge_install_config(edge_state *es, edge_config *c);
/* Writes the document to the config file (atomically), so that a restart
 * keeps what PUT said. Loop thread. */
void edge_persist_config(edge_state *es, const json_t *doc);
/* {detector id: {"ready": bool}} of the active config (a new reference). */
json_t *edge_readiness_json(edge_state *es);
/* 1 if every enabled detector with a model has it ready. */
int edge_all_ready(edge_state *es);
/* The system part of /status/resources.json (a new reference). */
json_t *edge_resources_json(edge_state *es);

/* Module functions (edge_service.c). */
int edge_service_start(server *s, void **state, char *err, size_t err_size);
void edge_service_tick(server *s, void *state);
void edge_service_stop(server *s, void *state);
json_t *edge_service_health(server *s, void *state);
void edge_service_metrics(server *s, void *state, strbuf *sb);

#endif
