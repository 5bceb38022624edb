/* Unit tests of src/serve/core/split: the document's checks, choosing a
 * version (shares by weight, sticky clients, few clients moved when weights
 * change), the canary's judge and promotion/rollback, the windowed p99, and
 * run-time state kept across an unchanged reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "serve/core/split.h"
#include "serve/core/yaml_json.h"

static int parse_yaml(const char *text, split_table *t, char *err, size_t cap)
{
    json_t *doc = yaml_to_json(text, strlen(text), err, cap);
    if (!doc) return -1;
    int rc = split_parse(doc, t, err, cap);
    json_decref(doc);
    return rc;
}

static void test_parse(void **state)
{
    (void)state;
    split_table t = {0};
    char err[512];
    assert_int_equal(parse_yaml("b:\n  versions: {m1: 90, m2: 10}\n"
                                "a:\n  versions: {m3: 1}\n  sticky: false\n"
                                "c:\n  versions: {m1: 0, m2: 100}\n"
                                "  canary: {version: m1, window_s: 5, promote_after_s: 60}\n",
                                &t, err, sizeof err),
                     0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.s[0].name, "a"); /* sorted */
    assert_false(t.s[0].sticky);
    split *b = split_find(&t, "b", 1);
    assert_non_null(b);
    assert_true(b->sticky);
    assert_int_equal(b->n, 2);
    assert_string_equal(b->v[0].model, "m1"); /* the document's order */
    assert_true(b->v[0].weight == 90 && b->v[1].weight == 10);
    assert_int_equal(b->canary.version, -1);
    assert_int_equal(b->state, SPLIT_STEADY);
    split *c = split_find(&t, "c", 1);
    assert_int_equal(c->canary.version, 0);
    assert_int_equal(c->state, SPLIT_WATCHING);
    assert_true(c->canary.window_s == 5 && c->canary.min_requests == 20);
    assert_true(c->canary.error_margin == 0.02 && c->canary.latency_margin == 0.5);
    assert_null(split_find(&t, "d", 1));
    const char *bad[][2] = {
        {"x: 1\n", "want a mapping"},
        {"x: {}\n", "versions must map"},
        {"x: {versions: {}}\n", "versions must map"},
        {"x: {versions: {m: -1}}\n", "weight of m"},
        {"x: {versions: {m: 0}}\n", "every weight is 0"},
        {"x: {versions: {m: 1}, sticky: 3}\n", "sticky"},
        {"x: {versions: {m: 1}, other: 3}\n", "unknown key 'other'"},
        {"x: {versions: {'a/b': 1}}\n", "not a model name"},
        {"x: {versions: {m: 1, n: 1}, canary: {version: z}}\n", "z is not one of"},
        {"x: {versions: {m: 1}, canary: {version: m}}\n", "another version"},
        {"x: {versions: {m: 1, n: 1}, canary: {version: m, window_s: 0}}\n", "window_s"},
        {"x: {versions: {m: 1, n: 1}, canary: {version: m, extra: 1}}\n", "unknown key 'extra'"},
        {"x: {versions: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1}}\n", "at most 8"},
        {"[1, 2]\n", "mapping of split names"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(parse_yaml(bad[i][0], &t, err, sizeof err), -1);
        if (!strstr(err, bad[i][1])) fail_msg("'%s': got '%s'", bad[i][0], err);
        assert_int_equal(t.n, 3); /* a bad document changes nothing */
    }
    split_table_dispose(&t);
}

static split two(double w1, double w2, int sticky)
{
    split sp;
    char err[256];
    json_t *o = json_pack("{s:{s:f, s:f}, s:b}", "versions", "v1", w1, "v2", w2, "sticky", sticky);
    assert_int_equal(split_parse_one("s", o, &sp, err, sizeof err), 0);
    json_decref(o);
    return sp;
}

static void test_choose_shares_and_stickiness(void **state)
{
    (void)state;
    split sp = two(90, 10, 1);
    int n2 = 0, moved = 0, to_v1 = 0;
    char client[32];
    for (int i = 0; i < 20000; i++) {
        int len = snprintf(client, sizeof client, "camera-%d", i);
        int v = split_choose(&sp, client, (size_t)len, (uint64_t)i * 7919u);
        assert_int_equal(split_choose(&sp, client, (size_t)len, 12345), v); /* sticky */
        n2 += v == 1;
    }
    assert_true(n2 > 1800 && n2 < 2200); /* 10% +- 1% (binomial sd 0.2%) */
    /* 90/10 -> 50/50: only clients that must move do, and only towards v2 */
    split sp2 = two(50, 50, 1);
    for (int i = 0; i < 20000; i++) {
        int len = snprintf(client, sizeof client, "camera-%d", i);
        int a = split_choose(&sp, client, (size_t)len, 0);
        int b = split_choose(&sp2, client, (size_t)len, 0);
        moved += a != b;
        to_v1 += a == 1 && b == 0;
    }
    assert_int_equal(to_v1, 0);
    assert_true(moved > 7400 && moved < 8600); /* 40% of clients must move */
    /* weight 0: never chosen; all 0: none */
    split sp3 = two(1, 0, 1);
    for (int i = 0; i < 100; i++) {
        int len = snprintf(client, sizeof client, "c%d", i);
        assert_int_equal(split_choose(&sp3, client, (size_t)len, (uint64_t)i), 0);
    }
    sp3.v[0].weight = 0;
    assert_int_equal(split_choose(&sp3, "c", 1, 1), -1);
    /* not sticky: drawn per request by weight */
    split sp4 = two(25, 75, 0);
    int n1 = 0;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        n1 += split_choose(&sp4, "same-client", 11, x) == 1;
    }
    assert_true(n1 > 14700 && n1 < 15300);
}

static void test_judge(void **state)
{
    (void)state;
    split_canary c = {.version = 1,
                      .window_s = 10,
                      .min_requests = 20,
                      .error_margin = 0.02,
                      .latency_margin = 0.5};
    char why[200];
    split_window ok = {100, 1, 0.020}, fewer = {10, 0, 0.020};
    assert_int_equal(split_judge(&c, &fewer, &ok, why, sizeof why), -1);
    assert_int_equal(split_judge(&c, &ok, &fewer, why, sizeof why), -1);
    assert_int_equal(split_judge(&c, &ok, &ok, why, sizeof why), 0);
    split_window errs = {100, 4, 0.020}; /* 4% against 1% + 2% */
    assert_int_equal(split_judge(&c, &errs, &ok, why, sizeof why), 1);
    assert_non_null(strstr(why, "4.0% of its 100 requests failed"));
    split_window errs_ok = {100, 3, 0.020}; /* 3% = 1% + 2%: not over */
    assert_int_equal(split_judge(&c, &errs_ok, &ok, why, sizeof why), 0);
    split_window slow = {100, 1, 0.031}; /* 31 ms > 20 ms x 1.5 */
    assert_int_equal(split_judge(&c, &slow, &ok, why, sizeof why), 1);
    assert_non_null(strstr(why, "p99 31.0 ms against 20.0 ms"));
    split_window tiny_a = {100, 0, 0.0009}, tiny_b = {100, 0, 0.0003}; /* 3x, under 1 ms */
    assert_int_equal(split_judge(&c, &tiny_a, &tiny_b, why, sizeof why), 0);
}

static void test_quantile(void **state)
{
    (void)state;
    const double b[] = {0.001, 0.002, 0.005, 0.010};
    uint64_t before[5] = {10, 10, 10, 10, 10};
    uint64_t after[5] = {10, 10 + 50, 10 + 100, 10 + 100, 10 + 100}; /* 50 in (1,2], 50 in (2,5] */
    assert_true(fabs(split_quantile(b, 4, before, after, 0.5) - 0.002) < 1e-12);
    assert_true(fabs(split_quantile(b, 4, before, after, 0.99) - (0.002 + 0.003 * 49 / 50)) <
                1e-12);
    uint64_t inf[5] = {10, 10, 10, 10, 30}; /* all past the last bound */
    assert_true(split_quantile(b, 4, before, inf, 0.99) == 0.010);
    assert_true(split_quantile(b, 4, before, before, 0.99) == 0);
}

static void test_settle_and_carry(void **state)
{
    (void)state;
    split_table t = {0}, old = {0};
    char err[256];
    const char *doc = "s:\n  versions: {stable: 90, canary: 10}\n  canary: {version: canary}\n";
    assert_int_equal(parse_yaml(doc, &old, err, sizeof err), 0);
    split *sp = &old.s[0];
    split_settle(sp, 0, "too slow");
    assert_int_equal(sp->state, SPLIT_ROLLED_BACK);
    assert_true(sp->v[1].weight == 0 && sp->v[0].weight == 90 && sp->v[1].configured == 10);
    assert_non_null(strstr(sp->verdict, "rolled back canary: too slow"));
    /* an unchanged file keeps the rollback; a changed one starts over */
    assert_int_equal(parse_yaml(doc, &t, err, sizeof err), 0);
    split_carry(&t, &old);
    assert_int_equal(t.s[0].state, SPLIT_ROLLED_BACK);
    assert_true(t.s[0].v[1].weight == 0);
    split_table_dispose(&t);
    assert_int_equal(parse_yaml("s:\n  versions: {stable: 80, canary: 20}\n"
                                "  canary: {version: canary}\n",
                                &t, err, sizeof err),
                     0);
    split_carry(&t, &old);
    assert_int_equal(t.s[0].state, SPLIT_WATCHING);
    assert_true(t.s[0].v[1].weight == 20);
    split_settle(&t.s[0], 1, "clean");
    assert_int_equal(t.s[0].state, SPLIT_PROMOTED);
    assert_true(t.s[0].v[1].weight == 100 && t.s[0].v[0].weight == 0);
    /* put: replaces by name, adds in order */
    split add = t.s[0];
    snprintf(add.name, sizeof add.name, "a");
    assert_int_equal(split_put(&t, &add), 0);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.s[0].name, "a");
    json_t *j = split_json(&t.s[1]);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "promoted");
    json_decref(j);
    split_table_dispose(&t);
    split_table_dispose(&old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_choose_shares_and_stickiness),
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_settle_and_carry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
