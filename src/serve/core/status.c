/* serve_status descriptions (see status.h). */
#include "serve/core/status.h"

const char *serve_strerror(serve_status s)
{
    switch (s) {
    case SERVE_OK:
        return "ok";
    case SERVE_ERR_INVALID:
        return "invalid argument";
    case SERVE_ERR_LIMIT:
        return "size limit reached";
    case SERVE_ERR_NOMEM:
        return "out of memory";
    case SERVE_ERR_FORMAT:
        return "format error";
    case SERVE_ERR_BUFFER:
        return "output buffer error";
    case SERVE_ERR_FULL:
        return "full";
    case SERVE_ERR_IO:
        return "I/O error";
    }
    return "unknown status";
}
