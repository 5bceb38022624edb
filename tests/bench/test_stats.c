/* Unit tests of src/bench/bench_stats: step measurement from an
 * accumulator, the steady-step rule at its boundaries (95% achieved, 99%
 * success, the SLA's p99, closed-loop stability), the max steady RPS pick,
 * and whole-run metrics (NaN when nothing was measured). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_stats.h"

static bench_acc *acc_new(void)
{
    bench_acc *a = malloc(sizeof *a);
    assert_non_null(a);
    bench_acc_reset(a);
    return a;
}

static bench_step step(double offered, double achieved, double success, double p99)
{
    bench_step s;
    memset(&s, 0, sizeof s);
    s.offered_rps = offered;
    s.achieved_rps = achieved;
    s.success_rate = success;
    s.p99_ms = p99;
    s.finished = 100;
    s.stable = -1;
    return s;
}

static void test_measure(void **state)
{
    (void)state;
    bench_acc *a = acc_new();
    for (int i = 1; i <= 198; i++)
        hdr_record(&a->lat, (uint64_t)i * 1000); /* 1..198 ms */
    a->responses = 198;
    a->ok = 196;
    a->failed = 4; /* 2 of them with a response (5xx), 2 timeouts */
    bench_step s = step(NAN, 0, 0, 0);
    bench_step_measure(&s, a, 2.0);
    assert_float_equal(s.achieved_rps, 99, 1e-9);
    assert_float_equal(s.ok_rps, 98, 1e-9);
    assert_int_equal(s.finished, 200);
    assert_float_equal(s.success_rate, 0.98, 1e-12);
    assert_float_equal(s.p50_ms, 99, 99 * 0.01);
    assert_float_equal(s.p99_ms, 197, 197 * 0.01);
    assert_float_equal(s.max_ms, 198, 1e-9);
    free(a);
}

static void test_rule_boundaries(void **state)
{
    (void)state;
    bench_rule r = BENCH_RULE_DEFAULT;
    bench_step s = step(100, 95, 0.99, 50);
    assert_true(bench_step_is_steady(&s, &r));
    s = step(100, 94.99, 1, 50);
    assert_false(bench_step_is_steady(&s, &r));
    s = step(100, 100, 0.9899, 50);
    assert_false(bench_step_is_steady(&s, &r));
    s = step(100, 100, 1, 50);
    s.finished = 0;
    assert_false(bench_step_is_steady(&s, &r));
    /* an SLA p99 bound joins the rule */
    r.max_p99_ms = 40;
    s = step(100, 100, 1, 50);
    assert_false(bench_step_is_steady(&s, &r));
    r.max_p99_ms = 50;
    assert_true(bench_step_is_steady(&s, &r));
    /* thresholds are flags */
    bench_rule loose = {0.5, 0.5, NAN};
    s = step(100, 60, 0.6, 1e6);
    assert_true(bench_step_is_steady(&s, &loose));
    /* closed loop: no offered rate, stability instead */
    r = (bench_rule)BENCH_RULE_DEFAULT;
    s = step(NAN, 10, 1, 5);
    s.stable = 1;
    assert_true(bench_step_is_steady(&s, &r));
    s.stable = 0;
    assert_false(bench_step_is_steady(&s, &r));
    char text[512];
    bench_rule_text(&r, text, sizeof text);
    assert_non_null(strstr(text, "95%"));
    assert_non_null(strstr(text, "99%"));
    r.max_p99_ms = 150;
    bench_rule_text(&r, text, sizeof text);
    assert_non_null(strstr(text, "p99 <= 150 ms"));
}

static void test_max_steady(void **state)
{
    (void)state;
    bench_step st[4] = {step(10, 10, 1, 1), step(20, 19.5, 1, 1), step(30, 24, 1, 1),
                        step(40, 22, 1, 1)};
    bench_rule r = BENCH_RULE_DEFAULT;
    for (int i = 0; i < 4; i++)
        st[i].steady = bench_step_is_steady(&st[i], &r);
    double rps;
    assert_int_equal(bench_max_steady(st, 4, &rps), 1);
    assert_float_equal(rps, 20, 0); /* the offered rate, not the achieved one */
    /* highest achieved wins even when it is not the last steady step */
    bench_step st2[3] = {step(10, 10, 1, 1), step(30, 29, 1, 1), step(20, 20, 1, 1)};
    for (int i = 0; i < 3; i++)
        st2[i].steady = 1;
    assert_int_equal(bench_max_steady(st2, 3, &rps), 1);
    assert_float_equal(rps, 30, 0);
    /* closed loop: the achieved rate */
    bench_step c = step(NAN, 77, 1, 1);
    c.steady = 1;
    assert_int_equal(bench_max_steady(&c, 1, &rps), 0);
    assert_float_equal(rps, 77, 0);
    c.steady = 0;
    assert_int_equal(bench_max_steady(&c, 1, &rps), -1);
    assert_true(isnan(rps));
}

static void test_metrics(void **state)
{
    (void)state;
    bench_acc *a = acc_new();
    bench_metrics m;
    bench_metrics_from_acc(&m, a, 10, NAN);
    assert_true(isnan(m.p99_ms));
    assert_true(isnan(m.error_pct));
    assert_float_equal(m.rps, 0, 0);
    for (int i = 0; i < 1000; i++)
        hdr_record(&a->lat, 2000);
    a->responses = 1000;
    a->ok = 999;
    a->failed = 1;
    a->errors[BENCH_E_HTTP_5XX] = 1;
    bench_metrics_from_acc(&m, a, 10, 80);
    assert_float_equal(m.rps, 100, 1e-9);
    assert_float_equal(m.ok_rps, 99.9, 1e-9);
    assert_float_equal(m.p99_ms, 2, 1e-9);
    assert_float_equal(m.error_pct, 0.1, 1e-9);
    assert_float_equal(m.success_pct, 99.9, 1e-9);
    assert_float_equal(m.steady_rps, 80, 0);
    /* merge adds everything */
    bench_acc *b = acc_new();
    bench_acc_merge(b, a);
    bench_acc_merge(b, a);
    assert_int_equal(b->responses, 2000);
    assert_int_equal(b->errors[BENCH_E_HTTP_5XX], 2);
    assert_int_equal(b->lat.count, 2000);
    assert_string_equal(bench_errkind_name(BENCH_E_TIMEOUT), "timeout");
    assert_string_equal(bench_errkind_name(99), "unknown");
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measure),
        cmocka_unit_test(test_rule_boundaries),
        cmocka_unit_test(test_max_steady),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
