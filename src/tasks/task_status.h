/* Status codes of the tasks layer (model outputs -> answers) and the
 * per-thread message describing the last failure.
 *
 * Every fallible call of src/tasks/ returns a task_status, 0 = OK. On failure
 * task_last_error() says what was wrong (which argument, which limit, which
 * line of a file). The layer depends on nothing but libc and libm: it takes
 * plain float arrays and dimensions, never engine or image types.
 */
#ifndef GLINT_TASK_STATUS_H
#define GLINT_TASK_STATUS_H

typedef enum task_status {
    TASK_OK = 0,
    TASK_ERR_INVALID, /* bad argument: NULL, dims, thresholds, sizes */
    TASK_ERR_NOMEM,   /* allocation failed, or a size over a stated limit */
    TASK_ERR_IO,      /* a file could not be opened or read */
    TASK_ERR_PARSE,   /* a file's contents are malformed (e.g. a NUL byte) */
} task_status;

/* Static text naming a status (never NULL). */
const char *task_strerror(task_status s);

/* Message of the last failure on the calling thread (never NULL; "" if none).
 * Valid until the next failing tasks call on the same thread. */
const char *task_last_error(void);

#endif
