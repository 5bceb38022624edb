/* The serve library's one status type: 0 is success, every failure a
 * member with a static description (serve_strerror). Functions that can
 * say more write a one-line message into a caller's buffer beside it
 * (errmsg.h: `char *err, size_t err_size`, control characters replaced);
 * either way the caller propagates at once. */
#ifndef GLINT_SERVE_CORE_STATUS_H
#define GLINT_SERVE_CORE_STATUS_H

typedef enum serve_status {
    SERVE_OK = 0,
    SERVE_ERR_INVALID, /* a bad argument, name, label or input; nothing was done */
    SERVE_ERR_LIMIT,   /* a size limit would be passed */
    SERVE_ERR_NOMEM,   /* allocation failed */
    SERVE_ERR_FORMAT,  /* vsnprintf reported an encoding error */
    SERVE_ERR_BUFFER,  /* the output buffer is in error (strbuf_error() says which) */
    SERVE_ERR_FULL,    /* a bounded queue or store is full; retry later */
    SERVE_ERR_IO,      /* a file, database or socket failed */
} serve_status;

/* Static description of a status ("size limit reached"); never NULL. */
const char *serve_strerror(serve_status s);

#endif
