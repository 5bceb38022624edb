/* libFuzzer target for src/serve/multipart: the input is a Content-Type
 * value, a newline, then the body. Checks, beyond "no crash": a failure
 * says why and reports no parts; on success every span lies inside the
 * body (or the Content-Type for none), parts come in body order without
 * overlapping, and a smaller max_parts either gives the same first parts or
 * fails with the part-count message.
 * Seeds: fuzz/corpus/multipart/.
 *
 *   scripts/fuzz.sh build-fuzz 600
 *   build-fuzz/fuzz_multipart -max_len=100000 work/ fuzz/corpus/multipart
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "serve/core/multipart.h"

#define MAX_PARTS 16

static int inside(const void *p, size_t n, const uint8_t *base, size_t len)
{
    const uint8_t *q = p;
    return q >= base && q <= base + len && n <= (size_t)(base + len - q);
}

static void check_parts(const multipart_part *parts, int n, const uint8_t *body, size_t len)
{
    const uint8_t *prev_end = body;
    for (int i = 0; i < n; i++) {
        const multipart_part *p = &parts[i];
        if (!p->name || !inside(p->name, p->name_len, body, len)) __builtin_trap();
        if (p->filename && !inside(p->filename, p->filename_len, body, len)) __builtin_trap();
        if (p->content_type && !inside(p->content_type, p->content_type_len, body, len))
            __builtin_trap();
        if (!inside(p->data, p->size, body, len) || p->data < prev_end) __builtin_trap();
        /* the headers (holding the name) precede the data */
        if ((const uint8_t *)p->name >= p->data) __builtin_trap();
        prev_end = p->data + p->size;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
    if (!nl) return 0;
    const char *ct = (const char *)data;
    size_t ct_len = (size_t)(nl - data);
    const uint8_t *body = nl + 1;
    size_t len = size - ct_len - 1;

    multipart_part parts[MAX_PARTS], few[2];
    int n = -1, n2 = -1;
    char err[160];
    err[0] = '\0';
    if (multipart_parse(ct, ct_len, body, len, parts, MAX_PARTS, &n, err, sizeof err) != 0) {
        if (err[0] == '\0' || n != 0) __builtin_trap();
        return 0;
    }
    if (n < 0 || n > MAX_PARTS) __builtin_trap();
    check_parts(parts, n, body, len);

    int rc = multipart_parse(ct, ct_len, body, len, few, 2, &n2, err, sizeof err);
    if (n <= 2) {
        if (rc != 0 || n2 != n || memcmp(few, parts, (size_t)n * sizeof *parts) != 0)
            __builtin_trap();
    } else if (rc != -1 || n2 != 0 || !strstr(err, "more than 2 parts")) {
        __builtin_trap();
    }
    for (int i = 0; i < n; i++)
        if (multipart_find(parts, n, "image") == i && !multipart_name_is(&parts[i], "image"))
            __builtin_trap();
    return 0;
}
