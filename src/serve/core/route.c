/* Which model answers a name: the repository's, or a split's version
 * (split.h) — the --splits file, its reloads, the canary's windows, and the
 * splits in /health and /metrics. Loop thread. */
#include "model/fileio.h"
#include "serve/core/server_impl.h"
#include "serve/core/yaml_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPLITS_FILE_MAX (1 << 20)

size_t serve_client_key(const char *token, size_t tlen, const struct sockaddr *peer, char *key,
                        size_t cap)
{
    if (token) {
        int n = snprintf(key, cap, "k:%.*s",
                         (int)(tlen < RATELIMIT_KEY_MAX ? tlen : RATELIMIT_KEY_MAX), token);
        return (size_t)n < cap ? (size_t)n : cap - 1;
    }
    char host[INET6_ADDRSTRLEN] = "?";
    if (peer && peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, host, sizeof host);
    else if (peer && peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, host, sizeof host);
    int n = snprintf(key, cap, "a:%s", host);
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t serve_req_client(h2o_req_t *req, char *key, size_t cap)
{
    size_t len = 0;
    const char *tok = serve_presented_key(req, &len);
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    return serve_client_key(tok, len, sl ? (struct sockaddr *)&ss : NULL, key, cap);
}

static uint64_t next_rand(server *s)
{
    uint64_t x = s->split_rng ? s->split_rng : serve_now_ns() | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->split_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

repo_model *serve_route_model(server *s, const char *name, size_t len, const char *client,
                              size_t clen, int *status, char *err, size_t err_size)
{
    split *sp = split_find(&s->splits, name, len);
    if (!sp) {
        repo_model *m = repo_get(s, name, len);
        if (!m) {
            *status = 404;
            snprintf(err, err_size, "unknown model '%.*s'", (int)(len < 100 ? len : 100), name);
        }
        return m;
    }
    int i = -1;
    if (client) {
        i = split_choose(sp, client, clen, next_rand(s));
    } else { /* no client (readiness, status): the version with most weight */
        for (int k = 0; k < sp->n; k++)
            if (sp->v[k].weight > 0 && (i < 0 || sp->v[k].weight > sp->v[i].weight)) i = k;
    }
    if (i < 0) {
        *status = 503;
        snprintf(err, err_size, "split %s: no version has weight", sp->name);
        return NULL;
    }
    repo_model *m = repo_get(s, sp->v[i].model, strlen(sp->v[i].model));
    if (!m) {
        *status = 503;
        snprintf(err, err_size, "split %s: its version %s is not loaded", sp->name, sp->v[i].model);
        return NULL;
    }
    if (client) sp->v[i].routed++;
    return m;
}

/* ---- the file ---- */

static int read_splits(const char *path, split_table *t, char *err, size_t err_size)
{
    size_t n = 0;
    char *text = fileio_read(path, SPLITS_FILE_MAX, &n);
    if (!text) {
        snprintf(err, err_size, "--splits %s: %s", path,
                 errno == EFBIG ? "over 1 MB" : strerror(errno));
        return -1;
    }
    char e[SERVE_ERR_MAX] = "";
    json_t *doc = yaml_to_json(text, n, e, sizeof e);
    free(text);
    int rc = doc && !split_parse(doc, t, e, sizeof e) ? 0 : -1;
    json_decref(doc);
    if (rc) snprintf(err, err_size, "--splits %s: %s", path, e);
    return rc;
}

static uint64_t mtime_ns(const char *path)
{
    struct stat st;
    if (stat(path, &st)) return 0;
    return (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec + 1;
}

int serve_splits_load(server *s, char *err, size_t err_size)
{
    if (!s->opt.splits) return 0;
    s->splits_mtime = mtime_ns(s->opt.splits);
    if (read_splits(s->opt.splits, &s->splits, err, err_size)) return -1;
    for (int i = 0; i < s->splits.n; i++)
        if (repo_find(s, s->splits.s[i].name, strlen(s->splits.s[i].name)))
            fprintf(stderr, "glint serve: split %s hides the model of that name\n",
                    s->splits.s[i].name);
    fprintf(stderr, "glint serve: %d split(s) from %s\n", s->splits.n, s->opt.splits);
    return 0;
}

static void reload_splits(server *s)
{
    uint64_t mt = mtime_ns(s->opt.splits);
    if (mt == s->splits_mtime) return;
    s->splits_mtime = mt;
    split_table t = {0};
    char err[SERVE_ERR_MAX];
    if (read_splits(s->opt.splits, &t, err, sizeof err)) {
        fprintf(stderr, "glint serve: %s; the splits read before stay\n", err);
        snprintf(s->splits_error, sizeof s->splits_error, "%s", err);
        return;
    }
    split_carry(&t, &s->splits);
    split_table_dispose(&s->splits);
    s->splits = t;
    s->splits_error[0] = 0;
    s->splits_reloads++;
    fprintf(stderr, "glint serve: splits reloaded (%d)\n", t.n);
}

/* ---- the canary ---- */

/* A version's model counters now: requests, failed (5xx), latency. NULL if
 * it is not loaded (a reference otherwise: release it). */
static repo_model *read_version(server *s, const split_version *v, uint64_t *req, uint64_t *failed,
                                metrics_histogram_snapshot *h)
{
    repo_model *m = repo_get(s, v->model, strlen(v->model));
    if (!m) return NULL;
    const model_stats *st = &m->stats;
    *req = atomic_load(&st->success_count) + atomic_load(&st->fail_count);
    *failed = atomic_load(&st->fail_by[FAIL_INTERNAL]) + atomic_load(&st->fail_by[FAIL_TIMEOUT]) +
              atomic_load(&st->fail_by[FAIL_REJECTED]);
    metrics_histogram_snapshot_read(&st->request_seconds, h);
    return m;
}

static void start_window(server *s, split *sp, uint64_t now)
{
    sp->window_start_ns = now;
    for (int i = 0; i < sp->n; i++) {
        split_version *v = &sp->v[i];
        metrics_histogram_snapshot h;
        repo_model *m = read_version(s, v, &v->base_requests, &v->base_failed, &h);
        v->base_model = m;
        if (m) memcpy(v->base_cumulative, h.cumulative, sizeof v->base_cumulative);
        repo_model_release(m);
    }
}

/* Judges the window that ends now; 0 if it could not be read (a version
 * reloaded or gone: the next window starts over). */
static int end_window(server *s, split *sp, uint64_t now)
{
    split_window side[2] = {{0}}; /* 0: the canary, 1: the others */
    uint64_t before[2][METRICS_HIST_MAX_BOUNDS + 1] = {{0}},
                                                 after[2][METRICS_HIST_MAX_BOUNDS + 1] = {{0}};
    int nb = -1;
    double bounds[METRICS_HIST_MAX_BOUNDS];
    metrics_histogram_snapshot h;
    for (int i = 0; i < sp->n; i++) {
        split_version *v = &sp->v[i];
        uint64_t req, failed;
        repo_model *m = read_version(s, v, &req, &failed, &h);
        int same = m && m == v->base_model;
        repo_model_release(m);
        if (!m && !v->base_model) continue; /* not loaded all along: no traffic */
        if (!same || req < v->base_requests) return 0;
        int k = i == sp->canary.version ? 0 : 1;
        side[k].requests += req - v->base_requests;
        side[k].failed += failed - v->base_failed;
        nb = h.nbounds;
        memcpy(bounds, h.bounds, sizeof bounds);
        for (int b = 0; b <= h.nbounds; b++) {
            before[k][b] += v->base_cumulative[b];
            after[k][b] += h.cumulative[b];
        }
    }
    for (int k = 0; k < 2; k++)
        side[k].p99_s = nb >= 0 ? split_quantile(bounds, nb, before[k], after[k], 0.99) : 0;
    sp->last_canary = side[0];
    sp->last_others = side[1];
    char why[200];
    int verdict = split_judge(&sp->canary, &side[0], &side[1], why, sizeof why);
    if (verdict < 0) return 1;
    sp->windows_judged++;
    if (verdict > 0) {
        split_settle(sp, 0, why);
        fprintf(stderr, "glint serve: split %s: %s\n", sp->name, sp->verdict);
        return 1;
    }
    if (!sp->clean_since_ns) sp->clean_since_ns = sp->window_start_ns;
    if (sp->canary.promote_after_s > 0 &&
        (double)(now - sp->clean_since_ns) / 1e9 >= sp->canary.promote_after_s) {
        char w[96];
        snprintf(w, sizeof w, "no regression in %.0f s", (double)(now - sp->clean_since_ns) / 1e9);
        split_settle(sp, 1, w);
        fprintf(stderr, "glint serve: split %s: %s\n", sp->name, sp->verdict);
    }
    return 1;
}

void serve_splits_tick(server *s)
{
    uint64_t now = serve_now_ns();
    if (now < s->next_splits_ns) return;
    s->next_splits_ns = now + 1000000000u;
    if (s->opt.splits) reload_splits(s);
    for (int i = 0; i < s->splits.n; i++) {
        split *sp = &s->splits.s[i];
        if (sp->state != SPLIT_WATCHING) continue;
        if (!sp->window_start_ns) {
            start_window(s, sp, now);
            continue;
        }
        if ((double)(now - sp->window_start_ns) / 1e9 < sp->canary.window_s) continue;
        if (!end_window(s, sp, now)) sp->clean_since_ns = 0;
        if (sp->state == SPLIT_WATCHING) start_window(s, sp, now);
    }
}

/* ---- /health and /metrics ---- */

json_t *serve_splits_json(const server *s)
{
    json_t *a = json_array();
    for (int i = 0; i < s->splits.n; i++)
        json_array_append_new(a, split_json(&s->splits.s[i]));
    return json_pack("{s:o, s:s?, s:s?, s:I}", "splits", a, "file", s->opt.splits, "error",
                     s->splits_error[0] ? s->splits_error : NULL, "reloads",
                     (json_int_t)s->splits_reloads);
}

/* A family of the splits' series: per split and version (what 0: requests
 * routed, 1: the weight) or per split (2: rollbacks, 3: promotions). */
static void split_family(const server *s, strbuf *sb, const char *name, metrics_type type,
                         const char *help, int what)
{
    metrics_write_family(sb, name, type, help);
    for (int i = 0; i < s->splits.n; i++) {
        const split *sp = &s->splits.s[i];
        for (int k = 0; k < (what < 2 ? sp->n : 1); k++) {
            metrics_label l[] = {{"split", sp->name}, {"version", sp->v[k].model}};
            if (what == 0) metrics_write_u64(sb, name, l, 2, sp->v[k].routed);
            if (what == 1) metrics_write_double(sb, name, l, 2, sp->v[k].weight);
            if (what == 2) metrics_write_u64(sb, name, l, 1, sp->rollbacks);
            if (what == 3) metrics_write_u64(sb, name, l, 1, sp->promotions);
        }
    }
}

void serve_splits_metrics(const server *s, strbuf *sb)
{
    if (!s->splits.n && !s->opt.splits) return;
    split_family(s, sb, "glint_split_routed_total", METRICS_COUNTER,
                 "Requests a split sent to each of its versions", 0);
    split_family(s, sb, "glint_split_weight", METRICS_GAUGE,
                 "Each version's weight now (a rolled back canary: 0)", 1);
    split_family(s, sb, "glint_split_rollbacks_total", METRICS_COUNTER,
                 "Canaries rolled back (automatically or by POST .../rollback)", 2);
    split_family(s, sb, "glint_split_promotions_total", METRICS_COUNTER,
                 "Canaries promoted (automatically or by POST .../promote)", 3);
}
