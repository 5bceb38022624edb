/* glint tune: Triton's model_analyzer for glint. It starts `glint serve`
 * on one model with candidate settings (precision among those whose
 * agreement report passes, instances x threads over the usable CPUs, max
 * batch, max queue delay), measures each with glint bench's closed-loop
 * load (a concurrency sweep, each level measured until its windows agree),
 * and keeps the configuration that answers the most requests/s within the
 * SLA. The search is coordinate descent from the shipped defaults (one
 * setting at a time, the others at the best so far) within a time budget,
 * then the winner and the defaults are measured again, interleaved, so the
 * margin is measured and not a lucky round. It prints the table and the
 * verdict, writes tune.json and report.html (the latency/throughput front
 * of every configuration tried) to --out, and with --write puts the
 * winner's settings into the model's model.yaml.
 *
 * Each candidate is served from a scratch repository: the model folder's
 * files linked, its model.yaml copied with the candidate's settings
 * replacing the file's own (model.yaml wins over serve's flags).
 * Exit codes: 0 a winner (or the defaults are best), 2 no configuration
 * meets the SLA, 1 tool error. */
#include "cli/cli.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_run.h"
#include "bench/report_svg.h"
#include "bench/sla.h"
#include "model/model_conf.h"
#include "model/precision.h"
#include "util/clock.h"
#include "util/cpus.h"

extern char **environ;

#define MAX_TRIALS 64
#define MAX_LEVELS 12
#define CONFIRM_ROUNDS 2
#define MARGIN 0.05 /* a winner must beat the defaults by this to be called better */

/* The settings a trial serves with (0: the model.yaml's own). */
typedef struct tune_cfg {
    int precision; /* a model_precision */
    int instances, threads, max_batch, delay_us;
} tune_cfg;

typedef struct tune_point {
    int conc;
    double rps, p50, p99, err_pct;
    int meets;
} tune_point;

typedef struct tune_trial {
    tune_cfg c;
    int is_default;
    char label[96];
    tune_point pts[MAX_LEVELS];
    int npts;
    double score; /* best req/s meeting the SLA; NAN none */
    int best;     /* index in pts, -1 none */
    double seconds;
    char why[256]; /* why it did not run ("" if it did) */
} tune_trial;

typedef struct tune_opts {
    const char *models, *model, *image, *out, *sla_text;
    double budget_s;
    int levels[MAX_LEVELS], nlevels;
    int window_ms;
    int write;
    sla_spec sla;
} tune_opts;

typedef struct tune_ctx {
    tune_opts o;
    char self[4096];
    char dir[4096];     /* the model's folder */
    char scratch[4096]; /* scratch repository */
    char task[32];
    int usable;
    uint64_t t0;
    tune_trial trials[MAX_TRIALS];
    int n;
} tune_ctx;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    bench_request_stop();
}

static double elapsed_s(const tune_ctx *t)
{
    return (double)(clock_now_ns() - t->t0) / 1e9;
}

/* "300", "90s", "5m", "1h": seconds, or -1. */
static double parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0) return -1;
    if (!strcmp(end, "") || !strcmp(end, "s")) return v;
    if (!strcmp(end, "m")) return v * 60;
    if (!strcmp(end, "h")) return v * 3600;
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: glint tune --model NAME --image FILE|DIR [options]\n"
               "  finds the serving settings of one model that answer the most requests/s\n"
               "  within an SLA, by serving and measuring candidates (glint serve + glint bench)\n"
               "  --models DIR         the model repository (default models)\n"
               "  --sla SPEC           what a configuration must meet at a load level, as glint\n"
               "                       bench's --sla (default 'p99<150ms,errors<1%%')\n"
               "  --budget T           time for the search: 300, 90s, 5m, 1h (default 5m)\n"
               "  --concurrency LIST   closed-loop levels, e.g. 1,2,4,8 (default 1,2,4,8)\n"
               "  --window-ms N        measurement window (default 1000); a level runs until\n"
               "                       three windows agree within 10%% (at most 8)\n"
               "  --out DIR            tune.json, report.html, the servers' logs\n"
               "                       (default tune-NAME)\n"
               "  --write              put the winner's settings into the model's model.yaml\n"
               "                       (only when it beats the defaults by >= 5%%)\n");
}

static int parse_levels(const char *s, tune_opts *o)
{
    o->nlevels = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1024 || o->nlevels == MAX_LEVELS) return -1;
        o->levels[o->nlevels++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return o->nlevels ? 0 : -1;
}

static int parse_args(int argc, char **argv, tune_opts *o)
{
    memset(o, 0, sizeof *o);
    o->models = "models";
    o->sla_text = "p99<150ms,errors<1%";
    o->budget_s = 300;
    o->window_ms = 1000;
    parse_levels("1,2,4,8", o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--write")) {
            o->write = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "glint tune: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--models"))
            o->models = v;
        else if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--image"))
            o->image = v;
        else if (!strcmp(a, "--out"))
            o->out = v;
        else if (!strcmp(a, "--sla"))
            o->sla_text = v;
        else if (!strcmp(a, "--window-ms"))
            o->window_ms = (int)cli_int("--window-ms", v, 100, 60000);
        else if (!strcmp(a, "--budget")) {
            if ((o->budget_s = parse_duration(v)) <= 0) {
                fprintf(stderr, "glint tune: --budget is 300, 90s, 5m or 1h, got '%s'\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--concurrency")) {
            if (parse_levels(v, o)) {
                fprintf(stderr, "glint tune: --concurrency is a list like 1,2,4,8, got '%s'\n", v);
                return -1;
            }
        } else {
            fprintf(stderr, "glint tune: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!o->model || !o->image) {
        fprintf(stderr, "glint tune: --model and --image are required\n");
        usage(stderr);
        return -1;
    }
    if (sla_parse(o->sla_text, &o->sla)) {
        fprintf(stderr, "glint tune: --sla: %s\n", bench_last_error());
        return -1;
    }
    return 0;
}

/* ---- the scratch repository ---- */

static const char *const KEYS[] = {"precision", "instances",          "threads",
                                   "max_batch", "max_queue_delay_us", "preferred_batch_sizes",
                                   NULL};

/* Whether line sets one of KEYS at the top level. */
static int is_setting(const char *line)
{
    for (int k = 0; KEYS[k]; k++) {
        size_t n = strlen(KEYS[k]);
        if (!strncmp(line, KEYS[k], n) && line[n] == ':') return 1;
    }
    return 0;
}

/* Writes src's model.yaml to dst with c's settings instead of its own (c
 * NULL: unchanged); stamp: a comment line before them, or NULL. 0 or -1. */
static int write_yaml(const char *src, const char *dst, const tune_cfg *c, const char *stamp)
{
    FILE *in = fopen(src, "r");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        if (in) fclose(in);
        return -1;
    }
    char line[65536];
    int last_nl = 1;
    while (in && fgets(line, sizeof line, in)) {
        if (c && is_setting(line)) continue;
        fputs(line, out);
        last_nl = line[0] && line[strlen(line) - 1] == '\n';
    }
    if (in) fclose(in);
    if (c) {
        if (!last_nl) fputc('\n', out);
        if (stamp) fprintf(out, "# %s\n", stamp);
        fprintf(out, "precision: %s\ninstances: %d\nthreads: %d\nmax_batch: %d\n",
                precision_name(c->precision), c->instances, c->threads, c->max_batch);
        fprintf(out, "max_queue_delay_us: %d\n", c->max_batch > 1 ? c->delay_us : 0);
    }
    if (fclose(out)) return -1;
    return rename(tmp, dst);
}

/* The scratch repository's copy of the model for c (NULL: as shipped). */
static int stage(tune_ctx *t, const tune_cfg *c)
{
    char mdir[4200], path[8400], src[8400];
    snprintf(mdir, sizeof mdir, "%s/%s", t->scratch, t->o.model);
    if (mkdir(mdir, 0755) && errno != EEXIST) return -1;
    DIR *d = opendir(t->dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "model.yaml")) continue;
        snprintf(path, sizeof path, "%s/%s", mdir, e->d_name);
        snprintf(src, sizeof src, "%s/%s", t->dir, e->d_name);
        unlink(path);
        if (symlink(src, path)) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    snprintf(src, sizeof src, "%s/model.yaml", t->dir);
    snprintf(path, sizeof path, "%s/model.yaml", mdir);
    return write_yaml(src, path, c, NULL);
}

/* ---- one server ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    size_t len = size * n;
    char *buf = ud;
    size_t have = strlen(buf);
    size_t k = len < 65535 - have ? len : 65535 - have;
    memcpy(buf + have, p, k);
    buf[have + k] = 0;
    return len;
}

/* GET url as JSON (a new reference), or NULL. */
static json_t *get_json(const char *url)
{
    static char buf[65536];
    buf[0] = 0;
    CURL *h = curl_easy_init();
    if (!h) return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)buf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? json_loads(buf, 0, NULL) : NULL;
}

typedef struct server {
    pid_t pid;
    int port;
} server;

/* Starts glint serve on the scratch repository (log: the server's output).
 * 0, or -1 with why. */
static int serve_start(tune_ctx *t, const char *log, server *s, char *why, size_t cap)
{
    char ready[4200];
    snprintf(ready, sizeof ready, "%s/ready", t->scratch);
    unlink(ready);
    char *argv[] = {
        t->self,    "serve",       "--models",     t->scratch, "--model",    (char *)t->o.model,
        "--listen", "127.0.0.1:0", "--ready-file", ready,      "--cache-mb", "0",
        NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawn(&s->pid, t->self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        snprintf(why, cap, "cannot start glint serve: %s", strerror(rc));
        return -1;
    }
    uint64_t until = clock_now_ns() + 180ull * 1000000000u;
    while (clock_now_ns() < until && !interrupted) {
        FILE *f = fopen(ready, "r");
        if (f) {
            char line[256] = "";
            int ok = fgets(line, sizeof line, f) != NULL;
            fclose(f);
            char *colon = ok ? strrchr(line, ':') : NULL;
            if (colon && (s->port = atoi(colon + 1)) > 0) return 0;
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            /* its last log line says why */
            FILE *l = fopen(log, "r");
            char line[512] = "", last[512] = "glint serve exited";
            while (l && fgets(line, sizeof line, l))
                if (line[0] && line[0] != '\n') snprintf(last, sizeof last, "%s", line);
            if (l) fclose(l);
            last[strcspn(last, "\n")] = 0;
            snprintf(why, cap, "%s", last);
            s->pid = 0;
            return -1;
        }
        usleep(20000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    snprintf(why, cap, "glint serve was not ready in 180 s");
    return -1;
}

static void serve_stop(server *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    int st;
    for (int i = 0; i < 400 && waitpid(s->pid, &st, WNOHANG) == 0; i++)
        usleep(25000);
    if (waitpid(s->pid, &st, WNOHANG) == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    }
    s->pid = 0;
}

/* The settings the server runs with (its KServe config), into c. */
static int read_settings(tune_ctx *t, const server *s, tune_cfg *c)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/models/%s/config", s->port, t->o.model);
    json_t *j = get_json(url);
    if (!j) return -1;
    json_t *p = json_object_get(j, "parameters");
    json_t *g = json_array_get(json_object_get(j, "instance_group"), 0);
    c->precision = precision_parse(json_string_value(json_object_get(p, "precision")));
    c->threads = (int)json_integer_value(json_object_get(p, "threads"));
    c->instances = (int)json_integer_value(json_object_get(g, "count"));
    c->max_batch = (int)json_integer_value(json_object_get(j, "max_batch_size"));
    if (c->max_batch < 1) c->max_batch = 1;
    c->delay_us = (int)json_integer_value(
        json_object_get(json_object_get(j, "dynamic_batching"), "max_queue_delay_microseconds"));
    snprintf(t->task, sizeof t->task, "%s",
             json_string_value(json_object_get(p, "task"))
                 ? json_string_value(json_object_get(p, "task"))
                 : "detect");
    json_decref(j);
    return c->precision < 0 || c->instances < 1 || c->threads < 1 ? -1 : 0;
}

/* ---- measuring ---- */

/* One closed-loop level against the server: 0 and *pt, or -1. */
static int measure_level(tune_ctx *t, const server *s, int conc, tune_point *pt)
{
    bench_config cfg;
    bench_config_defaults(&cfg);
    cfg.mode = BENCH_CONCURRENCY;
    snprintf(cfg.url_text, sizeof cfg.url_text, "http://127.0.0.1:%d/v1/models/%s/%s", s->port,
             t->o.model, t->task);
    if (httpc_url_parse(cfg.url_text, &cfg.url)) return -1;
    payload_spec ps = {.body_path = t->o.image};
    payload_set pay = {0};
    if (payload_set_build(&ps, &cfg.url, &pay)) return -1; /* its requests name the URL */
    cfg.payloads = &pay;
    cfg.threads = 1;
    cfg.conc_start = cfg.conc_end = conc;
    cfg.conc_step = 1;
    cfg.window_ms = t->o.window_ms;
    cfg.min_windows = 3;
    cfg.max_windows = 8;
    cfg.duration_s = 8.0 * t->o.window_ms / 1000.0 + 5;
    cfg.timeout_s = 10;
    cfg.quiet = 1;
    cfg.health_url = "off";
    bench_result res = {0};
    if (bench_config_check(&cfg) || bench_run(&cfg, &res) || res.nsteps < 1) {
        bench_result_dispose(&res);
        payload_set_dispose(&pay);
        return -1;
    }
    const bench_step *st = &res.steps[res.nsteps - 1];
    pt->conc = conc;
    pt->rps = st->ok_rps;
    pt->p50 = st->p50_ms;
    pt->p99 = st->p99_ms;
    pt->err_pct = st->finished ? 100.0 * (double)st->failed / (double)st->finished : 100;
    bench_metrics m = {.rps = st->achieved_rps,
                       .ok_rps = st->ok_rps,
                       .steady_rps = NAN,
                       .p50_ms = st->p50_ms,
                       .p90_ms = st->p90_ms,
                       .p95_ms = st->p95_ms,
                       .p99_ms = st->p99_ms,
                       .p999_ms = NAN,
                       .max_ms = st->max_ms,
                       .mean_ms = NAN,
                       .error_pct = pt->err_pct,
                       .success_pct = 100 - pt->err_pct,
                       .requests = (double)st->finished};
    pt->meets = st->finished > 0 && sla_met(&t->o.sla, &m);
    bench_result_dispose(&res);
    payload_set_dispose(&pay);
    return 0;
}

static void describe(tune_trial *tr)
{
    const tune_cfg *c = &tr->c;
    snprintf(tr->label, sizeof tr->label, "%s %dx%d batch %d%s", precision_name(c->precision),
             c->instances, c->threads, c->max_batch, tr->is_default ? " (defaults)" : "");
    if (c->max_batch > 1) {
        size_t n = strlen(tr->label);
        snprintf(tr->label + n, sizeof tr->label - n, " delay %dus", c->delay_us);
    }
}

/* Serves cfg (NULL: the shipped defaults) and sweeps the levels into tr.
 * 0, or -1 (tr->why says why). */
static int run_trial(tune_ctx *t, const tune_cfg *cfg, tune_trial *tr)
{
    uint64_t t0 = clock_now_ns();
    memset(tr, 0, sizeof *tr);
    tr->score = NAN;
    tr->best = -1;
    tr->is_default = cfg == NULL;
    if (cfg) tr->c = *cfg;
    char log[4300];
    snprintf(log, sizeof log, "%s/serve-%02d.log", t->o.out, t->n);
    server s = {0};
    if (stage(t, cfg)) {
        snprintf(tr->why, sizeof tr->why, "cannot write the scratch repository %s: %s", t->scratch,
                 strerror(errno));
        return -1;
    }
    if (serve_start(t, log, &s, tr->why, sizeof tr->why)) return -1;
    if (read_settings(t, &s, &tr->c)) {
        snprintf(tr->why, sizeof tr->why, "cannot read the server's settings");
        serve_stop(&s);
        return -1;
    }
    describe(tr);
    for (int i = 0; i < t->o.nlevels && !interrupted; i++) {
        tune_point *pt = &tr->pts[tr->npts];
        if (measure_level(t, &s, t->o.levels[i], pt)) {
            snprintf(tr->why, sizeof tr->why, "glint bench failed at concurrency %d: %s",
                     t->o.levels[i], bench_last_error());
            break;
        }
        tr->npts++;
        if (pt->meets && (tr->best < 0 || pt->rps > tr->score)) {
            tr->best = tr->npts - 1;
            tr->score = pt->rps;
        }
        /* past the SLA and no faster than the level before: more clients only queue */
        if (!pt->meets && tr->npts > 1 && pt->rps <= tr->pts[tr->npts - 2].rps * 1.02) break;
    }
    serve_stop(&s);
    tr->seconds = (double)(clock_now_ns() - t0) / 1e9;
    return tr->npts ? 0 : -1;
}

static int same_cfg(const tune_cfg *a, const tune_cfg *b)
{
    return a->precision == b->precision && a->instances == b->instances &&
           a->threads == b->threads && a->max_batch == b->max_batch &&
           (a->max_batch == 1 || a->delay_us == b->delay_us);
}

static void print_trial(const tune_trial *tr, int i)
{
    if (tr->why[0] && !tr->npts) {
        printf("%3d  %-44s  did not run: %s\n", i, tr->label[0] ? tr->label : "-", tr->why);
        return;
    }
    if (tr->best < 0) {
        printf("%3d  %-44s  %6s  %8s  %8s  no level meets the SLA (%.0f s)\n", i, tr->label, "-",
               "-", "-", tr->seconds);
        return;
    }
    const tune_point *p = &tr->pts[tr->best];
    printf("%3d  %-44s  %6d  %8.1f  %8.1f  (%.0f s)\n", i, tr->label, p->conc, p->rps, p->p99,
           tr->seconds);
}

/* Which trial has the best score, or -1. */
static int best_trial(const tune_ctx *t)
{
    int b = -1;
    for (int i = 0; i < t->n; i++)
        if (!isnan(t->trials[i].score) && (b < 0 || t->trials[i].score > t->trials[b].score)) b = i;
    return b;
}

/* Runs cfg unless it was tried; adopts nothing. The trial's index or -1. */
static int try_cfg(tune_ctx *t, const tune_cfg *cfg)
{
    for (int i = 0; i < t->n; i++)
        if (cfg && !t->trials[i].why[0] && same_cfg(&t->trials[i].c, cfg)) return i;
    if (t->n == MAX_TRIALS || interrupted) return -1;
    /* each trial costs about what the ones before did */
    double avg = 0;
    for (int i = 0; i < t->n; i++)
        avg += t->trials[i].seconds / t->n;
    if (t->n && elapsed_s(t) + avg > t->o.budget_s) return -1;
    tune_trial *tr = &t->trials[t->n];
    if (run_trial(t, cfg, tr) && cfg) {
        tr->c = *cfg;
        describe(tr);
    }
    print_trial(tr, t->n);
    fflush(stdout);
    return t->n++;
}

/* ---- output ---- */

static json_t *trial_json(const tune_trial *tr)
{
    json_t *pts = json_array();
    for (int i = 0; i < tr->npts; i++) {
        const tune_point *p = &tr->pts[i];
        json_array_append_new(pts,
                              json_pack("{s:i, s:f, s:f, s:f, s:f, s:b}", "concurrency", p->conc,
                                        "rps", p->rps, "p50_ms", p->p50, "p99_ms", p->p99,
                                        "error_pct", p->err_pct, "meets_sla", p->meets));
    }
    return json_pack("{s:s, s:b, s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:f, s:s}", "label", tr->label,
                     "defaults", tr->is_default, "precision", precision_name(tr->c.precision),
                     "instances", tr->c.instances, "threads", tr->c.threads, "max_batch",
                     tr->c.max_batch, "max_queue_delay_us", tr->c.delay_us, "score_rps",
                     isnan(tr->score) ? json_null() : json_real(tr->score), "points", pts,
                     "seconds", tr->seconds, "error", tr->why);
}

static void write_report(const tune_ctx *t, int win, const char *verdict)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/report.html", t->o.out);
    FILE *f = fopen(path, "w");
    if (!f) return;
    static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    fprintf(f, "<!doctype html><html><head><meta charset=\"utf-8\"><title>glint tune ");
    svg_escape(f, t->o.model);
    fprintf(f, "</title><style>body{font:14px sans-serif;margin:24px}table{border-collapse:"
               "collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
               "td:nth-child(2),th:nth-child(2){text-align:left}.win{font-weight:bold;background:"
               "#eef8ee}svg.chart{max-width:900px}</style></head><body><h1>glint tune: ");
    svg_escape(f, t->o.model);
    fprintf(f, "</h1><p>SLA <code>");
    svg_escape(f, t->o.sla_text);
    fprintf(f, "</code>; each line is one configuration, its points the concurrency levels "
               "(1 request in flight per client).</p><p>");
    svg_escape(f, verdict);
    fprintf(f, "</p>");
    svg_series ser[MAX_TRIALS];
    char names[MAX_TRIALS][16]; /* #i: the table's rows say which configuration */
    double xs[MAX_TRIALS][MAX_LEVELS], ys[MAX_TRIALS][MAX_LEVELS];
    int ns = 0;
    for (int i = 0; i < t->n; i++) {
        const tune_trial *tr = &t->trials[i];
        if (!tr->npts) continue;
        for (int k = 0; k < tr->npts; k++) {
            xs[ns][k] = tr->pts[k].rps;
            ys[ns][k] = tr->pts[k].p99;
        }
        snprintf(names[ns], sizeof names[ns], "#%d%s", i, i == win ? " winner" : "");
        ser[ns] = (svg_series){.name = names[ns],
                               .color = colors[i % 10],
                               .x = xs[ns],
                               .y = ys[ns],
                               .n = tr->npts,
                               .dashed = i != win,
                               .markers = 1};
        ns++;
    }
    /* the SLA's p99 bound, across the chart */
    double bound = sla_p99_bound(&t->o.sla), sx[2] = {0, 0}, sy[2];
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < ser[i].n; k++)
            sx[1] = ser[i].x[k] > sx[1] ? ser[i].x[k] : sx[1];
    if (!isnan(bound) && ns < MAX_TRIALS) {
        sy[0] = sy[1] = bound;
        ser[ns++] =
            (svg_series){.name = "SLA p99", .color = "#999", .x = sx, .y = sy, .n = 2, .dashed = 1};
    }
    svg_chart ch = {.id = "front",
                    .title = "p99 latency against throughput",
                    .xlabel = "requests/s (answered)",
                    .ylabel = "p99 ms",
                    .series = ser,
                    .nseries = ns,
                    .ymin0 = 1,
                    .xmin0 = 1};
    svg_chart_write(f, &ch);
    fprintf(f, "<table><tr><th>#</th><th>configuration</th><th>best concurrency</th><th>req/s "
               "within SLA</th><th>p99 ms there</th><th>levels</th><th>seconds</th></tr>\n");
    for (int i = 0; i < t->n; i++) {
        const tune_trial *tr = &t->trials[i];
        fprintf(f, "<tr%s><td>%d</td><td>", i == win ? " class=\"win\"" : "", i);
        svg_escape(f, tr->label);
        if (tr->best >= 0)
            fprintf(f, "</td><td>%d</td><td>%.1f</td><td>%.1f</td>", tr->pts[tr->best].conc,
                    tr->score, tr->pts[tr->best].p99);
        else
            fprintf(f, "</td><td>-</td><td>-</td><td>-</td>");
        fprintf(f, "<td>%d</td><td>%.0f</td></tr>\n", tr->npts, tr->seconds);
    }
    fprintf(f, "</table></body></html>\n");
    fclose(f);
}

/* ---- the search ---- */

/* Moves cur along one setting: tries each value, keeps the best trial. */
static void descend(tune_ctx *t, tune_cfg *cur, int *cur_i, const tune_cfg *opts, int nopts)
{
    for (int k = 0; k < nopts && !interrupted; k++) {
        int i = try_cfg(t, &opts[k]);
        if (i < 0 || isnan(t->trials[i].score)) continue;
        if (*cur_i < 0 || isnan(t->trials[*cur_i].score) ||
            t->trials[i].score > t->trials[*cur_i].score * (1 + MARGIN / 2)) {
            *cur_i = i;
            *cur = t->trials[i].c;
        }
    }
}

static void search(tune_ctx *t)
{
    int cur_i = try_cfg(t, NULL); /* the shipped defaults */
    if (cur_i < 0 || t->trials[cur_i].why[0]) {
        if (cur_i >= 0)
            fprintf(stderr, "glint tune: the defaults did not run: %s\n", t->trials[cur_i].why);
        return;
    }
    tune_cfg cur = t->trials[cur_i].c;
    tune_cfg opts[16];
    int n;
    /* precision: f32 and those whose agreement report passes */
    n = 0;
    static const int precs[] = {MODEL_PRECISION_F32, MODEL_PRECISION_INT8, MODEL_PRECISION_BF16};
    for (int k = 0; k < 3; k++) {
        char why[256];
        if (precs[k] == cur.precision || !precision_allowed(t->dir, precs[k], why, sizeof why))
            continue;
        opts[n] = cur;
        opts[n++].precision = precs[k];
    }
    descend(t, &cur, &cur_i, opts, n);
    /* instances x threads over the usable CPUs */
    n = 0;
    for (int inst = 1; inst <= t->usable && n < 16; inst++)
        if (t->usable % inst == 0 && inst != cur.instances) {
            opts[n] = cur;
            opts[n].instances = inst;
            opts[n++].threads = t->usable / inst;
        }
    descend(t, &cur, &cur_i, opts, n);
    /* the largest batch (with a delay to fill it) */
    n = 0;
    static const int batches[] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++)
        if (batches[k] != cur.max_batch) {
            opts[n] = cur;
            opts[n].max_batch = batches[k];
            opts[n++].delay_us = batches[k] > 1 ? (cur.delay_us ? cur.delay_us : 2000) : 0;
        }
    descend(t, &cur, &cur_i, opts, n);
    /* how long a batch waits to fill */
    if (cur.max_batch > 1) {
        n = 0;
        static const int delays[] = {500, 2000, 5000};
        for (int k = 0; k < 3; k++)
            if (delays[k] != cur.delay_us) {
                opts[n] = cur;
                opts[n++].delay_us = delays[k];
            }
        descend(t, &cur, &cur_i, opts, n);
    }
}

/* Winner and defaults again, interleaved, at the levels where they did
 * best: the medians' ratio, or NAN when not measured. */
static double confirm(tune_ctx *t, int win, double *w_med, double *d_med)
{
    tune_trial *w = &t->trials[win], *d = &t->trials[0];
    double ws[CONFIRM_ROUNDS] = {0}, ds[CONFIRM_ROUNDS] = {0};
    int levels_w[1] = {w->pts[w->best].conc}, levels_d[1] = {d->pts[d->best].conc};
    tune_opts saved = t->o;
    for (int r = 0; r < CONFIRM_ROUNDS; r++) {
        for (int which = 0; which < 2; which++) {
            tune_trial tmp;
            t->o.nlevels = 1;
            t->o.levels[0] = which ? levels_d[0] : levels_w[0];
            if (run_trial(t, which ? NULL : &w->c, &tmp) || tmp.best < 0) {
                t->o = saved;
                return NAN;
            }
            (which ? ds : ws)[r] = tmp.score;
        }
    }
    t->o = saved;
    *w_med = (ws[0] + ws[1]) / 2;
    *d_med = (ds[0] + ds[1]) / 2;
    return *w_med / *d_med;
}

int cmd_tune(int argc, char **argv)
{
    tune_ctx *t = calloc(1, sizeof *t);
    if (!t) return 1;
    int rc = 1;
    payload_set pay = {0};
    if (parse_args(argc, argv, &t->o)) goto done;
    t->t0 = clock_now_ns();
    ssize_t n = readlink("/proc/self/exe", t->self, sizeof t->self - 1);
    if (n <= 0) {
        fprintf(stderr, "glint tune: cannot find the glint binary\n");
        goto done;
    }
    t->self[n] = 0;
    snprintf(t->dir, sizeof t->dir, "%s/%s", t->o.models, t->o.model);
    char yaml[4200];
    snprintf(yaml, sizeof yaml, "%s/model.onnx", t->dir);
    struct stat st;
    if (stat(yaml, &st)) {
        fprintf(stderr, "glint tune: no model %s (a folder with model.onnx)\n", t->dir);
        goto done;
    }
    char outbuf[4096];
    if (!t->o.out) {
        snprintf(outbuf, sizeof outbuf, "tune-%s", t->o.model);
        t->o.out = outbuf;
    }
    if (mkdir(t->o.out, 0755) && errno != EEXIST) {
        fprintf(stderr, "glint tune: cannot create %s: %s\n", t->o.out, strerror(errno));
        goto done;
    }
    snprintf(t->scratch, sizeof t->scratch, "%s/repo", t->o.out);
    if (mkdir(t->scratch, 0755) && errno != EEXIST) {
        fprintf(stderr, "glint tune: cannot create %s: %s\n", t->scratch, strerror(errno));
        goto done;
    }
    char abs_dir[4096];
    if (!realpath(t->dir, abs_dir)) goto done;
    snprintf(t->dir, sizeof t->dir, "%s", abs_dir);
    payload_spec ps = {.body_path = t->o.image}; /* readable? (each level builds its own) */
    httpc_url u;
    httpc_url_parse("http://127.0.0.1:1/", &u);
    if (payload_set_build(&ps, &u, &pay)) {
        fprintf(stderr, "glint tune: --image %s: %s\n", t->o.image, bench_last_error());
        goto done;
    }
    t->usable = cpus_process()->usable;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("glint tune: %s on %d CPU(s), SLA %s, budget %.0f s, concurrency", t->o.model, t->usable,
           t->o.sla_text, t->o.budget_s);
    for (int i = 0; i < t->o.nlevels; i++)
        printf("%s%d", i ? "," : " ", t->o.levels[i]);
    printf("\n%3s  %-44s  %6s  %8s  %8s\n", "#", "configuration", "conc", "req/s", "p99 ms");
    fflush(stdout);
    search(t);
    int win = best_trial(t);
    char verdict[512];
    if (win < 0) {
        snprintf(verdict, sizeof verdict, "no configuration tried meets the SLA %s", t->o.sla_text);
        rc = 2;
    } else if (win == 0) {
        snprintf(verdict, sizeof verdict,
                 "the shipped defaults are already best: %s, %.1f req/s within %s",
                 t->trials[0].label, t->trials[0].score, t->o.sla_text);
        rc = 0;
    } else {
        double wm = NAN, dm = NAN, ratio = NAN;
        if (!isnan(t->trials[0].score) && !interrupted) ratio = confirm(t, win, &wm, &dm);
        if (isnan(ratio))
            snprintf(verdict, sizeof verdict,
                     "winner: %s, %.1f req/s within %s (the defaults: %s; not re-measured)",
                     t->trials[win].label, t->trials[win].score, t->o.sla_text,
                     isnan(t->trials[0].score) ? "none met the SLA" : "met it");
        else if (ratio >= 1 + MARGIN)
            snprintf(verdict, sizeof verdict,
                     "winner: %s beats the shipped defaults (%s) by %.0f%%: %.1f vs %.1f req/s "
                     "within %s (re-measured, interleaved, %d rounds)",
                     t->trials[win].label, t->trials[0].label, (ratio - 1) * 100, wm, dm,
                     t->o.sla_text, CONFIRM_ROUNDS);
        else {
            snprintf(verdict, sizeof verdict,
                     "the shipped defaults are already best: the best alternative, %s, "
                     "measured %.1f vs %.1f req/s (%+.0f%%, within noise) when re-measured",
                     t->trials[win].label, wm, dm, (ratio - 1) * 100);
            win = 0;
        }
        rc = 0;
    }
    printf("%s\n", verdict);
    /* tune.json, report.html */
    json_t *arr = json_array();
    for (int i = 0; i < t->n; i++)
        json_array_append_new(arr, trial_json(&t->trials[i]));
    json_t *j = json_pack("{s:s, s:s, s:f, s:i, s:o, s:i, s:s, s:f}", "model", t->o.model, "sla",
                          t->o.sla_text, "budget_s", t->o.budget_s, "cpus", t->usable, "trials",
                          arr, "winner", win, "verdict", verdict, "elapsed_s", elapsed_s(t));
    char path[4300];
    snprintf(path, sizeof path, "%s/tune.json", t->o.out);
    json_dump_file(j, path, JSON_INDENT(1));
    json_decref(j);
    write_report(t, win, verdict);
    printf("wrote %s/tune.json and %s/report.html (%.0f s)\n", t->o.out, t->o.out, elapsed_s(t));
    if (t->o.write) {
        if (win <= 0) {
            printf("--write: nothing to write (%s)\n",
                   win < 0 ? "no winner" : "the defaults are best");
        } else {
            char src[4300], stamp[256];
            snprintf(src, sizeof src, "%s/model.yaml", t->dir);
            snprintf(stamp, sizeof stamp, "glint tune: %.1f req/s within %s on %d CPU(s)",
                     t->trials[win].score, t->o.sla_text, t->usable);
            if (write_yaml(src, src, &t->trials[win].c, stamp)) {
                fprintf(stderr, "glint tune: cannot write %s: %s\n", src, strerror(errno));
                rc = 1;
            } else {
                printf("--write: %s now serves %s\n", src, t->trials[win].label);
            }
        }
    }
done:
    payload_set_dispose(&pay);
    free(t);
    return rc;
}
