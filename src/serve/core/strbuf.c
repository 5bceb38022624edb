/* strbuf: growable byte buffer with a hard size limit and sticky errors
 * (see strbuf.h). Capacity doubles from 64 bytes and never passes limit + 1
 * (the content plus its NUL terminator). */
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRBUF_MIN_CAP 64

static const char empty_string[1] = "";

void strbuf_init(strbuf *sb, size_t limit)
{
    sb->data = NULL;
    sb->len = 0;
    sb->cap = 0;
    sb->limit = limit > SIZE_MAX / 2 ? SIZE_MAX / 2 : limit;
    sb->status = SERVE_OK;
}

void strbuf_dispose(strbuf *sb)
{
    if (!sb) return;
    free(sb->data);
    strbuf_init(sb, sb->limit);
}

/* Records the first error and returns the sticky one. */
static serve_status fail(strbuf *sb, serve_status s)
{
    if (sb->status == SERVE_OK) sb->status = s;
    return sb->status;
}

/* Makes room for `extra` more content bytes plus the terminator. Needs
 * status OK. */
static serve_status reserve(strbuf *sb, size_t extra)
{
    if (extra > sb->limit - sb->len) return fail(sb, SERVE_ERR_LIMIT);
    size_t need = sb->len + extra + 1; /* <= limit + 1 <= SIZE_MAX / 2 + 1 */
    if (need <= sb->cap) return SERVE_OK;
    size_t cap = sb->cap < STRBUF_MIN_CAP ? STRBUF_MIN_CAP : sb->cap * 2;
    if (cap < need) cap = need;
    if (cap > sb->limit + 1) cap = sb->limit + 1;
    char *p = realloc(sb->data, cap);
    if (!p) return fail(sb, SERVE_ERR_NOMEM);
    sb->data = p;
    sb->cap = cap;
    return SERVE_OK;
}

serve_status strbuf_append(strbuf *sb, const void *data, size_t len)
{
    if (sb->status != SERVE_OK) return sb->status;
    if (len == 0) return SERVE_OK;
    if (!data) return fail(sb, SERVE_ERR_FORMAT);
    if (reserve(sb, len) != SERVE_OK) return sb->status;
    memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
    return SERVE_OK;
}

serve_status strbuf_append_str(strbuf *sb, const char *s)
{
    if (sb->status != SERVE_OK) return sb->status;
    if (!s) return fail(sb, SERVE_ERR_FORMAT);
    return strbuf_append(sb, s, strlen(s));
}

serve_status strbuf_vappendf(strbuf *sb, const char *fmt, va_list ap)
{
    if (sb->status != SERVE_OK) return sb->status;
    if (!fmt) return fail(sb, SERVE_ERR_FORMAT);
    /* Pass 1: into whatever room is already allocated. */
    size_t room = sb->cap > sb->len ? sb->cap - sb->len : 0;
    char scratch[1];
    char *dst = room ? sb->data + sb->len : scratch;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(dst, room ? room : sizeof scratch, fmt, ap2);
    va_end(ap2);
    if (n < 0) goto bad_format;
    if ((size_t)n < room) { /* cap <= limit + 1, so this is within the limit too */
        sb->len += (size_t)n;
        return SERVE_OK;
    }
    if (room) sb->data[sb->len] = '\0'; /* undo the truncated pass-1 text */
    /* Pass 2: grow to the exact size and format again. */
    if (reserve(sb, (size_t)n) != SERVE_OK) return sb->status;
    va_copy(ap2, ap);
    int n2 = vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (n2 != n) {
        sb->data[sb->len] = '\0';
        goto bad_format;
    }
    sb->len += (size_t)n;
    return SERVE_OK;
bad_format:
    return fail(sb, SERVE_ERR_FORMAT);
}

serve_status strbuf_appendf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    serve_status s = strbuf_vappendf(sb, fmt, ap);
    va_end(ap);
    return s;
}

void strbuf_reset(strbuf *sb)
{
    sb->len = 0;
    sb->status = SERVE_OK;
    if (sb->data) sb->data[0] = '\0';
}

char *strbuf_detach(strbuf *sb, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    if (sb->status != SERVE_OK) {
        free(sb->data);
    } else if (sb->data) {
        out = sb->data;
        n = sb->len;
    } else {
        out = malloc(1);
        if (out) out[0] = '\0';
    }
    if (len) *len = n;
    strbuf_init(sb, sb->limit);
    return out;
}

const char *strbuf_cstr(const strbuf *sb)
{
    return sb->data ? sb->data : empty_string;
}

size_t strbuf_len(const strbuf *sb)
{
    return sb->len;
}

serve_status strbuf_error(const strbuf *sb)
{
    return sb->status;
}
