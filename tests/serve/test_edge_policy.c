/* The edge escalation policy (serve/edge/edge_policy.h), every combination
 * of its inputs against the rules of docs/edge.md restated as a table, a
 * few properties that must hold whatever the table says, and the rate
 * limiter around it (edge_decide: one escalation per gap per detector). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "serve/edge/edge_impl.h"
#include "serve/edge/edge_policy.h"

/* The rules as docs/edge.md states them, one row per case, first match. */
typedef struct rule {
    int can;        /* -1: any */
    int direct_ask; /* want_async or human_review ALWAYS; -1 any */
    int never;      /* human_review NEVER; -1 any */
    int confident;  /* -1 any */
    int audited;    /* draw < audit_rate; -1 any */
    int limited;    /* always_return and the limiter says no; -1 any */
    edge_decision out;
} rule;

static const rule RULES[] = {
    {0, -1, -1, -1, -1, -1, EDGE_KEEP},     /* nowhere to send it */
    {1, 1, -1, -1, -1, -1, EDGE_DIRECT},    /* the client asked for the upstream */
    {1, 0, 1, -1, -1, -1, EDGE_KEEP},       /* human review NEVER */
    {1, 0, 0, 1, 1, -1, EDGE_AUDIT},        /* confident, drawn for audit */
    {1, 0, 0, 1, 0, -1, EDGE_KEEP},         /* confident */
    {1, 0, 0, 0, -1, 1, EDGE_RATE_LIMITED}, /* unconfident, too soon */
    {1, 0, 0, 0, -1, 0, EDGE_UNCONFIDENT},  /* unconfident */
};

static int matches(int want, int have)
{
    return want < 0 || want == have;
}

static edge_decision by_table(const edge_policy_input *in)
{
    int direct = in->want_async || in->review == EDGE_REVIEW_ALWAYS;
    int never = in->review == EDGE_REVIEW_NEVER;
    int confident = in->confidence >= in->threshold;
    int audited = in->draw < in->audit_rate;
    int limited = in->always_return && !in->rate_allowed;
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        const rule *r = &RULES[i];
        if (matches(r->can, in->can_escalate) && matches(r->direct_ask, direct) &&
            matches(r->never, never) && matches(r->confident, confident) &&
            matches(r->audited, audited) && matches(r->limited, limited))
            return r->out;
    }
    fail_msg("no rule for the input");
    return EDGE_DECISION_COUNT;
}

static void test_answered_every_combination(void **state)
{
    (void)state;
    static const double confs[] = {0.0, 0.5, 0.7999, 0.8, 0.95, 1.0}; /* threshold 0.8 */
    static const double rates[] = {0.0, 0.3, 1.0};
    static const double draws[] = {0.0, 0.2999, 0.3, 0.9999};
    int n = 0, seen[EDGE_DECISION_COUNT] = {0};
    for (int can = 0; can < 2; can++)
        for (int async = 0; async < 2; async++)
            for (int rv = 0; rv < 3; rv++)
                for (int ar = 0; ar < 2; ar++)
                    for (size_t c = 0; c < sizeof confs / sizeof confs[0]; c++)
                        for (size_t a = 0; a < sizeof rates / sizeof rates[0]; a++)
                            for (size_t d = 0; d < sizeof draws / sizeof draws[0]; d++)
                                for (int ok = 0; ok < 2; ok++) {
                                    edge_policy_input in = {can,      async,    (edge_review)rv,
                                                            ar,       confs[c], 0.8,
                                                            rates[a], draws[d], ok};
                                    edge_decision got = edge_policy_answered(&in);
                                    edge_decision want = by_table(&in);
                                    if (got != want)
                                        fail_msg("can %d async %d review %d always %d conf %g "
                                                 "rate %g draw %g allowed %d: %s, want %s",
                                                 can, async, rv, ar, confs[c], rates[a], draws[d],
                                                 ok, edge_decision_name(got),
                                                 edge_decision_name(want));
                                    seen[got]++;
                                    n++;
                                }
    assert_int_equal(n, 2 * 2 * 3 * 2 * 6 * 3 * 4 * 2);
    /* every outcome of an answered query occurs; the no-model ones never do */
    assert_true(seen[EDGE_KEEP] && seen[EDGE_AUDIT] && seen[EDGE_UNCONFIDENT] &&
                seen[EDGE_DIRECT] && seen[EDGE_RATE_LIMITED]);
    assert_int_equal(seen[EDGE_NOT_READY] + seen[EDGE_REFUSE], 0);
}

static void test_answered_properties(void **state)
{
    (void)state;
    edge_policy_input in = {.can_escalate = 1, .threshold = 0.8, .rate_allowed = 1};
    /* the threshold is inclusive: exactly at it is confident */
    in.confidence = 0.8;
    assert_int_equal(edge_policy_answered(&in), EDGE_KEEP);
    in.confidence = 0.79999;
    assert_int_equal(edge_policy_answered(&in), EDGE_UNCONFIDENT);
    /* audit rate 0 never audits, 1 always does (draws are in [0, 1)) */
    in.confidence = 0.9;
    in.audit_rate = 0;
    in.draw = 0;
    assert_int_equal(edge_policy_answered(&in), EDGE_KEEP);
    in.audit_rate = 1;
    in.draw = 0.99999;
    assert_int_equal(edge_policy_answered(&in), EDGE_AUDIT);
    /* the rate limiter only matters with always_return */
    in.confidence = 0.1;
    in.rate_allowed = 0;
    assert_int_equal(edge_policy_answered(&in), EDGE_UNCONFIDENT);
    in.always_return = 1;
    assert_int_equal(edge_policy_answered(&in), EDGE_RATE_LIMITED);
    /* asynchronous beats human review NEVER (the original sends it up) */
    in.want_async = 1;
    in.review = EDGE_REVIEW_NEVER;
    assert_int_equal(edge_policy_answered(&in), EDGE_DIRECT);
}

static void test_no_model(void **state)
{
    (void)state;
    for (int can = 0; can < 2; can++)
        for (int async = 0; async < 2; async++)
            for (int rv = 0; rv < 3; rv++)
                for (int ar = 0; ar < 2; ar++) {
                    edge_policy_input in = {.can_escalate = can,
                                            .want_async = async,
                                            .review = (edge_review)rv,
                                            .always_return = ar};
                    edge_decision want = !can || ar                          ? EDGE_REFUSE
                                         : async || rv == EDGE_REVIEW_ALWAYS ? EDGE_DIRECT
                                                                             : EDGE_NOT_READY;
                    assert_int_equal(edge_policy_no_model(&in), want);
                }
}

static void test_decision_helpers(void **state)
{
    (void)state;
    static const struct {
        edge_decision d;
        int escalates, done;
        const char *name;
    } t[] = {{EDGE_KEEP, 0, 1, "keep"},
             {EDGE_AUDIT, 1, 1, "audit"},
             {EDGE_UNCONFIDENT, 1, 0, "unconfident"},
             {EDGE_DIRECT, 1, 0, "direct"},
             {EDGE_RATE_LIMITED, 0, 1, "rate_limited"},
             {EDGE_NOT_READY, 1, 0, "not_ready"},
             {EDGE_REFUSE, 0, 1, "refuse"}};
    assert_int_equal(sizeof t / sizeof t[0], EDGE_DECISION_COUNT);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_int_equal(edge_decision_escalates(t[i].d), t[i].escalates);
        assert_int_equal(edge_decision_done(t[i].d), t[i].done);
        assert_string_equal(edge_decision_name(t[i].d), t[i].name);
    }
}

/* edge_decide: an unconfident always-return detector escalates once per
 * gap; another detector has its own slot; a confident answer leaves the
 * slot alone. */
static void test_rate_limiter(void **state)
{
    (void)state;
    edge_state es;
    memset(&es, 0, sizeof es);
    pthread_mutex_init(&es.rate_mu, NULL);
    edge_policy_input base = {
        .can_escalate = 1, .always_return = 1, .confidence = 0.1, .threshold = 0.8};
    edge_policy_input in = base;
    assert_int_equal(edge_decide(&es, "det_a", 0.2, &in), EDGE_UNCONFIDENT);
    in = base;
    assert_int_equal(edge_decide(&es, "det_a", 0.2, &in), EDGE_RATE_LIMITED);
    assert_int_equal(in.rate_allowed, 0);
    in = base;
    assert_int_equal(edge_decide(&es, "DET_A", 0.2, &in), EDGE_RATE_LIMITED); /* ids ignore case */
    in = base;
    assert_int_equal(edge_decide(&es, "det_b", 0.2, &in), EDGE_UNCONFIDENT);
    in = base;
    in.confidence = 0.9;
    assert_int_equal(edge_decide(&es, "det_c", 0.2, &in), EDGE_KEEP);
    in = base;
    assert_int_equal(edge_decide(&es, "det_c", 0.2, &in), EDGE_UNCONFIDENT); /* slot untouched */
    /* without always_return the limiter is not asked */
    in = base;
    in.always_return = 0;
    assert_int_equal(edge_decide(&es, "det_a", 0.2, &in), EDGE_UNCONFIDENT);
    struct timespec ts = {0, 250 * 1000000};
    nanosleep(&ts, NULL); /* past the 0.2 s gap */
    in = base;
    assert_int_equal(edge_decide(&es, "det_a", 0.2, &in), EDGE_UNCONFIDENT);
    for (int i = 0; i < 40; i++) { /* slots grow */
        char id[32];
        snprintf(id, sizeof id, "det_%d", i);
        in = base;
        assert_int_equal(edge_decide(&es, id, 60, &in), EDGE_UNCONFIDENT);
    }
    assert_int_equal(es.n_rates, 3 + 40);
    free(es.rates);
    pthread_mutex_destroy(&es.rate_mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answered_every_combination),
        cmocka_unit_test(test_answered_properties), cmocka_unit_test(test_no_model),
        cmocka_unit_test(test_decision_helpers), cmocka_unit_test(test_rate_limiter)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
