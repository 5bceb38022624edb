/* strbuf: a growable byte buffer with a hard size limit (after curl's
 * dynbuf, docs/internals/DYNBUF.md).
 *
 * Every buffer is created with a limit on its content length; an append that
 * would pass it fails instead of growing. Errors are sticky: after the first
 * failed append (limit, out of memory, bad format) the buffer keeps the
 * content it had before that append, remembers the error, and every later
 * append is a no-op returning the same error. A writer can therefore append
 * freely and check strbuf_error() once at the end:
 *
 *     strbuf sb;
 *     strbuf_init(&sb, 1 << 20);
 *     strbuf_append_str(&sb, "{\"n\": ");
 *     strbuf_appendf(&sb, "%d}", n);
 *     if (strbuf_error(&sb) != SERVE_OK) ...   // one check
 *     size_t len;
 *     char *body = strbuf_detach(&sb, &len);    // caller free()s body
 *     strbuf_dispose(&sb);
 *
 * The content is always NUL-terminated (the terminator is not counted in the
 * length nor in the limit), so text can be read with strbuf_cstr(); binary
 * content may hold NUL bytes of its own.
 *
 * Thread-safety: a strbuf is used by one thread at a time; distinct buffers
 * are independent. Nothing here keeps global state.
 */
#ifndef GLINT_SERVE_STRBUF_H
#define GLINT_SERVE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "serve/core/status.h"

/* The fields are private: use the functions below. The struct is public only
 * so that a buffer can live on the stack or inside another struct. */
typedef struct strbuf {
    char *data;          /* NULL until the first byte is appended */
    size_t len;          /* content bytes */
    size_t cap;          /* bytes allocated at data (content + NUL) */
    size_t limit;        /* most content bytes allowed */
    serve_status status; /* sticky */
} strbuf;

/* Makes an empty buffer that will hold at most `limit` content bytes (a limit
 * above SIZE_MAX / 2 is taken as SIZE_MAX / 2). Allocates nothing. */
void strbuf_init(strbuf *sb, size_t limit);

/* Frees the content; the buffer is left empty, error cleared, same limit,
 * ready for reuse. Accepts NULL. */
void strbuf_dispose(strbuf *sb);

/* Appends `len` bytes (data may be NULL when len is 0; it must not point
 * into this buffer, which may move). Returns SERVE_OK or the buffer's (now
 * sticky) error; on error the content is unchanged. */
serve_status strbuf_append(strbuf *sb, const void *data, size_t len);

/* Appends a NUL-terminated string without its terminator. */
serve_status strbuf_append_str(strbuf *sb, const char *s);

/* Appends printf-formatted text (two passes of vsnprintf: the first into the
 * room already allocated, a second after growing if it did not fit). */
serve_status strbuf_appendf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
serve_status strbuf_vappendf(strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Empties the buffer and clears its error, keeping the allocation for reuse. */
void strbuf_reset(strbuf *sb);

/* Hands the content to the caller without copying it: returns the malloc'ed,
 * NUL-terminated bytes (the caller free()s them) and their length in *len
 * (len may be NULL). An empty
 * buffer gives a malloc'ed "". Returns NULL, freeing the content, if the
 * buffer has an error (the content is incomplete) or if allocating the empty
 * string fails. Either way the buffer is left empty, error cleared, limit
 * kept. */
char *strbuf_detach(strbuf *sb, size_t *len);

/* The content, NUL-terminated; "" when empty. Valid until the next call that
 * changes the buffer. */
const char *strbuf_cstr(const strbuf *sb);

/* Content length in bytes. */
size_t strbuf_len(const strbuf *sb);

/* SERVE_OK, or the first error any append met since init/reset/detach. */
serve_status strbuf_error(const strbuf *sb);

#endif
