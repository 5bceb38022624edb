/* Request bytes for glint bench: every request the load generator sends is
 * built once, before the run, as one contiguous buffer (request line,
 * headers, body) so that sending it is one write.
 *
 * Bodies come from a file, from every regular file of a folder (sorted by
 * name, used round-robin), or from an inline string; each is sent raw with a
 * Content-Type taken from the file extension (or --content-type), or as one
 * multipart/form-data field. Limits: PAYLOAD_MAX_FILES files,
 * PAYLOAD_MAX_FILE_BYTES per file, PAYLOAD_MAX_TOTAL_BYTES in all,
 * PAYLOAD_MAX_HEADERS extra headers.
 * Thread-safety: built by one thread; afterwards read-only and shared.
 */
#ifndef GLINT_BENCH_PAYLOAD_H
#define GLINT_BENCH_PAYLOAD_H

#include <stddef.h>

#include "bench/bench_status.h"
#include "bench/httpc.h"

#define PAYLOAD_MAX_FILES 10000
#define PAYLOAD_MAX_FILE_BYTES (64u << 20)
#define PAYLOAD_MAX_TOTAL_BYTES (1024ull << 20)
#define PAYLOAD_MAX_HEADERS 64
#define PAYLOAD_MAX_HEADER_LEN 4096

typedef struct payload_spec {
    const char *method;                       /* NULL: GET without a body, POST with one */
    const char *body_path;                    /* a file or a folder, or NULL */
    const char *data;                         /* inline body, or NULL (not with body_path) */
    const char *multipart;                    /* field name: send as multipart/form-data, or NULL */
    const char *content_type;                 /* overrides the type from the extension, or NULL */
    const char *headers[PAYLOAD_MAX_HEADERS]; /* "Name: value" */
    int nheaders;
} payload_spec;

/* One ready-to-send request. */
typedef struct payload_req {
    char *bytes; /* owned by the payload_set */
    size_t len;
    size_t body_len;
    char name[64]; /* file base name (cut to 63 bytes), or "" */
} payload_req;

typedef struct payload_set {
    payload_req *reqs;
    int n;
    int head; /* method is HEAD: responses carry no body */
    char method[32];
} payload_set;

/* Builds the requests for url from spec into *out (free with
 * payload_set_dispose). Errors: BENCH_ERR_INVALID (bad header or method,
 * body and data together, an empty folder), BENCH_ERR_IO (unreadable
 * file/folder), BENCH_ERR_NOMEM (over a limit above). */
bench_status payload_set_build(const payload_spec *spec, const httpc_url *url, payload_set *out);
/* Accepts a zeroed or already disposed set. */
void payload_set_dispose(payload_set *set);

/* Content-Type for a file name by its extension ("x.jpg" -> "image/jpeg");
 * "application/octet-stream" when unknown. Never NULL. */
const char *payload_content_type(const char *name);

#endif
