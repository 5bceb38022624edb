/* serve: KServe v2 / Open Inference Protocol request and response bodies,
 * as NVIDIA Triton speaks them over HTTP, including Triton's binary tensor
 * data extension.
 *
 * Request (POST /v2/models/<m>/infer):
 *   {"id": "...",                                     optional string
 *    "parameters": {"binary_data_output": true,       optional: outputs in binary
 *                   "timeout": 1000000},              optional: microseconds
 *    "inputs":  [{"name": "images", "datatype": "FP32", "shape": [1, 3, 640, 640],
 *                 "data": [...]                       flat or nested, row-major
 *                 | "parameters": {"binary_data_size": 4915200}}],
 *    "outputs": [{"name": "output0", "parameters": {"binary_data": true}}]}   optional
 * With the binary extension the HTTP body is the JSON header (its length in
 * the Inference-Header-Content-Length request header) followed by the raw
 * little-endian row-major bytes of every input that has binary_data_size, in
 * input order, with nothing between or after them.
 *
 * Datatypes: FP32, FP64, UINT8, INT8, INT32, INT64, BOOL map to glint's
 * types, BYTES to KSERVE_BYTES (below); every other (FP16, BF16, UINT16,
 * ...) is refused by name.
 * JSON data must be JSON integers for integer types (range-checked),
 * numbers for FP32/FP64 (FP32: finite after rounding), true/false for BOOL.
 * Refused as unsupported rather than ignored: shared-memory inputs
 * ("shared_memory_region") and classification outputs ("classification").
 * Other parameters (sequence_id, priority, custom ones) are ignored.
 *
 * Response: {"model_name", "model_version"?, "id"?, "outputs": [{"name",
 * "datatype", "shape", "data": [...] | "parameters": {"binary_data_size": N}}]}
 * then the binary outputs in output order. Numbers are written directly
 * into a bounded buffer (no JSON tree per element, no printf for FP32:
 * 700k floats take ~0.1 s): integers exactly; FP32 with the fewest of 7, 8
 * or 9 significant digits that read back as the same float both through
 * strtof and through a double (Python's json, JavaScript), so a client's
 * float32(parse(text)) is bit-exact; FP64 with the fewest of 15..17 digits
 * that strtod reads back. Integral floats below 2^24 are written as
 * integers ("640"), -0 as "-0.0". NaN and +-Inf have no JSON form and are
 * written as null. Names are escaped; invalid UTF-8 bytes in them become
 * U+FFFD, so the header is always valid JSON. FP64 text assumes the C
 * locale's '.' decimal point (glint never calls setlocale).
 *
 * Memory: a parsed request owns its names and decoded JSON data (free with
 * kserve_request_dispose); binary data stays in the caller's body. While
 * parsing, jansson holds ~50-60 bytes per JSON number: the body-size limit
 * of the HTTP layer bounds that (images should travel as binary data).
 * Thread-safety: reentrant, no global state.
 */
#ifndef GLINT_SERVE_KSERVE_H
#define GLINT_SERVE_KSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "glint/engine.h"

#define KSERVE_MAX_TENSORS 16                            /* inputs, and requested outputs */
#define KSERVE_MAX_NAME 256                              /* bytes of a tensor name or request id */
#define KSERVE_DEFAULT_MAX_ELEMENTS ((size_t)1 << 26)    /* per input, when max_elements is 0 */
#define KSERVE_MAX_RESPONSE_BYTES ((size_t)1 << 30)      /* whole response body */
#define KSERVE_MAX_TIMEOUT_US ((int64_t)86400 * 1000000) /* longer timeouts are clamped to 24 h */

/* BYTES: a tensor of byte strings (ONNX's STRING type number; the engine
 * runs none: a pipeline takes encoded images and answers JSON texts as
 * BYTES). Its data is Triton's serialization, in binary data and gRPC raw
 * contents alike: each element a 4-byte little-endian length, then its
 * bytes. In JSON, each element is a string. */
#define KSERVE_BYTES ((glint_dtype)8)

/* Reads the next element of a BYTES buffer at *p (*left bytes): 0 with
 * *elem and *len, moving *p past it; -1 when fewer than its length remain. */
int kserve_bytes_next(const uint8_t **p, size_t *left, const uint8_t **elem, size_t *len);
/* 0 if the BYTES buffer of `size` bytes holds exactly n elements, else -1. */
int kserve_bytes_check(const void *data, size_t size, size_t n);

typedef struct kserve_tensor {
    char *name; /* owned, NUL-terminated */
    glint_dtype dtype;
    int ndim; /* 0..GLINT_MAX_DIMS; 0 = a scalar (one element) */
    int64_t dims[GLINT_MAX_DIMS];
    size_t elements; /* product of dims */
    /* elements * glint_dtype_size(dtype) row-major bytes, little-endian,
     * BOOL as one byte 0/1. Binary inputs point into the request body and
     * may be UNALIGNED (copy them with memcpy); JSON inputs point to
     * `owned`. NULL when size is 0. */
    const void *data;
    size_t size;
    int binary;  /* 1: data came from the binary section of the body */
    void *owned; /* malloc'ed decoded JSON data, or NULL */
} kserve_tensor;

typedef struct kserve_requested_output {
    char *name; /* owned */
    int binary; /* resolved: its binary_data parameter, else the request's binary_data_output */
} kserve_requested_output;

typedef struct kserve_request {
    char *id;     /* owned, NULL if absent */
    int n_inputs; /* >= 1 after a successful parse */
    kserve_tensor inputs[KSERVE_MAX_TENSORS];
    int n_outputs; /* 0: the request names no outputs (return all) */
    kserve_requested_output outputs[KSERVE_MAX_TENSORS];
    int binary_output_default; /* parameters.binary_data_output (0 if absent) */
    int64_t timeout_us;        /* parameters.timeout in microseconds, 0 if absent, at most
                                * KSERVE_MAX_TIMEOUT_US (so that * 1000 cannot overflow) */
} kserve_request;

/* Parses an inference request body of len bytes.
 * header_len: the Inference-Header-Content-Length value; < 0 when the
 * header is absent (the whole body is JSON and no input may be binary);
 * otherwise the JSON is body[0, header_len) and the binary inputs fill
 * body[header_len, len) exactly.
 * max_elements bounds the element count of each input (0: the default
 * KSERVE_DEFAULT_MAX_ELEMENTS); it also bounds every single dimension.
 * On success returns 0 and fills *out (release it with
 * kserve_request_dispose); binary inputs point into `body`, which must
 * outlive *out. On failure returns -1, leaves *out empty (disposing it is
 * harmless) and writes a one-line message naming the input and the problem
 * to err (if err_size > 0): malformed JSON (with line/column), missing or
 * mistyped fields, an unsupported datatype, bad/negative/too many dims,
 * more elements than max_elements, data count vs shape, non-numeric or
 * out-of-range values, both or neither of data and binary_data_size,
 * binary_data_size vs shape, binary sizes that do not add up to the body,
 * header_len beyond the body, duplicate input or output names, more than
 * KSERVE_MAX_TENSORS inputs or outputs, names over KSERVE_MAX_NAME, or no
 * memory. */
int kserve_parse_request(const uint8_t *body, size_t len, long long header_len, size_t max_elements,
                         kserve_request *out, char *err, size_t err_size);

/* Frees what *r owns and empties it. Accepts NULL and an empty request. */
void kserve_request_dispose(kserve_request *r);

/* Index of the input named `name` in r->inputs, or -1. */
int kserve_request_find_input(const kserve_request *r, const char *name);

/* One output to send. */
typedef struct kserve_output {
    const char *name;    /* NUL-terminated */
    glint_dtype dtype;   /* one of the seven supported types */
    int ndim;            /* 0..GLINT_MAX_DIMS */
    const int64_t *dims; /* ndim values >= 0 (may be NULL when ndim is 0) */
    const void *data;    /* row-major elements (alignment not required); NULL only if empty */
    int binary;          /* 1: send in the binary section */
    size_t bytes;        /* KSERVE_BYTES: the size of data (its elements serialized) */
} kserve_output;

/* Builds a whole response body for outs[0..n) (n >= 0):
 * {"model_name":model, "model_version":version (omitted if NULL),
 *  "id":id (omitted if NULL), "outputs":[...]} followed by the binary
 * outputs' bytes in output order.
 * *header_len receives the JSON length when any output is binary (send it
 * as Inference-Header-Content-Length), else 0 (the body is pure JSON).
 * Returns 0 with a malloc'ed *body of *len bytes (the caller frees it; not
 * NUL-terminated), or -1 with *body NULL on a bad argument (NULL model or
 * pointers, unsupported dtype, bad ndim, negative or overflowing dims), no
 * memory, or a body over KSERVE_MAX_RESPONSE_BYTES. */
int kserve_build_response(const char *model, const char *version, const char *id,
                          const kserve_output *outs, int n, char **body, size_t *len,
                          size_t *header_len);

/* KServe datatype name of a glint type ("FP32"), or NULL if it has none. */
const char *kserve_datatype_name(glint_dtype t);

/* glint type of a KServe datatype name (n bytes), or GLINT_DTYPE_UNDEFINED
 * for names glint does not support. */
glint_dtype kserve_datatype_parse(const char *name, size_t n);

#endif
