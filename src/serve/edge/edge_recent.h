/* The image queries answered lately, in memory: what GET
 * /device-api/v1/image-queries/{id} and X-Request-Id deduplication read
 * first. A ring of `capacity` entries (the oldest is forgotten; the durable
 * ones are also in the outbox database), indexed by image query id and by
 * request id.
 *
 * Thread-safety: every call locks the table's mutex; any thread.
 */
#ifndef GLINT_SERVE_EDGE_RECENT_H
#define GLINT_SERVE_EDGE_RECENT_H

#include <stddef.h>

typedef struct edge_recent edge_recent;

/* NULL if out of memory. Destroy with edge_recent_destroy (NULL is fine). */
edge_recent *edge_recent_create(int capacity);
void edge_recent_destroy(edge_recent *t);

/* Stores (or replaces) the ImageQuery JSON text `json` of image query `id`,
 * answered to request `request_id` (may be NULL or ""). Copies everything.
 * 0, or -1 if out of memory. */
int edge_recent_put(edge_recent *t, const char *id, const char *request_id, const char *json);

/* Replaces the JSON of `id` if it is held; 1 if it was, 0 if not. */
int edge_recent_update(edge_recent *t, const char *id, const char *json);

/* A malloc'ed copy of the JSON of image query `id` (or of the query that
 * answered request `request_id` for _by_request), or NULL if not held. */
char *edge_recent_get(edge_recent *t, const char *id);
char *edge_recent_get_by_request(edge_recent *t, const char *request_id);

#endif
