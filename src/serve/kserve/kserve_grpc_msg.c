/* ModelInferRequest messages as kserve_requests (kserve_grpc_msg.h). */
#include "serve/kserve/kserve_grpc_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a varint at *p (< end): 0, or -1 if malformed. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

int kserve_grpc_peek_model(const uint8_t *msg, size_t len, char *name, size_t ncap, char *version,
                           size_t vcap)
{
    const uint8_t *p = msg, *end = msg + len;
    name[0] = version[0] = 0;
    while (p < end) {
        uint64_t key, n;
        if (varint(&p, end, &key)) return -1;
        switch (key & 7) {
        case 0:
            if (varint(&p, end, &n)) return -1;
            break;
        case 1:
            if (end - p < 8) return -1;
            p += 8;
            break;
        case 5:
            if (end - p < 4) return -1;
            p += 4;
            break;
        case 2:
            if (varint(&p, end, &n) || n > (uint64_t)(end - p)) return -1;
            if (key >> 3 == 1 || key >> 3 == 2) {
                char *dst = key >> 3 == 1 ? name : version;
                size_t cap = key >> 3 == 1 ? ncap : vcap;
                size_t k = n < cap - 1 ? (size_t)n : cap - 1;
                memcpy(dst, p, k);
                dst[k] = 0;
            }
            p += n;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* The request parameter called key, or NULL. */
static const Inference__InferParameter *request_param(const Inference__ModelInferRequest *q,
                                                      const char *key)
{
    for (size_t i = 0; i < q->n_parameters; i++)
        if (!strcmp(q->parameters[i]->key, key)) return q->parameters[i]->value;
    return NULL;
}

/* The requested output's parameter called key, or NULL. */
static const Inference__InferParameter *
output_param(const Inference__ModelInferRequest__InferRequestedOutputTensor *o, const char *key)
{
    for (size_t i = 0; i < o->n_parameters; i++)
        if (!strcmp(o->parameters[i]->key, key)) return o->parameters[i]->value;
    return NULL;
}

/* BYTES contents (bytes_contents) of input t, serialized into t->owned. */
static int bytes_contents(const Inference__InferTensorContents *ct, kserve_tensor *t, char *err,
                          size_t cap)
{
    size_t n = ct ? ct->n_bytes_contents : 0, size = 0;
    if (n != t->elements) {
        snprintf(err, cap, "input '%s' has %zu values in its contents, its shape holds %zu",
                 t->name, n, t->elements);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        size += 4 + ct->bytes_contents[i].len;
    uint8_t *o = malloc(size + 1);
    if (!o) {
        snprintf(err, cap, "out of memory for input '%s'", t->name);
        return -1;
    }
    t->owned = o;
    t->data = o;
    t->size = size;
    for (size_t i = 0; i < n; i++) {
        size_t len = ct->bytes_contents[i].len;
        o[0] = (uint8_t)len;
        o[1] = (uint8_t)(len >> 8);
        o[2] = (uint8_t)(len >> 16);
        o[3] = (uint8_t)(len >> 24);
        memcpy(o + 4, ct->bytes_contents[i].data, len);
        o += 4 + len;
    }
    return 0;
}

/* Typed contents of input t (dtype and elements set) into t->data. 0 or -1
 * with err. */
static int typed_contents(const Inference__InferTensorContents *ct, kserve_tensor *t, char *err,
                          size_t cap)
{
    size_t n = 0;
    const void *src = NULL;
    if (t->dtype == KSERVE_BYTES) return bytes_contents(ct, t, err, cap);
    switch (t->dtype) {
    case GLINT_F32:
        n = ct ? ct->n_fp32_contents : 0, src = ct ? ct->fp32_contents : NULL;
        break;
    case GLINT_F64:
        n = ct ? ct->n_fp64_contents : 0, src = ct ? ct->fp64_contents : NULL;
        break;
    case GLINT_I64:
        n = ct ? ct->n_int64_contents : 0, src = ct ? ct->int64_contents : NULL;
        break;
    case GLINT_I32:
    case GLINT_I8:
        n = ct ? ct->n_int_contents : 0, src = ct ? ct->int_contents : NULL;
        break;
    case GLINT_U8:
        n = ct ? ct->n_uint_contents : 0, src = ct ? ct->uint_contents : NULL;
        break;
    case GLINT_BOOL:
        n = ct ? ct->n_bool_contents : 0, src = ct ? ct->bool_contents : NULL;
        break;
    default:
        break;
    }
    if (n != t->elements) {
        snprintf(err, cap, "input '%s' has %zu values in its contents, its shape holds %zu",
                 t->name, n, t->elements);
        return -1;
    }
    t->size = n * glint_dtype_size(t->dtype);
    if (t->dtype == GLINT_F32 || t->dtype == GLINT_F64 || t->dtype == GLINT_I64 ||
        t->dtype == GLINT_I32) {
        t->data = n ? src : NULL;
        return 0;
    }
    uint8_t *o = malloc(n + 1); /* one byte a value */
    if (!o) {
        snprintf(err, cap, "out of memory for input '%s'", t->name);
        return -1;
    }
    t->owned = o;
    t->data = n ? o : NULL;
    for (size_t i = 0; i < n; i++) {
        long long v;
        if (t->dtype == GLINT_I8)
            v = ((const int32_t *)src)[i];
        else if (t->dtype == GLINT_U8)
            v = ((const uint32_t *)src)[i];
        else
            v = ((const protobuf_c_boolean *)src)[i] != 0;
        if ((t->dtype == GLINT_I8 && (v < -128 || v > 127)) || (t->dtype == GLINT_U8 && v > 255)) {
            snprintf(err, cap, "input '%s' value %lld at %zu is out of range", t->name, v, i);
            return -1;
        }
        o[i] = (uint8_t)v;
    }
    return 0;
}

/* q as the common path's request (names and typed contents copied; raw
 * contents point into q). 0 or -1 with err. */
static int to_kserve(const Inference__ModelInferRequest *q, kserve_request *k, char *err,
                     size_t cap)
{
    if (q->n_inputs < 1 || q->n_inputs > KSERVE_MAX_TENSORS) {
        snprintf(err, cap, "a request has 1..%d inputs, this one %zu", KSERVE_MAX_TENSORS,
                 q->n_inputs);
        return -1;
    }
    if (q->n_outputs > KSERVE_MAX_TENSORS) {
        snprintf(err, cap, "a request names at most %d outputs", KSERVE_MAX_TENSORS);
        return -1;
    }
    if (q->n_raw_input_contents && q->n_raw_input_contents != q->n_inputs) {
        snprintf(err, cap, "raw_input_contents has %zu entries for %zu inputs",
                 q->n_raw_input_contents, q->n_inputs);
        return -1;
    }
    if (strlen(q->id) > KSERVE_MAX_NAME) {
        snprintf(err, cap, "id is over %d bytes", KSERVE_MAX_NAME);
        return -1;
    }
    if (q->id[0] && !(k->id = strdup(q->id))) goto oom;
    const Inference__InferParameter *to = request_param(q, "timeout");
    if (to) {
        int64_t us =
            to->parameter_choice_case == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM
                ? to->int64_param
            : to->parameter_choice_case == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM
                ? (int64_t)(to->uint64_param > (uint64_t)KSERVE_MAX_TIMEOUT_US
                                ? (uint64_t)KSERVE_MAX_TIMEOUT_US
                                : to->uint64_param)
                : -1;
        if (us < 0) {
            snprintf(err, cap, "parameter 'timeout' must be a non-negative integer (microseconds)");
            return -1;
        }
        k->timeout_us = us > KSERVE_MAX_TIMEOUT_US ? KSERVE_MAX_TIMEOUT_US : us;
    }
    for (size_t i = 0; i < q->n_inputs; i++) {
        const Inference__ModelInferRequest__InferInputTensor *in = q->inputs[i];
        kserve_tensor *t = &k->inputs[i];
        k->n_inputs = (int)i + 1;
        if (strlen(in->name) > KSERVE_MAX_NAME || !in->name[0]) {
            snprintf(err, cap, "input %zu has no name or one over %d bytes", i, KSERVE_MAX_NAME);
            return -1;
        }
        if (!(t->name = strdup(in->name))) goto oom;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->inputs[j].name, t->name)) {
                snprintf(err, cap, "input '%s' is given twice", t->name);
                return -1;
            }
        t->dtype = kserve_datatype_parse(in->datatype, strlen(in->datatype));
        if (t->dtype == GLINT_DTYPE_UNDEFINED) {
            snprintf(err, cap, "input '%s': datatype '%.32s' is not supported", t->name,
                     in->datatype);
            return -1;
        }
        if (in->n_shape > GLINT_MAX_DIMS) {
            snprintf(err, cap, "input '%s' has %zu dims, at most %d", t->name, in->n_shape,
                     GLINT_MAX_DIMS);
            return -1;
        }
        t->ndim = (int)in->n_shape;
        t->elements = 1;
        for (size_t d = 0; d < in->n_shape; d++) {
            int64_t v = in->shape[d];
            if (v < 0 || (uint64_t)v > KSERVE_DEFAULT_MAX_ELEMENTS ||
                (v && t->elements > KSERVE_DEFAULT_MAX_ELEMENTS / (size_t)v)) {
                snprintf(err, cap, "input '%s': shape dim %zu (%lld) is negative or too large",
                         t->name, d, (long long)v);
                return -1;
            }
            t->dims[d] = v;
            t->elements *= (size_t)v;
        }
        if (q->n_raw_input_contents && t->dtype == KSERVE_BYTES) {
            const ProtobufCBinaryData *raw = &q->raw_input_contents[i];
            if (kserve_bytes_check(raw->data, raw->len, t->elements)) {
                snprintf(err, cap,
                         "input '%s': its %zu raw bytes are not %zu BYTES elements (each a "
                         "4-byte little-endian length, then its bytes)",
                         t->name, raw->len, t->elements);
                return -1;
            }
            t->data = raw->len ? raw->data : NULL;
            t->size = raw->len;
            t->binary = 1;
        } else if (q->n_raw_input_contents) {
            const ProtobufCBinaryData *raw = &q->raw_input_contents[i];
            size_t want = t->elements * glint_dtype_size(t->dtype);
            if (raw->len != want) {
                snprintf(err, cap,
                         "input '%s': raw_input_contents has %zu bytes, its shape and datatype "
                         "take %zu",
                         t->name, raw->len, want);
                return -1;
            }
            t->data = raw->len ? raw->data : NULL;
            t->size = raw->len;
            t->binary = 1;
        } else if (typed_contents(in->contents, t, err, cap)) {
            return -1;
        }
    }
    for (size_t i = 0; i < q->n_outputs; i++) {
        const Inference__ModelInferRequest__InferRequestedOutputTensor *o = q->outputs[i];
        const Inference__InferParameter *cl = output_param(o, "classification");
        if (cl &&
            cl->parameter_choice_case == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM &&
            cl->int64_param > 0) {
            snprintf(err, cap, "output '%.100s': classification outputs are not supported",
                     o->name);
            return -1;
        }
        if (!(k->outputs[i].name = strdup(o->name))) goto oom;
        k->n_outputs = (int)i + 1;
        k->outputs[i].binary = 1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->outputs[j].name, o->name)) {
                snprintf(err, cap, "output '%.100s' is asked twice", o->name);
                return -1;
            }
    }
    return 0;
oom:
    snprintf(err, cap, "out of memory");
    return -1;
}

int kserve_grpc_parse_infer(const uint8_t *msg, size_t len, ProtobufCAllocator *al,
                            Inference__ModelInferRequest **q, kserve_request *out, char *err,
                            size_t err_size)
{
    memset(out, 0, sizeof *out);
    *q = inference__model_infer_request__unpack(al, len, msg);
    if (!*q) {
        snprintf(err, err_size, "malformed ModelInferRequest");
        return -1;
    }
    if (to_kserve(*q, out, err, err_size)) {
        kserve_request_dispose(out);
        return -1;
    }
    return 0;
}
