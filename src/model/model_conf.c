/* Model configuration: model.yaml (libyaml document API) plus the defaults a
 * plain Ultralytics / torchvision export implies. See model_conf.h. */
#include "model/model_conf.h"
#include "model/fileio.h"
#include "tasks/classify.h"
#include "tasks/task_status.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PATH_MAX_LEN 4096
#define MAX_NAME_ID (TASK_LABELS_MAX_COUNT - 1)
#define MAX_RESIZE_SHORT (4 * VISION_MAX_SIDE)
#define DEFAULT_TOP_K 5
#define YAML_MAX_DEPTH 32 /* nesting of model.yaml's collections, the root mapping included */

/* What model.yaml said. Zero (or negative where noted) means "not given". */
typedef struct yaml_conf {
    char *name;
    char *input;
    model_task task;
    detect_layout layout; /* AUTO: not given */
    int width, height;
    int resize; /* -1: not given, else a vision_mode */
    int resize_short;
    int rect; /* 0: not given, 1: true, 2: false */
    int has_mean, has_std;
    float mean[3], std[3];
    double score, iou; /* < 0: not given */
    int max_det;
    int has_labels; /* labels given inline: labels[0..n_labels), NULL = gap */
    char **labels;
    int n_labels;
    char *labels_file; /* as written; relative to the yaml's folder */
    int labels_line;   /* line of labels_file, for messages */
    model_serving serving;
    char *source;                     /* where new versions come from (an http(s) URL) */
    char *source_sha256;              /* what its body must hash to */
    int bgr;                          /* 0: not given, 1: bgr, 2: rgb */
    double text_thr, box_thr, unclip; /* < 0: not given */
    char *chars_file;                 /* characters_file, as written */
    int chars_line;
    int use_space; /* 0: not given, 1: true, 2: false */
    int max_width;
} yaml_conf;

/* Where a parse is, for messages. */
typedef struct yctx {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t err_size;
} yctx;

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && size) vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

const char *model_task_name(model_task t)
{
    switch (t) {
    case MODEL_TASK_DETECT:
        return "detect";
    case MODEL_TASK_CLASSIFY:
        return "classify";
    case MODEL_TASK_TEXT_DETECT:
        return "text_detect";
    case MODEL_TASK_TEXT_RECOGNIZE:
        return "text_recognize";
    default:
        return "none";
    }
}

static void free_names(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void yaml_conf_dispose(yaml_conf *y)
{
    free(y->name);
    free(y->input);
    free(y->labels_file);
    free(y->source);
    free(y->source_sha256);
    free(y->chars_file);
    free_names(y->labels, y->n_labels);
    memset(y, 0, sizeof *y);
}

void model_conf_dispose(model_conf *c)
{
    if (!c) return;
    free(c->name);
    free(c->yaml_path);
    task_labels_destroy(c->labels);
    memset(c, 0, sizeof *c);
}

/* "[?,84,8400]" into buf (free dims as '?'). */
static const char *dims_str(const int64_t *d, int n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len + 24 < size; i++) {
        if (d[i] < 0)
            len += (size_t)snprintf(buf + len, size - len, "%s?", i ? "," : "[");
        else
            len +=
                (size_t)snprintf(buf + len, size - len, "%s%lld", i ? "," : "[", (long long)d[i]);
    }
    snprintf(buf + len, size - len, "]");
    return buf;
}

/* ---- growable name table (labels by id) ---- */

typedef struct name_table {
    char **v;
    int n; /* ids 0..n-1 exist (NULL entries are gaps) */
    int cap;
} name_table;

/* Stores `s` (taken over) as the name of `id`, replacing an earlier one. */
static int names_put(name_table *t, int id, char *s)
{
    if (id >= t->cap) {
        int cap = t->cap ? t->cap : 64;
        while (cap <= id)
            cap = cap > MAX_NAME_ID / 2 ? MAX_NAME_ID + 1 : cap * 2;
        char **v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(s);
            return -1;
        }
        memset(v + t->cap, 0, (size_t)(cap - t->cap) * sizeof *v);
        t->v = v;
        t->cap = cap;
    }
    free(t->v[id]);
    t->v[id] = s;
    if (id >= t->n) t->n = id + 1;
    return 0;
}

/* ---- Ultralytics metadata `names` (a Python dict repr) ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static int sb_putc(sbuf *b, char c)
{
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    b->p[b->len++] = c;
    b->p[b->len] = 0;
    return 0;
}

static int sb_put_utf8(sbuf *b, uint32_t cp)
{
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* lone surrogate */
    if (cp < 0x80) return sb_putc(b, (char)cp);
    if (cp < 0x800)
        return sb_putc(b, (char)(0xC0 | cp >> 6)) || sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    if (cp < 0x10000)
        return sb_putc(b, (char)(0xE0 | cp >> 12)) || sb_putc(b, (char)(0x80 | (cp >> 6 & 0x3F))) ||
               sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    return sb_putc(b, (char)(0xF0 | cp >> 18)) || sb_putc(b, (char)(0x80 | (cp >> 12 & 0x3F))) ||
           sb_putc(b, (char)(0x80 | (cp >> 6 & 0x3F))) || sb_putc(b, (char)(0x80 | (cp & 0x3F)));
}

static void skip_ws(const char **s)
{
    while (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')
        (*s)++;
}

static int hex_digits(const char *s, int n, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* Parses a Python string literal at *ps ('...' or "..."), advancing past it.
 * On success *out is malloc'ed UTF-8. */
static int parse_py_string(const char *base, const char **ps, char **out, char *err, size_t size)
{
    const char *s = *ps;
    char q = *s;
    if (q != '\'' && q != '"')
        return fail(err, size, "expected a quoted name at offset %td", s - base);
    s++;
    sbuf b = {0};
    int rc = 0;
    while (!rc) {
        char c = *s++;
        if (!c) {
            rc = fail(err, size, "unterminated string at offset %td", s - 1 - base);
            break;
        }
        if (c == q) break;
        if (c != '\\') {
            rc = sb_putc(&b, c);
            continue;
        }
        char e = *s++;
        uint32_t cp = 0;
        int nhex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (nhex) {
            if (hex_digits(s, nhex, &cp) || cp == 0 || cp > 0x10FFFF) {
                rc = fail(err, size, "bad \\%c escape at offset %td", e, s - 2 - base);
                break;
            }
            s += nhex;
            rc = sb_put_utf8(&b, cp);
            continue;
        }
        switch (e) {
        case '\\':
        case '\'':
        case '"':
            rc = sb_putc(&b, e);
            break;
        case 'n':
            rc = sb_putc(&b, '\n');
            break;
        case 't':
            rc = sb_putc(&b, '\t');
            break;
        case 'r':
            rc = sb_putc(&b, '\r');
            break;
        case '\n':
            break; /* line continuation */
        case 0:
            rc = fail(err, size, "unterminated string at offset %td", s - 1 - base);
            break;
        default:
            rc = sb_putc(&b, '\\') || sb_putc(&b, e); /* Python keeps unknown escapes */
        }
    }
    if (!rc && !b.p && sb_putc(&b, 0)) rc = -1; /* '' is an empty name */
    if (rc) {
        if (err && !err[0]) fail(err, size, "out of memory");
        free(b.p);
        return -1;
    }
    *ps = s;
    *out = b.p;
    return 0;
}

/* A dict key: 12 or '12' or "12". */
static int parse_py_key(const char *base, const char **ps, int *id, char *err, size_t size)
{
    const char *s = *ps;
    char q = (*s == '\'' || *s == '"') ? *s++ : 0;
    char *end;
    errno = 0;
    long v = (*s >= '0' && *s <= '9') ? strtol(s, &end, 10) : -1;
    if (v < 0 || errno || v > MAX_NAME_ID)
        return fail(err, size, "expected a class id in 0..%d at offset %td", MAX_NAME_ID, s - base);
    s = end;
    if (q && *s++ != q) return fail(err, size, "unterminated key at offset %td", s - 1 - base);
    *id = (int)v;
    *ps = s;
    return 0;
}

int model_conf_parse_names(const char *text, task_labels **out, char *err, size_t size)
{
    *out = NULL;
    if (err && size) err[0] = 0;
    const char *s = text;
    skip_ws(&s);
    char open = *s, close = open == '{' ? '}' : open == '[' ? ']' : 0;
    if (!close) return fail(err, size, "expected '{' or '['");
    s++;
    name_table t = {0};
    int rc = 0, next = 0;
    for (;;) {
        skip_ws(&s);
        if (*s == close) {
            s++;
            break;
        }
        int id = next;
        if (open == '{') {
            if ((rc = parse_py_key(text, &s, &id, err, size))) break;
            skip_ws(&s);
            if (*s++ != ':') {
                rc = fail(err, size, "expected ':' at offset %td", s - 1 - text);
                break;
            }
            skip_ws(&s);
        } else if (id > MAX_NAME_ID) {
            rc = fail(err, size, "more than %d names", MAX_NAME_ID + 1);
            break;
        }
        char *name = NULL;
        if ((rc = parse_py_string(text, &s, &name, err, size))) break;
        if ((rc = names_put(&t, id, name))) {
            fail(err, size, "out of memory");
            break;
        }
        next = id + 1;
        skip_ws(&s);
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s != close) {
            rc = fail(err, size, "expected ',' or '%c' at offset %td", close, s - text);
            break;
        }
    }
    if (!rc) {
        skip_ws(&s);
        if (*s) rc = fail(err, size, "unexpected text at offset %td", s - text);
    }
    if (!rc && task_labels_create((const char *const *)t.v, t.n, out))
        rc = fail(err, size, "%s", task_last_error());
    free_names(t.v, t.n);
    return rc;
}

/* ---- model.yaml ---- */

static int yfail(const yctx *x, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int yfail(const yctx *x, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail(x->err, x->err_size, "%s: line %zu: %s: %s", x->path,
                n ? n->start_mark.line + 1 : 0, key, msg);
}

/* The text of a scalar node, or NULL if the node is not a scalar or holds a
 * NUL byte. */
static const char *scalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE) return NULL;
    const char *s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

/* A plain null (`key:`, `~`, `null`): the key counts as not given. */
static int is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int get_str(const yctx *x, const char *key, const yaml_node_t *n, char **out)
{
    const char *s = scalar(n);
    if (!s || !*s) return yfail(x, n, key, "expected a non-empty string");
    free(*out);
    if (!(*out = strdup(s))) return yfail(x, n, key, "out of memory");
    return 0;
}

static int get_num(const yctx *x, const char *key, const yaml_node_t *n, double lo, double hi,
                   double *out)
{
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || errno || *end || !(v >= lo && v <= hi))
        return yfail(x, n, key, "expected a number in [%g, %g], got '%.40s'", lo, hi, s ? s : "");
    *out = v;
    return 0;
}

static int get_int(const yctx *x, const char *key, const yaml_node_t *n, long lo, long hi, int *out)
{
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || errno || *end || v < lo || v > hi)
        return yfail(x, n, key, "expected an integer in [%ld, %ld], got '%.40s'", lo, hi,
                     s ? s : "");
    *out = (int)v;
    return 0;
}

/* One of `names` (NULL-terminated); *out = values[index]. */
static int get_enum(const yctx *x, const char *key, const yaml_node_t *n, const char *const *names,
                    const int *values, const char *expected, int *out)
{
    const char *s = scalar(n);
    for (int i = 0; s && names[i]; i++)
        if (!strcmp(s, names[i])) {
            *out = values[i];
            return 0;
        }
    return yfail(x, n, key, "expected %s, got '%.40s'", expected, s ? s : "(not a scalar)");
}

/* Three numbers: [a, b, c], or one number for all channels. */
static int get_triple(const yctx *x, const char *key, const yaml_node_t *n, float out[3])
{
    double v[3];
    if (n->type == YAML_SCALAR_NODE) {
        if (get_num(x, key, n, -1e6, 1e6, &v[0])) return -1;
        v[1] = v[2] = v[0];
    } else {
        const yaml_node_item_t *it =
            n->type == YAML_SEQUENCE_NODE ? n->data.sequence.items.start : NULL;
        if (!it || n->data.sequence.items.top - it != 3)
            return yfail(x, n, key, "expected a list of 3 numbers (one per channel, R, G, B)");
        for (int c = 0; c < 3; c++)
            if (get_num(x, key, yaml_document_get_node(x->doc, it[c]), -1e6, 1e6, &v[c])) return -1;
    }
    for (int c = 0; c < 3; c++)
        out[c] = (float)v[c];
    return 0;
}

/* preferred_batch_sizes: [2, 4] — rising sizes in 1..MODEL_MAX_BATCH. */
static int get_preferred(const yctx *x, const char *key, const yaml_node_t *n, model_serving *s)
{
    const yaml_node_item_t *it =
        n->type == YAML_SEQUENCE_NODE ? n->data.sequence.items.start : NULL;
    long count = it ? n->data.sequence.items.top - it : -1;
    if (count < 0 || count > MODEL_MAX_BATCH)
        return yfail(x, n, key, "expected a list of at most %d batch sizes", MODEL_MAX_BATCH);
    for (long i = 0; i < count; i++) {
        int b = 0;
        if (get_int(x, key, yaml_document_get_node(x->doc, it[i]), 1, MODEL_MAX_BATCH, &b))
            return -1;
        if (i > 0 && b <= s->preferred[i - 1])
            return yfail(x, n, key, "batch sizes must rise (%d after %d)", b, s->preferred[i - 1]);
        s->preferred[i] = b;
    }
    s->n_preferred = (int)count;
    return 0;
}

/* labels: [a, b, ...] or {0: a, 1: b, ...}. */
static int get_labels(const yctx *x, const char *key, const yaml_node_t *n, yaml_conf *y)
{
    name_table t = {0};
    int rc = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        int id = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             !rc && it < n->data.sequence.items.top; it++, id++) {
            const yaml_node_t *e = yaml_document_get_node(x->doc, *it);
            const char *s = scalar(e);
            char *copy = NULL;
            if (!s)
                rc = yfail(x, e, key, "item %d is not a plain name", id);
            else if (id > MAX_NAME_ID)
                rc = yfail(x, e, key, "more than %d names", MAX_NAME_ID + 1);
            else if (!(copy = strdup(s)) || names_put(&t, id, copy))
                rc = yfail(x, e, key, "out of memory");
        }
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             !rc && p < n->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
            const yaml_node_t *e = yaml_document_get_node(x->doc, p->value);
            int id;
            const char *s = scalar(e);
            char *copy = NULL;
            if (get_int(x, key, k, 0, MAX_NAME_ID, &id))
                rc = -1;
            else if (!s)
                rc = yfail(x, e, key, "the name of class %d is not a plain name", id);
            else if (!(copy = strdup(s)) || names_put(&t, id, copy))
                rc = yfail(x, e, key, "out of memory");
        }
    } else {
        rc = yfail(x, n, key, "expected a list of class names");
    }
    if (rc) {
        free_names(t.v, t.n);
        return -1;
    }
    free_names(y->labels, y->n_labels);
    y->labels = t.v;
    y->n_labels = t.n;
    y->has_labels = 1;
    return 0;
}

enum {
    K_NAME,
    K_TASK,
    K_LAYOUT,
    K_INPUT,
    K_WIDTH,
    K_HEIGHT,
    K_RESIZE,
    K_RESIZE_SHORT,
    K_MEAN,
    K_STD,
    K_SCORE,
    K_IOU,
    K_MAX_DET,
    K_LABELS,
    K_LABELS_FILE,
    K_MAX_BATCH,
    K_QUEUE_DELAY,
    K_PREFERRED,
    K_INSTANCES,
    K_THREADS,
    K_MAX_QUEUE,
    K_MAX_QUEUE_MS,
    K_SOLO_THREADS,
    K_TIMEOUT,
    K_PRECISION,
    K_SOURCE,
    K_SOURCE_SHA256,
    K_RECT,
    K_CHANNELS,
    K_TEXT_THR,
    K_BOX_THR,
    K_UNCLIP,
    K_CHARS_FILE,
    K_USE_SPACE,
    K_MAX_WIDTH,
    K_RATE_LIMIT,
    K_RATE_BURST,
    K_COUNT
};

static const char *const KEYS[K_COUNT] = {
    "name",
    "task",
    "layout",
    "input",
    "width",
    "height",
    "resize",
    "resize_short",
    "mean",
    "std",
    "score_threshold",
    "iou_threshold",
    "max_detections",
    "labels",
    "labels_file",
    "max_batch",
    "max_queue_delay_us",
    "preferred_batch_sizes",
    "instances",
    "threads",
    "max_queue",
    "max_queue_ms",
    "solo_threads",
    "timeout_ms",
    "precision",
    "source",
    "source_sha256",
    "rect",
    "channels",
    "threshold",
    "box_threshold",
    "unclip_ratio",
    "characters_file",
    "use_space_char",
    "max_width",
    "rate_limit",
    "rate_limit_burst",
};

static int set_key(const yctx *x, int k, const yaml_node_t *v, yaml_conf *y)
{
    static const char *const tasks[] = {"detect",  "classify", "text_detect", "text_recognize",
                                        "ocr_det", "ocr_rec",  "det",         "rec",
                                        NULL};
    static const int task_v[] = {MODEL_TASK_DETECT,      MODEL_TASK_CLASSIFY,
                                 MODEL_TASK_TEXT_DETECT, MODEL_TASK_TEXT_RECOGNIZE,
                                 MODEL_TASK_TEXT_DETECT, MODEL_TASK_TEXT_RECOGNIZE,
                                 MODEL_TASK_TEXT_DETECT, MODEL_TASK_TEXT_RECOGNIZE};
    static const char *const bools[] = {"true", "false", "yes", "no", NULL};
    static const int bool_v[] = {1, 2, 1, 2};
    static const char *const layouts[] = {"yolov8",      "yolo11", "yolov11", "v8",  "yolov5",
                                          "yolov7",      "v5",     "yolov10", "e2e", "boxes",
                                          "torchvision", "rtdetr", "detr",    NULL};
    static const int layout_v[] = {DETECT_LAYOUT_V8,    DETECT_LAYOUT_V8,    DETECT_LAYOUT_V8,
                                   DETECT_LAYOUT_V8,    DETECT_LAYOUT_V5,    DETECT_LAYOUT_V5,
                                   DETECT_LAYOUT_V5,    DETECT_LAYOUT_E2E,   DETECT_LAYOUT_E2E,
                                   DETECT_LAYOUT_BOXES, DETECT_LAYOUT_BOXES, DETECT_LAYOUT_DETR,
                                   DETECT_LAYOUT_DETR};
    static const char *const modes[] = {"letterbox", "crop", "stretch", NULL};
    static const int mode_v[] = {VISION_LETTERBOX, VISION_CROP, VISION_STRETCH};
    const char *key = KEYS[k];
    int iv = 0;
    switch (k) {
    case K_NAME:
        return get_str(x, key, v, &y->name);
    case K_INPUT:
        return get_str(x, key, v, &y->input);
    case K_LABELS_FILE:
        y->labels_line = (int)v->start_mark.line + 1;
        return get_str(x, key, v, &y->labels_file);
    case K_TASK:
        if (get_enum(x, key, v, tasks, task_v, "detect, classify, text_detect or text_recognize",
                     &iv))
            return -1;
        y->task = (model_task)iv;
        return 0;
    case K_LAYOUT:
        if (get_enum(x, key, v, layouts, layout_v, "yolov8, yolov5 or yolov10", &iv)) return -1;
        y->layout = (detect_layout)iv;
        return 0;
    case K_RESIZE:
        return get_enum(x, key, v, modes, mode_v, "letterbox, crop or stretch", &y->resize);
    case K_RECT:
        return get_enum(x, key, v, bools, bool_v, "true or false", &y->rect);
    case K_USE_SPACE:
        return get_enum(x, key, v, bools, bool_v, "true or false", &y->use_space);
    case K_MAX_WIDTH:
        return get_int(x, key, v, 1, VISION_MAX_SIDE, &y->max_width);
    case K_CHANNELS: {
        static const char *const orders[] = {"bgr", "rgb", "BGR", "RGB", NULL};
        static const int order_v[] = {1, 2, 1, 2};
        return get_enum(x, key, v, orders, order_v, "rgb or bgr", &y->bgr);
    }
    case K_TEXT_THR:
        return get_num(x, key, v, 0, 0.999, &y->text_thr);
    case K_BOX_THR:
        return get_num(x, key, v, 0, 1, &y->box_thr);
    case K_UNCLIP:
        return get_num(x, key, v, 0, 100, &y->unclip);
    case K_CHARS_FILE:
        y->chars_line = (int)v->start_mark.line + 1;
        return get_str(x, key, v, &y->chars_file);
    case K_WIDTH:
        return get_int(x, key, v, 1, VISION_MAX_SIDE, &y->width);
    case K_HEIGHT:
        return get_int(x, key, v, 1, VISION_MAX_SIDE, &y->height);
    case K_RESIZE_SHORT:
        return get_int(x, key, v, 1, MAX_RESIZE_SHORT, &y->resize_short);
    case K_MAX_DET:
        return get_int(x, key, v, 1, DETECT_MAX_BOXES, &y->max_det);
    case K_SCORE:
        return get_num(x, key, v, 0, 1, &y->score);
    case K_IOU:
        return get_num(x, key, v, 0, 1, &y->iou);
    case K_MEAN:
        y->has_mean = 1;
        return get_triple(x, key, v, y->mean);
    case K_STD:
        y->has_std = 1;
        if (get_triple(x, key, v, y->std)) return -1;
        for (int c = 0; c < 3; c++)
            if (!(y->std[c] > 0)) return yfail(x, v, key, "every value must be above 0");
        return 0;
    case K_LABELS:
        return get_labels(x, key, v, y);
    case K_MAX_BATCH:
        return get_int(x, key, v, 1, MODEL_MAX_BATCH, &y->serving.max_batch);
    case K_QUEUE_DELAY:
        return get_int(x, key, v, 0, 10000000, &y->serving.max_queue_delay_us);
    case K_PREFERRED:
        return get_preferred(x, key, v, &y->serving);
    case K_INSTANCES:
        return get_int(x, key, v, 1, MODEL_MAX_INSTANCES, &y->serving.instances);
    case K_THREADS:
        return get_int(x, key, v, 1, 1024, &y->serving.threads);
    case K_MAX_QUEUE:
        return get_int(x, key, v, 1, 1000000, &y->serving.max_queue);
    case K_MAX_QUEUE_MS:
        return get_int(x, key, v, -1, 3600000, &y->serving.max_queue_ms);
    case K_SOLO_THREADS:
        return get_int(x, key, v, -1, 1024, &y->serving.solo_threads);
    case K_PRECISION: {
        static const char *const precs[] = {"f32", "int8", "bf16", "auto", NULL};
        static const int prec_v[] = {MODEL_PRECISION_F32, MODEL_PRECISION_INT8,
                                     MODEL_PRECISION_BF16, MODEL_PRECISION_AUTO};
        return get_enum(x, key, v, precs, prec_v, "f32, int8, bf16 or auto", &y->serving.precision);
    }
    case K_SOURCE:
        if (get_str(x, key, v, &y->source)) return -1;
        if (strncmp(y->source, "http://", 7) && strncmp(y->source, "https://", 8))
            return yfail(x, v, key, "'%.200s' is not an http:// or https:// URL", y->source);
        return strlen(y->source) > 2000 ? yfail(x, v, key, "longer than 2000 characters") : 0;
    case K_SOURCE_SHA256: {
        if (get_str(x, key, v, &y->source_sha256)) return -1;
        size_t n = strlen(y->source_sha256);
        int hex = n == 64;
        for (size_t i = 0; hex && i < n; i++)
            hex = (y->source_sha256[i] >= '0' && y->source_sha256[i] <= '9') ||
                  (y->source_sha256[i] >= 'a' && y->source_sha256[i] <= 'f');
        return hex ? 0 : yfail(x, v, key, "expected 64 lowercase hex digits");
    }
    case K_TIMEOUT:
        return get_int(x, key, v, 1, 3600000, &y->serving.timeout_ms);
    case K_RATE_LIMIT:
        return get_num(x, key, v, 0.001, 1e6, &y->serving.rate_limit);
    case K_RATE_BURST:
        return get_int(x, key, v, 1, 1000000, &y->serving.rate_limit_burst);
    }
    return 0;
}

/* Reads the top-level mapping of `doc` into *y. */
static int conf_from_doc(const yctx *x, yaml_conf *y)
{
    const yaml_node_t *root = yaml_document_get_root_node(x->doc);
    if (!root || is_null(root)) return 0; /* empty file: all defaults */
    if (root->type != YAML_MAPPING_NODE)
        return fail(x->err, x->err_size, "%s: expected a mapping of keys (name: ..., task: ...)",
                    x->path);
    uint64_t seen = 0; /* K_COUNT bits */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *key = scalar(k);
        if (!key)
            return fail(x->err, x->err_size, "%s: line %zu: keys must be plain names", x->path,
                        k ? k->start_mark.line + 1 : 0);
        int ki = 0;
        while (ki < K_COUNT && strcmp(key, KEYS[ki]))
            ki++;
        if (ki == K_COUNT) continue; /* unknown keys are ignored */
        if (seen & (uint64_t)1 << ki) return yfail(x, k, key, "given twice");
        seen |= (uint64_t)1 << ki;
        if (is_null(v)) continue;
        if (set_key(x, ki, v, y)) return -1;
    }
    _Static_assert(K_COUNT <= 64, "one bit of `seen` per key");
    if (y->has_labels && y->labels_file)
        return fail(x->err, x->err_size, "%s: give labels or labels_file, not both", x->path);
    return 0;
}

/* Refuses a document whose collections nest deeper than YAML_MAX_DEPTH,
 * reading its events no further than that: libyaml's scanner spends time
 * proportional to the flow depth on every token (200000 '[' took 65 s to
 * load; the 1 MB a model.yaml may hold, some half an hour). A syntax error
 * is left to the loader to report. */
static int check_depth(const char *path, const unsigned char *buf, size_t len, char *err,
                       size_t size)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return fail(err, size, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, buf, len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) break;
        yaml_event_type_t t = e.type;
        size_t line = e.start_mark.line + 1;
        yaml_event_delete(&e);
        if (t == YAML_DOCUMENT_END_EVENT || t == YAML_STREAM_END_EVENT) break;
        if ((t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) &&
            ++depth > YAML_MAX_DEPTH) {
            rc = fail(err, size, "%s: line %zu: nested deeper than %d levels", path, line,
                      YAML_MAX_DEPTH);
            break;
        }
        if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) depth--;
    }
    yaml_parser_delete(&p);
    return rc;
}

static int yaml_parse(const char *path, const unsigned char *buf, size_t len, yaml_conf *y,
                      char *err, size_t size)
{
    yaml_parser_t p;
    yaml_document_t doc;
    if (check_depth(path, buf, len, err, size)) return -1;
    if (!yaml_parser_initialize(&p)) return fail(err, size, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, buf, len);
    if (!yaml_parser_load(&p, &doc)) {
        int rc = fail(err, size, "%s: line %zu: %s%s%s", path, p.problem_mark.line + 1,
                      p.problem ? p.problem : "invalid YAML", p.context ? " " : "",
                      p.context ? p.context : "");
        yaml_parser_delete(&p);
        return rc;
    }
    yctx x = {path, &doc, err, size};
    int rc = conf_from_doc(&x, y);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return rc;
}

/* ---- resolving against the model ---- */

/* Ultralytics `imgsz`: "[640, 640]" (h, w) or "640". 0 if absent or odd. */
static void metadata_imgsz(const glint_model *m, int *w, int *h)
{
    *w = *h = 0;
    const char *s = glint_model_metadata(m, "imgsz");
    if (!s) return;
    while (*s == ' ' || *s == '[' || *s == '(')
        s++;
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (end == s) return;
    s = end;
    while (*s == ' ' || *s == ',')
        s++;
    if (*s >= '0' && *s <= '9') b = strtol(s, &end, 10);
    if (a < 1 || a > VISION_MAX_SIDE || b < 1 || b > VISION_MAX_SIDE) return;
    *h = (int)a;
    *w = (int)b;
}

/* Folder of `path` into dir ("." if none). */
static int dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    int n =
        slash ? snprintf(dir, size, "%.*s", (int)(slash - path), path) : snprintf(dir, size, ".");
    if (slash == path) n = snprintf(dir, size, "/");
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Default name: the file's stem, or its folder's name for "model.onnx". */
static char *default_name(const char *onnx_path)
{
    const char *base = strrchr(onnx_path, '/');
    base = base ? base + 1 : onnx_path;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".onnx")) len -= 5;
    if (len == 5 && !strncmp(base, "model", 5) && base > onnx_path + 1) {
        const char *end = base - 1, *start = end;
        while (start > onnx_path && start[-1] != '/')
            start--;
        if (end > start && strncmp(start, ".", (size_t)(end - start)) &&
            strncmp(start, "..", (size_t)(end - start)))
            return strndup(start, (size_t)(end - start));
    }
    return strndup(base, len ? len : strlen(base));
}

static int resolve_io(model_conf *c, const glint_model *m, const yaml_conf *y, const char *onnx,
                      const char *cfg, char *err, size_t size)
{
    char ds[128];
    int ni = glint_model_num_inputs(m), no = glint_model_num_outputs(m);
    if (ni != 1)
        return fail(err, size, "%s: the model has %d inputs; glint feeds it one image tensor", onnx,
                    ni);
    if (no < 1) return fail(err, size, "%s: the model has no outputs", onnx);
    glint_io_info in;
    glint_model_input_info(m, 0, &in);
    if (y->input && strcmp(y->input, in.name))
        return fail(err, size, "%s: input: the model has no input '%s' (its input is '%s')", cfg,
                    y->input, in.name);
    if (in.dtype != GLINT_F32 || in.ndim != 4 || (in.dims[1] >= 0 && in.dims[1] != 3))
        return fail(err, size, "%s: input '%s' is %s %s; glint feeds images as float [N,3,H,W]",
                    onnx, in.name, glint_dtype_name(in.dtype),
                    dims_str(in.dims, in.ndim, ds, sizeof ds));
    if (in.dims[0] > 1)
        return fail(err, size,
                    "%s: input '%s' has a fixed batch of %lld; glint needs 1 or a free "
                    "batch axis",
                    onnx, in.name, (long long)in.dims[0]);
    for (int d = 2; d < 4; d++)
        if (in.dims[d] > VISION_MAX_SIDE)
            return fail(err, size, "%s: input '%s' is %s, larger than %d pixels a side", onnx,
                        in.name, dims_str(in.dims, in.ndim, ds, sizeof ds), VISION_MAX_SIDE);
    c->input = 0;
    c->output = 0;
    c->batch_free = in.dims[0] < 0;
    return 0;
}

/* torchvision's detection outputs: boxes [N, 4] (or [1, N, 4]) float, scores
 * [N] float and labels [N] integer, found by those names, else as outputs 0,
 * 1, 2. Fills idx; 0 if the model has them. */
static int find_box_outputs(const glint_model *m, int idx[3])
{
    static const char *const names[3] = {"boxes", "scores", "labels"};
    int n = glint_model_num_outputs(m);
    if (n < 3) return -1;
    for (int k = 0; k < 3; k++) {
        idx[k] = k;
        for (int i = 0; i < n; i++) {
            glint_io_info o;
            glint_model_output_info(m, i, &o);
            if (o.name && !strcmp(o.name, names[k])) idx[k] = i;
        }
    }
    glint_io_info b, s, l;
    glint_model_output_info(m, idx[0], &b);
    glint_model_output_info(m, idx[1], &s);
    glint_model_output_info(m, idx[2], &l);
    int boxes_ok = b.dtype == GLINT_F32 && ((b.ndim == 2 && b.dims[1] == 4) ||
                                            (b.ndim == 3 && b.dims[0] == 1 && b.dims[2] == 4));
    int rows = b.ndim - 1; /* scores and labels: one row per box */
    int labels_ok = l.dtype == GLINT_I64 || l.dtype == GLINT_I32 || l.dtype == GLINT_F32;
    return boxes_ok && s.dtype == GLINT_F32 && s.ndim == rows && l.ndim == rows && labels_ok ? 0
                                                                                             : -1;
}

static int resolve_task(model_conf *c, const glint_model *m, const yaml_conf *y, const char *onnx,
                        const char *cfg, char *err, size_t size)
{
    char ds[128];
    glint_io_info out;
    if ((y->layout == DETECT_LAYOUT_BOXES || (!y->layout && y->task != MODEL_TASK_CLASSIFY)) &&
        !find_box_outputs(m, c->box_outputs)) {
        c->task = MODEL_TASK_DETECT; /* a torchvision detector with its post-processing */
        c->layout = DETECT_LAYOUT_BOXES;
        c->output = c->box_outputs[0];
        c->batch_free = 0;
        return 0;
    }
    if (y->layout == DETECT_LAYOUT_BOXES)
        return fail(err, size,
                    "%s: layout: torchvision, but the model has no boxes [N,4], scores [N] and "
                    "labels [N] outputs",
                    cfg);
    glint_model_output_info(m, c->output, &out);
    glint_io_info in;
    glint_model_input_info(m, c->input, &in);
    const char *mt = glint_model_metadata(m, "task");
    /* PaddleOCR's shapes: a DB map of the input's size, CTC steps of a line */
    int text_map = out.ndim == 4 && out.dims[1] == 1 &&
                   (out.dims[2] < 0 || (out.dims[2] == in.dims[2] && out.dims[2] > 1)) &&
                   (out.dims[3] < 0 || (out.dims[3] == in.dims[3] && out.dims[3] > 1));
    int text_line = out.ndim == 3 && in.dims[2] > 0 && in.dims[2] <= 64 &&
                    (in.dims[3] < 0 || in.dims[3] >= 2 * in.dims[2]);
    int trailing_ones = out.ndim >= 2;
    for (int d = 2; d < out.ndim; d++)
        trailing_ones &= out.dims[d] == 1;
    if (y->task)
        c->task = y->task;
    else if (mt && !strcmp(mt, "detect"))
        c->task = MODEL_TASK_DETECT;
    else if (mt && !strcmp(mt, "classify"))
        c->task = MODEL_TASK_CLASSIFY;
    else if (mt && *mt)
        return fail(err, size,
                    "%s: Ultralytics task '%s' is not supported (detect and classify "
                    "are)",
                    onnx, mt);
    else if (text_map && !(mt && *mt))
        c->task = MODEL_TASK_TEXT_DETECT;
    else if (text_line)
        c->task = MODEL_TASK_TEXT_RECOGNIZE;
    else if (out.ndim == 3)
        c->task = MODEL_TASK_DETECT;
    else if (trailing_ones)
        c->task = MODEL_TASK_CLASSIFY;
    else
        return fail(err, size,
                    "%s: cannot tell the task from output '%s' %s; say task: detect "
                    "or classify in %s",
                    onnx, out.name, dims_str(out.dims, out.ndim, ds, sizeof ds), cfg);
    if (out.dtype != GLINT_F32)
        return fail(err, size, "%s: output '%s' is %s; glint reads float outputs", onnx, out.name,
                    glint_dtype_name(out.dtype));
    if (c->task == MODEL_TASK_DETECT && out.ndim != 2 && out.ndim != 3)
        return fail(err, size,
                    "%s: output '%s' %s is not a YOLO detection output ([B,4+C,N] or "
                    "[B,N,5+C])",
                    onnx, out.name, dims_str(out.dims, out.ndim, ds, sizeof ds));
    if (c->task == MODEL_TASK_CLASSIFY && !trailing_ones)
        return fail(err, size, "%s: output '%s' %s is not class scores ([B,C])", onnx, out.name,
                    dims_str(out.dims, out.ndim, ds, sizeof ds));
    if (c->task == MODEL_TASK_TEXT_DETECT && !(out.ndim == 4 && out.dims[1] == 1))
        return fail(err, size, "%s: output '%s' %s is not a text probability map ([B,1,H,W])", onnx,
                    out.name, dims_str(out.dims, out.ndim, ds, sizeof ds));
    if (c->task == MODEL_TASK_TEXT_RECOGNIZE && out.ndim != 3)
        return fail(err, size, "%s: output '%s' %s is not CTC class scores per step ([B,T,C])",
                    onnx, out.name, dims_str(out.dims, out.ndim, ds, sizeof ds));
    if (c->task == MODEL_TASK_DETECT && out.ndim == 2) c->batch_free = 0; /* [N, D]: batch 1 */
    return 0;
}

/* One side of the tensor: the model's fixed size, else yaml, metadata,
 * default. */
static int resolve_side(const char *key, int64_t fixed, int from_yaml, int from_meta, int dflt,
                        const char *cfg, const char *input, int *out, char *err, size_t size)
{
    if (fixed > 0 && from_yaml && from_yaml != fixed)
        return fail(err, size, "%s: %s: %d, but the model's input '%s' is fixed at %lld", cfg, key,
                    from_yaml, input, (long long)fixed);
    *out = fixed > 0 ? (int)fixed : from_yaml ? from_yaml : from_meta ? from_meta : dflt;
    return 0;
}

static int resolve_labels(model_conf *c, const glint_model *m, const yaml_conf *y, const char *onnx,
                          const char *cfg, char *err, size_t size)
{
    if (y->has_labels) {
        if (task_labels_create((const char *const *)y->labels, y->n_labels, &c->labels))
            return fail(err, size, "%s: labels: %s", cfg, task_last_error());
        return 0;
    }
    if (y->labels_file) {
        char dir[PATH_MAX_LEN], path[PATH_MAX_LEN];
        if (dir_of(cfg, dir, sizeof dir)) return fail(err, size, "%s: path too long", cfg);
        int n = y->labels_file[0] == '/'
                    ? snprintf(path, sizeof path, "%s", y->labels_file)
                    : snprintf(path, sizeof path, "%s/%s", dir, y->labels_file);
        if (n < 0 || (size_t)n >= sizeof path)
            return fail(err, size, "%s: labels_file: path too long", cfg);
        if (task_labels_load_file(path, 0, 0, &c->labels))
            return fail(err, size, "%s: line %d: labels_file: %s", cfg, y->labels_line,
                        task_last_error());
        return 0;
    }
    const char *names = glint_model_metadata(m, "names");
    if (names) {
        char why[256];
        if (model_conf_parse_names(names, &c->labels, why, sizeof why))
            fprintf(stderr,
                    "glint: warning: %s: ignoring metadata 'names' (%s); classes are "
                    "numbered\n",
                    onnx, why);
    }
    return 0;
}

/* Largest characters_file and character count (PaddleOCR's Chinese
 * dictionary has 6623). */
#define CHARS_MAX_BYTES ((size_t)4 << 20)
#define CHARS_MAX_COUNT 100000

/* text_recognize: the characters, one a line as PaddleOCR reads them (the
 * line end stripped, spaces kept), into c->labels; the output's class count
 * must be 1 (CTC's blank) + characters + the space when use_space_char. */
static int resolve_characters(model_conf *c, const glint_model *m, const yaml_conf *y,
                              const char *onnx, const char *cfg, char *err, size_t size)
{
    c->use_space = y->use_space != 2;
    const char *file = y->chars_file ? y->chars_file : y->labels_file;
    int line = y->chars_file ? y->chars_line : y->labels_line;
    if (y->has_labels) {
        if (task_labels_create((const char *const *)y->labels, y->n_labels, &c->labels))
            return fail(err, size, "%s: labels: %s", cfg, task_last_error());
    } else if (file) {
        char dir[PATH_MAX_LEN], path[PATH_MAX_LEN];
        if (dir_of(cfg, dir, sizeof dir)) return fail(err, size, "%s: path too long", cfg);
        int n = file[0] == '/' ? snprintf(path, sizeof path, "%s", file)
                               : snprintf(path, sizeof path, "%s/%s", dir, file);
        if (n < 0 || (size_t)n >= sizeof path)
            return fail(err, size, "%s: line %d: characters_file: path too long", cfg, line);
        size_t len = 0;
        errno = 0;
        char *text = fileio_read(path, CHARS_MAX_BYTES, &len);
        if (!text)
            return fail(err, size, "%s: line %d: characters_file %s: %s", cfg, line, path,
                        errno == EFBIG ? "larger than 4 MiB" : strerror(errno ? errno : EIO));
        char **v = NULL;
        int count = 0, rc = 0;
        for (size_t at = 0; at < len && !rc;) {
            char *nl = memchr(text + at, '\n', len - at);
            size_t e = nl ? (size_t)(nl - text) : len, next = nl ? e + 1 : len;
            if (e > at && text[e - 1] == '\r') e--;
            char **nv =
                count < CHARS_MAX_COUNT ? realloc(v, (size_t)(count + 1) * sizeof *v) : NULL;
            if (!nv || memchr(text + at, 0, e - at)) {
                rc = fail(err, size, "%s: line %d: characters_file %s: %s", cfg, line, path,
                          !nv ? "too many characters" : "a NUL byte");
                if (nv) v = nv;
                break;
            }
            v = nv;
            if (!(v[count] = strndup(text + at, e - at))) {
                rc = fail(err, size, "out of memory");
                break;
            }
            count++;
            at = next;
        }
        free(text);
        if (!rc && task_labels_create((const char *const *)v, count, &c->labels))
            rc = fail(err, size, "%s: characters_file: %s", cfg, task_last_error());
        free_names(v, count);
        if (rc) return -1;
    } else {
        return fail(err, size,
                    "%s: a text_recognize model needs its characters: characters_file: "
                    "(PaddleOCR's dictionary, one character a line) in %s",
                    onnx, cfg);
    }
    glint_io_info out;
    glint_model_output_info(m, c->output, &out);
    int64_t want = 1 + task_labels_count(c->labels) + c->use_space;
    if (out.dims[2] >= 0 && out.dims[2] != want)
        return fail(err, size,
                    "%s: output '%s' has %lld classes per step; %d characters%s and CTC's blank "
                    "make %lld",
                    cfg, out.name, (long long)out.dims[2], task_labels_count(c->labels),
                    c->use_space ? ", the space" : "", (long long)want);
    return 0;
}

/* Class count the output implies (0 if its dims are free); for detect also
 * settles c->layout from the dims when they are known. -1 on a bad shape. */
static int output_classes(model_conf *c, const glint_model *m, const char *onnx, char *err,
                          size_t size)
{
    char ds[128];
    glint_io_info out;
    glint_model_output_info(m, c->output, &out);
    int64_t d[GLINT_MAX_DIMS];
    memcpy(d, out.dims, sizeof d);
    if (out.ndim >= 1 && d[0] < 0) d[0] = 1;
    for (int i = 0; i < out.ndim; i++)
        if (d[i] < 0) return 0;
    if (c->task == MODEL_TASK_CLASSIFY) {
        if (d[1] < 1 || d[1] > CLASSIFY_MAX_CLASSES)
            return fail(err, size, "%s: output '%s' %s has %lld classes, limit %d", onnx, out.name,
                        dims_str(out.dims, out.ndim, ds, sizeof ds), (long long)d[1],
                        CLASSIFY_MAX_CLASSES);
        return (int)d[1];
    }
    detect_shape s;
    if (detect_shape_from_dims(d, out.ndim, c->layout, &s))
        return fail(err, size, "%s: output '%s' %s is not a YOLO detection output: %s", onnx,
                    out.name, dims_str(out.dims, out.ndim, ds, sizeof ds), task_last_error());
    c->layout = s.layout;
    return s.layout == DETECT_LAYOUT_E2E ? 0 : s.num_classes; /* E2E: ids in the output */
}

/* Detect layout when model.yaml does not say: 4+C rows is V8, 5+C columns
 * V5, 4+C columns DETR when the class count C is known from the names; otherwise AUTO, which
 * detect_shape_from_dims settles from the dims (rows < columns: V8). */
static detect_layout guess_layout(const model_conf *c, const glint_model *m)
{
    glint_io_info out;
    glint_model_output_info(m, c->output, &out);
    int64_t a = out.dims[out.ndim - 2], b = out.dims[out.ndim - 1];
    int64_t nc = task_labels_count(c->labels);
    if (nc > 0 && a == 4 + nc && b != 5 + nc) return DETECT_LAYOUT_V8;
    if (nc > 0 && b == 5 + nc && a != 4 + nc) return DETECT_LAYOUT_V5;
    if (nc > 0 && b == 4 + nc && a != 4 + nc) return DETECT_LAYOUT_DETR; /* [B, queries, 4+C] */
    return DETECT_LAYOUT_AUTO;
}

static void resolve_spec(model_conf *c, const glint_model *m, const yaml_conf *y, int w, int h)
{
    const char *mt = glint_model_metadata(m, "task");
    int ultralytics_cls = c->task == MODEL_TASK_CLASSIFY && mt && !strcmp(mt, "classify");
    int text = c->task == MODEL_TASK_TEXT_DETECT || c->task == MODEL_TASK_TEXT_RECOGNIZE;
    vision_mode mode = y->resize >= 0                         ? (vision_mode)y->resize
                       : c->task == MODEL_TASK_DETECT         ? VISION_LETTERBOX
                       : c->task == MODEL_TASK_TEXT_DETECT    ? VISION_STRETCH
                       : c->task == MODEL_TASK_TEXT_RECOGNIZE ? VISION_TEXTLINE
                                                              : VISION_CROP;
    int side = w > h ? w : h;
    int short_side = y->resize_short ? y->resize_short
                     : ultralytics_cls || c->task == MODEL_TASK_DETECT
                         ? side
                         : (int)lround(side * 256.0 / 224.0);
    c->spec =
        mode == VISION_LETTERBOX ? vision_spec_letterbox(w, h) : vision_spec_crop(w, h, short_side);
    if (mode == VISION_STRETCH || mode == VISION_TEXTLINE)
        c->spec.mode = mode; /* the crop spec's other fields */
    int imagenet =
        (c->task == MODEL_TASK_CLASSIFY && !ultralytics_cls) || c->task == MODEL_TASK_TEXT_DETECT;
    int half = c->task == MODEL_TASK_TEXT_RECOGNIZE; /* (x/255 - 0.5) / 0.5 */
    const float in_mean[3] = {0.485f, 0.456f, 0.406f}, in_std[3] = {0.229f, 0.224f, 0.225f};
    float scale = 1.0f;
    for (int i = 0; i < 3; i++)
        if ((y->has_mean && fabsf(y->mean[i]) > 1.0f) || (y->has_std && y->std[i] > 1.0f))
            scale = 255.0f;
    for (int i = 0; i < 3; i++) {
        c->spec.mean[i] = y->has_mean ? y->mean[i] / scale
                          : imagenet  ? in_mean[i]
                          : half      ? 0.5f
                                      : 0.0f;
        c->spec.std[i] = y->has_std ? y->std[i] / scale : imagenet ? in_std[i] : half ? 0.5f : 1.0f;
    }
    c->spec.bgr = y->bgr ? y->bgr == 1 : text; /* PaddleOCR reads BGR (OpenCV) */
    if (!text) return;
    glint_io_info in;
    glint_model_input_info(m, c->input, &in);
    /* free sides follow the picture: DetResizeForTest's multiples of 32 within
     * the limit, a text line's own width */
    if (mode == VISION_STRETCH && in.dims[2] < 0 && in.dims[3] < 0) c->spec.stride = 32;
    if (mode == VISION_TEXTLINE && in.dims[3] < 0) {
        c->spec.stride = 1;
        int most = y->max_width ? y->max_width : 10 * c->spec.width;
        c->spec.max_width = most < c->spec.width     ? c->spec.width
                            : most > VISION_MAX_SIDE ? VISION_MAX_SIDE
                                                     : most;
    }
}

void model_conf_max_hw(const model_conf *c, int *h, int *w)
{
    *h = c->spec.height;
    *w = c->spec.mode == VISION_TEXTLINE && c->spec.stride > 0 && c->spec.max_width > c->spec.width
             ? c->spec.max_width
             : c->spec.width;
}

/* Rect letterboxing (spec.stride): on by default for a letterboxed model
 * whose input height and width are both free, at the export's stride (32
 * when it names none); `rect: false` turns it off, `rect: true` on a fixed
 * size is an error. */
static int resolve_rect(model_conf *c, const glint_model *m, const yaml_conf *y,
                        const glint_io_info *in, const char *cfg, char *err, size_t err_size)
{
    int free_hw = in->ndim == 4 && in->dims[2] < 0 && in->dims[3] < 0;
    if (y->rect == 1 && !free_hw)
        return fail(err, err_size, "%s: rect: true, but input '%s' has a fixed height and width",
                    cfg, in->name);
    if (y->rect == 1 && c->spec.mode != VISION_LETTERBOX)
        return fail(err, err_size, "%s: rect: true needs resize: letterbox", cfg);
    if (!free_hw || y->rect == 2 || c->spec.mode != VISION_LETTERBOX) return 0;
    const char *ms = glint_model_metadata(m, "stride");
    long stride = ms ? strtol(ms, NULL, 10) : 32;
    c->spec.stride = stride >= 1 && stride <= 1024 ? (int)stride : 32;
    return 0;
}

static void resolve_thresholds(model_conf *c, const yaml_conf *y)
{
    detect_options d = DETECT_OPTIONS_DEFAULT;
    if (c->layout == DETECT_LAYOUT_V5) d.iou_threshold = 0.45f; /* YOLOv5 detect.py */
    if (y->score >= 0) d.score_threshold = (float)y->score;
    if (y->iou >= 0) d.iou_threshold = (float)y->iou;
    if (c->task == MODEL_TASK_TEXT_DETECT) d.max_det = 1000; /* PaddleOCR: max_candidates */
    if (y->max_det) d.max_det = y->max_det;
    c->detect = d;
    c->text = TEXT_DET_OPTIONS_DEFAULT;
    if (y->text_thr >= 0) c->text.threshold = (float)y->text_thr;
    if (y->box_thr >= 0) c->text.box_threshold = (float)y->box_thr;
    if (y->unclip >= 0) c->text.unclip_ratio = (float)y->unclip;
    c->text.max_candidates = d.max_det;
    c->top_k = DEFAULT_TOP_K;
}

/* Reads model.yaml beside the model into *y (nothing if there is none). */
static int read_yaml(model_conf *c, const char *onnx_path, yaml_conf *y, char *err, size_t size)
{
    char dir[PATH_MAX_LEN], path[PATH_MAX_LEN];
    if (dir_of(onnx_path, dir, sizeof dir)) return fail(err, size, "%s: path too long", onnx_path);
    int n = snprintf(path, sizeof path, "%s/model.yaml", dir);
    if (n < 0 || (size_t)n >= sizeof path) return fail(err, size, "%s: path too long", onnx_path);
    size_t len = 0;
    errno = 0;
    unsigned char *buf = fileio_read(path, MODEL_CONF_MAX_BYTES, &len);
    if (!buf) {
        if (errno == ENOENT) return 0;
        if (errno == EFBIG)
            return fail(err, size, "%s: larger than the %zu-byte limit", path,
                        MODEL_CONF_MAX_BYTES);
        return fail(err, size, "%s: %s", path, strerror(errno ? errno : EIO));
    }
    if (!(c->yaml_path = strdup(path))) {
        free(buf);
        return fail(err, size, "out of memory");
    }
    int rc = yaml_parse(path, buf, len, y, err, size);
    free(buf);
    return rc;
}

int model_conf_read_source(const char *yaml_path, char **url, char sha256[65], char *err,
                           size_t err_size)
{
    *url = NULL;
    sha256[0] = 0;
    size_t len = 0;
    char *text = fileio_read(yaml_path, MODEL_CONF_MAX_BYTES, &len);
    if (!text)
        return errno == ENOENT ? 0 : fail(err, err_size, "%s: %s", yaml_path, strerror(errno));
    yaml_conf y = {
        .resize = -1, .score = -1, .iou = -1, .text_thr = -1, .box_thr = -1, .unclip = -1};
    int rc = yaml_parse(yaml_path, (const unsigned char *)text, len, &y, err, err_size);
    free(text);
    if (!rc && y.source_sha256 && !y.source)
        rc = fail(err, err_size, "%s: source_sha256 without a source", yaml_path);
    if (!rc && y.source) {
        *url = y.source;
        y.source = NULL;
        if (y.source_sha256) snprintf(sha256, 65, "%s", y.source_sha256);
    }
    yaml_conf_dispose(&y);
    return rc;
}

int model_conf_load(model_conf *c, const char *onnx_path, const glint_model *m, char *err,
                    size_t err_size)
{
    memset(c, 0, sizeof *c);
    yaml_conf y = {
        .resize = -1, .score = -1, .iou = -1, .text_thr = -1, .box_thr = -1, .unclip = -1};
    int rc = read_yaml(c, onnx_path, &y, err, err_size);
    const char *cfg = c->yaml_path ? c->yaml_path : "model.yaml";
    if (rc) goto done;
    if ((rc = resolve_io(c, m, &y, onnx_path, cfg, err, err_size))) goto done;
    if ((rc = resolve_task(c, m, &y, onnx_path, cfg, err, err_size))) goto done;
    glint_io_info in;
    glint_model_input_info(m, c->input, &in);
    int mw, mh, w = 0, h = 0, dflt = c->task == MODEL_TASK_DETECT ? 640 : 224;
    if (c->task == MODEL_TASK_TEXT_DETECT) dflt = 960; /* PaddleOCR's limit_side_len */
    int dflt_h = c->task == MODEL_TASK_TEXT_RECOGNIZE ? 48 : dflt;
    if (c->task == MODEL_TASK_TEXT_RECOGNIZE) dflt = 320; /* rec_image_shape 3,48,320 */
    metadata_imgsz(m, &mw, &mh);
    if ((rc = resolve_side("width", in.dims[3], y.width, mw, dflt, cfg, in.name, &w, err,
                           err_size)) ||
        (rc = resolve_side("height", in.dims[2], y.height, mh, dflt_h, cfg, in.name, &h, err,
                           err_size)))
        goto done;
    if (c->task == MODEL_TASK_TEXT_DETECT || c->task == MODEL_TASK_TEXT_RECOGNIZE) {
        if (c->task == MODEL_TASK_TEXT_RECOGNIZE &&
            (rc = resolve_characters(c, m, &y, onnx_path, cfg, err, err_size)))
            goto done;
        resolve_spec(c, m, &y, w, h);
        resolve_thresholds(c, &y);
        goto serving;
    }
    if ((rc = resolve_labels(c, m, &y, onnx_path, cfg, err, err_size))) goto done;
    if (c->task == MODEL_TASK_DETECT && c->layout != DETECT_LAYOUT_BOXES)
        c->layout = y.layout ? y.layout : guess_layout(c, m);
    int nc = c->layout == DETECT_LAYOUT_BOXES ? 0 : output_classes(c, m, onnx_path, err, err_size);
    if ((rc = nc < 0 ? -1 : 0)) goto done;
    int nl = task_labels_count(c->labels);
    if (nc > 0 && nl > 0 && nl != nc)
        fprintf(stderr, "glint: warning: %s: %d labels for %d classes\n",
                c->yaml_path && (y.has_labels || y.labels_file) ? c->yaml_path : onnx_path, nl, nc);
    resolve_spec(c, m, &y, w, h);
    if ((rc = resolve_rect(c, m, &y, &in, cfg, err, err_size))) goto done;
    resolve_thresholds(c, &y);
serving:
    c->serving = y.serving;
    if (c->serving.max_batch > 1 && !c->batch_free) {
        rc = fail(err, err_size, "%s: max_batch %d, but the model's batch axis is fixed at 1", cfg,
                  c->serving.max_batch);
        goto done;
    }
    for (int i = 0; i < c->serving.n_preferred; i++)
        if (c->serving.max_batch && c->serving.preferred[i] > c->serving.max_batch) {
            rc = fail(err, err_size, "%s: preferred batch size %d is above max_batch %d", cfg,
                      c->serving.preferred[i], c->serving.max_batch);
            goto done;
        }
    c->name = y.name ? strdup(y.name) : default_name(onnx_path);
    if (!c->name) rc = fail(err, err_size, "out of memory");
done:
    yaml_conf_dispose(&y);
    if (rc) model_conf_dispose(c);
    return rc;
}
