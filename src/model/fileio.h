/* Whole-file reads with a size limit, shared by the model repository and the
 * command-line tools. Reentrant. */
#ifndef GLINT_MODEL_FILEIO_H
#define GLINT_MODEL_FILEIO_H

#include <stddef.h>

/* Reads the regular file `path` of at most `limit` bytes. Returns malloc'ed
 * bytes with a NUL after the last one (free them) and sets *size, or NULL with
 * errno set (ENOENT, EISDIR, EINVAL for a non-regular file, EFBIG over the
 * limit, EIO, ENOMEM). */
void *fileio_read(const char *path, size_t limit, size_t *size);

/* Reads at most size - 1 bytes of `path` into buf, NUL-terminated (a short
 * text: an id, a marker). 0, or -1 with errno. */
int fileio_read_text(const char *path, char *buf, size_t size);

#endif
