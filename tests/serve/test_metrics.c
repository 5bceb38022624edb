/* Unit tests of src/serve/metrics: exact exposition text of counter, gauge
 * and histogram families, label and help escaping (UTF-8 repair included),
 * number formatting, name checks, histogram bucket edges, and exact sums
 * under concurrent updates from 4 threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "serve/core/metrics.h"

static void test_counter_family_text(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 4096);
    metrics_counter ok = {0}, bad = {0};
    metrics_counter_add(&ok, 16);
    metrics_counter_inc(&ok);
    metrics_counter_add(&bad, UINT64_C(18446744073709551615)); /* largest value, no exponent */
    assert_int_equal(metrics_write_family(&sb, "glint_requests_total", METRICS_COUNTER,
                                          "Requests answered, by model and code."),
                     SERVE_OK);
    metrics_label l1[] = {{"model", "yolo"}, {"code", "200"}};
    metrics_label l2[] = {{"model", "yolo"}, {"code", "500"}};
    assert_int_equal(metrics_write_counter(&sb, "glint_requests_total", l1, 2, &ok), SERVE_OK);
    assert_int_equal(metrics_write_counter(&sb, "glint_requests_total", l2, 2, &bad), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb),
                        "# HELP glint_requests_total Requests answered, by model and code.\n"
                        "# TYPE glint_requests_total counter\n"
                        "glint_requests_total{model=\"yolo\",code=\"200\"} 17\n"
                        "glint_requests_total{model=\"yolo\",code=\"500\"} 18446744073709551615\n");
    strbuf_dispose(&sb);
}

static void test_gauge_text(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 4096);
    metrics_gauge g = {0};
    metrics_gauge_set(&g, 5);
    metrics_gauge_add(&g, -7);
    metrics_fgauge f = {0};
    assert_true(metrics_fgauge_get(&f) == 0.0);
    metrics_fgauge_set(&f, 0.25);
    metrics_fgauge_add(&f, 1.0);
    assert_int_equal(metrics_write_family(&sb, "glint_queue_depth", METRICS_GAUGE, NULL), SERVE_OK);
    assert_int_equal(metrics_write_gauge(&sb, "glint_queue_depth", NULL, 0, &g), SERVE_OK);
    assert_int_equal(metrics_write_family(&sb, "glint_load", METRICS_GAUGE, "Load."), SERVE_OK);
    assert_int_equal(metrics_write_fgauge(&sb, "glint_load", NULL, 0, &f), SERVE_OK);
    metrics_label l = {"kind", "x"};
    assert_int_equal(metrics_write_double(&sb, "glint_load", &l, 1, INFINITY), SERVE_OK);
    assert_int_equal(metrics_write_i64(&sb, "glint_load", &l, 1, INT64_MIN), SERVE_OK);
    assert_int_equal(metrics_write_family(&sb, "glint_misc", METRICS_UNTYPED, ""), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "# TYPE glint_queue_depth gauge\n"
                                          "glint_queue_depth -2\n"
                                          "# HELP glint_load Load.\n"
                                          "# TYPE glint_load gauge\n"
                                          "glint_load 1.25\n"
                                          "glint_load{kind=\"x\"} +Inf\n"
                                          "glint_load{kind=\"x\"} -9223372036854775808\n"
                                          "# HELP glint_misc \n"
                                          "# TYPE glint_misc untyped\n");
    strbuf_dispose(&sb);
}

static void test_histogram_text(void **state)
{
    (void)state;
    static const double bounds[] = {0.005, 0.01, 0.1, 1};
    metrics_histogram h;
    assert_int_equal(metrics_histogram_init(&h, bounds, 4, METRICS_SCALE_NANO), SERVE_OK);
    /* 0.005 and 0.01 sit exactly on bounds: le is inclusive. */
    const double obs[] = {0.001, 0.005, 0.007, 0.5, 2, 0.01};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        metrics_histogram_observe(&h, obs[i]);
    metrics_histogram_observe(&h, NAN); /* ignored */

    strbuf sb;
    strbuf_init(&sb, 4096);
    assert_int_equal(
        metrics_write_family(&sb, "glint_request_seconds", METRICS_HISTOGRAM, "Request latency."),
        SERVE_OK);
    metrics_label l = {"model", "yolo"};
    assert_int_equal(metrics_write_histogram(&sb, "glint_request_seconds", &l, 1, &h), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb),
                        "# HELP glint_request_seconds Request latency.\n"
                        "# TYPE glint_request_seconds histogram\n"
                        "glint_request_seconds_bucket{model=\"yolo\",le=\"0.005\"} 2\n"
                        "glint_request_seconds_bucket{model=\"yolo\",le=\"0.01\"} 4\n"
                        "glint_request_seconds_bucket{model=\"yolo\",le=\"0.1\"} 4\n"
                        "glint_request_seconds_bucket{model=\"yolo\",le=\"1\"} 5\n"
                        "glint_request_seconds_bucket{model=\"yolo\",le=\"+Inf\"} 6\n"
                        "glint_request_seconds_sum{model=\"yolo\"} 2.523\n"
                        "glint_request_seconds_count{model=\"yolo\"} 6\n");

    metrics_histogram_snapshot s;
    metrics_histogram_snapshot_read(&h, &s);
    assert_int_equal(s.count, 6);
    assert_int_equal(s.sum_units, INT64_C(2523000000));

    /* Without labels, le is the only label; batch sizes sum exactly. */
    strbuf_reset(&sb);
    metrics_histogram hb;
    assert_int_equal(metrics_histogram_init(&hb, metrics_batch_bounds, METRICS_BATCH_BOUNDS_COUNT,
                                            METRICS_SCALE_ONE),
                     SERVE_OK);
    metrics_histogram_observe(&hb, 3);
    metrics_histogram_observe(&hb, 32);
    metrics_histogram_observe(&hb, 33);
    assert_int_equal(metrics_write_histogram(&sb, "b", NULL, 0, &hb), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "b_bucket{le=\"1\"} 0\n"
                                          "b_bucket{le=\"2\"} 0\n"
                                          "b_bucket{le=\"4\"} 1\n"
                                          "b_bucket{le=\"8\"} 1\n"
                                          "b_bucket{le=\"16\"} 1\n"
                                          "b_bucket{le=\"32\"} 2\n"
                                          "b_bucket{le=\"+Inf\"} 3\n"
                                          "b_sum 68\n"
                                          "b_count 3\n");
    strbuf_dispose(&sb);
}

static void test_histogram_edges(void **state)
{
    (void)state;
    metrics_histogram h;
    const double bad1[] = {1, 1};
    const double bad2[] = {2, 1};
    const double bad3[] = {NAN};
    const double bad4[] = {1, INFINITY};
    double many[METRICS_HIST_MAX_BOUNDS + 1];
    for (int i = 0; i <= METRICS_HIST_MAX_BOUNDS; i++)
        many[i] = i;
    assert_int_equal(metrics_histogram_init(&h, bad1, 2, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, bad2, 2, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, bad3, 1, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, bad4, 2, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, many, METRICS_HIST_MAX_BOUNDS + 1, 1),
                     SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, many, -1, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, NULL, 2, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, many, 2, 0), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(&h, many, 2, NAN), SERVE_ERR_INVALID);
    assert_int_equal(metrics_histogram_init(NULL, many, 2, 1), SERVE_ERR_INVALID);
    /* A failed init leaves a usable empty histogram. */
    metrics_histogram_observe(&h, 5);
    metrics_histogram_snapshot s;
    metrics_histogram_snapshot_read(&h, &s);
    assert_int_equal(s.nbounds, 0);
    assert_int_equal(s.count, 1);

    /* 32 bounds is the maximum; each value lands in the first bound >= it. */
    assert_int_equal(metrics_histogram_init(&h, many, METRICS_HIST_MAX_BOUNDS, 1), SERVE_OK);
    for (int v = -1; v <= 33; v++)
        metrics_histogram_observe(&h, v);
    metrics_histogram_observe(&h, 0.5);
    metrics_histogram_observe(&h, -INFINITY);
    metrics_histogram_observe(&h, INFINITY);
    metrics_histogram_snapshot_read(&h, &s);
    assert_int_equal(s.cumulative[0], 3);   /* -inf, -1, 0 */
    assert_int_equal(s.cumulative[1], 5);   /* 0.5, 1 */
    assert_int_equal(s.cumulative[31], 35); /* ... 31 */
    assert_int_equal(s.cumulative[32], 38); /* 32, 33, +inf */
    assert_int_equal(s.count, 38);
    /* -inf and +inf saturate the sum and cancel exactly (INT64_MIN + INT64_MAX = -1). */
    assert_int_equal(s.sum_units, 33 * 34 / 2 - 1 + 1 - 1); /* 0..33, -1, 0.5 -> 1, infs */

    /* Zero bounds: only +Inf. */
    assert_int_equal(metrics_histogram_init(&h, NULL, 0, METRICS_SCALE_MICRO), SERVE_OK);
    metrics_histogram_observe(&h, 0.0000015); /* 1.5 micro-units: rounds to 2 */
    strbuf sb;
    strbuf_init(&sb, 1024);
    assert_int_equal(metrics_write_histogram(&sb, "h", NULL, 0, &h), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "h_bucket{le=\"+Inf\"} 1\nh_sum 2e-06\nh_count 1\n");
    strbuf_dispose(&sb);
}

static void test_default_bounds(void **state)
{
    (void)state;
    metrics_histogram h;
    assert_int_equal(metrics_histogram_init(&h, metrics_latency_bounds,
                                            METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO),
                     SERVE_OK);
    assert_true(metrics_latency_bounds[0] == 0.0001);
    assert_true(metrics_latency_bounds[METRICS_LATENCY_BOUNDS_COUNT - 1] == 60);
    const double batch[] = {1, 2, 4, 8, 16, 32};
    assert_memory_equal(metrics_batch_bounds, batch, sizeof batch);
    /* The latency bounds render without exponents. */
    char buf[METRICS_NUMBER_MAX];
    for (int i = 0; i < METRICS_LATENCY_BOUNDS_COUNT; i++) {
        metrics_format_double(metrics_latency_bounds[i], buf);
        assert_null(strchr(buf, 'e'));
        assert_true(strtod(buf, NULL) == metrics_latency_bounds[i]);
    }
}

static void test_escaping(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 4096);
    metrics_label l = {"path", "a\\b\"c\nd"};
    assert_int_equal(metrics_write_u64(&sb, "m", &l, 1, 1), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "m{path=\"a\\\\b\\\"c\\nd\"} 1\n");

    /* HELP escapes backslash and newline but not the double quote. */
    strbuf_reset(&sb);
    assert_int_equal(metrics_write_family(&sb, "m", METRICS_GAUGE, "say \"hi\"\\\nbye"), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "# HELP m say \"hi\"\\\\\\nbye\n# TYPE m gauge\n");

    /* Valid UTF-8 passes; invalid bytes become U+FFFD each. */
    strbuf_reset(&sb);
    assert_int_equal(metrics_escape_label_value(&sb, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
                     SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
#define FFFD "\xef\xbf\xbd"
    const struct {
        const char *in, *out;
    } bad[] = {
        {"a\xff"
         "b",
         "a" FFFD "b"},
        {"\xc0\xaf", FFFD FFFD},                   /* overlong '/' */
        {"\xed\xa0\x80", FFFD FFFD FFFD},          /* surrogate */
        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* > U+10FFFF */
        {"x\xe2\x82", "x" FFFD FFFD},              /* truncated at the end */
        {"\xe2\x82x", FFFD FFFD "x"},              /* truncated in the middle */
        {"\x80\"", FFFD "\\\""},                   /* stray continuation, then a quote */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strbuf_reset(&sb);
        assert_int_equal(metrics_escape_label_value(&sb, bad[i].in), SERVE_OK);
        assert_string_equal(strbuf_cstr(&sb), bad[i].out);
    }
    strbuf_reset(&sb);
    assert_int_equal(metrics_escape_label_value(&sb, NULL), SERVE_ERR_FORMAT);
    assert_int_equal(strbuf_error(&sb), SERVE_ERR_FORMAT); /* sticky like any error */
    strbuf_dispose(&sb);
}

static void test_number_format(void **state)
{
    (void)state;
    const struct {
        double v;
        const char *s;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {60, "60"},
        {-2.5, "-2.5"},
        {0.1, "0.1"},
        {0.0001, "0.0001"},
        {0.00025, "0.00025"},
        {1e-5, "1e-05"},
        {1.0 / 3, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {123456789012.0, "123456789012"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {9007199254740993.0, "9007199254740992"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    char buf[METRICS_NUMBER_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = metrics_format_double(cases[i].v, buf);
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(n, strlen(cases[i].s));
    }
    /* Random finite doubles read back exactly. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) continue;
        size_t n = metrics_format_double(v, buf);
        assert_true(n > 0 && n < METRICS_NUMBER_MAX);
        assert_true(strtod(buf, NULL) == v);
    }
}

static void test_invalid_names(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 4096);
    metrics_counter c = {0};
    const char *bad_names[] = {"", "1abc", "a-b", "a b", "é", NULL};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_false(metrics_name_valid(bad_names[i]));
        assert_int_equal(metrics_write_counter(&sb, bad_names[i], NULL, 0, &c), SERVE_ERR_INVALID);
        assert_int_equal(metrics_write_family(&sb, bad_names[i], METRICS_COUNTER, "h"),
                         SERVE_ERR_INVALID);
    }
    assert_true(metrics_name_valid("a:b_c9"));
    assert_true(metrics_name_valid(":x"));
    metrics_label bad_labels[][1] = {{{"__x", "v"}}, {{"a:b", "v"}}, {{"9", "v"}},
                                     {{"x", NULL}},  {{NULL, "v"}},  {{"", "v"}}};
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++)
        assert_int_equal(metrics_write_u64(&sb, "m", bad_labels[i], 1, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_write_u64(&sb, "m", NULL, 1, 1), SERVE_ERR_INVALID);
    assert_int_equal(metrics_write_family(&sb, "m", (metrics_type)9, "h"), SERVE_ERR_INVALID);
    /* "le" is fine on a plain sample, not on a histogram. */
    metrics_histogram h;
    metrics_histogram_init(&h, NULL, 0, 1);
    metrics_label le = {"le", "1"};
    assert_int_equal(metrics_write_histogram(&sb, "h", &le, 1, &h), SERVE_ERR_INVALID);
    assert_int_equal(strbuf_len(&sb), 0); /* nothing written so far */
    assert_int_equal(metrics_write_u64(&sb, "m", &le, 1, 1), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "m{le=\"1\"} 1\n");
    strbuf_dispose(&sb);
}

static void test_buffer_error(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 20);
    metrics_histogram h;
    metrics_histogram_init(&h, metrics_batch_bounds, METRICS_BATCH_BOUNDS_COUNT, 1);
    assert_int_equal(metrics_write_histogram(&sb, "h", NULL, 0, &h), SERVE_ERR_BUFFER);
    assert_int_equal(strbuf_error(&sb), SERVE_ERR_LIMIT);
    assert_true(strbuf_len(&sb) <= 20);
    /* Later writes report the sticky error. */
    assert_int_equal(metrics_write_u64(&sb, "m", NULL, 0, 1), SERVE_ERR_BUFFER);
    assert_string_equal(serve_strerror(SERVE_ERR_BUFFER), "output buffer error");
    strbuf_dispose(&sb);
}

/* ---- concurrency ---- */

enum { THREADS = 4, PER_THREAD = 200000 };

typedef struct shared {
    metrics_counter counter;
    metrics_gauge gauge;
    metrics_fgauge fgauge;
    metrics_histogram hist;
} shared;

typedef struct worker_arg {
    shared *s;
    int id;
} worker_arg;

/* The value a thread observes at step i: spread over all latency buckets,
 * with fractional nanoseconds to exercise rounding. */
static double value_at(int id, int i)
{
    return (double)((i * 7919 + id * 104729) % 70000000) * 1e-6 + 0.0000004;
}

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_counter_add(&a->s->counter, 3);
        metrics_gauge_add(&a->s->gauge, (i & 1) ? -1 : 2);
        metrics_fgauge_add(&a->s->fgauge, 0.5);
        metrics_histogram_observe(&a->s->hist, value_at(a->id, i));
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    shared s;
    memset(&s, 0, sizeof s);
    assert_int_equal(metrics_histogram_init(&s.hist, metrics_latency_bounds,
                                            METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO),
                     SERVE_OK);
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (worker_arg){&s, t};
        assert_int_equal(pthread_create(&th[t], NULL, worker, &args[t]), 0);
    }
    /* Render while the workers run: every snapshot is self-consistent. */
    for (int k = 0; k < 50; k++) {
        metrics_histogram_snapshot snap;
        metrics_histogram_snapshot_read(&s.hist, &snap);
        assert_int_equal(snap.cumulative[snap.nbounds], snap.count);
        for (int b = 1; b <= snap.nbounds; b++)
            assert_true(snap.cumulative[b] >= snap.cumulative[b - 1]);
    }
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);

    /* Expected totals, computed sequentially. */
    int64_t units = 0;
    uint64_t per_bucket[METRICS_LATENCY_BOUNDS_COUNT + 1] = {0};
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            double v = value_at(t, i);
            units += llround(v * 1e9);
            int b = 0;
            while (b < METRICS_LATENCY_BOUNDS_COUNT && v > metrics_latency_bounds[b])
                b++;
            per_bucket[b]++;
        }
    assert_int_equal(metrics_counter_get(&s.counter), (uint64_t)3 * THREADS * PER_THREAD);
    assert_int_equal(metrics_gauge_get(&s.gauge), (int64_t)THREADS * (PER_THREAD / 2) * 1);
    assert_true(metrics_fgauge_get(&s.fgauge) == 0.5 * THREADS * PER_THREAD);
    metrics_histogram_snapshot snap;
    metrics_histogram_snapshot_read(&s.hist, &snap);
    assert_int_equal(snap.count, (uint64_t)THREADS * PER_THREAD);
    assert_int_equal(snap.sum_units, units);
    uint64_t acc = 0;
    for (int b = 0; b <= METRICS_LATENCY_BOUNDS_COUNT; b++) {
        acc += per_bucket[b];
        assert_int_equal(snap.cumulative[b], acc);
    }
}

static void test_scalars(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 4096);
    const metrics_scalar g[] = {{"glint_a_total", "A things", METRICS_COUNTER, 3},
                                {"glint_b", "B now", METRICS_GAUGE, 0.5}};
    assert_int_equal(metrics_write_scalars(&sb, g, 2), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "# HELP glint_a_total A things\n"
                                          "# TYPE glint_a_total counter\n"
                                          "glint_a_total 3\n"
                                          "# HELP glint_b B now\n"
                                          "# TYPE glint_b gauge\n"
                                          "glint_b 0.5\n");
    const metrics_scalar bad[] = {{"glint ok", "bad name", METRICS_GAUGE, 1}};
    assert_int_equal(metrics_write_scalars(&sb, bad, 1), SERVE_ERR_INVALID);
    strbuf_dispose(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_family_text), cmocka_unit_test(test_gauge_text),
        cmocka_unit_test(test_histogram_text),      cmocka_unit_test(test_histogram_edges),
        cmocka_unit_test(test_default_bounds),      cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_number_format),       cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_buffer_error),        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
