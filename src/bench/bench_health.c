/* Server CPU and memory during a glint bench run: a thread polls the
 * server's /health (JSON with "cpu_seconds" and "rss_bytes", at the top
 * level or one object down) once a second, or reads /proc/<pid> of a
 * server bench started itself when /health gives nothing.
 *
 * Samples are kept in a bounded array (one per second, at most
 * BENCH_MAX_SECONDS); the coordinator reads windows of them under the
 * mutex. A server that answers /health with anything else three times is
 * not asked again; one that does not answer yet (cold start) is.
 */
#include "bench/bench_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bench_health {
    httpc_url url;
    int use_url;
    pid_t pid;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int refusals; /* answers without the fields */
    bench_sample *samples;
    int n, cap;
    int source; /* 1 health, 2 /proc */
};

/* Looks for a number `key` in obj or in its direct child objects. */
static double find_number(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_number(v)) return json_number_value(v);
    const char *k;
    json_t *child;
    json_object_foreach(obj, k, child)
    {
        if (!json_is_object(child)) continue;
        v = json_object_get(child, key);
        if (json_is_number(v)) return json_number_value(v);
    }
    return NAN;
}

static int poll_health(bench_health *h, bench_sample *s)
{
    char body[16384];
    int status = 0;
    size_t len = 0;
    if (httpc_get(&h->url, 800, &status, body, sizeof body, &len) != BENCH_OK) return 0;
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    if (json_is_object(j)) {
        s->cpu_seconds = find_number(j, "cpu_seconds");
        s->rss_bytes = find_number(j, "rss_bytes");
    }
    json_decref(j);
    if (isnan(s->cpu_seconds) && isnan(s->rss_bytes)) {
        if (++h->refusals >= 3) h->use_url = 0;
        return 0;
    }
    return 1;
}

static int poll_proc(pid_t pid, bench_sample *s)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    long rss_pages = 0;
    /* fields after ')': 3 state ... 14 utime 15 stime ... 24 rss */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
               "%*d %*u %*u %ld",
               &ut, &st, &rss_pages) != 3)
        return 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    s->cpu_seconds = (double)(ut + st) / (hz > 0 ? hz : 100);
    s->rss_bytes = (double)rss_pages * (double)sysconf(_SC_PAGESIZE);
    return 1;
}

static void *health_main(void *arg)
{
    bench_health *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        int use_url = h->use_url;
        pid_t pid = h->pid;
        pthread_mutex_unlock(&h->mu);
        bench_sample s = {bench_now_ns(), NAN, NAN};
        int src = 0;
        if (use_url && poll_health(h, &s))
            src = 1;
        else if (pid > 0 && poll_proc(pid, &s))
            src = 2;
        s.t_ns = bench_now_ns();
        pthread_mutex_lock(&h->mu);
        if (src && h->n < h->cap) {
            h->samples[h->n++] = s;
            if (!h->source || src == 1) h->source = src;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (!h->stop) pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

bench_health *bench_health_start(const httpc_url *url, pid_t pid)
{
    if (!url && pid <= 0) return NULL;
    bench_health *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->cap = BENCH_MAX_SECONDS;
    h->samples = calloc((size_t)h->cap, sizeof *h->samples);
    if (!h->samples) {
        free(h);
        return NULL;
    }
    if (url) {
        h->url = *url;
        h->use_url = 1;
    }
    h->pid = pid;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, health_main, h)) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        free(h->samples);
        free(h);
        return NULL;
    }
    return h;
}

void bench_health_set_pid(bench_health *h, pid_t pid)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->pid = pid;
    pthread_mutex_unlock(&h->mu);
}

void bench_health_stop(bench_health *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->stop = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h->samples);
    free(h);
}

void bench_health_window(bench_health *h, uint64_t t1, uint64_t t2, double *cores, double *rss_mb,
                         int *source)
{
    *cores = NAN;
    *rss_mb = NAN;
    if (source) *source = 0;
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    /* the last sample at or before t1 (or the first inside) to the last one
     * inside: cpu delta over their time delta */
    int a = -1, b = -1;
    double rss = NAN;
    for (int i = 0; i < h->n; i++) {
        const bench_sample *s = &h->samples[i];
        if (s->t_ns <= t1) a = i;
        if (s->t_ns > t2) break;
        if (s->t_ns >= t1) {
            if (a < 0) a = i;
            b = i;
            if (!isnan(s->rss_bytes) && (isnan(rss) || s->rss_bytes > rss)) rss = s->rss_bytes;
        }
    }
    if (a >= 0 && b > a && !isnan(h->samples[a].cpu_seconds) && !isnan(h->samples[b].cpu_seconds)) {
        double dt = (double)(h->samples[b].t_ns - h->samples[a].t_ns) / 1e9;
        if (dt > 0.2) *cores = (h->samples[b].cpu_seconds - h->samples[a].cpu_seconds) / dt;
    }
    if (isnan(rss) && a >= 0) rss = h->samples[a].rss_bytes;
    if (!isnan(rss)) *rss_mb = rss / (1024.0 * 1024.0);
    if (source) *source = h->source;
    pthread_mutex_unlock(&h->mu);
}
