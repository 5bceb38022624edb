/* Unit tests of src/tasks/classify (and the ranking it rests on): top-k on
 * known vectors, softmax values and stability, ties, AUTO mode, non-finite
 * values, and a randomized check against a full sort. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/classify.h"

static int topk(const float *v, int n, classify_mode mode, int k, task_rank *out,
                classify_mode *used)
{
    int got = -1;
    assert_int_equal(classify_topk(v, n, mode, k, out, &got, used), TASK_OK);
    return got;
}

static void test_topk_known_probs(void **state)
{
    (void)state;
    const float p[6] = {0.1f, 0.5f, 0.05f, 0.3f, 0.04f, 0.01f};
    task_rank r[3];
    classify_mode used = CLASSIFY_AUTO;
    assert_int_equal(topk(p, 6, CLASSIFY_AUTO, 3, r, &used), 3);
    assert_int_equal(used, CLASSIFY_PROBS);
    assert_int_equal(r[0].id, 1);
    assert_int_equal(r[1].id, 3);
    assert_int_equal(r[2].id, 0);
    /* Probabilities pass through untouched. */
    assert_true(r[0].score == 0.5f);
    assert_true(r[1].score == 0.3f);
    assert_true(r[2].score == 0.1f);

    assert_int_equal(topk(p, 6, CLASSIFY_PROBS, 1, r, NULL), 1);
    assert_int_equal(r[0].id, 1);
}

/* softmax(1, 2, 3) = (0.0900306, 0.2447285, 0.6652410). */
static void test_softmax_values(void **state)
{
    (void)state;
    const float logits[3] = {1.0f, 2.0f, 3.0f};
    task_rank r[3];
    classify_mode used = CLASSIFY_AUTO;
    assert_int_equal(topk(logits, 3, CLASSIFY_LOGITS, 3, r, &used), 3);
    assert_int_equal(used, CLASSIFY_LOGITS);
    assert_int_equal(r[0].id, 2);
    assert_int_equal(r[1].id, 1);
    assert_int_equal(r[2].id, 0);
    assert_float_equal(r[0].score, 0.6652410f, 1e-6);
    assert_float_equal(r[1].score, 0.2447285f, 1e-6);
    assert_float_equal(r[2].score, 0.0900306f, 1e-6);

    /* Shifting logits changes nothing; huge ones neither overflow nor NaN. */
    const float big[3] = {1001.0f, 1002.0f, 1003.0f};
    const float tiny[3] = {-1003.0f, -1002.0f, -1001.0f};
    const float extreme[3] = {-3e38f, 3e38f, 0.0f};
    assert_int_equal(topk(big, 3, CLASSIFY_AUTO, 3, r, &used), 3);
    assert_int_equal(used, CLASSIFY_LOGITS);
    assert_float_equal(r[0].score, 0.6652410f, 1e-6);
    assert_float_equal(r[2].score, 0.0900306f, 1e-6);
    assert_int_equal(topk(tiny, 3, CLASSIFY_AUTO, 1, r, NULL), 1);
    assert_int_equal(r[0].id, 2);
    assert_float_equal(r[0].score, 0.6652410f, 1e-6);
    assert_int_equal(topk(extreme, 3, CLASSIFY_LOGITS, 3, r, NULL), 3);
    assert_int_equal(r[0].id, 1);
    assert_float_equal(r[0].score, 1.0f, 0);
    /* Both others underflow to probability 0: a tie, so lower id first. */
    assert_int_equal(r[1].id, 0);
    assert_int_equal(r[2].id, 2);
    assert_float_equal(r[1].score, 0.0f, 0);
    assert_float_equal(r[2].score, 0.0f, 0);
}

/* Equal values rank the lower class id first, in both modes. */
static void test_ties(void **state)
{
    (void)state;
    const float p[5] = {0.2f, 0.3f, 0.2f, 0.3f, 0.0f};
    task_rank r[5];
    assert_int_equal(topk(p, 5, CLASSIFY_PROBS, 5, r, NULL), 5);
    const int want[5] = {1, 3, 0, 2, 4};
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].id, want[i]);

    const float logits[4] = {1.0f, 3.0f, 1.0f, 3.0f};
    assert_int_equal(topk(logits, 4, CLASSIFY_LOGITS, 3, r, NULL), 3);
    assert_int_equal(r[0].id, 1);
    assert_int_equal(r[1].id, 3);
    assert_int_equal(r[2].id, 0);
    assert_true(r[0].score == r[1].score);
    /* e^3 / (2 e^3 + 2 e^1) = 1 / (2 + 2 e^-2) = 0.4403985 */
    assert_float_equal(r[0].score, 0.4403985f, 1e-6);

    const float same[1000] = {0};
    task_rank r3[3];
    assert_int_equal(topk(same, 1000, CLASSIFY_LOGITS, 3, r3, NULL), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r3[i].id, i);
        assert_float_equal(r3[i].score, 0.001f, 1e-7);
    }
}

static void test_auto_mode(void **state)
{
    (void)state;
    const float probs[4] = {0.25f, 0.25f, 0.4f, 0.1f};
    const float negative[4] = {-1.0f, 0.5f, 0.2f, 0.1f};
    const float sigmoids[4] = {0.9f, 0.8f, 0.7f, 0.1f}; /* in [0,1], sum 2.5 */
    const float above_one[2] = {1.5f, -0.5f};           /* sums to 1, not probs */
    assert_int_equal(classify_detect_mode(probs, 4), CLASSIFY_PROBS);
    assert_int_equal(classify_detect_mode(negative, 4), CLASSIFY_LOGITS);
    assert_int_equal(classify_detect_mode(sigmoids, 4), CLASSIFY_LOGITS);
    assert_int_equal(classify_detect_mode(above_one, 2), CLASSIFY_LOGITS);

    /* The same row read as logits in explicit mode gives softmax values. */
    task_rank r[1];
    assert_int_equal(topk(probs, 4, CLASSIFY_LOGITS, 1, r, NULL), 1);
    assert_int_equal(r[0].id, 2);
    /* e^0.4 / (2 e^0.25 + e^0.4 + e^0.1) */
    float e = expf(0.4f) / (2 * expf(0.25f) + expf(0.4f) + expf(0.1f));
    assert_float_equal(r[0].score, e, 1e-6);
    assert_string_equal(classify_mode_name(CLASSIFY_AUTO), "auto");
    assert_string_equal(classify_mode_name(CLASSIFY_LOGITS), "logits");
    assert_string_equal(classify_mode_name(CLASSIFY_PROBS), "probs");
}

/* NaN and infinities are never ranked and do not enter the softmax sum. */
static void test_non_finite(void **state)
{
    (void)state;
    const float v[5] = {NAN, 0.5f, INFINITY, 1.0f, -INFINITY};
    task_rank r[5];
    classify_mode used;
    assert_int_equal(topk(v, 5, CLASSIFY_AUTO, 5, r, &used), 2);
    assert_int_equal(used, CLASSIFY_LOGITS); /* 0.5 + 1.0 is not a distribution */
    assert_int_equal(r[0].id, 3);
    assert_int_equal(r[1].id, 1);
    /* softmax(0.5, 1.0) = (0.3775407, 0.6224593) */
    assert_float_equal(r[0].score, 0.6224593f, 1e-6);
    assert_float_equal(r[1].score, 0.3775407f, 1e-6);

    const float all_nan[3] = {NAN, NAN, NAN};
    assert_int_equal(topk(all_nan, 3, CLASSIFY_AUTO, 2, r, NULL), 0);
}

/* k beyond the class count returns every class; k = C is a full sort. */
static void test_k_bounds(void **state)
{
    (void)state;
    const float v[4] = {0.1f, 0.4f, 0.3f, 0.2f};
    task_rank r[10];
    assert_int_equal(topk(v, 4, CLASSIFY_PROBS, 10, r, NULL), 4);
    const int want[4] = {1, 2, 3, 0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].id, want[i]);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static const float *cmp_values;

static int cmp_rank(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    if (cmp_values[a] != cmp_values[b]) return cmp_values[a] > cmp_values[b] ? -1 : 1;
    return a - b;
}

/* 1000 logits on a coarse grid (many ties), several k: the selected ids must
 * be a full sort's first k, and the probabilities its softmax. */
static void test_matches_full_sort(void **state)
{
    (void)state;
    enum { C = 1000 };
    static float v[C];
    static int order[C];
    static task_rank r[C];
    const int ks[5] = {1, 5, 10, 100, 1000};
    for (int trial = 0; trial < 20; trial++) {
        double sum = 0;
        float mx = -INFINITY;
        for (int i = 0; i < C; i++) {
            v[i] = (float)((int)(rng_next() % 200) - 100) / 8.0f;
            order[i] = i;
            mx = fmaxf(mx, v[i]);
        }
        for (int i = 0; i < C; i++)
            sum += exp((double)v[i] - mx);
        cmp_values = v;
        qsort(order, C, sizeof *order, cmp_rank);
        for (int j = 0; j < 5; j++) {
            int n = topk(v, C, CLASSIFY_LOGITS, ks[j], r, NULL);
            assert_int_equal(n, ks[j]);
            for (int i = 0; i < n; i++) {
                assert_int_equal(r[i].id, order[i]);
                assert_float_equal(r[i].score, exp((double)v[order[i]] - mx) / sum, 1e-6);
            }
        }
    }
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    const float v[3] = {1, 2, 3};
    task_rank r[3];
    int n = 9;
    assert_int_equal(classify_topk(v, 3, CLASSIFY_AUTO, 0, r, &n, NULL), TASK_ERR_INVALID);
    assert_int_equal(n, 0);
    assert_int_equal(classify_topk(v, 0, CLASSIFY_AUTO, 1, r, &n, NULL), TASK_ERR_INVALID);
    assert_int_equal(classify_topk(NULL, 3, CLASSIFY_AUTO, 1, r, &n, NULL), TASK_ERR_INVALID);
    assert_int_equal(classify_topk(v, 3, CLASSIFY_AUTO, 1, NULL, &n, NULL), TASK_ERR_INVALID);
    assert_int_equal(classify_topk(v, 3, (classify_mode)7, 1, r, &n, NULL), TASK_ERR_INVALID);
    assert_true(strlen(task_last_error()) > 0);
    assert_string_equal(task_strerror(TASK_ERR_INVALID), "invalid argument");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_known_probs),
        cmocka_unit_test(test_softmax_values),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_auto_mode),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_k_bounds),
        cmocka_unit_test(test_matches_full_sort),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
