/* Command-line options of `glint bench` (see docs/bench.md), parsed into a
 * bench_config, a payload_spec, the results folder and the SLA. Kept apart
 * from the CLI so that option handling is unit-tested; nothing here exits
 * or prints.
 */
#ifndef GLINT_BENCH_ARGS_H
#define GLINT_BENCH_ARGS_H

#include <stdio.h>

#include "bench/bench_run.h"
#include "bench/payload.h"
#include "bench/sla.h"

typedef struct bench_args {
    int compare; /* `glint bench compare A.json B.json` */
    const char *base_json, *new_json;
    double tolerance; /* compare: fraction, default 0.10 */
    int help;
    bench_config cfg;
    payload_spec payload;
    const char *out_dir;  /* NULL: the caller picks glint-bench-<mode>-<time> */
    const char *sla_text; /* NULL: no SLA */
    sla_spec sla;
} bench_args;

/* Parses argv[1..argc) where argv[1] is the mode (ramp, rate,
 * concurrency, spike, compare) or --help. Strings in *a point into argv.
 * Errors: BENCH_ERR_INVALID naming the option and what it expects. */
bench_status bench_args_parse(int argc, char **argv, bench_args *a);

/* The option summary. */
void bench_usage(FILE *f);

#endif
