/* The worker event loop of glint bench: one thread, one epoll, a fixed set
 * of connection slots, each carrying at most one request at a time.
 *
 * Every slot is in one state: IDLE (nothing to do), WAIT (in the due-time
 * heap: a paced next request or a retry after its backoff), CONNECT,
 * WRITE or READ (an attempt in flight, listed oldest first so that
 * timeouts are found at the head). A request is built once (payload.c) and
 * sent with one send(); a response is parsed incrementally and its body
 * discarded. The connection is kept alive unless the server says
 * otherwise; a reused connection that the server had already closed is
 * reopened and the request resent once, silently (counted as a reconnect).
 *
 * Runs on its own thread (bench_worker_main). Shared with the coordinator:
 * the accumulator w->acc, only ever touched with w->mu held (held for the
 * whole of each loop pass and each event batch), and the control atomics.
 */
#include "bench/bench_impl.h"
#include "util/clock.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

enum { ST_IDLE = 0, ST_WAIT, ST_CONNECT, ST_WRITE, ST_READ };

#define KICK_TAG UINT64_MAX
#define MAX_EVENTS 256
#define RBUF_SIZE (64 * 1024)
#define IDLE_WAIT_NS 50000000ULL

struct bench_slot {
    int idx;
    int fd;
    uint32_t gen; /* bumped per socket: stale epoll events are ignored */
    int state;
    uint32_t events; /* current epoll mask */
    int reused;      /* the connection already carried a response */
    int stale_retry; /* this attempt already reopened a dead keep-alive connection */
    int retry_pending;
    int active; /* ramp/concurrency: this client runs */
    int attempts;
    int last_err; /* kind of the last failed attempt */
    int last_status;
    uint64_t id;
    uint64_t intended_ns, first_ns, attempt_ns, deadline_ns, due_ns, plan_ns;
    uint64_t rx;
    const payload_req *req;
    size_t written;
    int heap_pos;
    bench_slot *prev, *next;
    int listed;
    httpc_parser parser;
};

uint64_t bench_now_ns(void)
{
    return clock_now_ns();
}

/* ---- small helpers: rng, heap, in-flight list ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static double rng_unit(uint64_t *s)
{
    return ((double)(rng_next(s) >> 11) + 1.0) / 9007199254740992.0;
}

static int heap_less(const bench_worker *w, int a, int b)
{
    return w->slots[w->heap[a]].due_ns < w->slots[w->heap[b]].due_ns;
}

static void heap_swap(bench_worker *w, int a, int b)
{
    int t = w->heap[a];
    w->heap[a] = w->heap[b];
    w->heap[b] = t;
    w->slots[w->heap[a]].heap_pos = a;
    w->slots[w->heap[b]].heap_pos = b;
}

static void heap_up(bench_worker *w, int i)
{
    while (i > 0 && heap_less(w, i, (i - 1) / 2)) {
        heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(bench_worker *w, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->nheap && heap_less(w, l, m)) m = l;
        if (r < w->nheap && heap_less(w, r, m)) m = r;
        if (m == i) return;
        heap_swap(w, i, m);
        i = m;
    }
}

static void heap_push(bench_worker *w, bench_slot *s, uint64_t due)
{
    s->due_ns = due;
    s->state = ST_WAIT;
    s->heap_pos = w->nheap;
    w->heap[w->nheap++] = s->idx;
    heap_up(w, s->heap_pos);
}

static void heap_remove(bench_worker *w, bench_slot *s)
{
    int i = s->heap_pos;
    if (i < 0) return;
    w->nheap--;
    if (i != w->nheap) {
        heap_swap(w, i, w->nheap);
        heap_down(w, i);
        heap_up(w, i);
    }
    s->heap_pos = -1;
    s->state = ST_IDLE;
}

static void list_append(bench_worker *w, bench_slot *s)
{
    s->prev = w->fl_tail;
    s->next = NULL;
    if (w->fl_tail)
        w->fl_tail->next = s;
    else
        w->fl_head = s;
    w->fl_tail = s;
    s->listed = 1;
    w->nflight++;
}

static void list_remove(bench_worker *w, bench_slot *s)
{
    if (!s->listed) return;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->fl_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        w->fl_tail = s->prev;
    s->prev = s->next = NULL;
    s->listed = 0;
    w->nflight--;
}

/* ---- connections ---- */

static void conn_close(bench_slot *s)
{
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    s->events = 0;
    s->reused = 0;
}

static int set_events(bench_worker *w, bench_slot *s, uint32_t ev)
{
    if (s->events == ev) return 0;
    struct epoll_event e = {.events = ev, .data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)s->idx};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, s->fd, &e)) return -1;
    s->events = ev;
    return 0;
}

/* Opens a non-blocking connection; 0 with s->state CONNECT or WRITE, -1
 * on an immediate failure. */
static int conn_open(bench_worker *w, bench_slot *s)
{
    const bench_shared *sh = w->sh;
    int fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (const struct sockaddr *)&sh->addr, sh->addrlen);
    if (rc && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    s->fd = fd;
    s->gen++;
    s->reused = 0;
    s->events = EPOLLIN | EPOLLOUT;
    struct epoll_event e = {.events = s->events,
                            .data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)s->idx};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e)) {
        conn_close(s);
        return -1;
    }
    s->state = rc == 0 ? ST_WRITE : ST_CONNECT;
    return 0;
}

/* ---- request lifecycle ---- */

static void slot_send(bench_worker *w, bench_slot *s, uint64_t now);
static void do_write(bench_worker *w, bench_slot *s, uint64_t now);

static int cfg_mode(const bench_worker *w)
{
    return (int)w->sh->cfg->mode;
}

static void log_flush(bench_worker *w)
{
    bench_shared *sh = w->sh;
    if (!w->loglen) return;
    pthread_mutex_lock(&sh->log_mu);
    fwrite(w->logbuf, 1, w->loglen, sh->log);
    pthread_mutex_unlock(&sh->log_mu);
    w->loglen = 0;
}

static void log_row(bench_worker *w, const bench_slot *s, uint64_t now, int status, int kind,
                    uint64_t lat_ns)
{
    bench_shared *sh = w->sh;
    if (!sh->log) return;
    if (atomic_fetch_add(&sh->logged, 1) >= sh->cfg->log_requests) {
        atomic_fetch_sub(&sh->logged, 1);
        atomic_fetch_add(&sh->log_dropped, 1);
        return;
    }
    if (w->loglen + 256 > BENCH_LOG_BUF) log_flush(w);
    uint64_t t0 = sh->t0_ns;
    int n = snprintf(
        w->logbuf + w->loglen, BENCH_LOG_BUF - w->loglen,
        "%llu,%d,%d,%llu,%llu,%llu,%llu,%d,%s,%d,%llu\n", (unsigned long long)s->id, w->index,
        atomic_load_explicit(&sh->step, memory_order_relaxed),
        (unsigned long long)((s->intended_ns - t0) / 1000),
        (unsigned long long)((s->first_ns - t0) / 1000), (unsigned long long)((now - t0) / 1000),
        (unsigned long long)(status ? lat_ns / 1000 : 0), status,
        kind < 0 ? "ok" : bench_errkind_name(kind), s->attempts, (unsigned long long)s->rx);
    if (n > 0) w->loglen += (size_t)n;
}

static void note_spike(bench_shared *sh, uint64_t now, int answered, int ok)
{
    uint64_t rel = atomic_load(&sh->release_ns);
    if (sh->spike_nms > 0 && now >= rel) {
        uint64_t bin = (now - rel) / 1000000ULL;
        if (bin >= (uint64_t)sh->spike_nms) bin = (uint64_t)sh->spike_nms - 1;
        atomic_fetch_add_explicit(ok ? &sh->spike_ok_ms[bin] : &sh->spike_fail_ms[bin], 1,
                                  memory_order_relaxed);
    }
    if (answered) {
        uint64_t cur = atomic_load(&sh->first_answer_ns);
        while ((cur == 0 || now < cur) &&
               !atomic_compare_exchange_weak(&sh->first_answer_ns, &cur, now))
            ;
    }
    uint64_t last = atomic_load(&sh->last_finish_ns);
    while (now > last && !atomic_compare_exchange_weak(&sh->last_finish_ns, &last, now))
        ;
    atomic_fetch_add(&sh->spike_finished, 1);
}

static int begin_request(bench_worker *w, bench_slot *s, uint64_t now, uint64_t intended,
                         int count_it);

/* The request is over (final response or final error): record it and
 * decide what the slot does next. kind < 0: a response that succeeded. */
static void finish(bench_worker *w, bench_slot *s, uint64_t now, int status, int kind)
{
    const bench_config *cfg = w->sh->cfg;
    bench_acc *a = &w->acc;
    uint64_t from = cfg->mode == BENCH_RATE ? s->intended_ns : s->first_ns;
    uint64_t lat = now > from ? now - from : 0;
    if (status > 0) {
        a->responses++;
        if (status >= 100 && status <= 599) a->status[status - 100]++;
        hdr_record(&a->lat, (lat + 500) / 1000);
    }
    if (kind < 0) {
        a->ok++;
        if (s->attempts > 1) a->retried_ok++;
    } else {
        a->failed++;
        a->errors[kind]++;
    }
    log_row(w, s, now, status, kind, lat);
    s->state = ST_IDLE;
    s->retry_pending = 0;
    if (cfg->mode == BENCH_SPIKE) {
        note_spike(w->sh, now, status > 0, kind < 0);
        return;
    }
    if (atomic_load_explicit(&w->sh->phase, memory_order_relaxed) != PH_RUN) return;
    if (cfg->mode == BENCH_RATE) {
        w->idle[w->nidle++] = s->idx;
        return;
    }
    if (!s->active) return;
    if (cfg->mode == BENCH_RAMP) {
        uint64_t period = (uint64_t)(1e9 / cfg->client_rps);
        s->plan_ns += period;
        if (s->plan_ns < now) s->plan_ns = now;
        heap_push(w, s, s->plan_ns);
        return;
    }
    /* concurrency: the next request goes out on the next loop pass, after
     * this batch of events (as wrk does); never from here, so that a
     * refusing server cannot recurse */
    heap_push(w, s, now);
}

static int retryable(const bench_worker *w, const bench_slot *s, int status)
{
    const bench_config *cfg = w->sh->cfg;
    if (s->attempts > cfg->retries) return 0;
    if (atomic_load_explicit(&w->sh->phase, memory_order_relaxed) != PH_RUN) return 0;
    if (status >= 400 && status < 500) return status == 429 || status == 408;
    return 1;
}

/* The next attempt after an exponential, jittered backoff, or after the
 * server's Retry-After (min_ms) when that is longer, as urllib3 and the SDKs
 * built on it wait. */
static void schedule_retry(bench_worker *w, bench_slot *s, uint64_t now, double min_ms)
{
    const bench_config *cfg = w->sh->cfg;
    double b = cfg->backoff_ms * ldexp(1.0, s->attempts - 1);
    if (b > cfg->backoff_max_ms) b = cfg->backoff_max_ms;
    double d = b / 2 + rng_unit(&w->rng) * b / 2; /* equal jitter */
    if (d < min_ms) d = min_ms;
    s->retry_pending = 1;
    heap_push(w, s, now + (uint64_t)(d * 1e6));
}

/* An attempt ended with a response. */
static void attempt_done(bench_worker *w, bench_slot *s, uint64_t now, int status)
{
    list_remove(w, s);
    s->state = ST_IDLE;
    int kind = status >= 500 ? BENCH_E_HTTP_5XX : status >= 400 ? BENCH_E_HTTP_4XX : -1;
    if (kind >= 0 && retryable(w, s, status)) {
        w->acc.attempt_errors[kind]++;
        s->last_err = kind;
        s->last_status = status;
        int ra = s->parser.retry_after_s;
        schedule_retry(w, s, now, (status == 503 || status == 429) && ra >= 0 ? ra * 1e3 : 0);
        return;
    }
    finish(w, s, now, status, kind);
}

/* An attempt failed without a usable response. */
static void attempt_fail(bench_worker *w, bench_slot *s, uint64_t now, int kind)
{
    list_remove(w, s);
    conn_close(s);
    s->state = ST_IDLE;
    if (retryable(w, s, 0)) {
        w->acc.attempt_errors[kind]++;
        s->last_err = kind;
        s->last_status = 0;
        schedule_retry(w, s, now, 0);
        return;
    }
    finish(w, s, now, 0, kind);
}

/* The connection broke before a full response: a keep-alive connection the
 * server had closed while idle is reopened once; anything else is CLOSED. */
static void conn_broken(bench_worker *w, bench_slot *s, uint64_t now)
{
    if (s->reused && !s->stale_retry && httpc_parser_empty(&s->parser)) {
        s->stale_retry = 1;
        conn_close(s);
        w->acc.reconnects++;
        slot_send(w, s, now);
        return;
    }
    attempt_fail(w, s, now, BENCH_E_CLOSED);
}

static void slot_send(bench_worker *w, bench_slot *s, uint64_t now)
{
    s->written = 0;
    httpc_parser_reset(&s->parser, w->sh->cfg->payloads->head, NULL, 0);
    if (s->fd < 0) {
        if (conn_open(w, s)) {
            attempt_fail(w, s, now, BENCH_E_CONNECT);
            return;
        }
        if (s->state == ST_CONNECT) return;
    }
    s->state = ST_WRITE;
    do_write(w, s, now);
}

static void attempt(bench_worker *w, bench_slot *s, uint64_t now)
{
    now = bench_now_ns(); /* callers' clocks may be a batch old */
    s->attempts++;
    s->attempt_ns = now;
    if (s->attempts == 1) {
        s->first_ns = now;
        w->acc.sent++;
    } else {
        w->acc.retries++;
    }
    s->deadline_ns = now + (uint64_t)(w->sh->cfg->timeout_s * 1e9);
    s->rx = 0;
    s->stale_retry = 0;
    list_append(w, s);
    slot_send(w, s, now);
}

/* Starts a new request on an idle slot. count_it: take it from the
 * max_requests budget (rate mode took it at arrival). 0 when the budget
 * is spent. */
static int begin_request(bench_worker *w, bench_slot *s, uint64_t now, uint64_t intended,
                         int count_it)
{
    bench_shared *sh = w->sh;
    const bench_config *cfg = sh->cfg;
    if (count_it) {
        if (atomic_fetch_add(&sh->started, 1) >= cfg->max_requests) {
            atomic_store(&sh->limit_hit, 1);
            s->state = ST_IDLE;
            return 0;
        }
        w->acc.offered++;
    }
    s->id = w->next_id++ * (uint64_t)sh->nworkers + (uint64_t)w->index;
    s->intended_ns = intended;
    s->attempts = 0;
    s->retry_pending = 0;
    unsigned np = (unsigned)cfg->payloads->n;
    s->req = &cfg->payloads
                  ->reqs[(w->payload_next++ * (unsigned)sh->nworkers + (unsigned)w->index) % np];
    attempt(w, s, now);
    return 1;
}

static void do_write(bench_worker *w, bench_slot *s, uint64_t now)
{
    size_t rem = s->req->len - s->written;
    ssize_t n = send(s->fd, s->req->bytes + s->written, rem, MSG_NOSIGNAL);
    if (n == (ssize_t)rem) {
        s->written = s->req->len;
        w->acc.bytes_out += s->req->len;
        s->state = ST_READ;
        if (s->events != EPOLLIN && set_events(w, s, EPOLLIN))
            attempt_fail(w, s, now, BENCH_E_CLOSED);
        return;
    }
    if (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (n > 0) s->written += (size_t)n;
        if (set_events(w, s, EPOLLIN | EPOLLOUT)) attempt_fail(w, s, now, BENCH_E_CLOSED);
        return;
    }
    conn_broken(w, s, now);
}

static void do_read(bench_worker *w, bench_slot *s, uint64_t now)
{
    for (;;) {
        ssize_t n = recv(s->fd, w->rbuf, RBUF_SIZE, 0);
        if (n > 0) {
            s->rx += (uint64_t)n;
            w->acc.bytes_in += (uint64_t)n;
            size_t used = 0;
            httpc_result r = httpc_parser_feed(&s->parser, w->rbuf, (size_t)n, &used);
            if (r == HTTPC_ERROR) {
                attempt_fail(w, s, now, BENCH_E_PROTOCOL);
                return;
            }
            if (r == HTTPC_DONE) {
                int keep = s->parser.keep_alive && used == (size_t)n && s->state == ST_READ;
                if (keep)
                    s->reused = 1;
                else
                    conn_close(s);
                attempt_done(w, s, now, s->parser.status);
                return;
            }
            if ((size_t)n < RBUF_SIZE) return;
            continue;
        }
        if (n == 0) {
            if (httpc_parser_eof(&s->parser) == HTTPC_DONE) {
                conn_close(s);
                attempt_done(w, s, now, s->parser.status);
            } else {
                conn_broken(w, s, now);
            }
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        conn_broken(w, s, now);
        return;
    }
}

static void on_event(bench_worker *w, bench_slot *s, uint32_t ev, uint64_t now)
{
    if (s->state == ST_CONNECT) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
            attempt_fail(w, s, now, BENCH_E_CONNECT);
            return;
        }
        s->state = ST_WRITE;
        do_write(w, s, now);
        return;
    }
    if (s->state == ST_IDLE || s->state == ST_WAIT) {
        /* an idle keep-alive connection: the server closed it or sent
         * something unasked; either way it is not reusable */
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn_close(s);
        return;
    }
    if (s->state == ST_WRITE && (ev & EPOLLOUT)) do_write(w, s, now);
    if ((s->state == ST_READ || s->state == ST_WRITE) && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        do_read(w, s, now);
}

/* ---- timers, control, arrivals ---- */

static void expire(bench_worker *w, uint64_t now)
{
    while (w->fl_head && w->fl_head->deadline_ns <= now)
        attempt_fail(w, w->fl_head, now, BENCH_E_TIMEOUT);
}

static void run_heap(bench_worker *w, uint64_t now)
{
    while (w->nheap && w->slots[w->heap[0]].due_ns <= now) {
        bench_slot *s = &w->slots[w->heap[0]];
        heap_remove(w, s);
        if (s->retry_pending) {
            s->retry_pending = 0;
            attempt(w, s, now);
        } else if (s->active) {
            begin_request(w, s, now, now, 1);
        }
    }
}

static double arrival_gap_ns(bench_worker *w)
{
    double mean = 1e9 / w->cur_rate;
    return w->sh->cfg->poisson ? -log(rng_unit(&w->rng)) * mean : mean;
}

static void arrivals(bench_worker *w, uint64_t now)
{
    bench_shared *sh = w->sh;
    while (w->cur_rate > 0 && w->next_arrival <= now) {
        if (atomic_fetch_add(&sh->started, 1) >= sh->cfg->max_requests) {
            atomic_store(&sh->limit_hit, 1);
            w->cur_rate = 0;
            break;
        }
        w->acc.offered++;
        if (w->bl_count == BENCH_BACKLOG_CAP) {
            w->acc.unsent++;
        } else {
            w->backlog[(w->bl_head + w->bl_count) % BENCH_BACKLOG_CAP] = w->next_arrival;
            w->bl_count++;
        }
        w->next_arrival += (uint64_t)arrival_gap_ns(w);
    }
    while (w->bl_count && w->nidle) {
        bench_slot *s = &w->slots[w->idle[--w->nidle]];
        uint64_t intended = w->backlog[w->bl_head];
        w->bl_head = (w->bl_head + 1) % BENCH_BACKLOG_CAP;
        w->bl_count--;
        begin_request(w, s, now, intended, 0);
    }
}

/* Phase DRAIN: nothing new starts; pending retries end with their error,
 * the rate backlog is counted unsent. */
static void start_drain(bench_worker *w, uint64_t now)
{
    while (w->nheap) {
        bench_slot *s = &w->slots[w->heap[0]];
        heap_remove(w, s);
        if (s->retry_pending) {
            s->retry_pending = 0;
            finish(w, s, now, s->last_status, s->last_err);
        }
    }
    w->acc.unsent += (uint64_t)w->bl_count;
    w->bl_count = 0;
    w->cur_rate = 0;
}

static void control(bench_worker *w, int phase, uint64_t now)
{
    bench_shared *sh = w->sh;
    const bench_config *cfg = sh->cfg;
    if (phase == PH_DRAIN) {
        if (!w->draining) {
            w->draining = 1;
            start_drain(w, now);
        }
        if (!w->drained && !w->fl_head) {
            w->drained = 1;
            atomic_fetch_add(&sh->drained, 1);
        }
        return;
    }
    if (cfg->mode == BENCH_RAMP || cfg->mode == BENCH_CONCURRENCY) {
        int t = atomic_load(&w->target);
        if (t > w->nslots) t = w->nslots;
        for (int i = w->active; i < t; i++) {
            bench_slot *s = &w->slots[i];
            s->active = 1;
            if (s->state != ST_IDLE) continue; /* still finishing its last request */
            s->plan_ns = now;
            if (cfg->mode == BENCH_RAMP && cfg->spread) { /* a random phase */
                s->plan_ns += (uint64_t)(rng_unit(&w->rng) * 1e9 / cfg->client_rps);
                heap_push(w, s, s->plan_ns);
                continue;
            }
            begin_request(w, s, now, now, 1);
        }
        for (int i = t; i < w->active; i++) {
            bench_slot *s = &w->slots[i];
            s->active = 0;
            if (s->state == ST_WAIT && !s->retry_pending) heap_remove(w, s);
        }
        w->active = t;
    } else if (cfg->mode == BENCH_RATE) {
        int g = atomic_load(&w->rate_gen);
        if (g != w->rate_gen_seen) {
            w->rate_gen_seen = g;
            w->cur_rate = atomic_load(&w->rate);
            uint64_t start = atomic_load(&w->rate_start_ns);
            if (w->cur_rate > 0) {
                double first = cfg->poisson ? arrival_gap_ns(w)
                                            : 1e9 / (w->cur_rate * sh->nworkers) * w->index;
                w->next_arrival = start + (uint64_t)first;
            }
        }
    } else if (cfg->mode == BENCH_SPIKE && !w->released) {
        uint64_t r = atomic_load(&sh->release_ns);
        if (r && now >= r) {
            w->released = 1;
            for (int i = 0; i < w->nslots; i++)
                begin_request(w, &w->slots[i], now, now, 1);
        }
    }
}

static uint64_t next_wake(const bench_worker *w, int phase, uint64_t now)
{
    uint64_t t = now + IDLE_WAIT_NS;
    if (w->nheap && w->slots[w->heap[0]].due_ns < t) t = w->slots[w->heap[0]].due_ns;
    if (w->fl_head && w->fl_head->deadline_ns < t) t = w->fl_head->deadline_ns;
    if (phase == PH_RUN && w->cur_rate > 0 && w->next_arrival < t) t = w->next_arrival;
    if (phase == PH_RUN && w->sh->cfg->mode == BENCH_SPIKE && !w->released) {
        uint64_t r = atomic_load(&w->sh->release_ns);
        if (r && r < t) t = r;
    }
    return t;
}

static int wait_events(bench_worker *w, struct epoll_event *evs, uint64_t wake, uint64_t now)
{
    static _Atomic int no_pwait2;
    uint64_t d = wake > now ? wake - now : 0;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = {(time_t)(d / 1000000000ULL), (long)(d % 1000000000ULL)};
        int n = epoll_pwait2(w->epfd, evs, MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        atomic_store(&no_pwait2, 1);
    }
    return epoll_wait(w->epfd, evs, MAX_EVENTS, (int)((d + 999999) / 1000000));
}

void *bench_worker_main(void *arg)
{
    bench_worker *w = arg;
    bench_shared *sh = w->sh;
    struct epoll_event evs[MAX_EVENTS];
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* wake within ~1 µs of a due time */
    for (;;) {
        int phase = atomic_load(&sh->phase);
        if (phase == PH_STOP) break;
        uint64_t now = bench_now_ns();
        pthread_mutex_lock(&w->mu);
        if (phase >= PH_RUN) {
            control(w, phase, now);
            expire(w, now);
            run_heap(w, now);
            if (cfg_mode(w) == BENCH_RATE && phase == PH_RUN) arrivals(w, now);
            if (phase == PH_DRAIN) control(w, phase, now);
        }
        atomic_store_explicit(&w->inflight, w->nflight, memory_order_relaxed);
        pthread_mutex_unlock(&w->mu);
        uint64_t wake = phase >= PH_RUN ? next_wake(w, phase, now) : now + IDLE_WAIT_NS;
        int n = wait_events(w, evs, wake, bench_now_ns());
        if (n <= 0) continue;
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == KICK_TAG) {
                uint64_t v;
                if (read(w->kickfd, &v, sizeof v) < 0) { /* nothing pending */
                }
                continue;
            }
            uint32_t idx = (uint32_t)evs[i].data.u64;
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            if (idx >= (uint32_t)w->nslots) continue;
            bench_slot *s = &w->slots[idx];
            if (s->gen != gen || s->fd < 0) continue;
            on_event(w, s, evs[i].events, bench_now_ns());
        }
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->nslots; i++)
        conn_close(&w->slots[i]);
    pthread_mutex_unlock(&w->mu);
    if (sh->log) log_flush(w);
    return NULL;
}

void bench_worker_kick(bench_worker *w)
{
    uint64_t one = 1;
    if (write(w->kickfd, &one, sizeof one) < 0) { /* the counter is saturated: it is awake */
    }
}

bench_status bench_worker_init(bench_worker *w, bench_shared *sh, int index, int nslots)
{
    memset(w, 0, sizeof *w);
    w->epfd = w->kickfd = -1;
    w->index = index;
    w->sh = sh;
    w->nslots = nslots;
    pthread_mutex_init(&w->mu, NULL);
    bench_acc_reset(&w->acc);
    w->rng = sh->cfg->seed ^ ((uint64_t)(index + 1) * 0x9E3779B97F4A7C15ULL);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->kickfd < 0)
        return bench_fail(BENCH_ERR_NET, "epoll/eventfd: %s", strerror(errno));
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = KICK_TAG};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->kickfd, &e))
        return bench_fail(BENCH_ERR_NET, "epoll_ctl: %s", strerror(errno));
    w->slots = calloc((size_t)(nslots ? nslots : 1), sizeof *w->slots);
    w->heap = calloc((size_t)(nslots ? nslots : 1), sizeof *w->heap);
    w->idle = calloc((size_t)(nslots ? nslots : 1), sizeof *w->idle);
    w->rbuf = malloc(RBUF_SIZE);
    if (!w->slots || !w->heap || !w->idle || !w->rbuf)
        return bench_fail(BENCH_ERR_NOMEM, "no memory for %d connections", nslots);
    if (sh->cfg->mode == BENCH_RATE) {
        w->backlog = malloc(BENCH_BACKLOG_CAP * sizeof *w->backlog);
        if (!w->backlog) return bench_fail(BENCH_ERR_NOMEM, "no memory for the backlog");
        for (int i = nslots - 1; i >= 0; i--)
            w->idle[w->nidle++] = i;
    }
    if (sh->log) {
        w->logbuf = malloc(BENCH_LOG_BUF);
        if (!w->logbuf) return bench_fail(BENCH_ERR_NOMEM, "no memory for the request log");
    }
    for (int i = 0; i < nslots; i++) {
        w->slots[i].idx = i;
        w->slots[i].fd = -1;
        w->slots[i].heap_pos = -1;
    }
    return BENCH_OK;
}

void bench_worker_dispose(bench_worker *w)
{
    if (!w || !w->sh) return;
    for (int i = 0; w->slots && i < w->nslots; i++)
        conn_close(&w->slots[i]);
    if (w->epfd >= 0) close(w->epfd);
    if (w->kickfd >= 0) close(w->kickfd);
    free(w->slots);
    free(w->heap);
    free(w->idle);
    free(w->rbuf);
    free(w->backlog);
    free(w->logbuf);
    pthread_mutex_destroy(&w->mu);
    memset(w, 0, sizeof *w);
    w->epfd = w->kickfd = -1;
}
