/* Status codes, the per-thread error message, and data-type facts. */
#include "engine_impl.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *glint_last_error(void)
{
    return last_error;
}

glint_status eng_fail(glint_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *glint_strerror(glint_status s)
{
    switch (s) {
    case GLINT_OK:
        return "ok";
    case GLINT_ERR_IO:
        return "i/o error";
    case GLINT_ERR_PARSE:
        return "parse error";
    case GLINT_ERR_UNSUPPORTED:
        return "unsupported";
    case GLINT_ERR_INVALID:
        return "invalid model or argument";
    case GLINT_ERR_SHAPE:
        return "shape mismatch";
    case GLINT_ERR_NOMEM:
        return "out of memory or over a size limit";
    case GLINT_ERR_BACKEND:
        return "kernel library error";
    }
    return "unknown status";
}

const char *glint_dtype_name(glint_dtype t)
{
    switch (t) {
    case GLINT_F32:
        return "float32";
    case GLINT_U8:
        return "uint8";
    case GLINT_I8:
        return "int8";
    case GLINT_I32:
        return "int32";
    case GLINT_I64:
        return "int64";
    case GLINT_BOOL:
        return "bool";
    case GLINT_F64:
        return "float64";
    default:
        return "undefined";
    }
}

size_t glint_dtype_size(glint_dtype t)
{
    switch (t) {
    case GLINT_F32:
    case GLINT_I32:
        return 4;
    case GLINT_U8:
    case GLINT_I8:
    case GLINT_BOOL:
        return 1;
    case GLINT_I64:
    case GLINT_F64:
        return 8;
    default:
        return 0;
    }
}
