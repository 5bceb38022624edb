/* A bounded sample of the recent query images of the detectors that
 * calibrate from their traffic (`calibrate_from_traffic: true`), kept on
 * disk for the model updater (edge_pull.h): when a new float version
 * arrives, glint quantize calibrates int8 on part of the sample and judges
 * it on the rest.
 *
 *   STATE/samples/<detector>/<unix ms>-<n>.<jpg|png>
 *
 * At most one image per `calibration_sample_interval_s` per detector is
 * kept; it is decoded first (a broken image is never kept), written under a
 * temporary name and renamed. The oldest go when a detector holds more than
 * `calibration_samples` images or `calibration_max_bytes`, or when they are
 * older than `calibration_retention_s`. Off by default: nothing is written
 * for a detector that does not ask for it.
 *
 * Apart from that, for every detector, the last EDGE_RECENT_IMAGES query
 * bodies (at most one a second, each at most EDGE_RECENT_MAX_BYTES) are kept
 * in memory: a new model version must answer them before it serves.
 *
 * Threads: offers come from the loop; writing and pruning run on the
 * server's workers; the recent images are read by the model updater (they
 * lock).
 */
#ifndef GLINT_SERVE_EDGE_SAMPLES_H
#define GLINT_SERVE_EDGE_SAMPLES_H

#include <stddef.h>

#include "serve/core/server_impl.h"
#include "serve/edge/edge_config.h"

#define EDGE_RECENT_IMAGES 4
#define EDGE_RECENT_MAX_BYTES ((size_t)8 << 20)

typedef struct edge_samples edge_samples;

/* A copy of a recent query body (free data with free()). */
typedef struct edge_image {
    unsigned char *data;
    size_t len;
} edge_image;

edge_samples *edge_samples_create(server *s, const char *state_dir);
void edge_samples_destroy(edge_samples *es);
/* The limits of c (loop thread). */
void edge_samples_configure(edge_samples *es, const edge_config *c);
/* An image query for detector d with this body: kept if d calibrates from
 * its traffic and its interval has passed (loop thread). */
void edge_samples_offer(edge_samples *es, const edge_detector *d, const void *body, size_t len);
/* Copies of the recent query images of detector id into out[0..n) (n <=
 * EDGE_RECENT_IMAGES, newest first); the count. Any thread. */
int edge_samples_recent(edge_samples *es, const char *id, edge_image *out);
/* The folder of detector id's sample into buf (0, or -1 if it does not fit). */
int edge_samples_dir(const edge_samples *es, const char *id, char *buf, size_t size);
/* The images in a sample folder (0 if none). Any thread. */
int edge_samples_count(const char *dir);

#endif
