/* One-line error messages for the request parsers. Reentrant. */
#ifndef GLINT_SERVE_ERRMSG_H
#define GLINT_SERVE_ERRMSG_H

#include <stddef.h>

/* Formats the message into err (when err is not NULL and err_size > 0),
 * replacing control characters by '?' so that it stays one line whatever
 * the input held. Returns -1, for `return errmsg_set(...)`. */
int errmsg_set(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
