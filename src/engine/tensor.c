/* Tensor shape arithmetic, broadcasting and typed element access. */
#include "engine_impl.h"

#include <stdio.h>
#include <string.h>

int64_t eng_dims_count(const int64_t *dims, int ndim)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    return n;
}

int64_t eng_dims_count_checked(const int64_t *dims, int ndim)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] && n > MAX_TENSOR_BYTES / 8 / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

int64_t eng_tensor_count(const glint_tensor *t)
{
    return eng_dims_count(t->dims, t->ndim);
}

size_t eng_tensor_bytes(const glint_tensor *t)
{
    return (size_t)eng_tensor_count(t) * glint_dtype_size(t->dtype);
}

bool eng_broadcast_shape(const glint_tensor *a, const glint_tensor *b, int *ndim, int64_t *dims)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1)
            dims[i] = da;
        else if (da == 1)
            dims[i] = db;
        else
            return false;
    }
    *ndim = n;
    return true;
}

/* float -> int64 without undefined behaviour: NaN is 0, out of range saturates */
static int64_t f_to_i64(double v)
{
    if (!(v == v)) return 0;
    if (v >= 9.2e18) return INT64_MAX;
    if (v <= -9.2e18) return INT64_MIN;
    return (int64_t)v;
}

int64_t eng_tensor_get_i(const glint_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case GLINT_I64:
        return ((const int64_t *)t->data)[i];
    case GLINT_I32:
        return ((const int32_t *)t->data)[i];
    case GLINT_U8:
    case GLINT_BOOL:
        return ((const uint8_t *)t->data)[i];
    case GLINT_I8:
        return ((const int8_t *)t->data)[i];
    case GLINT_F32:
        return f_to_i64(((const float *)t->data)[i]);
    case GLINT_F64:
        return f_to_i64(((const double *)t->data)[i]);
    default:
        return 0;
    }
}

double eng_tensor_get_f(const glint_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case GLINT_F32:
        return ((const float *)t->data)[i];
    case GLINT_F64:
        return ((const double *)t->data)[i];
    default:
        return (double)eng_tensor_get_i(t, i);
    }
}

void eng_tensor_set_f(glint_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case GLINT_F32:
        ((float *)t->data)[i] = (float)v;
        break;
    case GLINT_F64:
        ((double *)t->data)[i] = v;
        break;
    case GLINT_BOOL:
        ((uint8_t *)t->data)[i] = v != 0;
        break;
    default:
        eng_tensor_set_i(t, i, f_to_i64(v));
        break;
    }
}

void eng_tensor_set_i(glint_tensor *t, int64_t i, int64_t v)
{
    switch (t->dtype) {
    case GLINT_I64:
        ((int64_t *)t->data)[i] = v;
        break;
    case GLINT_I32:
        ((int32_t *)t->data)[i] = (int32_t)(uint32_t)v;
        break;
    case GLINT_U8:
        ((uint8_t *)t->data)[i] = (uint8_t)v;
        break;
    case GLINT_BOOL:
        ((uint8_t *)t->data)[i] = v != 0;
        break;
    case GLINT_I8:
        ((int8_t *)t->data)[i] = (int8_t)v;
        break;
    case GLINT_F32:
        ((float *)t->data)[i] = (float)v;
        break;
    case GLINT_F64:
        ((double *)t->data)[i] = (double)v;
        break;
    default:
        break;
    }
}

const char *eng_dims_str(const int64_t *dims, int ndim, char *buf, size_t size)
{
    size_t len = 0;
    len += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (len < size) snprintf(buf + len, size - len, "]");
    return buf;
}
