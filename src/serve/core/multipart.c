/* serve: multipart/form-data body parser; see multipart.h for the accepted
 * syntax. Zero-copy: parts are spans into the caller's body. */
#include "serve/core/multipart.h"
#include "serve/core/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A byte span, not NUL-terminated. */
typedef struct span {
    const char *p;
    size_t n;
} span;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* 1 if s equals the NUL-terminated `lit` ignoring ASCII case. */
static int span_ieq(span s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i])) return 0;
    return 1;
}

static span trim(const char *p, size_t n)
{
    while (n > 0 && is_ows(*p))
        p++, n--;
    while (n > 0 && is_ows(p[n - 1]))
        n--;
    return (span){p, n};
}

/* RFC 2046 bchars (space allowed, but not last). */
static int is_bchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

/* ---- header parameters: `; name=value` lists ---- */

/* Reads the next `; name=value` of [*s, end) into name and value (the raw
 * text between the quotes of a quoted-string, escapes left in place).
 * Returns 1 with *s past it, 0 at the end of the list, -1 on bad syntax.
 * An empty element (";;" or a trailing ';') is skipped. */
static int next_param(const char **s, const char *end, span *name, span *value)
{
    const char *p = *s;
    for (;;) {
        while (p < end && is_ows(*p))
            p++;
        if (p == end) return 0;
        if (*p != ';') return -1;
        p++;
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ';') break;
        if (p == end) return 0;
    }
    const char *n0 = p;
    while (p < end && *p != '=' && *p != ';' && !is_ows(*p))
        p++;
    if (p == n0) return -1;
    *name = (span){n0, (size_t)(p - n0)};
    while (p < end && is_ows(*p))
        p++;
    if (p == end || *p != '=') return -1;
    p++;
    while (p < end && is_ows(*p))
        p++;
    if (p < end && *p == '"') {
        const char *v0 = ++p;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) p++;
            p++;
        }
        if (p == end) return -1; /* unterminated quoted-string */
        *value = (span){v0, (size_t)(p - v0)};
        p++;
    } else {
        const char *v0 = p;
        while (p < end && *p != ';' && *p != '"' && !is_ows(*p))
            p++;
        if (p == v0) return -1;
        *value = (span){v0, (size_t)(p - v0)};
    }
    *s = p;
    return 1;
}

/* Reads the media type at the start of [*s, end): the text up to ';' or
 * whitespace. */
static span media_type(const char **s, const char *end)
{
    const char *p = *s;
    while (p < end && is_ows(*p))
        p++;
    const char *t0 = p;
    while (p < end && *p != ';' && !is_ows(*p))
        p++;
    *s = p;
    return (span){t0, (size_t)(p - t0)};
}

/* Extracts and validates the boundary of a multipart/form-data Content-Type
 * into buf (unescaped, NUL-terminated); *blen receives its length. */
static int parse_boundary(const char *ct, size_t ct_len, char buf[MULTIPART_MAX_BOUNDARY + 1],
                          size_t *blen, char *err, size_t err_size)
{
    const char *s = ct ? ct : "", *end = s + ct_len;
    if (!span_ieq(media_type(&s, end), "multipart/form-data"))
        return errmsg_set(err, err_size, "Content-Type is not multipart/form-data");
    span name, value, boundary = {NULL, 0};
    int r;
    while ((r = next_param(&s, end, &name, &value)) == 1) {
        if (!span_ieq(name, "boundary")) continue;
        if (boundary.p)
            return errmsg_set(err, err_size, "Content-Type has two boundary parameters");
        boundary = value;
    }
    if (r < 0) return errmsg_set(err, err_size, "malformed Content-Type parameters");
    if (!boundary.p) return errmsg_set(err, err_size, "Content-Type has no boundary parameter");

    size_t n = 0;
    for (size_t i = 0; i < boundary.n; i++) {
        char c = boundary.p[i];
        if (c == '\\' && i + 1 < boundary.n) c = boundary.p[++i];
        if (n == MULTIPART_MAX_BOUNDARY)
            return errmsg_set(err, err_size, "multipart boundary is longer than %d characters",
                              MULTIPART_MAX_BOUNDARY);
        if (!is_bchar(c))
            return errmsg_set(err, err_size, "multipart boundary has an invalid character (0x%02x)",
                              (unsigned char)c);
        buf[n++] = c;
    }
    if (n == 0) return errmsg_set(err, err_size, "multipart boundary is empty");
    if (buf[n - 1] == ' ') return errmsg_set(err, err_size, "multipart boundary ends with a space");
    buf[n] = '\0';
    *blen = n;
    return 0;
}

/* ---- delimiters ---- */

typedef enum delim_kind { DELIM_NONE, DELIM_PART, DELIM_CLOSE } delim_kind;

/* Classifies what follows a boundary at body[q]: "--" (closing), or
 * spaces/tabs then CRLF (a part follows: *next is the byte after the CRLF).
 * Anything else means the boundary string was part data. */
static delim_kind after_boundary(const uint8_t *body, size_t len, size_t q, size_t *next)
{
    if (len - q >= 2 && body[q] == '-' && body[q + 1] == '-') {
        *next = q + 2;
        return DELIM_CLOSE;
    }
    while (q < len && is_ows((char)body[q]))
        q++;
    if (len - q >= 2 && body[q] == '\r' && body[q + 1] == '\n') {
        *next = q + 2;
        return DELIM_PART;
    }
    return DELIM_NONE;
}

/* Finds the first delimiter "\r\n--boundary" (delim, dlen bytes) in
 * body[from, len) that is followed by a valid ending. *start receives where
 * it begins (the end of the preceding part's data), *next where the next
 * part's headers begin. The delimiter cannot overlap itself (CR appears in
 * it only at offset 0), so resuming after a false match is linear. */
static delim_kind find_delim(const uint8_t *body, size_t len, size_t from, const char *delim,
                             size_t dlen, size_t *start, size_t *next)
{
    while (from < len) {
        const uint8_t *hit = memmem(body + from, len - from, delim, dlen);
        if (!hit) return DELIM_NONE;
        size_t p = (size_t)(hit - body);
        delim_kind k = after_boundary(body, len, p + dlen, next);
        if (k != DELIM_NONE) {
            *start = p;
            return k;
        }
        from = p + dlen;
    }
    return DELIM_NONE;
}

/* ---- part headers ---- */

static int parse_disposition(span v, multipart_part *part, int idx, char *err, size_t err_size)
{
    const char *s = v.p, *end = v.p + v.n;
    if (!span_ieq(media_type(&s, end), "form-data"))
        return errmsg_set(err, err_size, "part %d: Content-Disposition is not form-data", idx);
    span name, value;
    int r, have_name = 0;
    while ((r = next_param(&s, end, &name, &value)) == 1) {
        if (span_ieq(name, "name")) {
            if (have_name) return errmsg_set(err, err_size, "part %d: two name parameters", idx);
            have_name = 1;
            part->name = value.p;
            part->name_len = value.n;
        } else if (span_ieq(name, "filename")) {
            if (part->filename)
                return errmsg_set(err, err_size, "part %d: two filename parameters", idx);
            part->filename = value.p;
            part->filename_len = value.n;
        }
    }
    if (r < 0) return errmsg_set(err, err_size, "part %d: malformed Content-Disposition", idx);
    if (!have_name)
        return errmsg_set(err, err_size, "part %d: Content-Disposition has no name", idx);
    return 0;
}

/* Handles one header line (CRLF excluded, not empty). */
static int parse_header_line(span line, multipart_part *part, int *have_disp, int idx, char *err,
                             size_t err_size)
{
    if (is_ows(line.p[0]))
        return errmsg_set(err, err_size, "part %d: folded header lines are not supported", idx);
    const char *colon = memchr(line.p, ':', line.n);
    if (!colon) return errmsg_set(err, err_size, "part %d: header line without ':'", idx);
    span hname = trim(line.p, (size_t)(colon - line.p));
    span value = trim(colon + 1, line.n - (size_t)(colon + 1 - line.p));
    if (span_ieq(hname, "Content-Disposition")) {
        if (*have_disp)
            return errmsg_set(err, err_size, "part %d: two Content-Disposition headers", idx);
        *have_disp = 1;
        return parse_disposition(value, part, idx, err, err_size);
    }
    if (span_ieq(hname, "Content-Type")) {
        if (part->content_type)
            return errmsg_set(err, err_size, "part %d: two Content-Type headers", idx);
        part->content_type = value.p;
        part->content_type_len = value.n;
        return 0;
    }
    if (span_ieq(hname, "Content-Transfer-Encoding")) {
        if (!span_ieq(value, "binary") && !span_ieq(value, "8bit") && !span_ieq(value, "7bit"))
            return errmsg_set(err, err_size,
                              "part %d: Content-Transfer-Encoding %.*s is not supported", idx,
                              (int)(value.n > 32 ? 32 : value.n), value.p);
    }
    return 0;
}

/* Parses the headers of part `idx` (1-based) starting at body[*pos]; on
 * success *pos is the first byte of the part's data. */
static int parse_headers(const uint8_t *body, size_t len, size_t *pos, multipart_part *part,
                         int idx, char *err, size_t err_size)
{
    size_t p = *pos;
    int n_headers = 0, have_disp = 0;
    memset(part, 0, sizeof *part);
    for (;;) {
        size_t avail = len - p, window = MULTIPART_MAX_HEADER_LINE + 2;
        const uint8_t *nl = memchr(body + p, '\n', avail < window ? avail : window);
        if (!nl) {
            if (avail < window) return errmsg_set(err, err_size, "part %d: truncated headers", idx);
            return errmsg_set(err, err_size, "part %d: header line longer than %d bytes", idx,
                              MULTIPART_MAX_HEADER_LINE);
        }
        size_t e = (size_t)(nl - body);
        if (e == p || body[e - 1] != '\r')
            return errmsg_set(err, err_size, "part %d: header line not ended by CRLF", idx);
        span line = {(const char *)body + p, e - 1 - p};
        p = e + 1;
        if (line.n == 0) break;
        if (++n_headers > MULTIPART_MAX_HEADERS)
            return errmsg_set(err, err_size, "part %d: more than %d header lines", idx,
                              MULTIPART_MAX_HEADERS);
        if (parse_header_line(line, part, &have_disp, idx, err, err_size) < 0) return -1;
    }
    if (!have_disp)
        return errmsg_set(err, err_size, "part %d: no Content-Disposition: form-data header", idx);
    *pos = p;
    return 0;
}

/* ---- entry points ---- */

int multipart_parse(const char *content_type, size_t ct_len, const uint8_t *body, size_t len,
                    multipart_part *parts, int max_parts, int *n_parts, char *err, size_t err_size)
{
    if (n_parts) *n_parts = 0;
    if ((!body && len > 0) || !parts || max_parts < 1 || !n_parts)
        return errmsg_set(err, err_size, "multipart_parse: bad arguments");
    if (!content_type) ct_len = 0; /* no header: refused as not multipart below */

    char delim[4 + MULTIPART_MAX_BOUNDARY + 1] = "\r\n--";
    size_t blen = 0;
    if (parse_boundary(content_type, ct_len, delim + 4, &blen, err, err_size) < 0) return -1;
    size_t dlen = 4 + blen;

    /* The opening delimiter: "--boundary" at offset 0, or after a preamble. */
    size_t start, next;
    delim_kind k = DELIM_NONE;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
        k = after_boundary(body, len, dlen - 2, &next);
    if (k == DELIM_NONE) k = find_delim(body, len, 0, delim, dlen, &start, &next);
    if (k == DELIM_NONE) return errmsg_set(err, err_size, "multipart body has no opening boundary");

    int n = 0;
    while (k == DELIM_PART) {
        if (n == max_parts)
            return errmsg_set(err, err_size, "multipart body has more than %d parts", max_parts);
        multipart_part *part = &parts[n];
        size_t data = next;
        if (parse_headers(body, len, &data, part, n + 1, err, err_size) < 0) return -1;
        k = find_delim(body, len, data, delim, dlen, &start, &next);
        if (k == DELIM_NONE)
            return errmsg_set(err, err_size, "part %d: no closing boundary (truncated body?)",
                              n + 1);
        part->data = body + data;
        part->size = start - data;
        n++;
    }
    *n_parts = n;
    return 0;
}

int multipart_name_is(const multipart_part *p, const char *name)
{
    size_t n = strlen(name);
    return p->name_len == n && memcmp(p->name, name, n) == 0;
}

int multipart_find(const multipart_part *parts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (multipart_name_is(&parts[i], name)) return i;
    return -1;
}
