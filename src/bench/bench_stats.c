/* Accumulators, step measurement and the steady-step rule; see
 * bench_stats.h. */
#include "bench/bench_stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *bench_errkind_name(int kind)
{
    static const char *names[BENCH_E_KINDS] = {"connect",  "timeout",  "closed",
                                               "protocol", "http_4xx", "http_5xx"};
    return kind >= 0 && kind < BENCH_E_KINDS ? names[kind] : "unknown";
}

void bench_acc_reset(bench_acc *a)
{
    /* everything but the histogram is small: reset the histogram with its
     * own routine so its min is set right */
    memset(a, 0, offsetof(bench_acc, lat));
    hdr_reset(&a->lat);
}

void bench_acc_merge(bench_acc *dst, const bench_acc *src)
{
    dst->offered += src->offered;
    dst->sent += src->sent;
    dst->retries += src->retries;
    dst->responses += src->responses;
    dst->ok += src->ok;
    dst->failed += src->failed;
    dst->retried_ok += src->retried_ok;
    dst->unsent += src->unsent;
    dst->reconnects += src->reconnects;
    for (int k = 0; k < BENCH_E_KINDS; k++) {
        dst->errors[k] += src->errors[k];
        dst->attempt_errors[k] += src->attempt_errors[k];
    }
    if (src->responses)
        for (int i = 0; i < 500; i++)
            dst->status[i] += src->status[i];
    dst->bytes_in += src->bytes_in;
    dst->bytes_out += src->bytes_out;
    hdr_merge(&dst->lat, &src->lat);
}

void bench_step_measure(bench_step *s, const bench_acc *acc, double seconds)
{
    double t = seconds > 0 ? seconds : 1;
    s->achieved_rps = (double)acc->responses / t;
    s->ok_rps = (double)acc->ok / t;
    s->finished = acc->ok + acc->failed;
    s->ok = acc->ok;
    s->failed = acc->failed;
    s->success_rate = s->finished ? (double)acc->ok / (double)s->finished : 0;
    s->p50_ms = hdr_percentile(&acc->lat, 50) / 1000;
    s->p90_ms = hdr_percentile(&acc->lat, 90) / 1000;
    s->p95_ms = hdr_percentile(&acc->lat, 95) / 1000;
    s->p99_ms = hdr_percentile(&acc->lat, 99) / 1000;
    s->max_ms = acc->lat.count ? (double)acc->lat.max / 1000 : 0;
}

int bench_step_is_steady(const bench_step *s, const bench_rule *r)
{
    if (s->finished == 0) return 0;
    if (isnan(s->offered_rps)) {
        if (s->stable == 0) return 0;
    } else if (!(s->achieved_rps >= r->min_ratio * s->offered_rps)) {
        return 0;
    }
    if (!(s->success_rate >= r->min_success)) return 0;
    if (!isnan(r->max_p99_ms) && !(s->p99_ms <= r->max_p99_ms)) return 0;
    return 1;
}

int bench_max_steady(const bench_step *steps, int n, double *rps)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (steps[i].steady && (best < 0 || steps[i].achieved_rps > steps[best].achieved_rps))
            best = i;
    if (rps)
        *rps = best < 0                         ? NAN
               : isnan(steps[best].offered_rps) ? steps[best].achieved_rps
                                                : steps[best].offered_rps;
    return best;
}

void bench_rule_text(const bench_rule *r, char *buf, size_t cap)
{
    char p99[64] = "";
    if (!isnan(r->max_p99_ms)) snprintf(p99, sizeof p99, " and p99 <= %g ms", r->max_p99_ms);
    snprintf(buf, cap,
             "a step is steady when achieved RPS >= %g%% of offered (closed loop: its windows "
             "agree) and >= %g%% of its requests succeed%s; max steady RPS is the offered rate "
             "of the steady step with the highest achieved rate",
             r->min_ratio * 100, r->min_success * 100, p99);
}

void bench_metrics_from_acc(bench_metrics *m, const bench_acc *acc, double seconds,
                            double steady_rps)
{
    double t = seconds > 0 ? seconds : 1;
    double fin = (double)(acc->ok + acc->failed);
    m->rps = (double)acc->responses / t;
    m->ok_rps = (double)acc->ok / t;
    m->steady_rps = steady_rps;
    int has = acc->lat.count > 0;
    m->p50_ms = has ? hdr_percentile(&acc->lat, 50) / 1000 : NAN;
    m->p90_ms = has ? hdr_percentile(&acc->lat, 90) / 1000 : NAN;
    m->p95_ms = has ? hdr_percentile(&acc->lat, 95) / 1000 : NAN;
    m->p99_ms = has ? hdr_percentile(&acc->lat, 99) / 1000 : NAN;
    m->p999_ms = has ? hdr_percentile(&acc->lat, 99.9) / 1000 : NAN;
    m->max_ms = has ? (double)acc->lat.max / 1000 : NAN;
    m->mean_ms = has ? hdr_mean(&acc->lat) / 1000 : NAN;
    m->error_pct = fin > 0 ? 100.0 * (double)acc->failed / fin : NAN;
    m->success_pct = fin > 0 ? 100.0 * (double)acc->ok / fin : NAN;
    m->requests = fin;
}
