/* Status names and the per-thread error message of the bench layer. */
#include "bench/bench_status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *bench_last_error(void)
{
    return last_error;
}

bench_status bench_fail(bench_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *bench_strerror(bench_status s)
{
    switch (s) {
    case BENCH_OK:
        return "ok";
    case BENCH_ERR_INVALID:
        return "invalid argument";
    case BENCH_ERR_NOMEM:
        return "out of memory or over a size limit";
    case BENCH_ERR_IO:
        return "i/o error";
    case BENCH_ERR_NET:
        return "network setup error";
    case BENCH_ERR_PARSE:
        return "malformed input";
    }
    return "unknown status";
}
