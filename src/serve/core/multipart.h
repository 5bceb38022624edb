/* serve: multipart/form-data request bodies (RFC 7578 over RFC 2046), as
 * curl -F, browsers, Python requests and every HTTP client library send them.
 *
 * One call splits a complete body into its parts. Nothing is copied or
 * allocated: every span a part describes points into the caller's body (or,
 * for none of them, into the Content-Type value), so the body must outlive
 * the parts.
 *
 * Accepted syntax, strictly:
 *   - Content-Type "multipart/form-data" (case-insensitive) with a boundary
 *     parameter, token or quoted-string, 1..70 characters of RFC 2046's
 *     bchars (letters, digits, '()+_,-./:=? and inner spaces).
 *   - Lines end in CRLF. A bare LF is not a line end: "\n--boundary" inside
 *     a part is data, and a header line ended by a bare LF is an error. Every
 *     mainstream client sends CRLF; accepting LF would make binary data that
 *     happens to hold "\n--boundary" ambiguous.
 *   - A delimiter is CRLF "--" boundary (or "--" boundary at the very start
 *     of the body) followed by optional spaces/tabs and CRLF, or by "--" for
 *     the closing one. "\r\n--boundary" followed by anything else is part
 *     data (as Go's mime/multipart reads it). The preamble before the first
 *     delimiter and the epilogue after the closing one are ignored; the
 *     closing delimiter is required (a body without it was truncated).
 *   - Each part has 1..MULTIPART_MAX_HEADERS header lines of at most
 *     MULTIPART_MAX_HEADER_LINE bytes, then an empty line. Folded (continued)
 *     header lines are refused. Content-Disposition must be "form-data" with
 *     a name parameter; filename is optional; other parameters (filename*)
 *     are ignored. Content-Type is optional. Content-Transfer-Encoding, if
 *     present, must be 7bit, 8bit or binary (RFC 7578 deprecates the others;
 *     base64 would silently yield the wrong bytes). Other headers are ignored.
 *   - Quoted parameter values end at the first unescaped '"'; the span
 *     returned is the raw text between the quotes (a backslash escape stays
 *     as sent: browsers percent-encode instead and never produce one).
 *   - A body with no part at all ("--b--") is valid and yields 0 parts.
 *
 * Cost: linear in the body. Delimiters are found with memmem on
 * "\r\n--boundary"; such strings cannot overlap, so a hostile body costs at
 * most one extra boundary-length check per occurrence.
 *
 * Thread-safety: reentrant, no global state.
 */
#ifndef GLINT_SERVE_MULTIPART_H
#define GLINT_SERVE_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MULTIPART_MAX_BOUNDARY 70      /* RFC 2046 */
#define MULTIPART_MAX_HEADER_LINE 4096 /* bytes of one part header line, CRLF excluded */
#define MULTIPART_MAX_HEADERS 16       /* header lines per part */

/* One part. Spans are not NUL-terminated. */
typedef struct multipart_part {
    const char *name; /* Content-Disposition name, never NULL (may be empty) */
    size_t name_len;
    const char *filename; /* Content-Disposition filename, NULL if absent */
    size_t filename_len;
    const char *content_type; /* the part's Content-Type value, trimmed; NULL if absent */
    size_t content_type_len;
    const uint8_t *data; /* the part's body (the CRLF before the next delimiter excluded) */
    size_t size;
} multipart_part;

/* Parses `body` (len bytes) given the request's Content-Type header value
 * (ct_len bytes, not NUL-terminated; NULL when the request has none: refused
 * as not multipart). Fills parts[0..max_parts) in body
 * order and sets *n_parts.
 * Returns 0, or -1 with *n_parts = 0 and a one-line message in err (when
 * err is not NULL and err_size > 0; control characters from the input are
 * shown as '?') for: a NULL argument or max_parts < 1,
 * a Content-Type that is not multipart/form-data or lacks a valid boundary,
 * no opening or no closing delimiter, more than max_parts parts, a header
 * line over the bound or not ended by CRLF, too many headers, a header
 * without ':', a part without Content-Disposition form-data or without a
 * name, an unsupported Content-Transfer-Encoding. */
int multipart_parse(const char *content_type, size_t ct_len, const uint8_t *body, size_t len,
                    multipart_part *parts, int max_parts, int *n_parts, char *err, size_t err_size);

/* 1 if the part's name equals the NUL-terminated `name` exactly (bytes,
 * case-sensitive), else 0. */
int multipart_name_is(const multipart_part *p, const char *name);

/* Index of the first of parts[0..n) named `name`, or -1. */
int multipart_find(const multipart_part *parts, int n, const char *name);

#endif
