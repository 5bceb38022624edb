/* Unit tests of src/bench/hdr: the bucket layout is contiguous and exact
 * below 256 µs; percentiles of log-uniform samples from 1 µs to 1 h stay
 * within 1% of the exact order statistics (a sorted copy); clamping,
 * merging, empty and single-value histograms; fixed memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/hdr.h"

static hdr_hist *new_hist(void)
{
    hdr_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    hdr_reset(h);
    return h;
}

static void test_buckets_contiguous(void **state)
{
    (void)state;
    assert_int_equal(hdr_bucket_lo(0), 0);
    for (int b = 0; b + 1 < HDR_BUCKETS; b++) {
        assert_true(hdr_bucket_hi(b) == hdr_bucket_lo(b + 1));
        assert_true(hdr_bucket_hi(b) > hdr_bucket_lo(b));
        /* width at most 1/128 of the lower bound above 256 */
        if (b >= 256) assert_true((hdr_bucket_hi(b) - hdr_bucket_lo(b)) * 128 <= hdr_bucket_lo(b));
        if (hdr_bucket_hi(b) - 1 <= HDR_MAX_US) { /* buckets past 1 h are never used */
            assert_int_equal(hdr_bucket_of(hdr_bucket_lo(b)), b);
            assert_int_equal(hdr_bucket_of(hdr_bucket_hi(b) - 1), b);
        }
    }
    assert_true(hdr_bucket_hi(HDR_BUCKETS - 1) > HDR_MAX_US);
    assert_int_equal(hdr_bucket_of(HDR_MAX_US * 10), hdr_bucket_of(HDR_MAX_US));
    for (uint64_t v = 0; v < 256; v++)
        assert_int_equal(hdr_bucket_of(v), (int)v);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact value at percentile p: the smallest v with >= p% at or below. */
static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
    double r = p / 100.0 * (double)n;
    size_t rank = (size_t)ceil(r);
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

static void test_percentiles_within_one_percent(void **state)
{
    (void)state;
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    hdr_hist *h = new_hist();
    srand(7);
    for (size_t i = 0; i < N; i++) {
        double e = (double)rand() / RAND_MAX * log10(3.6e9); /* 1 µs .. 1 h */
        v[i] = (uint64_t)pow(10, e);
        hdr_record(h, v[i]);
    }
    qsort(v, N, sizeof *v, cmp_u64);
    const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double want = (double)exact(v, N, ps[i]);
        double got = hdr_percentile(h, ps[i]);
        double tol = want < 256 ? 0.5 : want * 0.01;
        if (fabs(got - want) > tol) fail_msg("p%g: got %.1f want %.1f", ps[i], got, want);
    }
    assert_int_equal(h->count, N);
    assert_int_equal(h->min, v[0]);
    assert_int_equal(h->max, v[N - 1]);
    free(v);
    free(h);
}

static void test_small_values_exact(void **state)
{
    (void)state;
    hdr_hist *h = new_hist();
    for (uint64_t i = 1; i <= 100; i++)
        hdr_record(h, i);
    assert_float_equal(hdr_percentile(h, 50), 50, 0);
    assert_float_equal(hdr_percentile(h, 99), 99, 0);
    assert_float_equal(hdr_percentile(h, 100), 100, 0);
    assert_float_equal(hdr_percentile(h, 0), 1, 0);
    assert_float_equal(hdr_mean(h), 50.5, 1e-9);
    free(h);
}

static void test_empty_single_clamp(void **state)
{
    (void)state;
    hdr_hist *h = new_hist();
    assert_float_equal(hdr_percentile(h, 99), 0, 0);
    assert_float_equal(hdr_mean(h), 0, 0);
    hdr_record(h, 123456);
    /* a single value: every percentile is that value exactly (clamped to min/max) */
    assert_float_equal(hdr_percentile(h, 1), 123456, 0);
    assert_float_equal(hdr_percentile(h, 99.9), 123456, 0);
    hdr_record(h, HDR_MAX_US * 3);
    assert_int_equal(h->overflow, 1);
    assert_int_equal(h->max, HDR_MAX_US);
    assert_float_equal(hdr_percentile(h, 100), (double)HDR_MAX_US, 0);
    free(h);
}

static void test_merge_equals_combined(void **state)
{
    (void)state;
    hdr_hist *a = new_hist(), *b = new_hist(), *all = new_hist();
    for (uint64_t i = 0; i < 5000; i++) {
        uint64_t x = (i * 7919) % 100000 + 1;
        hdr_record(i % 2 ? a : b, x);
        hdr_record(all, x);
    }
    hdr_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_memory_equal(a->counts, all->counts, sizeof a->counts);
    for (double p = 1; p < 100; p += 7)
        assert_float_equal(hdr_percentile(a, p), hdr_percentile(all, p), 0);
    hdr_record_n(b, 50, 0); /* n = 0 records nothing */
    hdr_hist *empty = new_hist();
    hdr_merge(a, empty);
    assert_int_equal(a->count, all->count);
    free(a);
    free(b);
    free(all);
    free(empty);
}

static void test_fixed_memory(void **state)
{
    (void)state;
    /* an hour of samples costs no more than a second's: the struct is all */
    assert_true(sizeof(hdr_hist) < 32 * 1024);
    hdr_hist *h = new_hist();
    for (int i = 0; i < 1000000; i++)
        hdr_record(h, (uint64_t)i * 3600);
    assert_int_equal(h->count, 1000000);
    double p50 = hdr_percentile(h, 50);
    assert_true(fabs(p50 - 500000.0 * 3600) <= 500000.0 * 3600 * 0.01);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_contiguous),
        cmocka_unit_test(test_percentiles_within_one_percent),
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_empty_single_clamp),
        cmocka_unit_test(test_merge_equals_combined),
        cmocka_unit_test(test_fixed_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
