/* serve: KServe v2 inference request parser (jansson for the JSON header)
 * and response writer (numbers written straight into a bounded growable
 * buffer); see kserve.h for the protocol subset and the formats. */
#include "serve/kserve/kserve.h"
#include "serve/core/errmsg.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- datatypes ---- */

typedef struct dtype_entry {
    const char *name;
    glint_dtype dtype;
    size_t size;
} dtype_entry;

static const dtype_entry dtypes[] = {
    {"FP32", GLINT_F32, 4},  {"FP64", GLINT_F64, 8},     {"UINT8", GLINT_U8, 1},
    {"INT8", GLINT_I8, 1},   {"INT32", GLINT_I32, 4},    {"INT64", GLINT_I64, 8},
    {"BOOL", GLINT_BOOL, 1}, {"BYTES", KSERVE_BYTES, 0},
};
#define N_DTYPES (sizeof dtypes / sizeof *dtypes)

static const dtype_entry *dtype_find(glint_dtype t)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dtype == t) return &dtypes[i];
    return NULL;
}

const char *kserve_datatype_name(glint_dtype t)
{
    const dtype_entry *e = dtype_find(t);
    return e ? e->name : NULL;
}

glint_dtype kserve_datatype_parse(const char *name, size_t n)
{
    for (size_t i = 0; name && i < N_DTYPES; i++)
        if (strlen(dtypes[i].name) == n && memcmp(dtypes[i].name, name, n) == 0)
            return dtypes[i].dtype;
    return GLINT_DTYPE_UNDEFINED;
}

int kserve_bytes_next(const uint8_t **p, size_t *left, const uint8_t **elem, size_t *len)
{
    if (*left < 4) return -1;
    const uint8_t *q = *p;
    size_t n = (size_t)q[0] | (size_t)q[1] << 8 | (size_t)q[2] << 16 | (size_t)q[3] << 24;
    if (n > *left - 4) return -1;
    *elem = q + 4;
    *len = n;
    *p = q + 4 + n;
    *left -= 4 + n;
    return 0;
}

int kserve_bytes_check(const void *data, size_t size, size_t n)
{
    const uint8_t *p = data, *e;
    size_t left = size, len;
    for (size_t i = 0; i < n; i++)
        if (kserve_bytes_next(&p, &left, &e, &len)) return -1;
    return left ? -1 : 0;
}

/* ---- errors ---- */

/* A tensor name fit for a one-line message: at most 64 bytes, control
 * characters replaced by '?'. */
typedef struct msg_name {
    char s[68];
} msg_name;

static msg_name show(const char *name)
{
    msg_name m;
    size_t i = 0;
    for (; name && name[i] && i < 64; i++)
        m.s[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    if (name && name[i]) {
        memcpy(m.s + i, "...", 3);
        i += 3;
    }
    m.s[i] = '\0';
    return m;
}

/* ---- request: fields ---- */

/* Parse context: where messages go. */
typedef struct pctx {
    char *err;
    size_t err_size;
    size_t max_elements;
} pctx;

/* Optional member k of o: NULL when absent or null (Triton's clients send
 * null and empty values for what they leave unset). */
static const json_t *opt_get(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return v && !json_is_null(v) ? v : NULL;
}

/* Copies a JSON string field that must be 1..KSERVE_MAX_NAME bytes into a
 * malloc'ed string. `what` names the field in messages ("inputs[2].name"). */
static int copy_name(const pctx *c, const json_t *v, const char *what, char **out)
{
    if (!json_is_string(v))
        return errmsg_set(c->err, c->err_size, "%s is missing or not a string", what);
    size_t n = json_string_length(v);
    if (n == 0) return errmsg_set(c->err, c->err_size, "%s is empty", what);
    if (n > KSERVE_MAX_NAME)
        return errmsg_set(c->err, c->err_size, "%s is longer than %d bytes", what, KSERVE_MAX_NAME);
    if (memchr(json_string_value(v), '\0', n))
        return errmsg_set(c->err, c->err_size, "%s contains a NUL character", what);
    *out = malloc(n + 1);
    if (!*out) return errmsg_set(c->err, c->err_size, "out of memory");
    memcpy(*out, json_string_value(v), n + 1);
    return 0;
}

/* Reads "shape" into t->ndim/dims and t->elements, bounded by max_elements. */
static int parse_shape(const pctx *c, const json_t *shape, kserve_tensor *t)
{
    msg_name nm = show(t->name);
    if (!json_is_array(shape))
        return errmsg_set(c->err, c->err_size, "input '%s': shape is missing or not an array",
                          nm.s);
    size_t nd = json_array_size(shape);
    if (nd > GLINT_MAX_DIMS)
        return errmsg_set(c->err, c->err_size, "input '%s': shape has %zu dimensions, at most %d",
                          nm.s, nd, GLINT_MAX_DIMS);
    size_t elements = 1;
    for (size_t i = 0; i < nd; i++) {
        const json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d))
            return errmsg_set(c->err, c->err_size, "input '%s': shape[%zu] is not an integer", nm.s,
                              i);
        json_int_t v = json_integer_value(d);
        if (v < 0)
            return errmsg_set(c->err, c->err_size, "input '%s': shape[%zu] is negative (%lld)",
                              nm.s, i, (long long)v);
        if ((unsigned long long)v > c->max_elements)
            return errmsg_set(c->err, c->err_size,
                              "input '%s': shape[%zu] = %lld is over the limit of %zu elements",
                              nm.s, i, (long long)v, c->max_elements);
        t->dims[i] = v;
    }
    /* Each dim is <= max_elements, so a product over the limit is detected
     * one multiplication at a time; an empty axis makes the tensor empty. */
    for (size_t i = 0; i < nd; i++)
        if (t->dims[i] == 0) elements = 0;
    for (size_t i = 0; i < nd && elements > 0; i++) {
        size_t d = (size_t)t->dims[i];
        if (elements > c->max_elements / d)
            return errmsg_set(c->err, c->err_size, "input '%s': shape holds more than %zu elements",
                              nm.s, c->max_elements);
        elements *= d;
    }
    t->ndim = (int)nd;
    t->elements = elements;
    return 0;
}

/* ---- request: JSON data ---- */

/* Counts the scalars of a (possibly nested) array, descending at most
 * `depth` levels; stops counting past `limit`. -1 if nested too deep. */
static int count_leaves(const json_t *a, int depth, size_t limit, size_t *count)
{
    size_t n = json_array_size(a);
    for (size_t i = 0; i < n && *count <= limit; i++) {
        const json_t *v = json_array_get(a, i);
        if (json_is_array(v)) {
            if (depth <= 1 || count_leaves(v, depth - 1, limit, count) < 0) return -1;
        } else {
            (*count)++;
        }
    }
    return 0;
}

/* Why a JSON scalar does not fit the tensor's type. */
typedef enum conv_error {
    CONV_OK,
    CONV_NOT_BOOL,
    CONV_NOT_NUMBER,
    CONV_NOT_INTEGER,
    CONV_RANGE
} conv_error;

/* Converts one JSON scalar to element `idx` of dst (type t). */
static conv_error convert_one(glint_dtype t, const json_t *v, size_t idx, uint8_t *dst)
{
    if (t == GLINT_BOOL) {
        if (!json_is_boolean(v)) return CONV_NOT_BOOL;
        dst[idx] = json_is_true(v) ? 1 : 0;
        return CONV_OK;
    }
    if (t == GLINT_F32 || t == GLINT_F64) {
        if (!json_is_number(v)) return CONV_NOT_NUMBER;
        double d = json_number_value(v);
        if (t == GLINT_F64) {
            memcpy(dst + idx * 8, &d, 8);
            return CONV_OK;
        }
        /* Values below 2^128 - 2^103 round to a finite float. */
        if (!(fabs(d) < 0x1.ffffffp127)) return CONV_RANGE;
        float f = (float)d;
        memcpy(dst + idx * 4, &f, 4);
        return CONV_OK;
    }
    if (!json_is_integer(v)) return CONV_NOT_INTEGER;
    long long x = json_integer_value(v);
    switch (t) {
    case GLINT_U8:
        if (x < 0 || x > UINT8_MAX) return CONV_RANGE;
        dst[idx] = (uint8_t)x;
        return CONV_OK;
    case GLINT_I8:
        if (x < INT8_MIN || x > INT8_MAX) return CONV_RANGE;
        dst[idx] = (uint8_t)(int8_t)x;
        return CONV_OK;
    case GLINT_I32: {
        if (x < INT32_MIN || x > INT32_MAX) return CONV_RANGE;
        int32_t y = (int32_t)x;
        memcpy(dst + idx * 4, &y, 4);
        return CONV_OK;
    }
    default: {
        int64_t y = x;
        memcpy(dst + idx * 8, &y, 8);
        return CONV_OK;
    }
    }
}

/* The message for element idx (JSON value v) of t failing with e. */
static int convert_fail(const pctx *c, const kserve_tensor *t, const json_t *v, size_t idx,
                        conv_error e)
{
    msg_name nm = show(t->name);
    const char *tn = kserve_datatype_name(t->dtype);
    switch (e) {
    case CONV_NOT_BOOL:
        return errmsg_set(c->err, c->err_size, "input '%s': element %zu is not true or false", nm.s,
                          idx);
    case CONV_NOT_NUMBER:
        return errmsg_set(c->err, c->err_size, "input '%s': element %zu is not a number", nm.s,
                          idx);
    case CONV_NOT_INTEGER:
        return errmsg_set(c->err, c->err_size,
                          "input '%s': element %zu is not an integer (%s data)", nm.s, idx, tn);
    default:
        if (json_is_integer(v))
            return errmsg_set(c->err, c->err_size,
                              "input '%s': element %zu (%lld) is out of range for %s", nm.s, idx,
                              (long long)json_integer_value(v), tn);
        return errmsg_set(c->err, c->err_size,
                          "input '%s': element %zu (%g) is out of range for %s", nm.s, idx,
                          json_number_value(v), tn);
    }
}

/* Converts the scalars of a nested array in row-major (depth-first) order;
 * *idx counts the elements written. The shape was checked by count_leaves. */
static int convert_all(const pctx *c, const kserve_tensor *t, const json_t *a, size_t *idx,
                       uint8_t *dst)
{
    size_t n = json_array_size(a);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (json_is_array(v)) {
            if (convert_all(c, t, v, idx, dst) < 0) return -1;
            continue;
        }
        conv_error e = convert_one(t->dtype, v, *idx, dst);
        if (e != CONV_OK) return convert_fail(c, t, v, *idx, e);
        (*idx)++;
    }
    return 0;
}

/* Decodes "data" (flat, or nested up to ndim levels) into t->owned. */
static int parse_data(const pctx *c, const json_t *data, kserve_tensor *t, size_t esize)
{
    msg_name nm = show(t->name);
    if (!json_is_array(data))
        return errmsg_set(c->err, c->err_size, "input '%s': data is not an array", nm.s);
    size_t count = 0;
    int depth = t->ndim > 1 ? t->ndim : 1;
    if (count_leaves(data, depth, t->elements, &count) < 0)
        return errmsg_set(c->err, c->err_size,
                          "input '%s': data is nested deeper than its %d-d shape", nm.s, t->ndim);
    if (count != t->elements) {
        if (count > t->elements)
            return errmsg_set(c->err, c->err_size,
                              "input '%s': data has more than the %zu elements its shape holds",
                              nm.s, t->elements);
        return errmsg_set(c->err, c->err_size,
                          "input '%s': data has %zu elements, its shape holds %zu", nm.s, count,
                          t->elements);
    }
    t->size = t->elements * esize;
    if (t->size == 0) return 0;
    t->owned = malloc(t->size);
    if (!t->owned) return errmsg_set(c->err, c->err_size, "out of memory for input '%s'", nm.s);
    size_t idx = 0;
    if (convert_all(c, t, data, &idx, t->owned) < 0) return -1;
    t->data = t->owned;
    return 0;
}

/* Serializes BYTES "data" (strings, flat or nested) into t->owned. */
static int parse_bytes(const pctx *c, const json_t *data, kserve_tensor *t)
{
    msg_name nm = show(t->name);
    size_t count = 0, size = 0;
    int depth = t->ndim > 1 ? t->ndim : 1;
    if (!json_is_array(data) || count_leaves(data, depth, t->elements, &count) < 0 ||
        count != t->elements)
        return errmsg_set(c->err, c->err_size,
                          "input '%s': data must be %zu strings (its shape), nested at most %d "
                          "deep",
                          nm.s, t->elements, depth);
    /* depth-first, as count_leaves walked: a stack of (array, next index) */
    const json_t *stack[GLINT_MAX_DIMS + 1];
    size_t at[GLINT_MAX_DIMS + 1];
    for (int pass = 0; pass < 2; pass++) {
        int top = 0;
        stack[0] = data;
        at[0] = 0;
        size_t off = 0;
        while (top >= 0) {
            if (at[top] == json_array_size(stack[top])) {
                top--;
                continue;
            }
            const json_t *v = json_array_get(stack[top], at[top]++);
            if (json_is_array(v)) {
                stack[++top] = v;
                at[top] = 0;
                continue;
            }
            if (!json_is_string(v))
                return errmsg_set(c->err, c->err_size, "input '%s': BYTES data must be strings",
                                  nm.s);
            size_t n = json_string_length(v);
            if (pass) {
                uint8_t *o = (uint8_t *)t->owned + off;
                o[0] = (uint8_t)n;
                o[1] = (uint8_t)(n >> 8);
                o[2] = (uint8_t)(n >> 16);
                o[3] = (uint8_t)(n >> 24);
                memcpy(o + 4, json_string_value(v), n);
            }
            off += 4 + n;
        }
        if (!pass) {
            size = off;
            if (!(t->owned = malloc(size ? size : 1)))
                return errmsg_set(c->err, c->err_size, "out of memory for input '%s'", nm.s);
        }
    }
    t->data = t->owned;
    t->size = size;
    return 0;
}

/* Reads an input's "parameters": *binary_size is set (>= 0) when it has
 * binary_data_size, else -1. */
static int parse_input_params(const pctx *c, const json_t *params, const kserve_tensor *t,
                              long long *binary_size)
{
    msg_name nm = show(t->name);
    *binary_size = -1;
    if (!params) return 0;
    if (!json_is_object(params))
        return errmsg_set(c->err, c->err_size, "input '%s': parameters is not an object", nm.s);
    if (opt_get(params, "shared_memory_region"))
        return errmsg_set(c->err, c->err_size, "input '%s': shared memory inputs are not supported",
                          nm.s);
    const json_t *bs = opt_get(params, "binary_data_size");
    if (!bs) return 0;
    if (!json_is_integer(bs) || json_integer_value(bs) < 0)
        return errmsg_set(c->err, c->err_size,
                          "input '%s': binary_data_size is not a non-negative integer", nm.s);
    *binary_size = json_integer_value(bs);
    return 0;
}

/* Parses inputs[i] into r->inputs[i] (name first, so that every later
 * message can name the input). */
static int parse_input(const pctx *c, const json_t *in, size_t i, long long header_len,
                       kserve_request *r)
{
    kserve_tensor *t = &r->inputs[i];
    char what[48];
    snprintf(what, sizeof what, "inputs[%zu].name", i);
    if (!json_is_object(in))
        return errmsg_set(c->err, c->err_size, "inputs[%zu] is not an object", i);
    if (copy_name(c, json_object_get(in, "name"), what, &t->name) < 0) return -1;
    msg_name nm = show(t->name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(r->inputs[j].name, t->name) == 0)
            return errmsg_set(c->err, c->err_size, "input '%s' appears twice", nm.s);

    const json_t *dt = json_object_get(in, "datatype");
    if (!json_is_string(dt))
        return errmsg_set(c->err, c->err_size, "input '%s': datatype is missing or not a string",
                          nm.s);
    t->dtype = kserve_datatype_parse(json_string_value(dt), json_string_length(dt));
    if (t->dtype == GLINT_DTYPE_UNDEFINED)
        return errmsg_set(c->err, c->err_size, "datatype %.32s of input '%s' is not supported",
                          json_string_value(dt), nm.s);
    size_t esize = dtype_find(t->dtype)->size;
    if (parse_shape(c, json_object_get(in, "shape"), t) < 0) return -1;

    long long binary_size;
    if (parse_input_params(c, opt_get(in, "parameters"), t, &binary_size) < 0) return -1;
    const json_t *data = json_object_get(in, "data");
    if (binary_size >= 0) {
        if (data)
            return errmsg_set(c->err, c->err_size, "input '%s' has both data and binary_data_size",
                              nm.s);
        if (header_len < 0)
            return errmsg_set(c->err, c->err_size,
                              "input '%s' has binary_data_size but the request has no "
                              "Inference-Header-Content-Length",
                              nm.s);
        if (t->dtype == KSERVE_BYTES) { /* its elements are checked once placed */
            t->binary = 1;
            t->size = (size_t)binary_size;
            return 0;
        }
        if ((unsigned long long)binary_size != t->elements * esize)
            return errmsg_set(
                c->err, c->err_size,
                "input '%s': binary_data_size is %lld bytes, shape and datatype need %zu", nm.s,
                binary_size, t->elements * esize);
        t->binary = 1;
        t->size = t->elements * esize;
        return 0;
    }
    if (!data)
        return errmsg_set(c->err, c->err_size, "input '%s' has neither data nor binary_data_size",
                          nm.s);
    if (t->dtype == KSERVE_BYTES) return parse_bytes(c, data, t);
    return parse_data(c, data, t, esize);
}

/* Points the binary inputs at their bytes after the JSON header; they must
 * fill the rest of the body exactly. */
static int place_binary(const pctx *c, const uint8_t *body, size_t len, size_t header_len,
                        kserve_request *r)
{
    size_t off = header_len, avail = len - header_len;
    for (int i = 0; i < r->n_inputs; i++) {
        kserve_tensor *t = &r->inputs[i];
        if (!t->binary) continue;
        if (t->size > len - off)
            return errmsg_set(c->err, c->err_size,
                              "input '%s' needs %zu binary bytes at offset %zu, the body has %zu "
                              "bytes after the JSON header",
                              show(t->name).s, t->size, off - header_len, avail);
        t->data = t->size ? body + off : NULL;
        off += t->size;
        if (t->dtype == KSERVE_BYTES && kserve_bytes_check(t->data, t->size, t->elements))
            return errmsg_set(c->err, c->err_size,
                              "input '%s': its %zu binary bytes are not %zu BYTES elements (each "
                              "a 4-byte little-endian length, then its bytes)",
                              show(t->name).s, t->size, t->elements);
    }
    if (off != len)
        return errmsg_set(
            c->err, c->err_size,
            "binary input sizes add up to %zu bytes, the body has %zu bytes after the "
            "JSON header",
            off - header_len, avail);
    return 0;
}

/* Reads the request "parameters". */
static int parse_request_params(const pctx *c, const json_t *params, kserve_request *r)
{
    if (!params) return 0;
    if (!json_is_object(params))
        return errmsg_set(c->err, c->err_size, "request parameters is not an object");
    const json_t *b = opt_get(params, "binary_data_output");
    if (b) {
        if (!json_is_boolean(b))
            return errmsg_set(c->err, c->err_size,
                              "parameters.binary_data_output is not a boolean");
        r->binary_output_default = json_is_true(b);
    }
    const json_t *to = opt_get(params, "timeout");
    if (to) {
        if (!json_is_integer(to) || json_integer_value(to) < 0)
            return errmsg_set(c->err, c->err_size,
                              "parameters.timeout is not a non-negative integer (microseconds)");
        r->timeout_us = json_integer_value(to);
        if (r->timeout_us > KSERVE_MAX_TIMEOUT_US) r->timeout_us = KSERVE_MAX_TIMEOUT_US;
    }
    return 0;
}

/* Parses the optional "outputs" array. */
static int parse_outputs(const pctx *c, const json_t *outs, kserve_request *r)
{
    if (!outs) return 0;
    if (!json_is_array(outs)) return errmsg_set(c->err, c->err_size, "outputs is not an array");
    size_t n = json_array_size(outs);
    if (n > KSERVE_MAX_TENSORS)
        return errmsg_set(c->err, c->err_size, "request names %zu outputs, at most %d", n,
                          KSERVE_MAX_TENSORS);
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(outs, i);
        kserve_requested_output *ro = &r->outputs[i];
        char what[48];
        snprintf(what, sizeof what, "outputs[%zu].name", i);
        if (!json_is_object(o))
            return errmsg_set(c->err, c->err_size, "outputs[%zu] is not an object", i);
        if (copy_name(c, json_object_get(o, "name"), what, &ro->name) < 0) return -1;
        r->n_outputs = (int)i + 1;
        msg_name nm = show(ro->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->outputs[j].name, ro->name) == 0)
                return errmsg_set(c->err, c->err_size, "output '%s' is requested twice", nm.s);
        ro->binary = r->binary_output_default;
        const json_t *p = opt_get(o, "parameters");
        if (!p) continue;
        if (!json_is_object(p))
            return errmsg_set(c->err, c->err_size, "output '%s': parameters is not an object",
                              nm.s);
        const json_t *cls = opt_get(p, "classification"); /* 0: none (Triton's meaning) */
        if (cls && !(json_is_integer(cls) && json_integer_value(cls) == 0))
            return errmsg_set(c->err, c->err_size,
                              "output '%s': classification outputs are not supported", nm.s);
        if (opt_get(p, "shared_memory_region"))
            return errmsg_set(c->err, c->err_size,
                              "output '%s': shared memory outputs are not supported", nm.s);
        const json_t *b = opt_get(p, "binary_data");
        if (b) {
            if (!json_is_boolean(b))
                return errmsg_set(c->err, c->err_size, "output '%s': binary_data is not a boolean",
                                  nm.s);
            ro->binary = json_is_true(b);
        }
    }
    return 0;
}

/* Parses the whole JSON object (already loaded). */
static int parse_root(const pctx *c, const json_t *root, long long header_len, kserve_request *r)
{
    if (!json_is_object(root))
        return errmsg_set(c->err, c->err_size, "request is not a JSON object");
    /* the id is optional and "" means none, as Triton takes it (its
     * clients send "id": "" when the caller gave none) */
    const json_t *id = opt_get(root, "id");
    if (id && !(json_is_string(id) && json_string_length(id) == 0) &&
        copy_name(c, id, "id", &r->id) < 0)
        return -1;
    if (parse_request_params(c, opt_get(root, "parameters"), r) < 0) return -1;

    const json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs))
        return errmsg_set(c->err, c->err_size, "inputs is missing or not an array");
    size_t n = json_array_size(inputs);
    if (n == 0) return errmsg_set(c->err, c->err_size, "inputs is empty");
    if (n > KSERVE_MAX_TENSORS)
        return errmsg_set(c->err, c->err_size, "request has %zu inputs, at most %d", n,
                          KSERVE_MAX_TENSORS);
    for (size_t i = 0; i < n; i++) {
        r->n_inputs = (int)i + 1; /* so that dispose frees a half-parsed input */
        if (parse_input(c, json_array_get(inputs, i), i, header_len, r) < 0) return -1;
    }
    return parse_outputs(c, opt_get(root, "outputs"), r);
}

int kserve_parse_request(const uint8_t *body, size_t len, long long header_len, size_t max_elements,
                         kserve_request *out, char *err, size_t err_size)
{
    if (!out) return errmsg_set(err, err_size, "kserve_parse_request: bad arguments");
    memset(out, 0, sizeof *out);
    if (!body && len > 0) return errmsg_set(err, err_size, "kserve_parse_request: bad arguments");
    pctx c = {err, err_size, max_elements ? max_elements : KSERVE_DEFAULT_MAX_ELEMENTS};

    size_t json_len = len;
    if (header_len >= 0) {
        if ((unsigned long long)header_len > len)
            return errmsg_set(
                err, err_size,
                "Inference-Header-Content-Length %lld is larger than the body (%zu bytes)",
                header_len, len);
        json_len = (size_t)header_len;
    }
    if (json_len == 0) return errmsg_set(err, err_size, "request has no JSON header");
    json_error_t je;
    json_t *root = json_loadb((const char *)body, json_len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return errmsg_set(err, err_size, "request JSON: %s (line %d, column %d)", je.text, je.line,
                          je.column);
    int rc = parse_root(&c, root, header_len, out);
    json_decref(root);
    if (rc == 0 && header_len >= 0) rc = place_binary(&c, body, len, (size_t)header_len, out);
    if (rc < 0) kserve_request_dispose(out);
    return rc;
}

void kserve_request_dispose(kserve_request *r)
{
    if (!r) return;
    free(r->id);
    for (int i = 0; i < r->n_inputs && i < KSERVE_MAX_TENSORS; i++) {
        free(r->inputs[i].name);
        free(r->inputs[i].owned);
    }
    for (int i = 0; i < r->n_outputs && i < KSERVE_MAX_TENSORS; i++)
        free(r->outputs[i].name);
    memset(r, 0, sizeof *r);
}

int kserve_request_find_input(const kserve_request *r, const char *name)
{
    for (int i = 0; r && name && i < r->n_inputs; i++)
        if (strcmp(r->inputs[i].name, name) == 0) return i;
    return -1;
}

/* ---- response: bounded growable buffer ---- */

typedef struct dbuf {
    char *p;
    size_t len, cap;
    int failed; /* out of memory or over KSERVE_MAX_RESPONSE_BYTES; later writes are no-ops */
} dbuf;

/* Makes room for `extra` more bytes. 0, or -1 (and b->failed). */
static int db_reserve(dbuf *b, size_t extra)
{
    if (b->failed) return -1;
    if (extra <= b->cap - b->len) return 0;
    if (extra > KSERVE_MAX_RESPONSE_BYTES - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra, cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > KSERVE_MAX_RESPONSE_BYTES / 2 ? KSERVE_MAX_RESPONSE_BYTES : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void db_put(dbuf *b, const void *s, size_t n)
{
    if (n == 0 || db_reserve(b, n) < 0) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void db_lit(dbuf *b, const char *s)
{
    db_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one
 * (overlong forms, surrogates and code points over U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Writes s as a JSON string literal (quotes included). */
static void db_json_text(dbuf *b, const char *str, size_t n);

static void db_json_string(dbuf *b, const char *str)
{
    db_json_text(b, str, strlen(str));
}

/* n bytes of str as a JSON string (invalid UTF-8 bytes become U+FFFD). */
static void db_json_text(dbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n > (KSERVE_MAX_RESPONSE_BYTES - 2) / 6 || db_reserve(b, 6 * n + 2) < 0) {
        b->failed = 1;
        return;
    }
    char *o = b->p + b->len;
    static const char hex[] = "0123456789abcdef";
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
            i++;
        } else {
            size_t l = utf8_seq(s + i, n - i);
            if (l == 0) {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                i++;
            } else {
                memcpy(o, s + i, l);
                o += l;
                i += l;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

/* ---- response: numbers ---- */

/* Decimal digits of v at o; returns the length. */
static size_t fmt_u64(char *o, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        o[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_i64(char *o, int64_t v)
{
    if (v >= 0) return fmt_u64(o, (uint64_t)v);
    o[0] = '-';
    return 1 + fmt_u64(o + 1, (uint64_t)0 - (uint64_t)v);
}

/* a * 10^k for a finite double a, within a few ulps (each power of ten up
 * to 1e22 is exact; larger |k| take two or three roundings). */
static double scale10(double a, int k)
{
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    for (; k > 22; k -= 22)
        a *= 1e22;
    for (; k < -22; k += 22)
        a /= 1e22;
    return k >= 0 ? a * p10[k] : a / p10[-k];
}

/* Nine significant digits of a (> 0, a float's value): a ~= dig * 10^(x-8)
 * with dig[0] != '0'. The scaling is exact to ~1e-15, so the digits are the
 * correctly rounded ones except, at worst, one unit off in the ninth digit
 * for values within 1e-15 of a rounding tie; that is 100 times closer than
 * half a float ulp, so the text still reads back as the same float. */
static void digits9(double a, char dig[9], int *x)
{
    int e2;
    frexp(a, &e2);                                      /* a in [2^(e2-1), 2^e2) */
    int k = (int)floor((e2 - 1) * 0.30102999566398120); /* floor(log10 a) or one less */
    uint64_t n = 0;
    for (int tries = 0; tries < 3; tries++) {
        double v = scale10(a, 8 - k);
        if (v >= 999999999.5) {
            k++;
            continue;
        }
        if (v < 99999999.5) {
            k--;
            continue;
        }
        n = (uint64_t)(v + 0.5);
        break;
    }
    for (int i = 8; i >= 0; i--, n /= 10)
        dig[i] = (char)('0' + n % 10);
    *x = k;
}

/* 1 if the decimal text s reads back as f both through a double (as
 * Python and JavaScript clients parse it) and directly (strtof). The double
 * path is checked; the direct one can only differ when the double lands
 * exactly on the midpoint between two floats, which is refused. */
static int reads_back(const char *s, float f)
{
    double m = strtod(s, NULL);
    if (!(fabs(m) < 0x1.ffffffp127) || (float)m != f) return 0;
    if (m == (double)f) return 1;
    float g = nextafterf(f, m > (double)f ? INFINITY : -INFINITY);
    return !isfinite(g) || m != ((double)f + (double)g) / 2;
}

/* Writes sign, digits dig[0, n) (n >= 1, no trailing zeros) and decimal
 * exponent x (value = d.ddd * 10^x) in plain notation ("0.00125",
 * "16779950") or exponent notation ("1.25e-07"), whichever is shorter
 * (plain on a tie); returns the length. */
static size_t fmt_digits(char *o, int neg, const char *dig, int n, int x)
{
    size_t k = 0;
    if (neg) o[k++] = '-';
    int ax = x < 0 ? -x : x;
    int exp_len = n + (n > 1) + 2 + (ax >= 100 ? 3 : 2);
    int plain_len = x < 0 ? 2 + (-x - 1) + n : (n > x + 1 ? n + 1 : x + 1);
    if (plain_len > exp_len) {
        o[k++] = dig[0];
        if (n > 1) {
            o[k++] = '.';
            for (int i = 1; i < n; i++)
                o[k++] = dig[i];
        }
        o[k++] = 'e';
        o[k++] = x < 0 ? '-' : '+';
        if (ax >= 100) o[k++] = (char)('0' + ax / 100);
        o[k++] = (char)('0' + ax / 10 % 10);
        o[k++] = (char)('0' + ax % 10);
        return k;
    }
    if (x < 0) {
        o[k++] = '0';
        o[k++] = '.';
        for (int i = 0; i < -x - 1; i++)
            o[k++] = '0';
        for (int i = 0; i < n; i++)
            o[k++] = dig[i];
        return k;
    }
    for (int i = 0; i <= x; i++)
        o[k++] = i < n ? dig[i] : '0';
    if (n > x + 1) {
        o[k++] = '.';
        for (int i = x + 1; i < n; i++)
            o[k++] = dig[i];
    }
    return k;
}

/* The shortest of 7, 8 or 9 significant digits that reads back as f (see
 * reads_back; 9 always do), in the shorter of plain and exponent notation. The 9 digits come from
 * digits9 (no printf: it costs ~300 ns a number); 7 and 8 are those rounded, then checked with
 * strtod. Integral values of magnitude below 2^24 take the integer path; -0 is "-0.0" (a JSON "-0"
 * would read as the integer 0). NaN and +-Inf have no JSON form: null. */
static size_t fmt_f32(char *o, float f)
{
    if (!isfinite(f)) {
        memcpy(o, "null", 4);
        return 4;
    }
    if (f == 0 && signbit(f)) {
        memcpy(o, "-0.0", 4);
        return 4;
    }
    if (fabsf(f) < 16777216.0f && f == (float)(int32_t)f) return fmt_i64(o, (int32_t)f);

    int neg = f < 0, x;
    char nine[9];
    digits9(fabs((double)f), nine, &x);
    for (int prec = 7; prec <= 9; prec++) {
        char dig[10];
        int xx = x, n = prec;
        memcpy(dig, nine, (size_t)prec);
        if (prec < 9 && nine[prec] >= '5') { /* round half up, with carry */
            int i = prec - 1;
            while (i >= 0 && dig[i] == '9')
                dig[i--] = '0';
            if (i >= 0) {
                dig[i]++;
            } else {
                dig[0] = '1'; /* 9.99..e+x -> 1.00..e+(x+1) */
                xx++;
            }
        }
        while (n > 1 && dig[n - 1] == '0')
            n--;
        size_t k = fmt_digits(o, neg, dig, n, xx);
        if (prec == 9) return k;
        o[k] = '\0';
        if (reads_back(o, f)) return k;
    }
    return 0; /* not reached */
}

static size_t fmt_f64(char *o, double d)
{
    if (!isfinite(d)) {
        memcpy(o, "null", 4);
        return 4;
    }
    if (d == 0 && signbit(d)) {
        memcpy(o, "-0.0", 4);
        return 4;
    }
    if (fabs(d) < 2147483648.0 && d == (double)(int32_t)d) return fmt_i64(o, (int32_t)d);
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(o, 32, "%.*g", prec, d);
        if (prec == 17 || strtod(o, NULL) == d) break;
    }
    return (size_t)n;
}

/* Formats element i of data (dtype t) at o (room for 32 bytes). */
static size_t fmt_elem(char *o, glint_dtype t, const uint8_t *data, size_t i)
{
    switch (t) {
    case GLINT_F32: {
        float f;
        memcpy(&f, data + i * 4, 4);
        return fmt_f32(o, f);
    }
    case GLINT_F64: {
        double d;
        memcpy(&d, data + i * 8, 8);
        return fmt_f64(o, d);
    }
    case GLINT_U8:
        return fmt_u64(o, data[i]);
    case GLINT_I8:
        return fmt_i64(o, (int8_t)data[i]);
    case GLINT_I32: {
        int32_t v;
        memcpy(&v, data + i * 4, 4);
        return fmt_i64(o, v);
    }
    case GLINT_I64: {
        int64_t v;
        memcpy(&v, data + i * 8, 8);
        return fmt_i64(o, v);
    }
    default: /* GLINT_BOOL */
        if (data[i]) {
            memcpy(o, "true", 4);
            return 4;
        }
        memcpy(o, "false", 5);
        return 5;
    }
}

#define MAX_NUMBER_TEXT 40 /* a comma, then snprintf(o, 32, ...) */

static void db_numbers(dbuf *b, glint_dtype t, const void *data, size_t count)
{
    db_lit(b, "[");
    for (size_t i = 0; i < count; i++) {
        if (db_reserve(b, MAX_NUMBER_TEXT) < 0) return;
        char *o = b->p + b->len;
        size_t n = 0;
        if (i) o[n++] = ',';
        n += fmt_elem(o + n, t, data, i);
        b->len += n;
    }
    db_lit(b, "]");
}

/* ---- response: structure ---- */

/* Element count of an output, or -1 if its description is invalid or its
 * bytes would exceed the response limit. */
static int output_count(const kserve_output *o, size_t *count)
{
    const dtype_entry *e = dtype_find(o->dtype);
    if (!o->name || !e || o->ndim < 0 || o->ndim > GLINT_MAX_DIMS || (o->ndim > 0 && !o->dims))
        return -1;
    size_t n = 1;
    for (int i = 0; i < o->ndim; i++)
        if (o->dims[i] < 0) return -1;
    for (int i = 0; i < o->ndim; i++)
        if (o->dims[i] == 0) n = 0;
    size_t esize = e->size ? e->size : 1;
    for (int i = 0; i < o->ndim && n > 0; i++) {
        if ((uint64_t)o->dims[i] > KSERVE_MAX_RESPONSE_BYTES / esize / n) return -1;
        n *= (size_t)o->dims[i];
    }
    if (n > 0 && !o->data) return -1;
    if (o->dtype == KSERVE_BYTES &&
        (o->bytes > KSERVE_MAX_RESPONSE_BYTES || kserve_bytes_check(o->data, o->bytes, n)))
        return -1;
    *count = n;
    return 0;
}

/* The bytes of an output's data. */
static size_t output_bytes(const kserve_output *o, size_t count)
{
    return o->dtype == KSERVE_BYTES ? o->bytes : count * dtype_find(o->dtype)->size;
}

static void db_output(dbuf *b, const kserve_output *o, size_t count)
{
    char num[24];
    db_lit(b, "{\"name\":");
    db_json_string(b, o->name);
    db_lit(b, ",\"datatype\":\"");
    db_lit(b, kserve_datatype_name(o->dtype));
    db_lit(b, "\",\"shape\":[");
    for (int i = 0; i < o->ndim; i++) {
        if (i) db_lit(b, ",");
        db_put(b, num, fmt_i64(num, o->dims[i]));
    }
    db_lit(b, "],");
    if (o->binary) {
        db_lit(b, "\"parameters\":{\"binary_data_size\":");
        db_put(b, num, fmt_u64(num, output_bytes(o, count)));
        db_lit(b, "}}");
    } else if (o->dtype == KSERVE_BYTES) {
        db_lit(b, "\"data\":[");
        const uint8_t *p = o->data, *e;
        size_t left = o->bytes, len;
        for (size_t i = 0; i < count && !kserve_bytes_next(&p, &left, &e, &len); i++) {
            if (i) db_lit(b, ",");
            db_json_text(b, (const char *)e, len);
        }
        db_lit(b, "]}");
    } else {
        db_lit(b, "\"data\":");
        db_numbers(b, o->dtype, o->data, count);
        db_lit(b, "}");
    }
}

int kserve_build_response(const char *model, const char *version, const char *id,
                          const kserve_output *outs, int n, char **body, size_t *len,
                          size_t *header_len)
{
    if (body) *body = NULL;
    if (len) *len = 0;
    if (header_len) *header_len = 0;
    if (!model || !body || !len || !header_len || n < 0 || (n > 0 && !outs)) return -1;
    dbuf b = {0};
    size_t counts_stack[KSERVE_MAX_TENSORS], *counts = counts_stack;
    if (n > KSERVE_MAX_TENSORS && !(counts = malloc((size_t)n * sizeof *counts))) return -1;
    int any_binary = 0, rc = -1;
    for (int i = 0; i < n; i++) {
        if (output_count(&outs[i], &counts[i]) < 0) goto done;
        any_binary |= outs[i].binary != 0;
    }

    db_lit(&b, "{\"model_name\":");
    db_json_string(&b, model);
    if (version) {
        db_lit(&b, ",\"model_version\":");
        db_json_string(&b, version);
    }
    if (id) {
        db_lit(&b, ",\"id\":");
        db_json_string(&b, id);
    }
    db_lit(&b, ",\"outputs\":[");
    for (int i = 0; i < n; i++) {
        if (i) db_lit(&b, ",");
        db_output(&b, &outs[i], counts[i]);
    }
    db_lit(&b, "]}");
    size_t json_len = b.len;
    for (int i = 0; i < n; i++)
        if (outs[i].binary) db_put(&b, outs[i].data, output_bytes(&outs[i], counts[i]));
    if (b.failed) {
        free(b.p);
        goto done;
    }
    *body = b.p;
    *len = b.len;
    *header_len = any_binary ? json_len : 0;
    rc = 0;
done:
    if (counts != counts_stack) free(counts);
    return rc;
}
