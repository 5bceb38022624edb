/* glint bench's outputs: the results folder and the terminal summary.
 *
 *   seconds.csv   one row per second (bench_second)
 *   steps.csv     one row per step (bench_step)
 *   summary.json  everything a script or `glint bench compare` needs: the
 *                 configuration, totals, latency percentiles, errors by
 *                 kind, the steps, the steady rule and max steady RPS, the
 *                 SLA verdict, and a "metrics" object (bench_metrics)
 *   report.html   self-contained: inline CSS and SVG charts, no script, no
 *                 network (report_html.c)
 *   requests.csv  written during the run by the workers (bench_run.h)
 *
 * All writers take the finished bench_result; none keeps a pointer.
 * Errors: BENCH_ERR_IO naming the file.
 */
#ifndef GLINT_BENCH_REPORT_H
#define GLINT_BENCH_REPORT_H

#include <stdio.h>

#include "bench/bench_run.h"
#include "bench/sla.h"

/* The SLA outcome that goes with a result (sla NULL: none given). */
typedef struct report_sla {
    const char *text;
    const sla_spec *sla;
    int met;
} report_sla;

bench_status report_write_csvs(const char *dir, const bench_config *cfg, const bench_result *res);
bench_status report_write_summary(const char *path, const bench_config *cfg,
                                  const bench_result *res, const report_sla *sla);
bench_status report_write_html(const char *path, const bench_config *cfg, const bench_result *res,
                               const report_sla *sla);
/* The end-of-run text: steps table, max steady RPS with the rule and the
 * server's CPU/RSS, totals, SLA verdict, where the report is. */
void report_print(FILE *f, const bench_config *cfg, const bench_result *res, const report_sla *sla,
                  const char *out_dir);

/* Reads the "metrics" object (and mode/url for the header) of a
 * summary.json. Errors: BENCH_ERR_IO (unreadable), BENCH_ERR_PARSE (not a
 * glint bench summary). */
bench_status report_load_metrics(const char *path, bench_metrics *m, char *label, size_t cap);

/* `glint bench compare`: prints base vs new side by side with the change,
 * and gates. With tolerance t (a fraction, e.g. 0.10), `new` regresses when
 *   rps or steady_rps < base x (1 - t)   (steady_rps also when it vanished)
 *   p50, p99 or p99.9 > base x (1 + t) and more than 0.1 ms above base
 *   errors (%) > base x (1 + t) and more than 0.1 points above base
 * and, with sla, when `new` misses it. Metrics a summary lacks (null) are
 * shown as "-" and not gated. Returns the exit code: 0 pass, 2 regression
 * or SLA missed, 1 tool error (unreadable file, not a summary). */
int report_compare(FILE *out, const char *base_path, const char *new_path, const sla_spec *sla,
                   double tolerance);

#endif
