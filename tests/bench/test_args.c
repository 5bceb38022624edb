/* Unit tests of src/bench/bench_args: every mode's options land in the
 * config, --duration means the step length in rate mode and a cap
 * elsewhere, the SLA's p99 joins the steady rule, compare takes two files,
 * and bad input is refused with a message naming the option. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "bench/bench_args.h"

#define ARGV(...) ((char *[]){__VA_ARGS__})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, ...) bench_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a)

static void test_ramp(void **state)
{
    (void)state;
    bench_args a;
    assert_int_equal(PARSE(&a, "bench", "ramp", "--url", "http://127.0.0.1:8080/infer",
                           "--max-clients", "8", "--step-size=2", "--time-between-ramp", "0.5",
                           "--requests-per-second", "4", "--image", "/tmp/x.jpg", "--header",
                           "X-A: 1", "--header", "X-B: 2", "--sla", "p99<150ms,errors<1%",
                           "--quiet", "--duration", "30", "--threads", "2"),
                     BENCH_OK);
    assert_int_equal(a.cfg.mode, BENCH_RAMP);
    assert_int_equal(a.cfg.max_clients, 8);
    assert_int_equal(a.cfg.step_size, 2);
    assert_float_equal(a.cfg.ramp_interval_s, 0.5, 0);
    assert_float_equal(a.cfg.client_rps, 4, 0);
    assert_int_equal(a.cfg.url.port, 8080);
    assert_string_equal(a.payload.body_path, "/tmp/x.jpg");
    assert_int_equal(a.payload.nheaders, 2);
    assert_string_equal(a.payload.headers[1], "X-B: 2");
    assert_int_equal(a.sla.n, 2);
    assert_float_equal(a.cfg.rule.max_p99_ms, 150, 0);
    assert_true(a.cfg.quiet);
    assert_float_equal(a.cfg.duration_s, 30, 0);
    assert_int_equal(a.cfg.threads, 2);
}

static void test_rate_and_concurrency(void **state)
{
    (void)state;
    bench_args a;
    assert_int_equal(PARSE(&a, "bench", "rate", "--url", "http://h/", "--rate", "10,20.5,40",
                           "--duration", "3", "--arrival", "poisson", "--connections", "8"),
                     BENCH_OK);
    assert_int_equal(a.cfg.nrates, 3);
    assert_float_equal(a.cfg.rates[1], 20.5, 0);
    assert_float_equal(a.cfg.step_duration_s, 3, 0);
    assert_float_equal(a.cfg.duration_s, 0, 0); /* the step length, not a cap */
    assert_true(a.cfg.poisson);
    assert_int_equal(a.cfg.connections, 8);
    assert_int_equal(PARSE(&a, "bench", "concurrency", "--url", "http://h/", "--concurrency",
                           "2:16:2", "--window", "500", "--stability", "5", "--min-windows", "4"),
                     BENCH_OK);
    assert_int_equal(a.cfg.conc_start, 2);
    assert_int_equal(a.cfg.conc_end, 16);
    assert_int_equal(a.cfg.conc_step, 2);
    assert_int_equal(a.cfg.window_ms, 500);
    assert_float_equal(a.cfg.stability, 0.05, 1e-12);
    assert_int_equal(a.cfg.min_windows, 4);
    assert_int_equal(PARSE(&a, "bench", "concurrency", "--url", "http://h/", "--concurrency", "7"),
                     BENCH_OK);
    assert_int_equal(a.cfg.conc_start, 7);
    assert_int_equal(a.cfg.conc_end, 7);
}

static void test_spike_and_compare(void **state)
{
    (void)state;
    bench_args a;
    assert_int_equal(PARSE(&a, "bench", "spike", "--url", "http://h/", "--burst", "50",
                           "--server-cmd", "glint serve", "--ready-pattern", "listening",
                           "--retries", "2", "--retry-backoff", "20"),
                     BENCH_OK);
    assert_int_equal(a.cfg.burst, 50);
    assert_string_equal(a.cfg.server_cmd, "glint serve");
    assert_int_equal(a.cfg.retries, 2);
    assert_float_equal(a.cfg.backoff_ms, 20, 0);
    assert_int_equal(
        PARSE(&a, "bench", "compare", "a.json", "b.json", "--tolerance", "5", "--sla", "p99<10"),
        BENCH_OK);
    assert_true(a.compare);
    assert_string_equal(a.base_json, "a.json");
    assert_string_equal(a.new_json, "b.json");
    assert_float_equal(a.tolerance, 0.05, 1e-12);
    assert_int_equal(PARSE(&a, "bench", "--help"), BENCH_OK);
    assert_true(a.help);
}

static void expect_refused(int argc, char **argv, const char *needle)
{
    bench_args a;
    assert_int_equal(bench_args_parse(argc, argv, &a), BENCH_ERR_INVALID);
    if (needle && !strstr(bench_last_error(), needle))
        fail_msg("message '%s' lacks '%s'", bench_last_error(), needle);
}

#define REFUSED(needle, ...) expect_refused(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), needle)

static void test_refused(void **state)
{
    (void)state;
    REFUSED("mode", "bench");
    REFUSED("unknown mode", "bench", "flood", "--url", "http://h/");
    REFUSED("--url is required", "bench", "ramp");
    REFUSED("https", "bench", "ramp", "--url", "https://h/");
    REFUSED("--max-clients", "bench", "ramp", "--url", "http://h/", "--max-clients", "0");
    REFUSED("--max-clients", "bench", "ramp", "--url", "http://h/", "--max-clients", "3x");
    REFUSED("--timeout", "bench", "ramp", "--url", "http://h/", "--timeout", "-1");
    REFUSED("needs a value", "bench", "ramp", "--url", "http://h/", "--timeout");
    REFUSED("unknown option", "bench", "ramp", "--url", "http://h/", "--bogus", "1");
    REFUSED("rate needs", "bench", "rate", "--url", "http://h/");
    REFUSED("--rate", "bench", "rate", "--url", "http://h/", "--rate", "10,,x");
    REFUSED("--arrival", "bench", "rate", "--url", "http://h/", "--rate", "1", "--arrival", "x");
    REFUSED("--concurrency", "bench", "concurrency", "--url", "http://h/", "--concurrency", "0:4");
    REFUSED("unknown metric", "bench", "ramp", "--url", "http://h/", "--sla", "p42<1");
    REFUSED("spike", "bench", "ramp", "--url", "http://h/", "--server-cmd", "x");
    REFUSED("BASE.json", "bench", "compare", "a.json");
    REFUSED("compare takes", "bench", "compare", "a.json", "b.json", "--url", "http://h/");
    REFUSED("unexpected", "bench", "ramp", "--url", "http://h/", "stray");
    REFUSED("takes no value", "bench", "ramp", "--url", "http://h/", "--quiet=1");
    REFUSED("--retries", "bench", "ramp", "--url", "http://h/", "--retries", "11");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ramp),
        cmocka_unit_test(test_rate_and_concurrency),
        cmocka_unit_test(test_spike_and_compare),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
