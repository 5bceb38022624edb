/* metrics: counters, gauges and histograms that any thread updates without
 * locks (C11 atomics), rendered in the Prometheus text exposition format
 * 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Updating: metrics_counter_add(), metrics_gauge_set/add(),
 * metrics_fgauge_set/add(), metrics_histogram_observe() are lock-free and may
 * be called from any thread at any time after the metric was initialised
 * (zero-initialisation is a valid initial state for counters and gauges; a
 * histogram needs metrics_histogram_init() before it is shared). Updates use
 * relaxed ordering: a reader sees every completed update eventually, in no
 * particular order across metrics.
 *
 * Rendering: one thread writes a page into a strbuf (see strbuf.h) family by
 * family: metrics_write_family() once per metric name ("# HELP" and "# TYPE"
 * lines), then one sample writer per label set:
 *
 *     metrics_write_family(sb, "glint_requests_total", METRICS_COUNTER,
 *                          "Requests answered.");
 *     metrics_label l[] = {{"model", "yolo"}, {"code", "200"}};
 *     metrics_write_counter(sb, "glint_requests_total", l, 2, &ok_count);
 *
 * gives
 *
 *     # HELP glint_requests_total Requests answered.
 *     # TYPE glint_requests_total counter
 *     glint_requests_total{model="yolo",code="200"} 17
 *
 * Writers may run while other threads update the metrics. Names are checked
 * (metric [a-zA-Z_:][a-zA-Z0-9_:]*, label [a-zA-Z_][a-zA-Z0-9_]*, not
 * starting with "__", "le" refused on histograms); label values and help
 * text are escaped as the format requires, with invalid UTF-8 replaced by
 * U+FFFD so that the page always parses. Numbers: integers in decimal,
 * integral doubles below 1e21 without exponent or fraction ("60", "0"),
 * others in the shortest %.15g..%.17g form that reads back exactly, and
 * "+Inf", "-Inf", "NaN". Formatting assumes the C locale for LC_NUMERIC
 * (the default unless the program calls setlocale()).
 */
#ifndef GLINT_SERVE_METRICS_H
#define GLINT_SERVE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strbuf.h"

#include "serve/core/status.h"

typedef enum metrics_type {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
    METRICS_UNTYPED,
} metrics_type;

/* ---- counters: monotonically increasing uint64 ---- */

/* Fields are private. Zero-initialised = 0. */
typedef struct metrics_counter {
    _Atomic uint64_t value;
} metrics_counter;

static inline void metrics_counter_add(metrics_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

static inline void metrics_counter_inc(metrics_counter *c)
{
    metrics_counter_add(c, 1);
}

static inline uint64_t metrics_counter_get(const metrics_counter *c)
{
    return atomic_load_explicit(&c->value, memory_order_relaxed);
}

/* ---- gauges: int64 (metrics_gauge) or double (metrics_fgauge) ---- */

/* Fields are private. Zero-initialised = 0. Addition wraps on overflow. */
typedef struct metrics_gauge {
    _Atomic int64_t value;
} metrics_gauge;

static inline void metrics_gauge_set(metrics_gauge *g, int64_t v)
{
    atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

static inline void metrics_gauge_add(metrics_gauge *g, int64_t d)
{
    atomic_fetch_add_explicit(&g->value, d, memory_order_relaxed);
}

static inline int64_t metrics_gauge_get(const metrics_gauge *g)
{
    return atomic_load_explicit(&g->value, memory_order_relaxed);
}

/* A double gauge: the bits of a double in an atomic word (zero bits = 0.0).
 * metrics_fgauge_add() is a compare-and-swap loop, so concurrent adds are
 * all applied (in some order, with double rounding). */
typedef struct metrics_fgauge {
    _Atomic uint64_t bits;
} metrics_fgauge;

static inline void metrics_fgauge_set(metrics_fgauge *g, double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    atomic_store_explicit(&g->bits, b, memory_order_relaxed);
}

static inline double metrics_fgauge_get(const metrics_fgauge *g)
{
    uint64_t b = atomic_load_explicit(&g->bits, memory_order_relaxed);
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

void metrics_fgauge_add(metrics_fgauge *g, double d);

/* ---- histograms ---- */

#define METRICS_HIST_MAX_BOUNDS 32 /* finite upper bounds; +Inf is implied */

/* Units of the exact histogram sum per unit of observed value: the sum is an
 * atomic int64 of round(value * scale), so concurrent observations never lose
 * updates. A seconds histogram with METRICS_SCALE_NANO sums nanoseconds
 * (overflows after 292 years of summed latency). */
#define METRICS_SCALE_NANO 1e9
#define METRICS_SCALE_MICRO 1e6
#define METRICS_SCALE_ONE 1.0

/* Fields are private: init with metrics_histogram_init(). */
typedef struct metrics_histogram {
    int nbounds;
    double bounds[METRICS_HIST_MAX_BOUNDS];
    double scale;
    _Atomic uint64_t buckets[METRICS_HIST_MAX_BOUNDS + 1]; /* per bucket, last = +Inf */
    _Atomic int64_t sum_units;
} metrics_histogram;

/* A consistent-enough copy for rendering: count always equals the +Inf
 * cumulative bucket (both come from the same bucket reads); sum may miss
 * observations that were in flight during the read. */
typedef struct metrics_histogram_snapshot {
    int nbounds;
    double bounds[METRICS_HIST_MAX_BOUNDS];
    uint64_t cumulative[METRICS_HIST_MAX_BOUNDS + 1]; /* observations <= bounds[i]; last: all */
    uint64_t count;
    int64_t sum_units; /* exact sum in units of 1/scale */
    double sum;        /* sum_units / scale */
} metrics_histogram_snapshot;

/* Initialises `h` with `n` (0..METRICS_HIST_MAX_BOUNDS) finite, strictly
 * increasing upper bounds (copied) and a sum scale (finite, > 0; e.g.
 * METRICS_SCALE_NANO). All counts start at 0. Errors: SERVE_ERR_INVALID
 * (NULL, n out of range, NaN/infinite/unsorted bounds, bad scale); `h` is
 * then an empty histogram with no bounds and scale 1. Not thread-safe: call
 * before sharing `h`. */
serve_status metrics_histogram_init(metrics_histogram *h, const double *bounds, int n,
                                    double scale);

/* Counts `v` in the first bucket whose bound is >= v (the +Inf bucket if
 * none) and adds round(v * scale), saturated to the int64 range, to the sum.
 * NaN is ignored. Lock-free, any thread. */
void metrics_histogram_observe(metrics_histogram *h, double v);

/* Reads `h` into *out. Any thread. */
void metrics_histogram_snapshot_read(const metrics_histogram *h, metrics_histogram_snapshot *out);

/* Default bounds, in seconds, for request and stage latencies of an
 * inference server: 100 us .. 60 s on a 1-2.5-5 ladder. */
#define METRICS_LATENCY_BOUNDS_COUNT 18
extern const double metrics_latency_bounds[METRICS_LATENCY_BOUNDS_COUNT];

/* Default bounds for batch sizes: 1, 2, 4, 8, 16, 32. */
#define METRICS_BATCH_BOUNDS_COUNT 6
extern const double metrics_batch_bounds[METRICS_BATCH_BOUNDS_COUNT];

/* ---- rendering into a strbuf ---- */

typedef struct metrics_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not "__..." */
    const char *value; /* any string; escaped */
} metrics_label;

/* Writes the family header:
 *     # HELP <name> <help, escaped>
 *     # TYPE <name> <counter|gauge|histogram|untyped>
 * `help` may be NULL (no HELP line). Call once per name, before its samples.
 * Errors: SERVE_ERR_INVALID (bad name or type; nothing written),
 * SERVE_ERR_BUFFER (the strbuf failed, now or earlier). */
serve_status metrics_write_family(strbuf *sb, const char *name, metrics_type type,
                                  const char *help);

/* Write one sample line "<name>{<labels>} <value>\n" ("<name> <value>\n"
 * when nlabels is 0). `labels` may be NULL when nlabels is 0. Errors as for
 * metrics_write_family(). */
serve_status metrics_write_u64(strbuf *sb, const char *name, const metrics_label *labels,
                               size_t nlabels, uint64_t v);
serve_status metrics_write_i64(strbuf *sb, const char *name, const metrics_label *labels,
                               size_t nlabels, int64_t v);
serve_status metrics_write_double(strbuf *sb, const char *name, const metrics_label *labels,
                                  size_t nlabels, double v);

/* One unlabelled series: a family header and its single sample. */
typedef struct metrics_scalar {
    const char *name, *help;
    metrics_type type;
    double v;
} metrics_scalar;

/* Writes n unlabelled series (family header + sample each); the first
 * error, or SERVE_OK. */
serve_status metrics_write_scalars(strbuf *sb, const metrics_scalar *g, size_t n);

/* The current value of a metric as one sample line (see above). */
serve_status metrics_write_counter(strbuf *sb, const char *name, const metrics_label *labels,
                                   size_t nlabels, const metrics_counter *c);
serve_status metrics_write_gauge(strbuf *sb, const char *name, const metrics_label *labels,
                                 size_t nlabels, const metrics_gauge *g);
serve_status metrics_write_fgauge(strbuf *sb, const char *name, const metrics_label *labels,
                                  size_t nlabels, const metrics_fgauge *g);

/* One histogram series: nbounds + 1 cumulative lines
 *     <name>_bucket{<labels>,le="<bound>"} <count>      (last le="+Inf")
 * then <name>_sum{<labels>} and <name>_count{<labels>}. The _snapshot form
 * renders a snapshot taken earlier. A label named "le" is refused. */
serve_status metrics_write_histogram(strbuf *sb, const char *name, const metrics_label *labels,
                                     size_t nlabels, const metrics_histogram *h);
serve_status metrics_write_histogram_snapshot(strbuf *sb, const char *name,
                                              const metrics_label *labels, size_t nlabels,
                                              const metrics_histogram_snapshot *s);

/* Appends `value` escaped for a label value (without the quotes): backslash
 * -> \\, double quote -> \", newline -> \n, invalid UTF-8 bytes -> U+FFFD.
 * Returns the strbuf's status. */
serve_status metrics_escape_label_value(strbuf *sb, const char *value);

/* Formats `v` as described at the top into buf (at least
 * METRICS_NUMBER_MAX bytes, NUL-terminated); returns the length. */
#define METRICS_NUMBER_MAX 32
size_t metrics_format_double(double v, char *buf);

/* 1 if `name` is a valid metric name, 0 if not. */
int metrics_name_valid(const char *name);

#endif
