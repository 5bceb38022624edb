/* The coordinator of a glint bench run: sets up the workers, cuts their
 * measurements every 100 ms, drives the steps of each mode, prints the live
 * line, decides the end, drains, and turns the measurements into per-second
 * rows, per-step rows, the steady verdicts and the whole-run metrics.
 *
 * Runs on the calling thread; see bench_impl.h for what it shares with the
 * workers and bench_run.h for the modes.
 */
#include "bench/bench_impl.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static _Atomic int stop_requested;

void bench_request_stop(void)
{
    atomic_store(&stop_requested, 1);
}

const char *bench_mode_name(bench_mode m)
{
    switch (m) {
    case BENCH_RAMP:
        return "ramp";
    case BENCH_RATE:
        return "rate";
    case BENCH_CONCURRENCY:
        return "concurrency";
    case BENCH_SPIKE:
        return "spike";
    }
    return "unknown";
}

void bench_config_defaults(bench_config *c)
{
    memset(c, 0, sizeof *c);
    c->mode = BENCH_RAMP;
    c->threads = 1;
    c->timeout_s = 10;
    c->backoff_ms = 50;
    c->backoff_max_ms = 2000;
    c->max_requests = 10000000;
    c->step_size = 1;
    c->max_clients = 10;
    c->ramp_interval_s = 10;
    c->client_rps = 5;
    c->step_duration_s = 10;
    c->connections = 32;
    c->conc_start = 1;
    c->conc_end = 4;
    c->conc_step = 1;
    c->window_ms = 1000;
    c->min_windows = 3;
    c->max_windows = 10;
    c->stability = 0.10;
    c->burst = 100;
    c->ready_timeout_s = 60;
    c->rule = (bench_rule)BENCH_RULE_DEFAULT;
    c->log_requests = 1000000;
    c->seed = 1;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) return bench_fail(BENCH_ERR_INVALID, __VA_ARGS__);                            \
    } while (0)

bench_status bench_config_check(const bench_config *c)
{
    CHECK(c->payloads && c->payloads->n >= 1, "no request to send");
    CHECK(c->threads >= 1 && c->threads <= BENCH_MAX_THREADS, "--threads must be 1..%d",
          BENCH_MAX_THREADS);
    CHECK(c->timeout_s >= 0.001 && c->timeout_s <= 3600, "--timeout must be 0.001..3600 s");
    CHECK(c->retries >= 0 && c->retries <= 10, "--retries must be 0..10");
    CHECK(c->backoff_ms >= 0 && c->backoff_ms <= 60000, "--retry-backoff must be 0..60000 ms");
    CHECK(c->backoff_max_ms >= c->backoff_ms && c->backoff_max_ms <= 600000,
          "--retry-max-backoff must be >= --retry-backoff and <= 600000 ms");
    CHECK(c->duration_s >= 0 && c->duration_s <= BENCH_MAX_DURATION_S, "--duration must be 0..%g s",
          BENCH_MAX_DURATION_S);
    CHECK(c->max_requests >= 1 && c->max_requests <= BENCH_MAX_REQUESTS,
          "--max-requests must be 1..%llu", BENCH_MAX_REQUESTS);
    CHECK(c->rule.min_ratio >= 0 && c->rule.min_ratio <= 1, "--steady-ratio must be 0..1");
    CHECK(c->rule.min_success >= 0 && c->rule.min_success <= 1, "--steady-success must be 0..1");
    switch (c->mode) {
    case BENCH_RAMP:
        CHECK(c->max_clients >= 1 && c->max_clients <= BENCH_MAX_SLOTS,
              "--max-clients must be 1..%d", BENCH_MAX_SLOTS);
        CHECK(c->step_size >= 1 && c->step_size <= c->max_clients,
              "--step-size must be 1..--max-clients");
        CHECK(c->start_clients >= 0 && c->start_clients <= c->max_clients,
              "--start-clients must be 0..--max-clients");
        CHECK(c->ramp_interval_s >= 0.1 && c->ramp_interval_s <= BENCH_MAX_DURATION_S,
              "--time-between-ramp must be 0.1..%g s", BENCH_MAX_DURATION_S);
        CHECK(c->client_rps > 0 && c->client_rps <= 1e6,
              "--requests-per-second must be > 0 and <= 1e6");
        break;
    case BENCH_RATE:
        CHECK(c->nrates >= 1 && c->nrates <= BENCH_MAX_STEPS, "rate needs --rate R[,R2,...]");
        for (int i = 0; i < c->nrates; i++)
            CHECK(c->rates[i] > 0 && c->rates[i] <= 1e7, "--rate values must be > 0 and <= 1e7");
        CHECK(c->step_duration_s >= 0.1 && c->step_duration_s <= BENCH_MAX_DURATION_S,
              "--duration must be 0.1..%g s", BENCH_MAX_DURATION_S);
        CHECK(c->connections >= c->threads && c->connections <= BENCH_MAX_SLOTS,
              "--connections must be --threads..%d", BENCH_MAX_SLOTS);
        break;
    case BENCH_CONCURRENCY:
        CHECK(c->conc_start >= 1 && c->conc_end >= 1 && c->conc_start <= BENCH_MAX_SLOTS &&
                  c->conc_end <= BENCH_MAX_SLOTS,
              "--concurrency values must be 1..%d", BENCH_MAX_SLOTS);
        CHECK(c->conc_step >= 1, "--concurrency step must be >= 1");
        CHECK(c->window_ms >= 100 && c->window_ms <= 3600000, "--window must be 100..3600000 ms");
        CHECK(c->min_windows >= 1 && c->min_windows <= c->max_windows && c->max_windows <= 1000,
              "need 1 <= --min-windows <= --max-windows <= 1000");
        CHECK(c->stability > 0 && c->stability < 1, "--stability must be 0..100 %%");
        break;
    case BENCH_SPIKE:
        CHECK(c->burst >= 1 && c->burst <= BENCH_MAX_SLOTS, "--burst must be 1..%d",
              BENCH_MAX_SLOTS);
        CHECK(c->ready_timeout_s > 0 && c->ready_timeout_s <= 3600,
              "--ready-timeout must be 0..3600 s");
        CHECK(!c->ready_pattern || c->server_cmd, "--ready-pattern needs --server-cmd");
        break;
    }
    CHECK(c->mode == BENCH_SPIKE || !c->server_cmd, "--server-cmd is for the spike mode");
    return BENCH_OK;
}

/* ---- the plan of steps ---- */

typedef struct plan {
    int nsteps;
    int levels[BENCH_MAX_STEPS + 1]; /* clients / concurrency / connections / burst */
    uint64_t step_ticks;             /* ramp, rate: ticks per step */
    uint64_t window_ticks;           /* concurrency */
    double cap_s;                    /* duration cap */
} plan;

static uint64_t ticks_of(double s)
{
    uint64_t t = (uint64_t)llround(s * 1e9 / (double)BENCH_TICK_NS);
    return t ? t : 1;
}

static bench_status make_plan(const bench_config *c, plan *p)
{
    memset(p, 0, sizeof *p);
    switch (c->mode) {
    case BENCH_RAMP: {
        int start = c->start_clients ? c->start_clients : c->step_size;
        for (int n = start;; n += c->step_size) {
            if (p->nsteps == BENCH_MAX_STEPS)
                return bench_fail(BENCH_ERR_INVALID, "the ramp has more than %d steps",
                                  BENCH_MAX_STEPS);
            p->levels[p->nsteps++] = n < c->max_clients ? n : c->max_clients;
            if (n >= c->max_clients) break;
        }
        p->step_ticks = ticks_of(c->ramp_interval_s);
        break;
    }
    case BENCH_RATE:
        p->nsteps = c->nrates;
        for (int i = 0; i < c->nrates; i++)
            p->levels[i] = c->connections;
        p->step_ticks = ticks_of(c->step_duration_s);
        break;
    case BENCH_CONCURRENCY: {
        int dir = c->conc_end >= c->conc_start ? 1 : -1;
        for (int n = c->conc_start;; n += dir * c->conc_step) {
            if (dir * (n - c->conc_end) > 0) break;
            if (p->nsteps == BENCH_MAX_STEPS)
                return bench_fail(BENCH_ERR_INVALID, "--concurrency has more than %d levels",
                                  BENCH_MAX_STEPS);
            p->levels[p->nsteps++] = n;
        }
        p->window_ticks = ticks_of(c->window_ms / 1000.0);
        break;
    }
    case BENCH_SPIKE:
        p->nsteps = 1;
        p->levels[0] = c->burst;
        break;
    }
    double natural = c->mode == BENCH_CONCURRENCY
                         ? (double)p->nsteps * (double)p->window_ticks * c->max_windows * 0.1
                     : c->mode == BENCH_SPIKE ? c->timeout_s * (c->retries + 1) +
                                                    c->backoff_max_ms / 1000 * c->retries + 5
                                              : (double)p->nsteps * (double)p->step_ticks * 0.1;
    p->cap_s = natural;
    if (c->duration_s > 0 && c->duration_s < natural) p->cap_s = c->duration_s;
    if (p->cap_s > BENCH_MAX_DURATION_S) p->cap_s = BENCH_MAX_DURATION_S;
    return BENCH_OK;
}

/* ---- the coordinator ---- */

typedef struct coord {
    const bench_config *cfg;
    bench_shared sh;
    bench_worker *workers;
    int nworkers;
    plan plan;
    bench_health *health;
    bench_server *server;
    bench_result *res;
    bench_acc *tick, *sec, *step, *run, *all;
    bench_acc *win[3]; /* concurrency: the last three windows */
    bench_acc *curwin;
    int nwin; /* windows closed in this step */
    double win_rps[3], win_p99[3];
    int step_i;
    uint64_t step_start_tick, win_start_tick, sec_start_tick;
    int seconds_cap;
} coord;

static uint64_t tick_ns(const coord *c, uint64_t k)
{
    return c->sh.t0_ns + k * BENCH_TICK_NS;
}

static void collect(coord *c, bench_acc *into)
{
    bench_acc_reset(into);
    for (int i = 0; i < c->nworkers; i++) {
        bench_worker *w = &c->workers[i];
        pthread_mutex_lock(&w->mu);
        bench_acc_merge(into, &w->acc);
        bench_acc_reset(&w->acc);
        pthread_mutex_unlock(&w->mu);
    }
}

static int inflight(const coord *c)
{
    int n = 0;
    for (int i = 0; i < c->nworkers; i++)
        n += atomic_load_explicit(&c->workers[i].inflight, memory_order_relaxed);
    return n;
}

static void kick_all(coord *c)
{
    for (int i = 0; i < c->nworkers; i++)
        bench_worker_kick(&c->workers[i]);
}

/* Sets the workers up for step i, starting at tick k. */
static void apply_step(coord *c, int i, uint64_t k)
{
    const bench_config *cfg = c->cfg;
    int level = c->plan.levels[i];
    int T = c->nworkers;
    atomic_store(&c->sh.step, i);
    for (int w = 0; w < T; w++) {
        bench_worker *wk = &c->workers[w];
        if (cfg->mode == BENCH_RAMP || cfg->mode == BENCH_CONCURRENCY)
            atomic_store(&wk->target, level > w ? (level - w + T - 1) / T : 0);
        if (cfg->mode == BENCH_RATE) {
            atomic_store(&wk->rate, cfg->rates[i] / T);
            atomic_store(&wk->rate_start_ns, tick_ns(c, k));
            atomic_fetch_add(&wk->rate_gen, 1);
        }
    }
    kick_all(c);
    c->step_i = i;
    c->step_start_tick = k;
    c->win_start_tick = k;
    c->nwin = 0;
    bench_acc_reset(c->step);
    bench_acc_reset(c->curwin);
}

static double offered_of(const coord *c, int i)
{
    const bench_config *cfg = c->cfg;
    if (cfg->mode == BENCH_RAMP) return c->plan.levels[i] * cfg->client_rps;
    if (cfg->mode == BENCH_RATE) return cfg->rates[i];
    return NAN;
}

static void emit_second(coord *c, uint64_t k)
{
    bench_result *r = c->res;
    double len = (double)(k - c->sec_start_tick) * BENCH_TICK_NS / 1e9;
    if (len <= 0 || r->nseconds >= c->seconds_cap) return;
    bench_second *s = &r->seconds[r->nseconds++];
    const bench_acc *a = c->sec;
    memset(s, 0, sizeof *s);
    s->t = (double)k * BENCH_TICK_NS / 1e9;
    s->step = c->step_i;
    s->level = c->plan.levels[c->step_i];
    s->offered_rps =
        c->cfg->mode == BENCH_RATE ? (double)a->offered / len : offered_of(c, c->step_i);
    s->achieved_rps = (double)a->responses / len;
    s->ok_rps = (double)a->ok / len;
    s->responses = a->responses;
    s->ok = a->ok;
    s->failed = a->failed;
    s->timeouts = a->errors[BENCH_E_TIMEOUT];
    s->p50_ms = hdr_percentile(&a->lat, 50) / 1000;
    s->p90_ms = hdr_percentile(&a->lat, 90) / 1000;
    s->p99_ms = hdr_percentile(&a->lat, 99) / 1000;
    s->max_ms = a->lat.count ? (double)a->lat.max / 1000 : 0;
    s->inflight = inflight(c);
    bench_health_window(c->health, tick_ns(c, c->sec_start_tick), tick_ns(c, k), &s->server_cpu,
                        &s->server_rss_mb, NULL);
    if (!c->cfg->quiet) {
        const char *what = c->cfg->mode == BENCH_RAMP          ? "clients"
                           : c->cfg->mode == BENCH_CONCURRENCY ? "concurrency"
                           : c->cfg->mode == BENCH_RATE        ? "connections"
                                                               : "burst";
        char off[32] = "-";
        if (!isnan(s->offered_rps)) snprintf(off, sizeof off, "%.1f", s->offered_rps);
        fprintf(stderr,
                "[%7.1fs] step %d %s %d | offered %s achieved %.1f rps | p50 %.2f ms p99 %.2f "
                "ms | errors %llu | in flight %d\n",
                s->t, s->step + 1, what, s->level, off, s->achieved_rps, s->p50_ms, s->p99_ms,
                (unsigned long long)s->failed, s->inflight);
    }
    bench_acc_reset(c->sec);
    c->sec_start_tick = k;
}

/* Closes step c->step_i measured by acc over `seconds`, ending at tick k. */
static void close_step(coord *c, const bench_acc *acc, double seconds, uint64_t k, int windows,
                       int stable)
{
    bench_result *r = c->res;
    bench_step *s = &r->steps[r->nsteps++];
    memset(s, 0, sizeof *s);
    s->index = c->step_i;
    s->level = c->plan.levels[c->step_i];
    s->start_s = (double)c->step_start_tick * BENCH_TICK_NS / 1e9;
    s->end_s = (double)k * BENCH_TICK_NS / 1e9;
    s->offered_rps = offered_of(c, c->step_i);
    bench_step_measure(s, acc, seconds);
    s->windows = windows;
    s->stable = stable;
    s->steady = c->cfg->mode == BENCH_SPIKE ? 0 : bench_step_is_steady(s, &c->cfg->rule);
    uint64_t t1 = tick_ns(c, k) - (uint64_t)(seconds * 1e9);
    bench_health_window(c->health, t1, tick_ns(c, k), &s->server_cpu, &s->server_rss_mb, NULL);
}

/* Concurrency: closes a window; returns 1 when the step is over. */
static int close_window(coord *c, uint64_t k)
{
    const bench_config *cfg = c->cfg;
    double len = (double)(k - c->win_start_tick) * BENCH_TICK_NS / 1e9;
    bench_acc *oldest = c->win[0];
    c->win[0] = c->win[1];
    c->win[1] = c->win[2];
    c->win[2] = c->curwin;
    c->curwin = oldest;
    bench_acc_reset(c->curwin);
    memmove(c->win_rps, c->win_rps + 1, 2 * sizeof(double));
    memmove(c->win_p99, c->win_p99 + 1, 2 * sizeof(double));
    c->win_rps[2] = (double)c->win[2]->responses / len;
    c->win_p99[2] = hdr_percentile(&c->win[2]->lat, 99);
    c->nwin++;
    c->win_start_tick = k;
    int stable = 0;
    if (c->nwin >= 3) {
        double mr = (c->win_rps[0] + c->win_rps[1] + c->win_rps[2]) / 3;
        double ml = (c->win_p99[0] + c->win_p99[1] + c->win_p99[2]) / 3;
        stable = mr > 0;
        for (int i = 0; i < 3; i++)
            if (fabs(c->win_rps[i] - mr) > cfg->stability * mr ||
                fabs(c->win_p99[i] - ml) > cfg->stability * ml)
                stable = 0;
    }
    if (!((c->nwin >= cfg->min_windows && stable) || c->nwin >= cfg->max_windows)) return 0;
    int used = c->nwin < 3 ? c->nwin : 3;
    bench_acc_reset(c->step);
    for (int i = 3 - used; i < 3; i++)
        bench_acc_merge(c->step, c->win[i]);
    close_step(c, c->step, used * len, k, c->nwin, c->nwin >= 3 ? stable : 0);
    return 1;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        if (atomic_load(&stop_requested)) return;
}

static void set_reason(bench_result *r, const char *why)
{
    snprintf(r->stop_reason, sizeof r->stop_reason, "%s", why);
}

/* The tick loop; returns the tick at which load generation stopped. */
static uint64_t drive(coord *c)
{
    const bench_config *cfg = c->cfg;
    bench_result *r = c->res;
    uint64_t cap_ticks = ticks_of(c->plan.cap_s);
    uint64_t k = 0;
    apply_step(c, 0, 0);
    atomic_store(&c->sh.phase, PH_RUN);
    if (cfg->mode == BENCH_SPIKE) atomic_store(&c->sh.release_ns, c->sh.t0_ns);
    kick_all(c);
    for (;;) {
        sleep_until(tick_ns(c, k + 1));
        k++;
        collect(c, c->tick);
        bench_acc_merge(c->sec, c->tick);
        bench_acc_merge(c->step, c->tick);
        bench_acc_merge(c->curwin, c->tick);
        bench_acc_merge(c->run, c->tick);
        bench_acc_merge(c->all, c->tick);
        if ((k - c->sec_start_tick) * BENCH_TICK_NS >= 1000000000ULL) emit_second(c, k);
        int done = 0;
        if (cfg->mode == BENCH_RAMP || cfg->mode == BENCH_RATE) {
            if (k - c->step_start_tick >= c->plan.step_ticks) {
                close_step(c, c->step, (double)(k - c->step_start_tick) * BENCH_TICK_NS / 1e9, k, 0,
                           -1);
                if (c->step_i + 1 < c->plan.nsteps)
                    apply_step(c, c->step_i + 1, k);
                else
                    done = 1;
            }
        } else if (cfg->mode == BENCH_CONCURRENCY) {
            if (k - c->win_start_tick >= c->plan.window_ticks && close_window(c, k)) {
                if (c->step_i + 1 < c->plan.nsteps)
                    apply_step(c, c->step_i + 1, k);
                else
                    done = 1;
            }
        } else if (atomic_load(&c->sh.spike_finished) >= cfg->burst) {
            done = 1;
        }
        if (done) {
            set_reason(r, "all steps done");
            break;
        }
        if (k >= cap_ticks) {
            set_reason(r, "duration cap");
            break;
        }
        if (atomic_load(&c->sh.limit_hit)) {
            set_reason(r, "--max-requests reached");
            break;
        }
        if (atomic_load(&stop_requested)) {
            set_reason(r, "interrupted");
            break;
        }
    }
    /* the step cut short by a cap: report it if it ran at least a tick */
    int step_open = cfg->mode == BENCH_SPIKE ? r->nsteps == 0
                                             : r->nsteps <= c->step_i && k > c->step_start_tick;
    if (step_open) {
        double secs = (double)(k - c->step_start_tick) * BENCH_TICK_NS / 1e9;
        if (cfg->mode == BENCH_CONCURRENCY) {
            /* the windows closed so far and the open one */
            bench_acc_reset(c->step);
            int used = c->nwin < 2 ? c->nwin : 2;
            for (int i = 3 - used; i < 3; i++)
                bench_acc_merge(c->step, c->win[i]);
            bench_acc_merge(c->step, c->curwin);
            double wl = (double)c->plan.window_ticks * BENCH_TICK_NS / 1e9;
            double open = (double)(k - c->win_start_tick) * BENCH_TICK_NS / 1e9;
            close_step(c, c->step, used * wl + open, k, c->nwin, 0);
        } else {
            close_step(c, c->step, secs, k, 0, -1);
        }
    }
    if (k > c->sec_start_tick) emit_second(c, k);
    return k;
}

static void drain(coord *c)
{
    atomic_store(&c->sh.phase, PH_DRAIN);
    kick_all(c);
    uint64_t deadline = bench_now_ns() + (uint64_t)((c->cfg->timeout_s + 0.5) * 1e9);
    while (atomic_load(&c->sh.drained) < c->nworkers && bench_now_ns() < deadline)
        usleep(2000);
    atomic_store(&c->sh.phase, PH_STOP);
    kick_all(c);
    for (int i = 0; i < c->nworkers; i++)
        if (c->workers[i].thread_started) {
            pthread_join(c->workers[i].thread, NULL);
            c->workers[i].thread_started = 0;
        }
    collect(c, c->tick);
    bench_acc_merge(c->all, c->tick);
}

static bench_status resolve(const httpc_url *u, bench_shared *sh)
{
    char port[16];
    snprintf(port, sizeof port, "%d", u->port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, port, &hints, &ai);
    if (rc || !ai)
        return bench_fail(BENCH_ERR_NET, "cannot resolve '%s': %s", u->host, gai_strerror(rc));
    memcpy(&sh->addr, ai->ai_addr, ai->ai_addrlen);
    sh->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return BENCH_OK;
}

static void raise_fd_limit(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return;
    rlim_t want = (rlim_t)need + 64;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void now_iso(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int total_slots(const bench_config *cfg)
{
    switch (cfg->mode) {
    case BENCH_RAMP:
        return cfg->max_clients;
    case BENCH_RATE:
        return cfg->connections;
    case BENCH_CONCURRENCY:
        return cfg->conc_start > cfg->conc_end ? cfg->conc_start : cfg->conc_end;
    case BENCH_SPIKE:
        return cfg->burst;
    }
    return 1;
}

static bench_status start_health(coord *c)
{
    const bench_config *cfg = c->cfg;
    pid_t pid = c->server ? bench_server_pid(c->server) : -1;
    if (cfg->health_url && !strcmp(cfg->health_url, "off")) {
        c->health = bench_health_start(NULL, pid);
        return BENCH_OK;
    }
    httpc_url hu;
    if (cfg->health_url) {
        bench_status s = httpc_url_parse(cfg->health_url, &hu);
        if (s) return s;
    } else {
        hu = cfg->url;
        snprintf(hu.path, sizeof hu.path, "/health");
    }
    c->health = bench_health_start(&hu, pid);
    return BENCH_OK;
}

static void finish_result(coord *c, uint64_t k)
{
    const bench_config *cfg = c->cfg;
    bench_result *r = c->res;
    r->run_s = (double)k * BENCH_TICK_NS / 1e9;
    r->elapsed_s = (double)(bench_now_ns() - c->sh.t0_ns) / 1e9;
    r->total = *c->all;
    if (cfg->mode == BENCH_RATE) {
        r->offered_rps = r->run_s > 0 ? (double)c->run->offered / r->run_s : NAN;
    } else if (cfg->mode == BENCH_RAMP) {
        double sum = 0, t = 0;
        for (int i = 0; i < r->nsteps; i++) {
            double d = r->steps[i].end_s - r->steps[i].start_s;
            sum += r->steps[i].offered_rps * d;
            t += d;
        }
        r->offered_rps = t > 0 ? sum / t : NAN;
    } else {
        r->offered_rps = NAN;
    }
    r->max_steady_step = bench_max_steady(r->steps, r->nsteps, &r->max_steady_rps);
    bench_metrics_from_acc(&r->metrics, c->all, r->run_s, r->max_steady_rps);
    /* rates count what was answered while the load ran */
    if (r->run_s > 0) {
        r->metrics.rps = (double)c->run->responses / r->run_s;
        r->metrics.ok_rps = (double)c->run->ok / r->run_s;
    }
    if (cfg->mode == BENCH_SPIKE) {
        uint64_t rel = c->sh.t0_ns;
        uint64_t fa = atomic_load(&c->sh.first_answer_ns);
        uint64_t lf = atomic_load(&c->sh.last_finish_ns);
        r->spike.burst = cfg->burst;
        r->spike.first_answer_ms = fa ? (double)(fa - rel) / 1e6 : NAN;
        r->spike.clear_ms = lf ? (double)(lf - rel) / 1e6 : NAN;
        r->spike.ok = c->all->ok;
        /* the timeline up to the last finish */
        int n = lf && lf > rel ? (int)((lf - rel) / 1000000ULL) + 1 : 1;
        if (n > c->sh.spike_nms) n = c->sh.spike_nms;
        r->spike.ok_per_ms = calloc((size_t)n, sizeof(uint32_t));
        r->spike.failed_per_ms = calloc((size_t)n, sizeof(uint32_t));
        if (r->spike.ok_per_ms && r->spike.failed_per_ms) {
            for (int i = 0; i < n; i++) {
                r->spike.ok_per_ms[i] = atomic_load(&c->sh.spike_ok_ms[i]);
                r->spike.failed_per_ms[i] = atomic_load(&c->sh.spike_fail_ms[i]);
            }
            r->spike.nms = n;
        }
    }
    int src = 0;
    double cores, rss;
    bench_health_window(c->health, c->sh.t0_ns, bench_now_ns(), &cores, &rss, &src);
    r->health = src == 1;
    r->proc_stats = src == 2;
    r->logged = atomic_load(&c->sh.logged);
    r->log_dropped = atomic_load(&c->sh.log_dropped);
}

static bench_acc *new_acc(void)
{
    bench_acc *a = malloc(sizeof *a);
    if (a) bench_acc_reset(a);
    return a;
}

bench_status bench_run(const bench_config *cfg, bench_result *res)
{
    memset(res, 0, sizeof *res);
    res->max_steady_step = -1;
    res->max_steady_rps = NAN;
    res->spike.ready_s = NAN;
    res->spike.first_answer_ms = NAN;
    res->spike.clear_ms = NAN;
    bench_status st = bench_config_check(cfg);
    if (st) return st;
    atomic_store(&stop_requested, 0);
    coord *c = calloc(1, sizeof *c);
    if (!c) return bench_fail(BENCH_ERR_NOMEM, "no memory");
    c->cfg = cfg;
    c->res = res;
    c->sh.cfg = cfg;
    pthread_mutex_init(&c->sh.log_mu, NULL);
    if ((st = make_plan(cfg, &c->plan))) goto done;
    if ((st = resolve(&cfg->url, &c->sh))) goto done;
    c->tick = new_acc();
    c->sec = new_acc();
    c->step = new_acc();
    c->run = new_acc();
    c->all = new_acc();
    c->curwin = new_acc();
    for (int i = 0; i < 3; i++)
        c->win[i] = new_acc();
    c->seconds_cap =
        (int)(c->plan.cap_s + 2 < BENCH_MAX_SECONDS ? c->plan.cap_s + 2 : BENCH_MAX_SECONDS);
    res->seconds = calloc((size_t)c->seconds_cap, sizeof *res->seconds);
    res->steps = calloc((size_t)c->plan.nsteps + 1, sizeof *res->steps);
    if (!c->tick || !c->sec || !c->step || !c->run || !c->all || !c->curwin || !c->win[0] ||
        !c->win[1] || !c->win[2] || !res->seconds || !res->steps) {
        st = bench_fail(BENCH_ERR_NOMEM, "no memory for the measurements");
        goto done;
    }
    if (cfg->mode == BENCH_SPIKE) {
        c->sh.spike_ok_ms = calloc(BENCH_SPIKE_MS, sizeof *c->sh.spike_ok_ms);
        c->sh.spike_fail_ms = calloc(BENCH_SPIKE_MS, sizeof *c->sh.spike_fail_ms);
        if (!c->sh.spike_ok_ms || !c->sh.spike_fail_ms) {
            st = bench_fail(BENCH_ERR_NOMEM, "no memory for the spike timeline");
            goto done;
        }
        c->sh.spike_nms = BENCH_SPIKE_MS;
    }
    if (cfg->requests_path && cfg->log_requests > 0) {
        c->sh.log = fopen(cfg->requests_path, "w");
        if (!c->sh.log) {
            st = bench_fail(BENCH_ERR_IO, "cannot write '%s': %s", cfg->requests_path,
                            strerror(errno));
            goto done;
        }
        fputs("id,worker,step,intended_us,start_us,end_us,latency_us,status,outcome,attempts,"
              "bytes_in\n",
              c->sh.log);
    }
    int slots = total_slots(cfg);
    raise_fd_limit(slots + 16);
    c->nworkers = cfg->threads < slots ? cfg->threads : slots;
    c->sh.nworkers = c->nworkers;
    c->workers = calloc((size_t)c->nworkers, sizeof *c->workers);
    if (!c->workers) {
        st = bench_fail(BENCH_ERR_NOMEM, "no memory");
        goto done;
    }
    for (int i = 0; i < c->nworkers; i++) {
        int n = (slots - i + c->nworkers - 1) / c->nworkers;
        if ((st = bench_worker_init(&c->workers[i], &c->sh, i, n))) goto done;
    }
    if (cfg->mode == BENCH_SPIKE && cfg->server_cmd) {
        double ready_s = NAN;
        st = bench_server_start(cfg->server_cmd, cfg->ready_pattern, &cfg->url,
                                cfg->ready_timeout_s, &c->server, &ready_s);
        if (st) goto done;
        res->spike.ready_s = ready_s;
        res->spike.server_started = 1;
    }
    if ((st = start_health(c))) goto done;
    for (int i = 0; i < c->nworkers; i++) {
        if (pthread_create(&c->workers[i].thread, NULL, bench_worker_main, &c->workers[i])) {
            st = bench_fail(BENCH_ERR_NOMEM, "cannot start worker thread %d", i);
            goto done;
        }
        c->workers[i].thread_started = 1;
    }
    now_iso(res->started_at, sizeof res->started_at);
    c->sh.t0_ns = bench_now_ns();
    uint64_t k = drive(c);
    drain(c);
    finish_result(c, k);
done:
    if (c->workers) {
        atomic_store(&c->sh.phase, PH_STOP);
        for (int i = 0; i < c->nworkers; i++) {
            if (c->workers[i].thread_started) {
                bench_worker_kick(&c->workers[i]);
                pthread_join(c->workers[i].thread, NULL);
            }
            bench_worker_dispose(&c->workers[i]);
        }
        free(c->workers);
    }
    bench_health_stop(c->health);
    bench_server_stop(c->server);
    if (c->sh.log && fclose(c->sh.log) && !st)
        st = bench_fail(BENCH_ERR_IO, "cannot write '%s'", cfg->requests_path);
    pthread_mutex_destroy(&c->sh.log_mu);
    free((void *)c->sh.spike_ok_ms);
    free((void *)c->sh.spike_fail_ms);
    free(c->tick);
    free(c->sec);
    free(c->step);
    free(c->run);
    free(c->all);
    free(c->curwin);
    for (int i = 0; i < 3; i++)
        free(c->win[i]);
    free(c);
    if (st) bench_result_dispose(res);
    return st;
}

void bench_result_dispose(bench_result *res)
{
    if (!res) return;
    free(res->seconds);
    free(res->steps);
    free(res->spike.ok_per_ms);
    free(res->spike.failed_per_ms);
    res->seconds = NULL;
    res->steps = NULL;
    res->spike.ok_per_ms = res->spike.failed_per_ms = NULL;
    res->spike.nms = 0;
    res->nseconds = res->nsteps = 0;
}
