/* Unit tests of src/bench/sla: the grammar (metrics, operators, units,
 * spaces), refused specs with their messages, evaluation including
 * unmeasured (NaN) metrics, and the p99 bound the steady rule takes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/sla.h"

static bench_metrics metrics(void)
{
    bench_metrics m = {0};
    m.rps = 50;
    m.ok_rps = 49.9;
    m.steady_rps = 40;
    m.p50_ms = 20;
    m.p90_ms = 60;
    m.p95_ms = 80;
    m.p99_ms = 120;
    m.p999_ms = 300;
    m.max_ms = 900;
    m.mean_ms = 25;
    m.error_pct = 0.05;
    m.success_pct = 99.95;
    m.requests = 10000;
    return m;
}

static void test_issue_example(void **state)
{
    (void)state;
    sla_spec s;
    assert_int_equal(sla_parse("p99<150ms,rps>=40,errors<0.1%", &s), BENCH_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.clauses[0].metric, "p99");
    assert_int_equal(s.clauses[0].op, SLA_LT);
    assert_float_equal(s.clauses[0].threshold, 150, 0);
    assert_string_equal(s.clauses[1].metric, "rps");
    assert_int_equal(s.clauses[1].op, SLA_GE);
    assert_string_equal(s.clauses[2].metric, "errors");
    assert_float_equal(s.clauses[2].threshold, 0.1, 1e-12);
    bench_metrics m = metrics();
    assert_true(sla_met(&s, &m));
    m.p99_ms = 150; /* strict < */
    assert_false(sla_met(&s, &m));
    m = metrics();
    m.error_pct = 0.2;
    assert_false(sla_met(&s, &m));
    m = metrics();
    m.rps = 39.99;
    assert_false(sla_met(&s, &m));
}

static void test_units_and_spaces(void **state)
{
    (void)state;
    sla_spec s;
    assert_int_equal(sla_parse(" p50 <= 1500 us , p99.9 < 0.5 s, max>0,mean<=30", &s), BENCH_OK);
    assert_int_equal(s.n, 4);
    assert_float_equal(s.clauses[0].threshold, 1.5, 1e-12);
    assert_string_equal(s.clauses[1].metric, "p999");
    assert_float_equal(s.clauses[1].threshold, 500, 1e-9);
    assert_int_equal(s.clauses[2].op, SLA_GT);
    assert_int_equal(s.clauses[3].op, SLA_LE);
    assert_int_equal(sla_parse("success>=99.9%,steady_rps>=10,ok_rps>1,P95<100", &s), BENCH_OK);
    assert_string_equal(s.clauses[3].metric, "p95");
    char text[64];
    sla_clause_text(&s.clauses[0], text, sizeof text);
    assert_string_equal(text, "success >= 99.9%");
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {"",         "  ",         "p98<1",       "p99",
                         "p99<",     "p99=5",      "p99<5 ms ms", "p99<5min",
                         "rps>=4/s", "errors<1ms", "errors<101%", "p99<-1",
                         "p99<1,",   ",p99<1",     "p99<nan",     "p99<1e400"};
    sla_spec s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sla_parse(bad[i], &s) != BENCH_ERR_INVALID) fail_msg("accepted '%s'", bad[i]);
    sla_parse("p98<1", &s);
    assert_non_null(strstr(bench_last_error(), "unknown metric"));
    char many[512] = "p99<1";
    size_t len = strlen(many);
    for (int i = 0; i < SLA_MAX_CLAUSES; i++)
        len += (size_t)snprintf(many + len, sizeof many - len, ",p99<1");
    assert_int_equal(sla_parse(many, &s), BENCH_ERR_INVALID);
}

static void test_unmeasured_fails(void **state)
{
    (void)state;
    sla_spec s;
    bench_metrics m = metrics();
    m.steady_rps = NAN;
    assert_int_equal(sla_parse("steady_rps>=0", &s), BENCH_OK);
    assert_false(sla_met(&s, &m));
    m = metrics();
    m.p99_ms = NAN;
    assert_int_equal(sla_parse("p99<1000000", &s), BENCH_OK);
    assert_false(sla_met(&s, &m));
    assert_true(isnan(sla_metric_value(&m, "nonsense")));
}

static void test_p99_bound(void **state)
{
    (void)state;
    sla_spec s;
    assert_int_equal(sla_parse("p99<150ms,rps>=40", &s), BENCH_OK);
    assert_float_equal(sla_p99_bound(&s), 150, 0);
    assert_int_equal(sla_parse("p99<=0.2s,p99<300", &s), BENCH_OK);
    assert_float_equal(sla_p99_bound(&s), 200, 1e-9);
    assert_int_equal(sla_parse("p99>1,p50<3", &s), BENCH_OK);
    assert_true(isnan(sla_p99_bound(&s)));
    assert_true(isnan(sla_p99_bound(NULL)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_example), cmocka_unit_test(test_units_and_spaces),
        cmocka_unit_test(test_refused),       cmocka_unit_test(test_unmeasured_fails),
        cmocka_unit_test(test_p99_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
