/* A latency histogram with bounded relative error in fixed memory
 * (HDR-style: log-linear buckets).
 *
 * Values are microseconds in [0, HDR_MAX_US] (one hour); larger values are
 * clamped to HDR_MAX_US and counted in `overflow`. Values below 256 µs each
 * have their own bucket (exact); above, every power of two [2^k, 2^(k+1)) is
 * split into 128 equal buckets, so a bucket is at most 1/128 of its lower
 * bound wide. A percentile is reported as the middle of its bucket, clamped
 * to the recorded [min, max], so its relative error is at most 1/256 (0.4%),
 * well inside the 1% this module promises.
 *
 * Memory: HDR_BUCKETS 64-bit counters (26 KiB) inside the struct; nothing
 * is ever allocated, so a run of hours keeps flat memory and a histogram can
 * be embedded, copied with memcpy or merged.
 * Thread-safety: none; a histogram is owned by one thread at a time.
 */
#ifndef GLINT_BENCH_HDR_H
#define GLINT_BENCH_HDR_H

#include <stdint.h>

#define HDR_MAX_US 3600000000ULL /* one hour */
#define HDR_SUB_BITS 7           /* 128 buckets per power of two */
#define HDR_BUCKETS (256 + (32 - 8) * 128)

typedef struct hdr_hist {
    uint64_t count;    /* values recorded */
    uint64_t overflow; /* values clamped to HDR_MAX_US */
    uint64_t min, max; /* exact recorded extremes (min is UINT64_MAX when empty) */
    double sum;        /* of the (clamped) values, for the mean */
    uint64_t counts[HDR_BUCKETS];
} hdr_hist;

/* Empties h (also the way to initialise one). */
void hdr_reset(hdr_hist *h);
/* Records one value in microseconds. */
void hdr_record(hdr_hist *h, uint64_t us);
/* Records `n` copies of a value. */
void hdr_record_n(hdr_hist *h, uint64_t us, uint64_t n);
/* Adds every value of src to dst. */
void hdr_merge(hdr_hist *dst, const hdr_hist *src);

/* The value at percentile p in [0, 100] (p=50 the median, p=100 the max),
 * in microseconds as a double: the smallest recorded value v such that at
 * least p% of the values are <= v, within the error bound above. 0 when
 * the histogram is empty. */
double hdr_percentile(const hdr_hist *h, double p);
/* Mean of the recorded values in µs (0 when empty). */
double hdr_mean(const hdr_hist *h);

/* Bucket geometry, for plotting distributions: the bucket a value falls in,
 * and the [lo, hi) range of values a bucket holds. */
int hdr_bucket_of(uint64_t us);
uint64_t hdr_bucket_lo(int b);
uint64_t hdr_bucket_hi(int b);

#endif
