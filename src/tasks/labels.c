/* Label storage: one block holding every name NUL-terminated, plus an array
 * of offsets into it. Created once, read-only afterwards. */
#include "tasks/labels.h"
#include "tasks/task_status_impl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct task_labels {
    int count;
    char **names; /* count pointers into text */
    char *text;   /* all names, each NUL-terminated */
};

void task_labels_destroy(task_labels *l)
{
    if (!l) return;
    free(l->names);
    free(l->text);
    free(l);
}

int task_labels_count(const task_labels *l)
{
    return l ? l->count : 0;
}

const char *task_labels_name(const task_labels *l, int id, char *buf, size_t size)
{
    if (l && id >= 0 && id < l->count && l->names[id][0] != '\0') return l->names[id];
    if (buf && size > 0) {
        snprintf(buf, size, "%d", id);
        return buf;
    }
    return "";
}

/* Allocates a labels object for `count` names over a `text_bytes` block. */
static task_status labels_alloc(int count, size_t text_bytes, task_labels **out)
{
    task_labels *l = calloc(1, sizeof *l);
    if (!l) goto fail;
    l->count = count;
    l->names = calloc(count > 0 ? (size_t)count : 1, sizeof *l->names);
    l->text = malloc(text_bytes > 0 ? text_bytes : 1);
    if (!l->names || !l->text) goto fail;
    *out = l;
    return TASK_OK;
fail:
    task_labels_destroy(l);
    return task_fail(TASK_ERR_NOMEM, "labels: out of memory for %d names", count);
}

task_status task_labels_create(const char *const *names, int count, task_labels **out)
{
    if (!out || (count > 0 && !names))
        return task_fail(TASK_ERR_INVALID, "task_labels_create: NULL argument");
    *out = NULL;
    if (count < 0 || count > TASK_LABELS_MAX_COUNT)
        return task_fail(TASK_ERR_INVALID, "task_labels_create: count %d outside 0..%d", count,
                         TASK_LABELS_MAX_COUNT);
    size_t bytes = 0;
    for (int i = 0; i < count; i++) {
        size_t len = names[i] ? strlen(names[i]) : 0;
        if (len > SIZE_MAX - bytes - 1)
            return task_fail(TASK_ERR_NOMEM, "task_labels_create: names too long");
        bytes += len + 1;
    }
    task_labels *l = NULL;
    task_status s = labels_alloc(count, bytes, &l);
    if (s != TASK_OK) return s;
    char *p = l->text;
    for (int i = 0; i < count; i++) {
        size_t len = names[i] ? strlen(names[i]) : 0;
        if (len > 0) memcpy(p, names[i], len);
        p[len] = '\0';
        l->names[i] = p;
        p += len + 1;
    }
    *out = l;
    return TASK_OK;
}

/* Reads all of `path` into a malloc'd, NUL-terminated buffer if it has at
 * most max_bytes bytes. The buffer grows by doubling, so a small file costs
 * little whatever the limit. */
static task_status read_file_bounded(const char *path, size_t max_bytes, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return task_fail(TASK_ERR_IO, "labels: cannot open %s: %s", path, strerror(errno));
    task_status s = TASK_OK;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap == 0 || n == cap - 1) {
            /* One byte beyond the limit tells an oversized file; one more
             * holds the terminating NUL. */
            size_t want = cap ? cap * 2 : 4096;
            if (want > max_bytes + 2) want = max_bytes + 2;
            char *grown = realloc(buf, want);
            if (!grown) {
                s = task_fail(TASK_ERR_NOMEM, "labels: out of memory reading %s", path);
                goto done;
            }
            buf = grown;
            cap = want;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (n > max_bytes) {
            s = task_fail(TASK_ERR_NOMEM, "labels: %s is larger than the limit of %zu bytes", path,
                          max_bytes);
            goto done;
        }
        if (got == 0 || n < cap - 1) break;
    }
    if (ferror(f)) {
        s = task_fail(TASK_ERR_IO, "labels: cannot read %s", path);
        goto done;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return s;
}

/* Splits text[0..len) in place into lines, trimming "\r", spaces and tabs at
 * line ends. Fills names (if not NULL) and returns the label count, or
 * limit + 1 as soon as there are more than `limit` lines. */
static int split_lines(char *text, size_t len, char **names, int limit)
{
    int count = 0;
    size_t start = 0;
    while (start < len) {
        if (count == limit) return limit + 1;
        char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t trim = end;
        while (trim > start &&
               (text[trim - 1] == '\r' || text[trim - 1] == ' ' || text[trim - 1] == '\t'))
            trim--;
        if (names) {
            text[trim] = '\0';
            names[count] = text + start;
        }
        count++;
        start = end + 1;
    }
    return count;
}

task_status task_labels_load_file(const char *path, size_t max_bytes, int max_lines,
                                  task_labels **out)
{
    if (!path || !out) return task_fail(TASK_ERR_INVALID, "task_labels_load_file: NULL argument");
    *out = NULL;
    if (max_bytes == 0) max_bytes = TASK_LABELS_DEFAULT_MAX_BYTES;
    if (max_lines <= 0 || max_lines > TASK_LABELS_MAX_COUNT)
        max_lines = max_lines <= 0 ? TASK_LABELS_DEFAULT_MAX_LINES : TASK_LABELS_MAX_COUNT;
    if (max_bytes >= SIZE_MAX / 2)
        return task_fail(TASK_ERR_INVALID, "task_labels_load_file: max_bytes too large");

    char *data = NULL;
    size_t len = 0;
    task_status s = read_file_bounded(path, max_bytes, &data, &len);
    if (s != TASK_OK) return s;
    task_labels *l = NULL;
    if (memchr(data, '\0', len)) {
        s = task_fail(TASK_ERR_PARSE, "labels: %s holds a NUL byte", path);
        goto fail;
    }
    size_t skip = (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    int count = split_lines(data + skip, len - skip, NULL, max_lines);
    if (count > max_lines) {
        s = task_fail(TASK_ERR_NOMEM, "labels: %s has more than %d lines", path, max_lines);
        goto fail;
    }
    l = calloc(1, sizeof *l);
    if (!l || !(l->names = calloc(count > 0 ? (size_t)count : 1, sizeof *l->names))) {
        s = task_fail(TASK_ERR_NOMEM, "labels: out of memory for %d names", count);
        goto fail;
    }
    /* The file buffer becomes the text block; names point into it. */
    split_lines(data + skip, len - skip, l->names, count);
    l->count = count;
    l->text = data;
    *out = l;
    return TASK_OK;
fail:
    task_labels_destroy(l);
    free(data);
    return s;
}
