/* The model updater of the edge endpoint: for every detector of a config
 * with an upstream, every refresh_rate seconds, ask the upstream which model
 * it serves (GET {upstream}/edge-api/v1/fetch-model-urls/{detector}/), and
 * when its model_binary_id is new, download the binary, add it to the
 * detector's version store (model/store.h) in the state folder, load and
 * warm it beside the version serving, and swap it in:
 *
 *   STATE/models/<detector>/versions/<n>/   the versions (two kept)
 *   STATE/models/<detector>/download.part   a download under way (+ .id:
 *                                           whose it is, for Range resume)
 *
 * A pulled version is served as the repository model named after the
 * detector (repo_add: /v2/models/<detector>, /health, metrics); the detector
 * answers with it from then on, and with its config's `model:` until then.
 * The out-of-domain model (the oodd_* fields) is pulled the same way as the
 * model <detector>-oodd, and replaces its config's `oodd_model:`. A folder
 * of the repository whose model.yaml names a `source:` URL is followed the
 * same way too (a conditional GET with its last ETag; edge_pull_sources).
 * At start the newest stored version serves at once (offline: it serves
 * forever). A failure at any step leaves the version serving as it was; it
 * is logged, counted by reason (glint_model_update_failures_total), shown in
 * /health and retried with backoff (refresh_rate doubling to 32x).
 *
 * Threads: one updater thread does all the network and loading work; the
 * loop thread configures it, installs what it loaded (edge_pull_tick) and
 * reads its status. Only the configured upstream and the binary URL it names
 * (http or https) are contacted.
 */
#ifndef GLINT_SERVE_EDGE_PULL_H
#define GLINT_SERVE_EDGE_PULL_H

#include <jansson.h>

#include "serve/core/server_impl.h"
#include "serve/edge/edge_config.h"
#include "serve/edge/edge_samples.h"

#define EDGE_OODD_SUFFIX "-oodd" /* the repository name of a pulled OODD model */

typedef struct edge_pull edge_pull;

/* Starts the updater thread; versions live under state_dir/models; a new
 * version must answer the recent query images `samples` keeps. NULL with
 * err. Loop thread. */
edge_pull *edge_pull_start(server *s, const char *state_dir, edge_samples *samples, char *err,
                           size_t err_size);
/* The detectors of c are the ones kept up to date (all of them when c has an
 * upstream; only their stored versions otherwise). Loop thread. */
void edge_pull_configure(edge_pull *p, const edge_config *c);
/* Asks for detector id to return to the version before the one serving (the
 * updater loads it, swaps it in, removes the one rolled back from and does
 * not pull its id again until the upstream names another). 0 and the
 * versions *from -> *to; or 404 (no such detector, no pulled version) or 409
 * (none stored before it, a change under way) with err. Loop thread. */
int edge_pull_rollback(edge_pull *p, const char *id, int *from, int *to, char *err,
                       size_t err_size);
/* Follows the `source:` of every repository folder that names one (start-up,
 * after the repository scan). Loop thread. */
void edge_pull_sources(edge_pull *p);
/* 1 while detector (or <detector>-oodd) id has a stored version that is not
 * serving yet (start-up): readiness waits for it. Loop thread. */
int edge_pull_waiting(edge_pull *p, const char *id);
/* Installs the versions the thread has loaded (loop thread, every turn). */
void edge_pull_tick(edge_pull *p);
/* Stops the thread (a download under way is abandoned, to resume later). */
void edge_pull_stop(edge_pull *p);
/* {detector: {version, model_binary_id, state, ...}} (a new reference). */
json_t *edge_pull_health(edge_pull *p);
/* glint_model_updates_total, glint_model_update_failures_total{detector,reason}. */
void edge_pull_metrics(edge_pull *p, strbuf *sb);

#endif
