/* Unit tests of src/bench/report*: summary.json carries what the issue
 * asks (offered vs achieved, percentiles, errors by kind, steps, the rule
 * and max steady RPS, the SLA) and reads back for compare; compare gates
 * regressions and SLAs with exit codes 0/2/1; report.html holds one chart
 * per view, each with its data paths; SVG text is escaped and NaN breaks
 * a line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/report.h"
#include "bench/report_svg.h"

static char dir[64];
static payload_set payloads;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/glint-report-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    payload_spec spec = {0};
    httpc_url u;
    httpc_url_parse("http://127.0.0.1:1/x", &u);
    return payload_set_build(&spec, &u, &payloads) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"a.json",      "b.json",      "c.json",    "bad.json",
                           "report.html", "seconds.csv", "steps.csv", "svg.txt"};
    char p[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    payload_set_dispose(&payloads);
    return 0;
}

static void config(bench_config *c)
{
    bench_config_defaults(c);
    c->mode = BENCH_RAMP;
    snprintf(c->url_text, sizeof c->url_text, "http://127.0.0.1:1/x?a=<b>&c");
    httpc_url_parse("http://127.0.0.1:1/x", &c->url);
    c->payloads = &payloads;
    c->max_clients = 3;
}

/* A ramp of 3 steps: 10, 20, 30 offered; the last one overloaded. lat_ms
 * scales every latency. */
static void result(bench_result *r, double lat_ms, double rps_scale)
{
    memset(r, 0, sizeof *r);
    bench_acc_reset(&r->total);
    r->nsteps = 3;
    r->steps = calloc(3, sizeof *r->steps);
    r->nseconds = 6;
    r->seconds = calloc(6, sizeof *r->seconds);
    assert_non_null(r->steps);
    assert_non_null(r->seconds);
    bench_rule rule = BENCH_RULE_DEFAULT;
    for (int i = 0; i < 3; i++) {
        bench_step *s = &r->steps[i];
        s->index = i;
        s->level = i + 1;
        s->start_s = 2 * i;
        s->end_s = 2 * i + 2;
        s->offered_rps = 10.0 * (i + 1);
        s->achieved_rps = (i < 2 ? s->offered_rps : 22) * rps_scale;
        s->success_rate = 1;
        s->finished = s->ok = (uint64_t)(s->achieved_rps * 2);
        s->p50_ms = lat_ms * (i + 1);
        s->p99_ms = lat_ms * 2 * (i + 1);
        s->stable = -1;
        s->server_cpu = NAN;
        s->server_rss_mb = NAN;
        s->steady = bench_step_is_steady(s, &rule);
    }
    for (int i = 0; i < 6; i++) {
        bench_second *s = &r->seconds[i];
        s->t = i + 1;
        s->step = i / 2;
        s->level = i / 2 + 1;
        s->offered_rps = 10.0 * (i / 2 + 1);
        s->achieved_rps = r->steps[i / 2].achieved_rps;
        s->ok_rps = s->achieved_rps;
        s->responses = s->ok = (uint64_t)s->achieved_rps;
        s->p50_ms = lat_ms;
        s->p99_ms = lat_ms * 3;
        s->max_ms = lat_ms * 4;
        s->server_cpu = s->server_rss_mb = NAN;
    }
    for (int i = 0; i < 1000; i++)
        hdr_record(&r->total.lat, (uint64_t)(lat_ms * 1000 * (1 + i % 10)));
    r->total.responses = 1000;
    r->total.ok = 990;
    r->total.failed = 10;
    r->total.errors[BENCH_E_TIMEOUT] = 4;
    r->total.errors[BENCH_E_HTTP_5XX] = 6;
    r->total.status[200 - 100] = 990;
    r->total.status[503 - 100] = 6;
    r->run_s = 6;
    r->offered_rps = 20;
    r->max_steady_step = bench_max_steady(r->steps, 3, &r->max_steady_rps);
    bench_metrics_from_acc(&r->metrics, &r->total, r->run_s, r->max_steady_rps);
    snprintf(r->stop_reason, sizeof r->stop_reason, "all steps done");
}

static void path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void test_summary_contents(void **state)
{
    (void)state;
    bench_config c;
    config(&c);
    bench_result r;
    result(&r, 10, 1);
    sla_spec sla;
    assert_int_equal(sla_parse("p99<1000ms,errors<0.1%", &sla), BENCH_OK);
    report_sla rs = {"p99<1000ms,errors<0.1%", &sla, sla_met(&sla, &r.metrics)};
    assert_false(rs.met); /* 1% errors */
    char p[128];
    path(p, sizeof p, "a.json");
    assert_int_equal(report_write_summary(p, &c, &r, &rs), BENCH_OK);
    json_t *j = json_load_file(p, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "ramp");
    assert_float_equal(json_number_value(json_object_get(j, "max_steady_rps")), 20, 0);
    assert_int_equal(json_array_size(json_object_get(j, "steps")), 3);
    json_t *s2 = json_array_get(json_object_get(j, "steps"), 2);
    assert_false(json_is_true(json_object_get(s2, "steady")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "errors"), "timeout")),
                     4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "status_codes"), "503")),
                     6);
    json_t *lat = json_object_get(j, "latency_ms");
    for (const char *k = "p50\0p90\0p95\0p99\0p99.9\0max\0"; *k; k += strlen(k) + 1)
        assert_true(json_is_number(json_object_get(lat, k)));
    assert_non_null(strstr(json_string_value(json_object_get(j, "steady_rule")), "95%"));
    json_t *js = json_object_get(j, "sla");
    assert_false(json_is_true(json_object_get(js, "met")));
    assert_int_equal(json_array_size(json_object_get(js, "clauses")), 2);
    assert_true(
        json_is_true(json_object_get(json_array_get(json_object_get(js, "clauses"), 0), "met")));
    json_decref(j);

    bench_metrics m;
    char label[256];
    assert_int_equal(report_load_metrics(p, &m, label, sizeof label), BENCH_OK);
    assert_float_equal(m.steady_rps, 20, 0);
    assert_float_equal(m.error_pct, 1, 1e-9);
    assert_float_equal(m.p99_ms, r.metrics.p99_ms, 1e-6);
    assert_non_null(strstr(label, "ramp"));
    bench_result_dispose(&r);
}

static void test_compare_gates(void **state)
{
    (void)state;
    bench_config c;
    config(&c);
    bench_result base, same, worse, lost;
    result(&base, 10, 1);
    result(&same, 10.3, 1); /* +3% latency: inside 10% */
    result(&worse, 13, 1);  /* +30% latency */
    result(&lost, 10, 0.8); /* -20% throughput: no step is steady any more */
    char pa[128], pb[128], pc[128], bad[128];
    path(pa, sizeof pa, "a.json");
    path(pb, sizeof pb, "b.json");
    path(pc, sizeof pc, "c.json");
    path(bad, sizeof bad, "bad.json");
    assert_int_equal(report_write_summary(pa, &c, &base, NULL), BENCH_OK);
    assert_int_equal(report_write_summary(pb, &c, &same, NULL), BENCH_OK);
    assert_int_equal(report_write_summary(pc, &c, &worse, NULL), BENCH_OK);
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(report_compare(devnull, pa, pb, NULL, 0.10), 0);
    assert_int_equal(report_compare(devnull, pa, pc, NULL, 0.10), 2);
    assert_int_equal(report_compare(devnull, pa, pc, NULL, 0.50), 0); /* tolerance is a flag */
    assert_int_equal(report_write_summary(pc, &c, &lost, NULL), BENCH_OK);
    assert_int_equal(report_compare(devnull, pa, pc, NULL, 0.50), 2); /* steady_rps vanished */
    assert_int_equal(report_write_summary(pc, &c, &worse, NULL), BENCH_OK);
    sla_spec sla;
    assert_int_equal(sla_parse("p50<5ms", &sla), BENCH_OK);
    assert_int_equal(report_compare(devnull, pa, pb, &sla, 0.10), 2);
    assert_int_equal(report_compare(devnull, pa, "/nonexistent.json", NULL, 0.10), 1);
    FILE *f = fopen(bad, "w");
    fputs("{\"tool\":\"other\"}", f);
    fclose(f);
    assert_int_equal(report_compare(devnull, pa, bad, NULL, 0.10), 1);
    f = fopen(bad, "w");
    fputs("{not json", f);
    fclose(f);
    assert_int_equal(report_compare(devnull, bad, pa, NULL, 0.10), 1);
    fclose(devnull);
    /* the side-by-side text names the regressions */
    char out[128];
    path(out, sizeof out, "svg.txt");
    f = fopen(out, "w");
    report_compare(f, pa, pc, NULL, 0.10);
    fclose(f);
    size_t n;
    f = fopen(out, "r");
    char text[8192];
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    assert_non_null(strstr(text, "REGRESSION"));
    assert_non_null(strstr(text, "FAIL"));
    bench_result_dispose(&base);
    bench_result_dispose(&same);
    bench_result_dispose(&worse);
    bench_result_dispose(&lost);
}

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_html(void **state)
{
    (void)state;
    bench_config c;
    config(&c);
    bench_result r;
    result(&r, 10, 1);
    char p[128];
    path(p, sizeof p, "report.html");
    assert_int_equal(report_write_html(p, &c, &r, NULL), BENCH_OK);
    char *h = slurp(p);
    assert_int_equal(count(h, "<svg class=\"chart\""), 6);
    assert_int_equal(count(h, "no data"), 0);
    assert_true(count(h, "<path class=\"series") >= 12);
    assert_int_equal(count(h, "<script"), 0);
    assert_int_equal(count(h, "http://127.0.0.1:1/x?a=&lt;b&gt;&amp;c"), 3); /* escaped */
    assert_non_null(strstr(h, "id=\"max-steady\">20.0<"));
    free(h);
    path(p, sizeof p, "seconds.csv");
    assert_int_equal(report_write_csvs(dir, &c, &r), BENCH_OK);
    h = slurp(p);
    assert_int_equal(count(h, "\n"), 7);
    free(h);
    assert_int_equal(report_write_html("/nonexistent/dir/r.html", &c, &r, NULL), BENCH_ERR_IO);
    bench_result_dispose(&r);
}

static void test_svg(void **state)
{
    (void)state;
    char p[128];
    path(p, sizeof p, "svg.txt");
    FILE *f = fopen(p, "w");
    double x[5] = {0, 1, 2, 3, 4}, y[5] = {1, 2, NAN, 4, 5};
    svg_series s = {"a<b", "#000", x, y, 5, 0, 1, 0};
    svg_chart c = {"c1", "T & t", "x", "y", 0, 0, &s, 1, NULL, 0, NULL, 0, 1, 0};
    svg_chart_write(f, &c);
    svg_series e = {"none", "#000", x, y, 0, 0, 0, 0};
    svg_chart c2 = {"c2", "empty", "x", "y", 0, 1, &e, 1, NULL, 0, NULL, 0, 0, 0};
    svg_chart_write(f, &c2);
    fclose(f);
    char *t = slurp(p);
    assert_non_null(strstr(t, "T &amp; t"));
    assert_non_null(strstr(t, "data-name=\"a&lt;b\""));
    assert_int_equal(count(t, "<circle class=\"point\""), 4); /* NaN point skipped */
    /* the NaN splits the line into two sub-paths */
    const char *d = strstr(t, " d=\"");
    assert_non_null(d);
    const char *end = strchr(d + 4, '"');
    int moves = 0;
    for (const char *q = d; q < end; q++)
        moves += *q == 'M';
    assert_int_equal(moves, 2);
    assert_non_null(strstr(t, "no data"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_contents),
        cmocka_unit_test(test_compare_gates),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_svg),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
