/* metrics: lock-free counters, gauges and histograms, and their rendering in
 * the Prometheus text format 0.0.4 (see metrics.h). */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const double metrics_latency_bounds[METRICS_LATENCY_BOUNDS_COUNT] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60,
};

const double metrics_batch_bounds[METRICS_BATCH_BOUNDS_COUNT] = {1, 2, 4, 8, 16, 32};

/* ---- updates ---- */

void metrics_fgauge_add(metrics_fgauge *g, double d)
{
    uint64_t old = atomic_load_explicit(&g->bits, memory_order_relaxed);
    uint64_t next;
    do {
        double v;
        memcpy(&v, &old, sizeof v);
        v += d;
        memcpy(&next, &v, sizeof next);
    } while (!atomic_compare_exchange_weak_explicit(&g->bits, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

serve_status metrics_histogram_init(metrics_histogram *h, const double *bounds, int n, double scale)
{
    if (!h) return SERVE_ERR_INVALID;
    memset(h, 0, sizeof *h);
    h->scale = 1.0;
    for (int i = 0; i <= METRICS_HIST_MAX_BOUNDS; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->sum_units, 0);
    if (n < 0 || n > METRICS_HIST_MAX_BOUNDS || (n > 0 && !bounds) || !isfinite(scale) ||
        scale <= 0)
        return SERVE_ERR_INVALID;
    for (int i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return SERVE_ERR_INVALID;
    if (n > 0) memcpy(h->bounds, bounds, (size_t)n * sizeof *bounds);
    h->nbounds = n;
    h->scale = scale;
    return SERVE_OK;
}

void metrics_histogram_observe(metrics_histogram *h, double v)
{
    if (isnan(v)) return;
    int lo = 0, hi = h->nbounds; /* first bound >= v, or nbounds (+Inf) */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (h->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);

    double x = v * h->scale;
    int64_t units;
    if (x >= 9223372036854775808.0) /* 2^63 */
        units = INT64_MAX;
    else if (x <= -9223372036854775808.0)
        units = INT64_MIN;
    else
        units = llround(x);
    atomic_fetch_add_explicit(&h->sum_units, units, memory_order_relaxed);
}

void metrics_histogram_snapshot_read(const metrics_histogram *h, metrics_histogram_snapshot *out)
{
    out->nbounds = h->nbounds;
    memcpy(out->bounds, h->bounds, sizeof out->bounds);
    uint64_t acc = 0;
    for (int i = 0; i <= h->nbounds; i++) {
        acc += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        out->cumulative[i] = acc;
    }
    out->count = acc;
    out->sum_units = atomic_load_explicit(&h->sum_units, memory_order_relaxed);
    out->sum = (double)out->sum_units / h->scale;
}

/* ---- names, numbers, escaping ---- */

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int metrics_name_valid(const char *name)
{
    if (!name || !(is_alpha_(name[0]) || name[0] == ':')) return 0;
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_(*p) || is_digit(*p) || *p == ':')) return 0;
    return 1;
}

static int label_name_valid(const char *name)
{
    if (!name || !is_alpha_(name[0]) || (name[0] == '_' && name[1] == '_')) return 0;
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_(*p) || is_digit(*p))) return 0;
    return 1;
}

/* Checks every label; `allow_le` 0 refuses a label named "le". */
static int labels_valid(const metrics_label *labels, size_t n, int allow_le)
{
    if (n > 0 && !labels) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!label_name_valid(labels[i].name) || !labels[i].value) return 0;
        if (!allow_le && strcmp(labels[i].name, "le") == 0) return 0;
    }
    return 1;
}

size_t metrics_format_double(double v, char *buf)
{
    const char *fixed = NULL;
    if (isnan(v))
        fixed = "NaN";
    else if (isinf(v))
        fixed = v > 0 ? "+Inf" : "-Inf";
    else if (v == 0)
        fixed = "0"; /* also -0 */
    if (fixed) {
        size_t n = strlen(fixed);
        memcpy(buf, fixed, n + 1);
        return n;
    }
    int n;
    if (v == trunc(v) && fabs(v) < 1e21) {
        n = snprintf(buf, METRICS_NUMBER_MAX, "%.0f", v);
    } else {
        for (int prec = 15;; prec++) {
            n = snprintf(buf, METRICS_NUMBER_MAX, "%.*g", prec, v);
            if (prec == 17 || strtod(buf, NULL) == v) break;
        }
    }
    return n > 0 ? (size_t)n : 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is invalid. */
static size_t utf8_seq_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* <= U+10FFFF */
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL terminator */
            return 0;
    return n;
}

/* Appends s with \ and newline escaped, and " too when `quote`; invalid
 * UTF-8 bytes become U+FFFD. */
static serve_status append_escaped(strbuf *sb, const char *s, int quote)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p; /* start of bytes not yet appended */
    while (*p) {
        const char *rep = NULL;
        size_t adv = 1;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (*p == '"' && quote)
            rep = "\\\"";
        else if ((adv = utf8_seq_len(p)) == 0) {
            rep = "\xEF\xBF\xBD";
            adv = 1;
        }
        if (rep) {
            strbuf_append(sb, run, (size_t)(p - run));
            strbuf_append_str(sb, rep);
            run = p + adv;
        }
        p += adv;
    }
    return strbuf_append(sb, run, (size_t)(p - run));
}

serve_status metrics_escape_label_value(strbuf *sb, const char *value)
{
    if (!value) return strbuf_append(sb, NULL, 1); /* records a format error */
    return append_escaped(sb, value, 1);
}

/* ---- writers ---- */

static serve_status done(const strbuf *sb)
{
    return strbuf_error(sb) == SERVE_OK ? SERVE_OK : SERVE_ERR_BUFFER;
}

serve_status metrics_write_family(strbuf *sb, const char *name, metrics_type type, const char *help)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram", "untyped"};
    if (!sb || !metrics_name_valid(name) || (unsigned)type > METRICS_UNTYPED)
        return SERVE_ERR_INVALID;
    if (help) {
        strbuf_append_str(sb, "# HELP ");
        strbuf_append_str(sb, name);
        strbuf_append_str(sb, " ");
        append_escaped(sb, help, 0);
        strbuf_append_str(sb, "\n");
    }
    strbuf_appendf(sb, "# TYPE %s %s\n", name, type_names[type]);
    return done(sb);
}

/* Appends "<name><suffix>{labels[,le="<le>"]} <value>\n". Arguments already
 * checked. */
static void write_line(strbuf *sb, const char *name, const char *suffix,
                       const metrics_label *labels, size_t n, const char *le, const char *value)
{
    strbuf_append_str(sb, name);
    strbuf_append_str(sb, suffix);
    if (n > 0 || le) {
        strbuf_append_str(sb, "{");
        for (size_t i = 0; i < n; i++) {
            if (i > 0) strbuf_append_str(sb, ",");
            strbuf_append_str(sb, labels[i].name);
            strbuf_append_str(sb, "=\"");
            append_escaped(sb, labels[i].value, 1);
            strbuf_append_str(sb, "\"");
        }
        if (le) {
            strbuf_append_str(sb, n > 0 ? ",le=\"" : "le=\"");
            strbuf_append_str(sb, le);
            strbuf_append_str(sb, "\"");
        }
        strbuf_append_str(sb, "}");
    }
    strbuf_append_str(sb, " ");
    strbuf_append_str(sb, value);
    strbuf_append_str(sb, "\n");
}

/* One sample whose value is already text. */
static serve_status write_sample(strbuf *sb, const char *name, const metrics_label *labels,
                                 size_t n, const char *value)
{
    if (!sb || !metrics_name_valid(name) || !labels_valid(labels, n, 1)) return SERVE_ERR_INVALID;
    write_line(sb, name, "", labels, n, NULL, value);
    return done(sb);
}

serve_status metrics_write_u64(strbuf *sb, const char *name, const metrics_label *labels,
                               size_t nlabels, uint64_t v)
{
    char num[METRICS_NUMBER_MAX];
    snprintf(num, sizeof num, "%" PRIu64, v);
    return write_sample(sb, name, labels, nlabels, num);
}

serve_status metrics_write_i64(strbuf *sb, const char *name, const metrics_label *labels,
                               size_t nlabels, int64_t v)
{
    char num[METRICS_NUMBER_MAX];
    snprintf(num, sizeof num, "%" PRId64, v);
    return write_sample(sb, name, labels, nlabels, num);
}

serve_status metrics_write_double(strbuf *sb, const char *name, const metrics_label *labels,
                                  size_t nlabels, double v)
{
    char num[METRICS_NUMBER_MAX];
    metrics_format_double(v, num);
    return write_sample(sb, name, labels, nlabels, num);
}

serve_status metrics_write_counter(strbuf *sb, const char *name, const metrics_label *labels,
                                   size_t nlabels, const metrics_counter *c)
{
    if (!c) return SERVE_ERR_INVALID;
    return metrics_write_u64(sb, name, labels, nlabels, metrics_counter_get(c));
}

serve_status metrics_write_gauge(strbuf *sb, const char *name, const metrics_label *labels,
                                 size_t nlabels, const metrics_gauge *g)
{
    if (!g) return SERVE_ERR_INVALID;
    return metrics_write_i64(sb, name, labels, nlabels, metrics_gauge_get(g));
}

serve_status metrics_write_fgauge(strbuf *sb, const char *name, const metrics_label *labels,
                                  size_t nlabels, const metrics_fgauge *g)
{
    if (!g) return SERVE_ERR_INVALID;
    return metrics_write_double(sb, name, labels, nlabels, metrics_fgauge_get(g));
}

serve_status metrics_write_histogram_snapshot(strbuf *sb, const char *name,
                                              const metrics_label *labels, size_t nlabels,
                                              const metrics_histogram_snapshot *s)
{
    if (!sb || !s || !metrics_name_valid(name) || !labels_valid(labels, nlabels, 0) ||
        s->nbounds < 0 || s->nbounds > METRICS_HIST_MAX_BOUNDS)
        return SERVE_ERR_INVALID;
    char le[METRICS_NUMBER_MAX], num[METRICS_NUMBER_MAX];
    for (int i = 0; i <= s->nbounds; i++) {
        if (i < s->nbounds)
            metrics_format_double(s->bounds[i], le);
        else
            memcpy(le, "+Inf", 5);
        snprintf(num, sizeof num, "%" PRIu64, s->cumulative[i]);
        write_line(sb, name, "_bucket", labels, nlabels, le, num);
    }
    metrics_format_double(s->sum, num);
    write_line(sb, name, "_sum", labels, nlabels, NULL, num);
    snprintf(num, sizeof num, "%" PRIu64, s->count);
    write_line(sb, name, "_count", labels, nlabels, NULL, num);
    return done(sb);
}

serve_status metrics_write_histogram(strbuf *sb, const char *name, const metrics_label *labels,
                                     size_t nlabels, const metrics_histogram *h)
{
    if (!h) return SERVE_ERR_INVALID;
    metrics_histogram_snapshot s;
    metrics_histogram_snapshot_read(h, &s);
    return metrics_write_histogram_snapshot(sb, name, labels, nlabels, &s);
}

serve_status metrics_write_scalars(strbuf *sb, const metrics_scalar *g, size_t n)
{
    serve_status st = SERVE_OK;
    for (size_t i = 0; i < n && st == SERVE_OK; i++) {
        st = metrics_write_family(sb, g[i].name, g[i].type, g[i].help);
        if (st == SERVE_OK) st = metrics_write_double(sb, g[i].name, NULL, 0, g[i].v);
    }
    return st;
}
