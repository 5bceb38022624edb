/* Unit tests of src/serve/core/ratelimit (GCRA): a new client's burst,
 * then one request per interval; Retry-After and Reset to the nanosecond;
 * clients independent; a full table forgets clients whose time passed and,
 * when none has, still answers (the one owing least is replaced). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "serve/core/ratelimit.h"

#define S 1000000000ull

static int check(ratelimit *r, const char *key, uint64_t t, ratelimit_verdict *v)
{
    ratelimit_check(r, key, strlen(key), t, v);
    return v->allowed;
}

static void test_burst_then_rate(void **state)
{
    (void)state;
    ratelimit *r = ratelimit_create(10, 5, 64); /* 10/s, bursts of 5 */
    assert_non_null(r);
    ratelimit_verdict v;
    uint64_t t = 100 * S;
    for (int i = 0; i < 5; i++) {
        assert_true(check(r, "a", t, &v));
        assert_int_equal(v.limit, 5);
        assert_int_equal(v.remaining, 4 - i);
    }
    assert_false(check(r, "a", t, &v)); /* the sixth at once */
    assert_int_equal(v.remaining, 0);
    assert_true(fabs(v.retry_after_s - 0.1) < 1e-9); /* one interval */
    assert_true(fabs(v.reset_s - 0.5) < 1e-9);       /* five intervals owed */
    assert_false(check(r, "a", t + S / 10 - 1, &v)); /* a nanosecond early */
    assert_true(check(r, "a", t + S / 10, &v));
    assert_int_equal(v.remaining, 0);
    /* at the rate: one every 100 ms passes, forever */
    for (int i = 2; i < 50; i++)
        assert_true(check(r, "a", t + (uint64_t)i * S / 10, &v));
    /* idle for a second: the whole burst again */
    uint64_t later = t + 60 * S;
    for (int i = 0; i < 5; i++)
        assert_true(check(r, "a", later, &v));
    assert_false(check(r, "a", later, &v));
    ratelimit_free(r);
}

static void test_clients_apart(void **state)
{
    (void)state;
    ratelimit *r = ratelimit_create(1, 1, 64);
    ratelimit_verdict v;
    assert_true(check(r, "a", S, &v));
    assert_false(check(r, "a", S, &v));
    assert_true(check(r, "b", S, &v)); /* b has its own */
    assert_false(check(r, "b", S, &v));
    assert_int_equal(ratelimit_clients(r), 2);
    /* keys differing past the cut stay apart by their hash */
    char k1[200], k2[200];
    memset(k1, 'x', sizeof k1);
    memcpy(k2, k1, sizeof k2);
    k2[150] = 'y';
    ratelimit_check(r, k1, sizeof k1, S, &v);
    assert_true(v.allowed);
    ratelimit_check(r, k2, sizeof k2, S, &v);
    assert_true(v.allowed);
    ratelimit_check(r, k1, sizeof k1, S, &v);
    assert_false(v.allowed);
    ratelimit_free(r);
}

static void test_full_table(void **state)
{
    (void)state;
    ratelimit *r = ratelimit_create(1, 1, 16);
    ratelimit_verdict v;
    char key[32];
    /* 1000 clients at one moment: the table holds 16; every answer is given */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "c%d", i);
        assert_true(check(r, key, 10 * S, &v));
    }
    assert_true(ratelimit_clients(r) <= 16);
    /* a second later every one of them is as good as new, and forgotten */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "d%d", i);
        assert_true(check(r, key, 12 * S, &v));
    }
    assert_true(ratelimit_clients(r) <= 16);
    /* a client just seen in a table with room is still limited */
    ratelimit *r2 = ratelimit_create(1, 1, 64);
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "e%d", i);
        assert_true(check(r2, key, 20 * S, &v));
    }
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "e%d", i);
        assert_false(check(r2, key, 20 * S, &v));
    }
    ratelimit_free(r);
    ratelimit_free(r2);
}

/* The rule's verdict from a remote "how far ahead" figure (the fleet's check
 * in Redis answers with it): the same numbers ratelimit_check gives. */
static void test_verdict_of(void **state)
{
    (void)state;
    ratelimit_verdict v;
    const uint64_t T = S / 10;            /* 10/s */
    ratelimit_verdict_of(1, T, T, 5, &v); /* a new client's first request */
    assert_true(v.allowed);
    assert_int_equal(v.limit, 5);
    assert_int_equal(v.remaining, 4);
    assert_true(fabs(v.reset_s - 0.1) < 1e-9);
    ratelimit_verdict_of(1, 5 * T, T, 5, &v); /* its fifth */
    assert_int_equal(v.remaining, 0);
    ratelimit_verdict_of(0, 5 * T, T, 5, &v); /* its sixth at once: refused */
    assert_false(v.allowed);
    assert_int_equal(v.remaining, 0);
    assert_true(fabs(v.retry_after_s - 0.1) < 1e-9);
    assert_true(fabs(v.reset_s - 0.5) < 1e-9);
    /* the same as the local table's verdicts */
    ratelimit *r = ratelimit_create(10, 5, 64);
    ratelimit_verdict w;
    for (int i = 0; i < 6; i++)
        check(r, "a", 100 * S, &w);
    assert_int_equal(w.allowed, v.allowed);
    assert_true(fabs(w.retry_after_s - v.retry_after_s) < 1e-9);
    assert_true(fabs(w.reset_s - v.reset_s) < 1e-9);
    ratelimit_free(r);
}

/* A fleet's share: the rate and burst change, clients keep their times. */
static void test_set_rate(void **state)
{
    (void)state;
    ratelimit *r = ratelimit_create(10, 6, 64);
    ratelimit_verdict v;
    ratelimit_set_rate(r, 5, 2); /* 3 replicas: 15/s bursts of 6 -> 5/s bursts of 2 */
    uint64_t t = 100 * S;
    assert_true(check(r, "a", t, &v));
    assert_int_equal(v.limit, 2);
    assert_true(check(r, "a", t, &v));
    assert_false(check(r, "a", t, &v));
    assert_true(fabs(v.retry_after_s - 0.2) < 1e-9); /* one interval at 5/s */
    assert_true(check(r, "a", t + S / 5, &v));
    ratelimit_set_rate(r, 0, 2); /* refused: nothing changes */
    ratelimit_set_rate(r, 5, 0);
    assert_false(check(r, "a", t + S / 5, &v));
    assert_int_equal(v.limit, 2);
    ratelimit_free(r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(ratelimit_create(0, 1, 64));
    assert_null(ratelimit_create(NAN, 1, 64));
    assert_null(ratelimit_create(1, 0, 64));
    assert_null(ratelimit_create(1, 1, 8));
    ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate), cmocka_unit_test(test_clients_apart),
        cmocka_unit_test(test_full_table),      cmocka_unit_test(test_verdict_of),
        cmocka_unit_test(test_set_rate),        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
