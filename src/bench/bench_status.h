/* Status codes of the bench layer (the HTTP load generator) and the
 * per-thread message describing the last failure.
 *
 * Every fallible call of src/bench/ returns a bench_status, 0 = OK. On
 * failure bench_last_error() says what was wrong (which option, which file,
 * which byte). The layer links libc, pthreads, libm and jansson only: it
 * never includes engine, vision or serve headers.
 */
#ifndef GLINT_BENCH_STATUS_H
#define GLINT_BENCH_STATUS_H

typedef enum bench_status {
    BENCH_OK = 0,
    BENCH_ERR_INVALID, /* bad argument, option or specification */
    BENCH_ERR_NOMEM,   /* allocation failed, or a size over a stated limit */
    BENCH_ERR_IO,      /* a file or folder could not be read or written */
    BENCH_ERR_NET,     /* name resolution, socket or epoll setup failed */
    BENCH_ERR_PARSE,   /* malformed input: JSON, HTTP, a number */
} bench_status;

/* Static text naming a status (never NULL). */
const char *bench_strerror(bench_status s);

/* Message of the last failure on the calling thread (never NULL; "" if none).
 * Valid until the next failing bench call on the same thread. */
const char *bench_last_error(void);

/* Formats the message bench_last_error() will return and returns `s`, so a
 * caller can write `return bench_fail(BENCH_ERR_INVALID, "rate %g", r);`. */
bench_status bench_fail(bench_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
