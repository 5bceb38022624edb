/* Option parsing for `glint bench`; see bench_args.h. */
#include "bench/bench_args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void bench_usage(FILE *f)
{
    fputs(
        "usage: glint bench MODE --url http://HOST[:PORT]/PATH [options]\n"
        "       glint bench compare BASE.json NEW.json [--tolerance PCT] [--sla SPEC]\n"
        "modes:\n"
        "  ramp         clients join in steps, each paced to --requests-per-second\n"
        "    --max-clients N (10) --step-size N (1) --start-clients N (=step)\n"
        "    --time-between-ramp S (10) --requests-per-second R per client (5)\n"
        "    --client-start sync|spread (sync: a joining client sends at once; spread:\n"
        "      after a random fraction of its period, so clients are not in phase)\n"
        "  rate         open loop at R requests/s, latency from the intended send time\n"
        "    --rate R[,R2,...] (one step each) --duration S per step (10)\n"
        "    --arrival uniform|poisson (uniform) --connections N (32)\n"
        "  concurrency  closed loop, N requests in flight, each step until 3 windows agree\n"
        "    --concurrency A[:B[:STEP]] (1:4:1) --window MS (1000) --stability PCT (10)\n"
        "    --min-windows N (3) --max-windows N (10)\n"
        "  spike        N requests released at once\n"
        "    --burst N (100) --server-cmd CMD --ready-pattern REGEX --ready-timeout S (60)\n"
        "requests:\n"
        "  --image FILE|DIR   body from a file, or every file of a folder round-robin\n"
        "  --data STRING      inline body      --multipart FIELD  send as multipart/form-data\n"
        "  --content-type T   (default from the file extension)   --method M (GET, POST with a "
        "body)\n"
        "  --header 'Name: value' (repeatable) --timeout S (10)   --retries N (0)\n"
        "  --retry-backoff MS (50) --retry-max-backoff MS (2000): exponential, jittered;\n"
        "    after a 503 or 429, its Retry-After (seconds) when that is longer\n"
        "run:\n"
        "  --threads N (1) --duration S (cap) --max-requests N (10000000) --seed N\n"
        "  --out DIR (glint-bench-MODE-TIME) --quiet --log-requests N (1000000) --no-request-log\n"
        "  --health URL|off (URL origin + /health): server CPU/RSS from its JSON\n"
        "verdict:\n"
        "  --sla 'p99<150ms,rps>=40,errors<0.1%'   exit 0 met, 2 missed, 1 tool error\n"
        "  --steady-ratio PCT (95) --steady-success PCT (99): the steady-step rule\n",
        f);
}

static bench_status num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : 0;
    if (!v || !*v || errno || *end || !isfinite(d) || d < lo || d > hi)
        return bench_fail(BENCH_ERR_INVALID, "%s needs a number in [%g, %g], got '%s'", opt, lo, hi,
                          v ? v : "");
    *out = d;
    return BENCH_OK;
}

static bench_status integer(const char *opt, const char *v, long long lo, long long hi,
                            long long *out)
{
    char *end;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || errno || *end || n < lo || n > hi)
        return bench_fail(BENCH_ERR_INVALID, "%s needs an integer in [%lld, %lld], got '%s'", opt,
                          lo, hi, v ? v : "");
    *out = n;
    return BENCH_OK;
}

static bench_status int_opt(const char *opt, const char *v, long long lo, long long hi, int *out)
{
    long long n;
    bench_status s = integer(opt, v, lo, hi, &n);
    if (!s) *out = (int)n;
    return s;
}

static bench_status parse_rates(const char *v, bench_config *c)
{
    c->nrates = 0;
    if (!v || !*v) return bench_fail(BENCH_ERR_INVALID, "--rate needs R[,R2,...]");
    char buf[8192];
    if (strlen(v) >= sizeof buf) return bench_fail(BENCH_ERR_INVALID, "--rate list too long");
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (c->nrates == BENCH_MAX_STEPS)
            return bench_fail(BENCH_ERR_INVALID, "--rate: at most %d rates", BENCH_MAX_STEPS);
        bench_status s = num("--rate", t, 0.001, 1e7, &c->rates[c->nrates]);
        if (s) return s;
        c->nrates++;
    }
    if (!c->nrates) return bench_fail(BENCH_ERR_INVALID, "--rate needs R[,R2,...]");
    return BENCH_OK;
}

static bench_status parse_range(const char *v, bench_config *c)
{
    long long a = 0, b = 0, st = 1;
    char buf[64];
    if (!v || strlen(v) >= sizeof buf)
        return bench_fail(BENCH_ERR_INVALID, "--concurrency needs A[:B[:STEP]]");
    snprintf(buf, sizeof buf, "%s", v);
    char *p2 = strchr(buf, ':'), *p3 = NULL;
    if (p2) {
        *p2++ = 0;
        p3 = strchr(p2, ':');
        if (p3) *p3++ = 0;
    }
    bench_status s = integer("--concurrency", buf, 1, BENCH_MAX_SLOTS, &a);
    if (!s) s = p2 ? integer("--concurrency (end)", p2, 1, BENCH_MAX_SLOTS, &b) : (b = a, BENCH_OK);
    if (!s && p3) s = integer("--concurrency (step)", p3, 1, BENCH_MAX_SLOTS, &st);
    if (s) return s;
    c->conc_start = (int)a;
    c->conc_end = (int)b;
    c->conc_step = (int)st;
    return BENCH_OK;
}

static int mode_of(const char *m, bench_mode *out)
{
    static const struct {
        const char *name;
        bench_mode mode;
    } modes[] = {{"ramp", BENCH_RAMP},
                 {"rate", BENCH_RATE},
                 {"concurrency", BENCH_CONCURRENCY},
                 {"spike", BENCH_SPIKE}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(m, modes[i].name)) {
            *out = modes[i].mode;
            return 1;
        }
    return 0;
}

/* One option with its value (NULL for flags). */
static bench_status option(bench_args *a, const char *o, const char *v, int *used)
{
    bench_config *c = &a->cfg;
    double d;
    long long n;
    bench_status s = BENCH_OK;
    *used = 1;
#define IS(name) (!strcmp(o, name))
    if (IS("--quiet")) {
        c->quiet = 1;
        *used = 0;
    } else if (IS("--no-request-log")) {
        c->log_requests = 0;
        *used = 0;
    } else if (!v) {
        return bench_fail(BENCH_ERR_INVALID, "%s needs a value", o);
    } else if (IS("--url")) {
        if (strlen(v) >= sizeof c->url_text) return bench_fail(BENCH_ERR_INVALID, "--url too long");
        snprintf(c->url_text, sizeof c->url_text, "%s", v);
        s = httpc_url_parse(v, &c->url);
    } else if (IS("--image") || IS("--body-file")) {
        a->payload.body_path = v;
    } else if (IS("--data")) {
        a->payload.data = v;
    } else if (IS("--multipart")) {
        a->payload.multipart = v;
    } else if (IS("--content-type")) {
        a->payload.content_type = v;
    } else if (IS("--method")) {
        a->payload.method = v;
    } else if (IS("--header")) {
        if (a->payload.nheaders == PAYLOAD_MAX_HEADERS)
            return bench_fail(BENCH_ERR_INVALID, "at most %d --header options",
                              PAYLOAD_MAX_HEADERS);
        a->payload.headers[a->payload.nheaders++] = v;
    } else if (IS("--timeout")) {
        s = num(o, v, 0.001, 3600, &c->timeout_s);
    } else if (IS("--retries")) {
        s = int_opt(o, v, 0, 10, &c->retries);
    } else if (IS("--retry-backoff")) {
        s = num(o, v, 0, 60000, &c->backoff_ms);
    } else if (IS("--retry-max-backoff")) {
        s = num(o, v, 0, 600000, &c->backoff_max_ms);
    } else if (IS("--threads")) {
        s = int_opt(o, v, 1, BENCH_MAX_THREADS, &c->threads);
    } else if (IS("--out")) {
        a->out_dir = v;
    } else if (IS("--duration")) {
        s = num(o, v, 0.1, BENCH_MAX_DURATION_S, &d);
        if (!s && c->mode == BENCH_RATE)
            c->step_duration_s = d;
        else if (!s)
            c->duration_s = d;
    } else if (IS("--max-requests")) {
        s = integer(o, v, 1, (long long)BENCH_MAX_REQUESTS, &n);
        if (!s) c->max_requests = (uint64_t)n;
    } else if (IS("--sla")) {
        a->sla_text = v;
        s = sla_parse(v, &a->sla);
    } else if (IS("--steady-ratio")) {
        s = num(o, v, 0, 100, &d);
        c->rule.min_ratio = d / 100;
    } else if (IS("--steady-success")) {
        s = num(o, v, 0, 100, &d);
        c->rule.min_success = d / 100;
    } else if (IS("--health")) {
        c->health_url = v;
        if (strcmp(v, "off")) {
            httpc_url u;
            s = httpc_url_parse(v, &u);
        }
    } else if (IS("--log-requests")) {
        s = integer(o, v, 0, (long long)BENCH_MAX_REQUESTS, &n);
        if (!s) c->log_requests = (uint64_t)n;
    } else if (IS("--seed")) {
        s = integer(o, v, 0, (long long)1 << 62, &n);
        if (!s) c->seed = (uint64_t)n;
    } else if (IS("--max-clients")) {
        s = int_opt(o, v, 1, BENCH_MAX_SLOTS, &c->max_clients);
    } else if (IS("--step-size")) {
        s = int_opt(o, v, 1, BENCH_MAX_SLOTS, &c->step_size);
    } else if (IS("--start-clients")) {
        s = int_opt(o, v, 1, BENCH_MAX_SLOTS, &c->start_clients);
    } else if (IS("--time-between-ramp")) {
        s = num(o, v, 0.1, BENCH_MAX_DURATION_S, &c->ramp_interval_s);
    } else if (IS("--requests-per-second")) {
        s = num(o, v, 0.001, 1e6, &c->client_rps);
    } else if (IS("--client-start")) {
        if (!strcmp(v, "spread"))
            c->spread = 1;
        else if (!strcmp(v, "sync"))
            c->spread = 0;
        else
            s = bench_fail(BENCH_ERR_INVALID, "--client-start is sync or spread, got '%s'", v);
    } else if (IS("--rate")) {
        s = parse_rates(v, c);
    } else if (IS("--arrival")) {
        if (!strcmp(v, "poisson"))
            c->poisson = 1;
        else if (!strcmp(v, "uniform"))
            c->poisson = 0;
        else
            s = bench_fail(BENCH_ERR_INVALID, "--arrival is uniform or poisson, got '%s'", v);
    } else if (IS("--connections")) {
        s = int_opt(o, v, 1, BENCH_MAX_SLOTS, &c->connections);
    } else if (IS("--concurrency")) {
        s = parse_range(v, c);
    } else if (IS("--window")) {
        s = int_opt(o, v, 100, 3600000, &c->window_ms);
    } else if (IS("--min-windows")) {
        s = int_opt(o, v, 1, 1000, &c->min_windows);
    } else if (IS("--max-windows")) {
        s = int_opt(o, v, 1, 1000, &c->max_windows);
    } else if (IS("--stability")) {
        s = num(o, v, 0.1, 99, &d);
        c->stability = d / 100;
    } else if (IS("--burst")) {
        s = int_opt(o, v, 1, BENCH_MAX_SLOTS, &c->burst);
    } else if (IS("--server-cmd")) {
        c->server_cmd = v;
    } else if (IS("--ready-pattern")) {
        c->ready_pattern = v;
    } else if (IS("--ready-timeout")) {
        s = num(o, v, 0.1, 3600, &c->ready_timeout_s);
    } else if (IS("--tolerance")) {
        s = num(o, v, 0, 1000, &d);
        a->tolerance = d / 100;
    } else {
        return bench_fail(BENCH_ERR_INVALID, "unknown option '%s' (see glint bench --help)", o);
    }
#undef IS
    return s;
}

bench_status bench_args_parse(int argc, char **argv, bench_args *a)
{
    memset(a, 0, sizeof *a);
    bench_config_defaults(&a->cfg);
    a->tolerance = 0.10;
    if (argc < 2) return bench_fail(BENCH_ERR_INVALID, "glint bench needs a mode (see --help)");
    const char *mode = argv[1];
    if (!strcmp(mode, "--help") || !strcmp(mode, "-h") || !strcmp(mode, "help")) {
        a->help = 1;
        return BENCH_OK;
    }
    int i = 2;
    if (!strcmp(mode, "compare")) {
        a->compare = 1;
    } else if (!mode_of(mode, &a->cfg.mode)) {
        return bench_fail(BENCH_ERR_INVALID,
                          "unknown mode '%s' (ramp, rate, concurrency, spike or compare)", mode);
    }
    int positional = 0;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            a->help = 1;
            return BENCH_OK;
        }
        if (strncmp(arg, "--", 2)) {
            if (!a->compare || positional == 2)
                return bench_fail(BENCH_ERR_INVALID, "unexpected argument '%s'", arg);
            if (positional++ == 0)
                a->base_json = arg;
            else
                a->new_json = arg;
            continue;
        }
        char name[64];
        const char *eq = strchr(arg, '=');
        const char *val;
        if (eq) {
            size_t len = (size_t)(eq - arg);
            if (len >= sizeof name) return bench_fail(BENCH_ERR_INVALID, "bad option '%s'", arg);
            memcpy(name, arg, len);
            name[len] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", arg);
            val = i + 1 < argc ? argv[i + 1] : NULL;
        }
        if (a->compare && strcmp(name, "--sla") && strcmp(name, "--tolerance"))
            return bench_fail(BENCH_ERR_INVALID, "compare takes only --sla and --tolerance, not %s",
                              name);
        int used = 0;
        bench_status s = option(a, name, val, &used);
        if (s) return s;
        if (eq && !used) return bench_fail(BENCH_ERR_INVALID, "%s takes no value", name);
        if (used && !eq) i++;
    }
    if (a->compare) {
        if (!a->base_json || !a->new_json)
            return bench_fail(BENCH_ERR_INVALID, "compare needs BASE.json NEW.json");
        return BENCH_OK;
    }
    if (!a->cfg.url_text[0]) return bench_fail(BENCH_ERR_INVALID, "--url is required");
    if (a->sla_text) a->cfg.rule.max_p99_ms = sla_p99_bound(&a->sla);
    if (a->cfg.mode == BENCH_RATE && a->cfg.nrates == 0)
        return bench_fail(BENCH_ERR_INVALID, "rate needs --rate R[,R2,...]");
    if (a->cfg.mode != BENCH_SPIKE && (a->cfg.server_cmd || a->cfg.ready_pattern))
        return bench_fail(BENCH_ERR_INVALID, "--server-cmd and --ready-pattern are for spike");
    return BENCH_OK;
}
