/* libFuzzer target for model_conf_parse_names, the hand-written parser of
 * Ultralytics' `names` metadata (a Python dict or list literal read from a
 * user's .onnx). The input bytes, cut at the first NUL as the metadata
 * string is, are the literal. Checks, beyond "no crash, no leak, bounded
 * time": a refusal says why and returns no labels; accepted labels number
 * at most TASK_LABELS_MAX_COUNT, and written back as a Python dict (each
 * stored name quoted with \\ and ' escaped) they parse again to the same
 * names.
 * Seeds: fuzz/corpus/model_names/ (the committed exports' metadata and
 * Python reprs with escapes).
 *
 *   build-fuzz/fuzz_model_names -max_len=65536 work/ fuzz/corpus/model_names
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_conf.h"
#include "tasks/labels.h"

/* The names of l as a Python dict literal (malloc'ed), ids whose name is
 * empty left out (they fall back to the number either way). */
static char *to_dict(const task_labels *l)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s) abort();
    s[len++] = '{';
    int n = task_labels_count(l);
    for (int id = 0; id < n; id++) {
        char buf[TASK_LABELS_NUM_BUF];
        const char *name = task_labels_name(l, id, buf, sizeof buf);
        if (name == buf) continue; /* no stored name */
        size_t need = len + 2 * strlen(name) + 32;
        if (need > cap) {
            cap = need * 2;
            if (!(s = realloc(s, cap))) abort();
        }
        len += (size_t)snprintf(s + len, cap - len, "%d: '", id);
        for (const char *p = name; *p; p++) {
            if (*p == '\\' || *p == '\'') s[len++] = '\\';
            s[len++] = *p;
        }
        s[len++] = '\'';
        s[len++] = ',';
    }
    s[len++] = '}';
    s[len] = 0;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    task_labels *l = (task_labels *)1;
    char err[256] = "";
    int rc = model_conf_parse_names(text, &l, err, sizeof err);
    free(text);
    if (rc) {
        if (rc != -1 || l || !err[0]) abort();
        return 0;
    }
    int n = task_labels_count(l);
    if (!l || n < 0 || n > TASK_LABELS_MAX_COUNT) abort();
    char *again = to_dict(l);
    task_labels *l2 = NULL;
    if (model_conf_parse_names(again, &l2, err, sizeof err)) abort();
    int n2 = task_labels_count(l2);
    if (n2 > n) abort();
    for (int id = 0; id < n; id++) {
        char b1[TASK_LABELS_NUM_BUF], b2[TASK_LABELS_NUM_BUF];
        if (strcmp(task_labels_name(l, id, b1, sizeof b1), task_labels_name(l2, id, b2, sizeof b2)))
            abort();
    }
    free(again);
    task_labels_destroy(l2);
    task_labels_destroy(l);
    return 0;
}
