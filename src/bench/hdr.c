/* Log-linear latency histogram: see hdr.h for the bucket layout and the
 * error bound. */
#include "bench/hdr.h"

#include <string.h>

#define SUB (1u << HDR_SUB_BITS) /* 128 */

void hdr_reset(hdr_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

int hdr_bucket_of(uint64_t us)
{
    if (us > HDR_MAX_US) us = HDR_MAX_US;
    if (us < 2 * SUB) return (int)us;
    int k = 63 - __builtin_clzll(us); /* 2^k <= us < 2^(k+1), k >= 8 */
    int shift = k - HDR_SUB_BITS;
    return (int)(2 * SUB + (unsigned)(k - 8) * SUB + ((us >> shift) - SUB));
}

uint64_t hdr_bucket_lo(int b)
{
    if (b < (int)(2 * SUB)) return (uint64_t)b;
    int k = 8 + (b - 2 * (int)SUB) / (int)SUB;
    int j = (b - 2 * (int)SUB) % (int)SUB;
    return (uint64_t)(SUB + (unsigned)j) << (k - HDR_SUB_BITS);
}

uint64_t hdr_bucket_hi(int b)
{
    if (b < (int)(2 * SUB)) return (uint64_t)b + 1;
    int k = 8 + (b - 2 * (int)SUB) / (int)SUB;
    return hdr_bucket_lo(b) + (1ULL << (k - HDR_SUB_BITS));
}

void hdr_record_n(hdr_hist *h, uint64_t us, uint64_t n)
{
    if (n == 0) return;
    if (us > HDR_MAX_US) {
        us = HDR_MAX_US;
        h->overflow += n;
    }
    h->counts[hdr_bucket_of(us)] += n;
    h->count += n;
    h->sum += (double)us * (double)n;
    if (us < h->min) h->min = us;
    if (us > h->max) h->max = us;
}

void hdr_record(hdr_hist *h, uint64_t us)
{
    hdr_record_n(h, us, 1);
}

void hdr_merge(hdr_hist *dst, const hdr_hist *src)
{
    if (src->count == 0) return;
    for (int i = 0; i < HDR_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->overflow += src->overflow;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

double hdr_percentile(const hdr_hist *h, double p)
{
    if (h->count == 0) return 0;
    if (!(p > 0)) return (double)h->min;
    if (p >= 100) return (double)h->max;
    /* rank of the wanted value, 1-based: ceil(p% of count) */
    double r = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r) rank++;
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int b = 0; b < HDR_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen < rank) continue;
        double lo = (double)hdr_bucket_lo(b);
        double hi = (double)hdr_bucket_hi(b);
        double v = b < (int)(2 * SUB) ? lo : (lo + hi - 1) / 2;
        if (v < (double)h->min) v = (double)h->min;
        if (v > (double)h->max) v = (double)h->max;
        return v;
    }
    return (double)h->max;
}

double hdr_mean(const hdr_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}
