/* glint bench: the HTTP load generator (src/bench/). Parses the options,
 * builds the requests, runs the load, writes the results folder and prints
 * the answer. Exit codes: 0 done (SLA met when one was given), 2 SLA missed
 * (or `compare` found a regression), 1 tool error (bad option, unreadable
 * payload, results folder not writable, server command never ready). */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench/bench_args.h"
#include "bench/bench_run.h"
#include "bench/report.h"

static void on_signal(int sig)
{
    (void)sig;
    bench_request_stop();
}

/* mkdir -p; 0 or -1 with errno. */
static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST) return -1;
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "glint bench: %s%s%s\n", what, *what ? ": " : "", bench_last_error());
    return 1;
}

int cmd_bench(int argc, char **argv)
{
    bench_args a;
    if (bench_args_parse(argc, argv, &a)) {
        fprintf(stderr, "glint bench: %s\n", bench_last_error());
        return 1;
    }
    if (a.help) {
        bench_usage(stdout);
        return 0;
    }
    if (a.compare)
        return report_compare(stdout, a.base_json, a.new_json, a.sla_text ? &a.sla : NULL,
                              a.tolerance);

    payload_set payloads;
    if (payload_set_build(&a.payload, &a.cfg.url, &payloads)) return fail("");
    a.cfg.payloads = &payloads;
    int rc = 1;
    bench_result res = {0};
    char dir[4096], path[4200];
    if (a.out_dir) {
        snprintf(dir, sizeof dir, "%s", a.out_dir);
    } else {
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(dir, sizeof dir, "glint-bench-%s-%s", bench_mode_name(a.cfg.mode), stamp);
    }
    if (bench_config_check(&a.cfg)) {
        rc = fail("");
        goto done;
    }
    if (make_dirs(dir)) {
        fprintf(stderr, "glint bench: cannot create the results folder '%s': %s\n", dir,
                strerror(errno));
        goto done;
    }
    snprintf(path, sizeof path, "%s/requests.csv", dir);
    a.cfg.requests_path = path;

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signal(SIGPIPE, SIG_IGN);
    if (!a.cfg.quiet)
        fprintf(stderr, "glint bench %s %s -> %s/\n", bench_mode_name(a.cfg.mode), a.cfg.url_text,
                dir);
    bench_status st = bench_run(&a.cfg, &res);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (st) {
        rc = fail("");
        goto done;
    }
    report_sla sla = {a.sla_text, a.sla_text ? &a.sla : NULL, 1};
    if (a.sla_text) sla.met = sla_met(&a.sla, &res.metrics);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (report_write_csvs(dir, &a.cfg, &res) || report_write_summary(path, &a.cfg, &res, &sla)) {
        rc = fail("");
        goto done;
    }
    snprintf(path, sizeof path, "%s/report.html", dir);
    if (report_write_html(path, &a.cfg, &res, &sla)) {
        rc = fail("");
        goto done;
    }
    report_print(stdout, &a.cfg, &res, &sla, dir);
    rc = a.sla_text && !sla.met ? 2 : 0;
done:
    bench_result_dispose(&res);
    payload_set_dispose(&payloads);
    return rc;
}
