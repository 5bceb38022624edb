/* Private to src/tasks/: recording a failure. */
#ifndef GLINT_TASK_STATUS_IMPL_H
#define GLINT_TASK_STATUS_IMPL_H

#include "tasks/task_status.h"

/* Formats the message task_last_error() will return and returns `s`, so a
 * caller can write `return task_fail(TASK_ERR_INVALID, "k=%d", k);`. */
task_status task_fail(task_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
