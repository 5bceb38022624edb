/* Whole-file reads with a size limit, and short texts. */
#include "model/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void *fileio_read(const char *path, size_t limit, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st)) {
        int e = errno;
        fclose(f);
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > limit) {
        fclose(f);
        errno = !S_ISREG(st.st_mode) ? (S_ISDIR(st.st_mode) ? EISDIR : EINVAL) : EFBIG;
        return NULL;
    }
    void *buf = malloc((size_t)st.st_size + 1);
    if (!buf) errno = ENOMEM;
    if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        buf = NULL;
        errno = EIO;
    }
    fclose(f);
    if (buf) {
        ((char *)buf)[st.st_size] = 0;
        *size = (size_t)st.st_size;
    }
    return buf;
}

int fileio_read_text(const char *path, char *buf, size_t size)
{
    if (!size) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = 0;
    return 0;
}
