/* The durable outbox of escalations and the image queries glint must
 * remember across restarts, in one SQLite database (WAL) under the state
 * folder, with the thread that delivers escalations upstream.
 *
 * An escalation is committed (synchronous=FULL) before the caller is
 * answered. The delivery thread POSTs it to the upstream's
 * /device-api/v1/image-queries (want_async=True, image_query_id = the edge
 * id: the upstream's idempotency key) with up to EDGE_OUTBOX_PARALLEL
 * transfers at once (libcurl multi): a slow or failing item never holds
 * back the others. Failures are retried with exponential backoff and jitter
 * (1 s doubling to 5 min), 429 and 503 after their Retry-After; other 4xx
 * answers fail the item for good (kept, counted, logged: never dropped).
 * Once delivered, the upstream's answer is polled (0.25 s x 1.3, up to 30 s
 * apart, for an hour) until it is final, and saved as the image query's
 * state. Delivered items are pruned after the retention period; undelivered
 * ones never are. A crash or kill at any point loses nothing: a delivery
 * whose success was not yet recorded is sent again with the same id, and
 * the upstream deduplicates it.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef GLINT_SERVE_EDGE_OUTBOX_H
#define GLINT_SERVE_EDGE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "serve/edge/edge_recent.h"

#define EDGE_OUTBOX_PARALLEL 8

typedef struct edge_outbox edge_outbox;

/* One escalation. Everything is copied. */
typedef struct edge_escalation {
    const char *iq_id;
    const char *request_id;  /* the client's X-Request-Id or "" */
    const char *detector_id; /* as the upstream knows it */
    const char *query;       /* URL query string of the upstream POST */
    const char *token;       /* x-api-token for the upstream, or "" */
    const uint8_t *image;
    size_t image_len;
    const char *content_type;
    const char *iq_json;         /* the image query as answered to the client */
    double confidence_threshold; /* the upstream answer is final from here */
} edge_escalation;

/* Counters for /metrics. */
typedef struct edge_outbox_stats {
    int64_t pending;  /* committed, not yet delivered */
    int64_t awaiting; /* delivered, upstream answer not final yet */
    int64_t failed;   /* refused for good by the upstream (kept) */
    uint64_t committed, delivered, retries, failures, rejected_full, answers;
} edge_outbox_stats;

/* Opens (creating) dir/edge.db and starts the delivery thread. `recent`
 * (borrowed, may be NULL) is updated when an upstream answer arrives.
 * Items left pending by a previous run are due at once. NULL with err. */
edge_outbox *edge_outbox_open(const char *dir, edge_recent *recent, char *err, size_t err_size);

/* Stops the delivery thread (transfers in flight are abandoned: they stay
 * pending) and closes the database. NULL is fine. */
void edge_outbox_close(edge_outbox *o);

/* Where escalations go: base URL ("" = nowhere: items wait), default
 * token, bound of pending items, retention of delivered ones. */
void edge_outbox_configure(edge_outbox *o, const char *upstream, const char *token, int max_pending,
                           double retention_s);

#include "serve/core/status.h" /* SERVE_OK, SERVE_ERR_FULL (at the bound), SERVE_ERR_IO */

/* Commits escalation e durably and wakes the delivery thread. FULL when
 * max_pending items wait already; ERROR with a message on a database
 * failure. An item with the same iq_id already held is left as is (OK). */
serve_status edge_outbox_add(edge_outbox *o, const edge_escalation *e, char *err, size_t err_size);

/* Saves the image query `id` (answered to request_id) durably: the ones a
 * client named (image_query_id), so that a repeat is recognised after a
 * restart. 0 or -1 with err. */
int edge_outbox_remember(edge_outbox *o, const char *id, const char *request_id,
                         const char *iq_json, char *err, size_t err_size);

/* The stored JSON of image query `id` (or of the one answered to
 * request_id), malloc'ed, or NULL if the database holds none. */
char *edge_outbox_lookup(edge_outbox *o, const char *id);
char *edge_outbox_lookup_request(edge_outbox *o, const char *request_id);

void edge_outbox_stats_read(edge_outbox *o, edge_outbox_stats *s);

#endif
