/* libFuzzer target for src/serve/kserve: the input is a 4-byte
 * little-endian Inference-Header-Content-Length (negative: absent) followed
 * by the request body. Beyond "no crash", it checks that a failure says why
 * and leaves the request empty, that a parsed request is consistent
 * (sizes, dims, data inside the body or owned), and then echoes every input
 * back through kserve_build_response (binary for odd indexes) and checks
 * the response: its JSON header parses, it lists each output with the
 * right binary_data_size or element count, the binary section is the
 * inputs' bytes, and every JSON FP32 number reads back bit-exact (null for
 * NaN/Inf).
 * BYTES inputs hold exactly their elements (kserve_bytes_check).
 * Seeds: fuzz/corpus/kserve/ (made by hand: JSON-only, binary, mixed, BYTES).
 *
 *   scripts/fuzz.sh build-fuzz 600
 *   build-fuzz/fuzz_kserve -max_len=100000 work/ fuzz/corpus/kserve
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/kserve/kserve.h"

#define MAX_ELEMENTS 4096 /* per input: keeps each run fast */

static size_t esize(glint_dtype t)
{
    return t == GLINT_F32 || t == GLINT_I32 ? 4 : t == GLINT_F64 || t == GLINT_I64 ? 8 : 1;
}

static void check_request(const kserve_request *r, const uint8_t *body, size_t len)
{
    if (r->n_inputs < 1 || r->n_inputs > KSERVE_MAX_TENSORS) __builtin_trap();
    if (r->n_outputs < 0 || r->n_outputs > KSERVE_MAX_TENSORS) __builtin_trap();
    if (r->timeout_us < 0 || r->timeout_us > KSERVE_MAX_TIMEOUT_US) __builtin_trap();
    for (int i = 0; i < r->n_inputs; i++) {
        const kserve_tensor *t = &r->inputs[i];
        if (!t->name || !t->name[0] || !kserve_datatype_name(t->dtype)) __builtin_trap();
        if (kserve_request_find_input(r, t->name) != i) __builtin_trap(); /* names are unique */
        if (t->ndim < 0 || t->ndim > GLINT_MAX_DIMS) __builtin_trap();
        size_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->dims[d] < 0 || t->dims[d] > MAX_ELEMENTS) __builtin_trap();
            n *= (size_t)t->dims[d];
        }
        if (n != t->elements || n > MAX_ELEMENTS) __builtin_trap();
        if (t->dtype == KSERVE_BYTES ? kserve_bytes_check(t->data, t->size, n) != 0
                                     : t->size != n * esize(t->dtype))
            __builtin_trap();
        if (t->size && !t->data) __builtin_trap();
        if (t->binary) {
            const uint8_t *p = t->data;
            if (t->owned || (t->size && (p < body || p + t->size > body + len))) __builtin_trap();
        } else if (t->size && t->data != t->owned) {
            __builtin_trap();
        }
        if (t->dtype == GLINT_BOOL && !t->binary)
            for (size_t k = 0; k < t->size; k++)
                if (((const uint8_t *)t->data)[k] > 1) __builtin_trap();
    }
}

static void check_fp32_json(const json_t *data, const kserve_tensor *t)
{
    if (json_array_size(data) != t->elements) __builtin_trap();
    for (size_t k = 0; k < t->elements; k++) {
        float f;
        memcpy(&f, (const uint8_t *)t->data + k * 4, 4);
        const json_t *v = json_array_get(data, k);
        if (!isfinite(f)) {
            if (!json_is_null(v)) __builtin_trap();
            continue;
        }
        float back = (float)json_number_value(v);
        if (!json_is_number(v) || memcmp(&back, &f, 4) != 0) __builtin_trap();
    }
}

/* Echoes the inputs as outputs and checks the response. */
static void echo(const kserve_request *r)
{
    kserve_output outs[KSERVE_MAX_TENSORS];
    size_t bin_total = 0;
    for (int i = 0; i < r->n_inputs; i++) {
        const kserve_tensor *t = &r->inputs[i];
        outs[i] = (kserve_output){t->name, t->dtype, t->ndim, t->dims, t->data, i % 2, t->size};
        if (i % 2) bin_total += t->size;
    }
    char *body;
    size_t len, hlen;
    if (kserve_build_response("fuzz", "1", r->id, outs, r->n_inputs, &body, &len, &hlen) != 0)
        __builtin_trap();
    size_t json_len = r->n_inputs > 1 ? hlen : len;
    if ((r->n_inputs > 1) != (hlen > 0) || json_len + bin_total != len) __builtin_trap();
    json_error_t je;
    json_t *root = json_loadb(body, json_len, JSON_ALLOW_NUL, &je); /* BYTES may hold NULs */
    if (!root) __builtin_trap();
    const json_t *arr = json_object_get(root, "outputs");
    if (json_array_size(arr) != (size_t)r->n_inputs) __builtin_trap();
    size_t off = json_len;
    for (int i = 0; i < r->n_inputs; i++) {
        const kserve_tensor *t = &r->inputs[i];
        const json_t *o = json_array_get(arr, (size_t)i);
        if (strcmp(json_string_value(json_object_get(o, "name")), t->name) != 0) __builtin_trap();
        if (i % 2) {
            const json_t *bs =
                json_object_get(json_object_get(o, "parameters"), "binary_data_size");
            if (json_integer_value(bs) != (json_int_t)t->size || json_object_get(o, "data"))
                __builtin_trap();
            if (t->size && memcmp(body + off, t->data, t->size) != 0) __builtin_trap();
            off += t->size;
        } else if (t->dtype == GLINT_F32) {
            check_fp32_json(json_object_get(o, "data"), t);
        } else if (json_array_size(json_object_get(o, "data")) != t->elements) {
            __builtin_trap();
        }
    }
    json_decref(root);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    int32_t h = (int32_t)((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                          (uint32_t)data[3] << 24);
    const uint8_t *body = data + 4;
    size_t len = size - 4;
    kserve_request r;
    char err[256];
    err[0] = '\0';
    if (kserve_parse_request(body, len, h < 0 ? -1 : h, MAX_ELEMENTS, &r, err, sizeof err) != 0) {
        if (err[0] == '\0' || strchr(err, '\n') || r.n_inputs != 0 || r.n_outputs != 0 || r.id)
            __builtin_trap();
        kserve_request_dispose(&r);
        return 0;
    }
    check_request(&r, body, len);
    echo(&r);
    kserve_request_dispose(&r);
    return 0;
}
