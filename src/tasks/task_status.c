/* Status names and the per-thread error message of the tasks layer. */
#include "tasks/task_status_impl.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[256];

const char *task_last_error(void)
{
    return last_error;
}

task_status task_fail(task_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *task_strerror(task_status s)
{
    switch (s) {
    case TASK_OK:
        return "ok";
    case TASK_ERR_INVALID:
        return "invalid argument";
    case TASK_ERR_NOMEM:
        return "out of memory or over a size limit";
    case TASK_ERR_IO:
        return "i/o error";
    case TASK_ERR_PARSE:
        return "malformed input";
    }
    return "unknown status";
}
