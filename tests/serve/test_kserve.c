/* Unit tests of src/serve/kserve: requests with JSON data (flat and nested,
 * every supported type and its range limits), binary inputs after an
 * Inference-Header-Content-Length header (alone and mixed with JSON ones),
 * requested outputs and their binary flags, every refusal with its message,
 * and responses: built, parsed back with jansson, numbers compared bit for
 * bit, names escaped, the binary section laid out after the JSON header. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/kserve/kserve.h"

static char err[512];

static int parse_json(const char *json, kserve_request *r)
{
    err[0] = '\0';
    return kserve_parse_request((const uint8_t *)json, strlen(json), -1, 0, r, err, sizeof err);
}

/* Parses json followed by `bin` (binary section) with the header length. */
static int parse_bin(const char *json, const void *bin, size_t bin_len, kserve_request *r,
                     uint8_t **body_out)
{
    size_t jl = strlen(json);
    uint8_t *body = malloc(jl + bin_len + 1);
    assert_non_null(body);
    memcpy(body, json, jl);
    if (bin_len) memcpy(body + jl, bin, bin_len);
    *body_out = body;
    err[0] = '\0';
    return kserve_parse_request(body, jl + bin_len, (long long)jl, 0, r, err, sizeof err);
}

static float f32_at(const kserve_tensor *t, size_t i)
{
    float f;
    memcpy(&f, (const uint8_t *)t->data + i * 4, 4);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---- requests: JSON data ---- */

static void test_fp32_flat_and_nested(void **state)
{
    (void)state;
    const float expect[6] = {1.0f, 2.5f, -3.0f, 0.001f, 1e-40f, 3.4028234663852886e38f};
    const char *flat = "{\"id\":\"req-1\",\"inputs\":[{\"name\":\"images\",\"datatype\":\"FP32\","
                       "\"shape\":[2,3],\"data\":[1,2.5,-3,0.001,1e-40,3.40282347e+38]}]}";
    const char *nested = "{\"inputs\":[{\"name\":\"images\",\"datatype\":\"FP32\","
                         "\"shape\":[2,3],\"data\":[[1,2.5,-3],[0.001,1e-40,3.40282347e+38]]}]}";
    for (int k = 0; k < 2; k++) {
        kserve_request r;
        assert_int_equal(parse_json(k ? nested : flat, &r), 0);
        assert_int_equal(r.n_inputs, 1);
        assert_int_equal(r.n_outputs, 0);
        if (k == 0)
            assert_string_equal(r.id, "req-1");
        else
            assert_null(r.id);
        const kserve_tensor *t = &r.inputs[0];
        assert_string_equal(t->name, "images");
        assert_int_equal(t->dtype, GLINT_F32);
        assert_int_equal(t->ndim, 2);
        assert_int_equal(t->dims[0], 2);
        assert_int_equal(t->dims[1], 3);
        assert_int_equal(t->elements, 6);
        assert_int_equal(t->size, 24);
        assert_int_equal(t->binary, 0);
        assert_ptr_equal(t->data, t->owned);
        for (int i = 0; i < 6; i++)
            assert_int_equal(f32_bits(f32_at(t, (size_t)i)), f32_bits(expect[i]));
        assert_int_equal(kserve_request_find_input(&r, "images"), 0);
        assert_int_equal(kserve_request_find_input(&r, "image"), -1);
        kserve_request_dispose(&r);
        assert_int_equal(r.n_inputs, 0);
        assert_null(r.id);
        kserve_request_dispose(&r); /* twice is harmless */
    }
    kserve_request_dispose(NULL);
}

static void test_int_types_and_ranges(void **state)
{
    (void)state;
    kserve_request r;
    assert_int_equal(
        parse_json(
            "{\"inputs\":["
            "{\"name\":\"i64\",\"datatype\":\"INT64\",\"shape\":[3],"
            "\"data\":[9223372036854775807,-9223372036854775808,0]},"
            "{\"name\":\"i32\",\"datatype\":\"INT32\",\"shape\":[2],"
            "\"data\":[2147483647,-2147483648]},"
            "{\"name\":\"u8\",\"datatype\":\"UINT8\",\"shape\":[1,2],\"data\":[[0,255]]},"
            "{\"name\":\"i8\",\"datatype\":\"INT8\",\"shape\":[2],\"data\":[-128,127]},"
            "{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[3],\"data\":[true,false,true]},"
            "{\"name\":\"f64\",\"datatype\":\"FP64\",\"shape\":[2],\"data\":[0.1,-7]}]}",
            &r),
        0);
    assert_int_equal(r.n_inputs, 6);
    int64_t i64[3];
    memcpy(i64, r.inputs[0].data, sizeof i64);
    assert_true(i64[0] == INT64_MAX && i64[1] == INT64_MIN && i64[2] == 0);
    assert_int_equal(r.inputs[0].size, 24);
    int32_t i32[2];
    memcpy(i32, r.inputs[1].data, sizeof i32);
    assert_true(i32[0] == INT32_MAX && i32[1] == INT32_MIN);
    const uint8_t *u8 = r.inputs[2].data;
    assert_true(u8[0] == 0 && u8[1] == 255);
    assert_int_equal(r.inputs[2].dtype, GLINT_U8);
    const int8_t *i8 = r.inputs[3].data;
    assert_true(i8[0] == -128 && i8[1] == 127);
    const uint8_t *b = r.inputs[4].data;
    assert_int_equal(r.inputs[4].dtype, GLINT_BOOL);
    assert_int_equal(r.inputs[4].size, 3);
    assert_true(b[0] == 1 && b[1] == 0 && b[2] == 1);
    double f64[2];
    memcpy(f64, r.inputs[5].data, sizeof f64);
    assert_true(f64[0] == 0.1 && f64[1] == -7.0);
    kserve_request_dispose(&r);
}

static void test_scalar_and_empty_shapes(void **state)
{
    (void)state;
    kserve_request r;
    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"s\",\"datatype\":\"INT32\",\"shape\":[],"
                                "\"data\":[42]},{\"name\":\"e\",\"datatype\":\"FP32\","
                                "\"shape\":[0,3],\"data\":[]}]}",
                                &r),
                     0);
    assert_int_equal(r.inputs[0].ndim, 0);
    assert_int_equal(r.inputs[0].elements, 1);
    int32_t v;
    memcpy(&v, r.inputs[0].data, 4);
    assert_int_equal(v, 42);
    assert_int_equal(r.inputs[1].elements, 0);
    assert_int_equal(r.inputs[1].size, 0);
    assert_null(r.inputs[1].data);
    kserve_request_dispose(&r);
}

static void test_parameters_and_outputs(void **state)
{
    (void)state;
    kserve_request r;
    assert_int_equal(
        parse_json("{\"id\":\"abc\",\"parameters\":{\"binary_data_output\":true,\"timeout\":"
                   "1500000,\"priority\":1,\"custom\":\"x\"},"
                   "\"inputs\":[{\"name\":\"x\",\"datatype\":\"UINT8\",\"shape\":[1],\"data\":[1],"
                   "\"parameters\":{\"something\":1}}],"
                   "\"outputs\":[{\"name\":\"a\"},{\"name\":\"b\",\"parameters\":{\"binary_data\":"
                   "false}},{\"name\":\"c\",\"parameters\":{\"binary_data\":true}}]}",
                   &r),
        0);
    assert_int_equal(r.binary_output_default, 1);
    assert_int_equal(r.timeout_us, 1500000);
    assert_int_equal(r.n_outputs, 3);
    assert_string_equal(r.outputs[0].name, "a");
    assert_int_equal(r.outputs[0].binary, 1); /* inherits binary_data_output */
    assert_string_equal(r.outputs[1].name, "b");
    assert_int_equal(r.outputs[1].binary, 0); /* per-output override */
    assert_int_equal(r.outputs[2].binary, 1);
    kserve_request_dispose(&r);

    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"UINT8\",\"shape\":[1],"
                                "\"data\":[1]}],\"outputs\":[{\"name\":\"a\"},{\"name\":\"c\","
                                "\"parameters\":{\"binary_data\":true}}],\"id\":null}",
                                &r),
                     0);
    assert_int_equal(r.binary_output_default, 0);
    assert_int_equal(r.timeout_us, 0);
    assert_null(r.id);
    assert_int_equal(r.outputs[0].binary, 0);
    assert_int_equal(r.outputs[1].binary, 1);
    kserve_request_dispose(&r);

    /* what Triton's clients send for fields left unset: "id": "" (its C++
     * client, so perf_analyzer), null parameters, classification 0 */
    assert_int_equal(parse_json("{\"id\":\"\",\"parameters\":null,\"inputs\":[{\"name\":\"x\","
                                "\"datatype\":\"UINT8\",\"shape\":[1],\"data\":[1],"
                                "\"parameters\":null}],\"outputs\":[{\"name\":\"a\","
                                "\"parameters\":{\"classification\":0,\"binary_data\":null}}]}",
                                &r),
                     0);
    assert_null(r.id);
    assert_int_equal(r.n_outputs, 1);
    assert_int_equal(r.outputs[0].binary, 0);
    kserve_request_dispose(&r);
    assert_int_equal(parse_json("{\"outputs\":null,\"inputs\":[{\"name\":\"x\","
                                "\"datatype\":\"UINT8\",\"shape\":[1],\"data\":[1]}]}",
                                &r),
                     0);
    assert_int_equal(r.n_outputs, 0);
    kserve_request_dispose(&r);

    /* absurd timeouts are clamped, so that callers can convert to ns */
    assert_int_equal(parse_json("{\"parameters\":{\"timeout\":9223372036854775807},\"inputs\":"
                                "[{\"name\":\"x\",\"datatype\":\"UINT8\",\"shape\":[1],"
                                "\"data\":[1]}]}",
                                &r),
                     0);
    assert_true(r.timeout_us == KSERVE_MAX_TIMEOUT_US);
    kserve_request_dispose(&r);
}

/* ---- requests: binary data ---- */

static void test_binary_input(void **state)
{
    (void)state;
    float v[6] = {0.5f, -1.25f, 3e38f, 1e-45f, 0.0f, -0.0f};
    const char *json =
        "{\"inputs\":[{\"name\":\"images\",\"datatype\":\"FP32\",\"shape\":[1,6],"
        "\"parameters\":{\"binary_data_size\":24}}],"
        "\"outputs\":[{\"name\":\"output0\",\"parameters\":{\"binary_data\":true}}]}";
    kserve_request r;
    uint8_t *body;
    assert_int_equal(parse_bin(json, v, sizeof v, &r, &body), 0);
    const kserve_tensor *t = &r.inputs[0];
    assert_int_equal(t->binary, 1);
    assert_null(t->owned);
    assert_ptr_equal(t->data, body + strlen(json)); /* zero-copy, unaligned here */
    assert_int_equal(t->size, 24);
    for (int i = 0; i < 6; i++)
        assert_int_equal(f32_bits(f32_at(t, (size_t)i)), f32_bits(v[i]));
    assert_int_equal(r.outputs[0].binary, 1);
    kserve_request_dispose(&r);
    free(body);
}

/* Binary, JSON, binary, in that order: the binary section holds input 0's
 * bytes then input 2's. A header length equal to the body is valid. */
static void test_mixed_binary_and_json(void **state)
{
    (void)state;
    uint8_t bin[3 + 16];
    const uint8_t u8[3] = {7, 8, 9};
    const int64_t i64[2] = {-5, 1LL << 40};
    memcpy(bin, u8, 3);
    memcpy(bin + 3, i64, 16);
    const char *json = "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"UINT8\",\"shape\":[3],"
                       "\"parameters\":{\"binary_data_size\":3}},"
                       "{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[false,true]},"
                       "{\"name\":\"c\",\"datatype\":\"INT64\",\"shape\":[2,1],\"parameters\":{"
                       "\"binary_data_size\":16}},"
                       "{\"name\":\"d\",\"datatype\":\"FP32\",\"shape\":[0],\"parameters\":{"
                       "\"binary_data_size\":0}}]}";
    kserve_request r;
    uint8_t *body;
    assert_int_equal(parse_bin(json, bin, sizeof bin, &r, &body), 0);
    assert_int_equal(r.n_inputs, 4);
    assert_memory_equal(r.inputs[0].data, u8, 3);
    assert_ptr_equal(r.inputs[0].data, body + strlen(json));
    assert_int_equal(r.inputs[1].binary, 0);
    assert_memory_equal(r.inputs[1].data, "\0\1", 2);
    assert_ptr_equal(r.inputs[2].data, body + strlen(json) + 3);
    assert_memory_equal(r.inputs[2].data, i64, 16);
    assert_int_equal(r.inputs[3].binary, 1);
    assert_int_equal(r.inputs[3].size, 0);
    kserve_request_dispose(&r);
    free(body);

    /* all-JSON request sent with the header: header length = body length */
    const char *j2 =
        "{\"inputs\":[{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[1],\"data\":[true]}]}";
    assert_int_equal(parse_bin(j2, NULL, 0, &r, &body), 0);
    assert_int_equal(r.n_inputs, 1);
    kserve_request_dispose(&r);
    free(body);
}

/* ---- requests: refusals ---- */

typedef struct bad_case {
    const char *json;
    const char *msg;
} bad_case;

#define IN1(fields) "{\"inputs\":[{\"name\":\"x\"," fields "}]}"

static void check_refused(const bad_case *cases, size_t n, size_t max_elements)
{
    for (size_t i = 0; i < n; i++) {
        kserve_request r;
        memset(&r, 0x5a, sizeof r); /* garbage: the parser must reset it */
        err[0] = '\0';
        int rc = kserve_parse_request((const uint8_t *)cases[i].json, strlen(cases[i].json), -1,
                                      max_elements, &r, err, sizeof err);
        if (rc != -1) fail_msg("case %zu accepted: %s", i, cases[i].json);
        if (!strstr(err, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        if (strchr(err, '\n')) fail_msg("case %zu: message has a newline: %s", i, err);
        assert_int_equal(r.n_inputs, 0);
        assert_int_equal(r.n_outputs, 0);
        assert_null(r.id);
        kserve_request_dispose(&r);
    }
}

static void test_refused_json_requests(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"", "no JSON header"},
        {"{\"inputs\":[", "request JSON:"},
        {"{\"inputs\":[]} trailing", "request JSON:"},
        {"[1,2]", "not a JSON object"},
        {"{}", "inputs is missing"},
        {"{\"inputs\":{}}", "inputs is missing or not an array"},
        {"{\"inputs\":[]}", "inputs is empty"},
        {"{\"inputs\":[1]}", "inputs[0] is not an object"},
        {"{\"inputs\":[{\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
         "inputs[0].name is missing"},
        {"{\"inputs\":[{\"name\":\"\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
         "inputs[0].name is empty"},
        {"{\"inputs\":[{\"name\":\"a\\u0000b\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
         "request JSON:"},
        {"{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]},"
         "{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
         "input 'x' appears twice"},
        {"{\"inputs\":[{\"name\":\"x\",\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1],"
         "\"data\":[1]}]}",
         "duplicate object key"},
        {IN1("\"shape\":[1],\"data\":[1]"), "input 'x': datatype is missing"},
        {IN1("\"datatype\":\"FP16\",\"shape\":[1],\"data\":[1]"),
         "datatype FP16 of input 'x' is not supported"},
        {IN1("\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"a\", 3]"),
         "input 'x': BYTES data must be strings"},
        {IN1("\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"a\"]"),
         "input 'x': data must be 2 strings (its shape), nested at most 1 deep"},
        {IN1("\"datatype\":\"fp32\",\"shape\":[1],\"data\":[1]"), "datatype fp32 of input 'x'"},
        {IN1("\"datatype\":\"FP32\",\"data\":[1]"), "input 'x': shape is missing"},
        {IN1("\"datatype\":\"FP32\",\"shape\":3,\"data\":[1]"),
         "input 'x': shape is missing or not"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data\":[1]"),
         "shape has 9 dimensions, at most 8"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2,-1],\"data\":[1]"), "shape[1] is negative (-1)"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1.5],\"data\":[1]"), "shape[0] is not an integer"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[\"1\"],\"data\":[1]"), "shape[0] is not an integer"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1,100000000],\"data\":[1]"),
         "shape[1] = 100000000 is over the limit of 67108864 elements"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[9223372036854775807],\"data\":[1]"),
         "is over the limit"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[65536,65536,65536,65536],\"data\":[1]"),
         "shape holds more than 67108864 elements"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2,3],\"data\":[1,2,3,4,5]"),
         "input 'x': data has 5 elements, its shape holds 6"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2,3],\"data\":[[1,2,3],[4,5,6],[7]]"),
         "data has more than the 6 elements"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2],\"data\":[[1],[2]]"),
         "data is nested deeper than its 1-d shape"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":[[[1]]]"), "nested deeper"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"data\":1"), "data is not an array"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[3],\"data\":[1,\"2\",3]"),
         "input 'x': element 1 is not a number"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2],\"data\":[1,null]"), "element 1 is not a number"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2],\"data\":[{},1]"), "element 0 is not a number"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2],\"data\":[true,1]"), "element 0 is not a number"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[2],\"data\":[1,3.5e38]"),
         "element 1 (3.5e+38) is out of range for FP32"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"data\":[-1e300]"), "out of range for FP32"},
        {IN1("\"datatype\":\"INT64\",\"shape\":[2],\"data\":[1,1.5]"),
         "element 1 is not an integer (INT64 data)"},
        {IN1("\"datatype\":\"INT32\",\"shape\":[1],\"data\":[1.0]"), "not an integer (INT32"},
        {IN1("\"datatype\":\"INT64\",\"shape\":[1],\"data\":[9223372036854775808]"),
         "request JSON:"},
        {IN1("\"datatype\":\"INT32\",\"shape\":[2],\"data\":[0,2147483648]"),
         "element 1 (2147483648) is out of range for INT32"},
        {IN1("\"datatype\":\"INT32\",\"shape\":[1],\"data\":[-2147483649]"),
         "out of range for INT32"},
        {IN1("\"datatype\":\"UINT8\",\"shape\":[2,1],\"data\":[[255],[256]]"),
         "element 1 (256) is out of range for UINT8"},
        {IN1("\"datatype\":\"UINT8\",\"shape\":[1],\"data\":[-1]"),
         "(-1) is out of range for UINT8"},
        {IN1("\"datatype\":\"INT8\",\"shape\":[1],\"data\":[-129]"), "out of range for INT8"},
        {IN1("\"datatype\":\"INT8\",\"shape\":[1],\"data\":[128]"), "out of range for INT8"},
        {IN1("\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[true,1]"),
         "element 1 is not true or false"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1]"),
         "input 'x' has neither data nor binary_data_size"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1],\"parameters\":{\"binary_data_size\""
             ":4}"),
         "input 'x' has both data and binary_data_size"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"parameters\":{\"binary_data_size\":4}"),
         "input 'x' has binary_data_size but the request has no Inference-Header-Content-Length"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"parameters\":{\"binary_data_size\":-4}"),
         "binary_data_size is not a non-negative integer"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"parameters\":{\"binary_data_size\":\"4\"}"),
         "binary_data_size is not a non-negative integer"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1],\"parameters\":[]"),
         "input 'x': parameters is not an object"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"parameters\":{\"shared_memory_region\":\"r\","
             "\"shared_memory_byte_size\":4}"),
         "input 'x': shared memory inputs are not supported"},
        {"{\"id\":5,\"inputs\":[]}", "id is missing or not a string"},
        {"{\"parameters\":[],\"inputs\":[]}", "request parameters is not an object"},
        {"{\"parameters\":{\"binary_data_output\":1},\"inputs\":[]}",
         "parameters.binary_data_output is not a boolean"},
        {"{\"parameters\":{\"timeout\":-1},\"inputs\":[]}", "parameters.timeout is not a non-neg"},
        {"{\"parameters\":{\"timeout\":\"1s\"},\"inputs\":[]}", "parameters.timeout is not"},
        {"{\"parameters\":{\"timeout\":1.5},\"inputs\":[]}", "parameters.timeout is not"},
        {IN1("\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]},{\"name\":\"y\",\"datatype\":\"X\","
             "\"shape\":[1],\"data\":[1]"),
         "datatype X of input 'y' is not supported"},
    };
    check_refused(cases, sizeof cases / sizeof *cases, 0);
}

static void test_refused_outputs(void **state)
{
    (void)state;
#define OUTS(o)                                                                                    \
    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}],"             \
    "\"outputs\":" o "}"
    static const bad_case cases[] = {
        {OUTS("{}"), "outputs is not an array"},
        {OUTS("[3]"), "outputs[0] is not an object"},
        {OUTS("[{\"name\":\"a\"},{}]"), "outputs[1].name is missing or not a string"},
        {OUTS("[{\"name\":\"a\"},{\"name\":\"a\"}]"), "output 'a' is requested twice"},
        {OUTS("[{\"name\":\"a\",\"parameters\":3}]"), "output 'a': parameters is not an object"},
        {OUTS("[{\"name\":\"a\",\"parameters\":{\"classification\":3}}]"),
         "output 'a': classification outputs are not supported"},
        {OUTS("[{\"name\":\"a\",\"parameters\":{\"shared_memory_region\":\"r\"}}]"),
         "shared memory outputs are not supported"},
        {OUTS("[{\"name\":\"a\",\"parameters\":{\"binary_data\":\"yes\"}}]"),
         "output 'a': binary_data is not a boolean"},
    };
    check_refused(cases, sizeof cases / sizeof *cases, 0);
}

/* Names are shown in messages shortened and without control characters. */
static void test_message_names_are_sanitized(void **state)
{
    (void)state;
    char json[1024], name[300];
    memset(name, 'n', 200);
    name[200] = '\0';
    snprintf(json, sizeof json, IN1("\"datatype\":\"FP32\",\"shape\":[1]"));
    snprintf(json, sizeof json,
             "{\"inputs\":[{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[1]}]}", name);
    kserve_request r;
    assert_int_equal(parse_json(json, &r), -1);
    assert_non_null(strstr(err, "input 'nnnn"));
    assert_non_null(strstr(err, "n...' has neither"));
    assert_true(strlen(err) < 150);

    assert_int_equal(
        parse_json("{\"inputs\":[{\"name\":\"a\\nb\\u001b\",\"datatype\":\"FP16\"}]}", &r), -1);
    assert_string_equal(err, "datatype FP16 of input 'a?b?' is not supported");

    /* 256 bytes is the longest name */
    memset(name, 'n', 257);
    name[257] = '\0';
    snprintf(json, sizeof json,
             "{\"inputs\":[{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
             name);
    assert_int_equal(parse_json(json, &r), -1);
    assert_non_null(strstr(err, "inputs[0].name is longer than 256 bytes"));
    name[256] = '\0';
    snprintf(json, sizeof json,
             "{\"inputs\":[{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
             name);
    assert_int_equal(parse_json(json, &r), 0);
    assert_int_equal(strlen(r.inputs[0].name), 256);
    kserve_request_dispose(&r);
}

/* KSERVE_MAX_TENSORS inputs and outputs pass, one more fails. */
static void test_tensor_count_limits(void **state)
{
    (void)state;
    for (int extra = 0; extra <= 1; extra++) {
        for (int which = 0; which < 2; which++) {
            char json[8192];
            size_t n = 0;
            n += (size_t)snprintf(json + n, sizeof json - n, "{\"inputs\":[");
            int n_in = which == 0 ? KSERVE_MAX_TENSORS + extra : 1;
            for (int i = 0; i < n_in; i++)
                n += (size_t)snprintf(json + n, sizeof json - n,
                                      "%s{\"name\":\"i%d\",\"datatype\":\"INT8\",\"shape\":[1],"
                                      "\"data\":[%d]}",
                                      i ? "," : "", i, i);
            n += (size_t)snprintf(json + n, sizeof json - n, "],\"outputs\":[");
            int n_out = which == 1 ? KSERVE_MAX_TENSORS + extra : 1;
            for (int i = 0; i < n_out; i++)
                n += (size_t)snprintf(json + n, sizeof json - n, "%s{\"name\":\"o%d\"}",
                                      i ? "," : "", i);
            snprintf(json + n, sizeof json - n, "]}");
            kserve_request r;
            int rc = parse_json(json, &r);
            if (!extra) {
                assert_int_equal(rc, 0);
                assert_int_equal(r.n_inputs, n_in);
                assert_int_equal(r.n_outputs, n_out);
                int8_t last;
                memcpy(&last, r.inputs[n_in - 1].data, 1);
                assert_int_equal(last, n_in - 1);
                kserve_request_dispose(&r);
            } else {
                assert_int_equal(rc, -1);
                assert_non_null(strstr(err, which == 0 ? "request has 17 inputs, at most 16"
                                                       : "request names 17 outputs, at most 16"));
            }
        }
    }
}

/* max_elements bounds each input: exactly the limit passes. */
static void test_max_elements(void **state)
{
    (void)state;
    const char *json = IN1("\"datatype\":\"UINT8\",\"shape\":[2,3],\"data\":[1,2,3,4,5,6]");
    kserve_request r;
    assert_int_equal(
        kserve_parse_request((const uint8_t *)json, strlen(json), -1, 6, &r, err, sizeof err), 0);
    kserve_request_dispose(&r);
    static const bad_case cases[] = {
        {IN1("\"datatype\":\"UINT8\",\"shape\":[7],\"data\":[1,2,3,4,5,6,7]"),
         "shape[0] = 7 is over the limit of 6 elements"},
        {IN1("\"datatype\":\"UINT8\",\"shape\":[2,4],\"data\":[1,2,3,4,5,6,7,8]"),
         "input 'x': shape holds more than 6 elements"},
        /* an empty axis does not hide a huge one */
        {IN1("\"datatype\":\"UINT8\",\"shape\":[0,1000],\"data\":[]"), "shape[1] = 1000 is over"},
    };
    check_refused(cases, sizeof cases / sizeof *cases, 6);
}

static void test_refused_binary_layouts(void **state)
{
    (void)state;
    const char *json = "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[2],"
                       "\"parameters\":{\"binary_data_size\":8}},"
                       "{\"name\":\"b\",\"datatype\":\"INT32\",\"shape\":[1],"
                       "\"parameters\":{\"binary_data_size\":4}}]}";
    uint8_t bin[16] = {0};
    kserve_request r;
    uint8_t *body;
    /* exact: 12 bytes */
    assert_int_equal(parse_bin(json, bin, 12, &r, &body), 0);
    kserve_request_dispose(&r);
    free(body);
    assert_int_equal(parse_bin(json, bin, 16, &r, &body), -1);
    assert_string_equal(err, "binary input sizes add up to 12 bytes, the body has 16 bytes after "
                             "the JSON header");
    assert_int_equal(r.n_inputs, 0);
    free(body);
    assert_int_equal(parse_bin(json, bin, 10, &r, &body), -1);
    assert_string_equal(err, "input 'b' needs 4 binary bytes at offset 8, the body has 10 bytes "
                             "after the JSON header");
    free(body);
    assert_int_equal(parse_bin(json, bin, 0, &r, &body), -1);
    assert_non_null(strstr(err, "input 'a' needs 8 binary bytes at offset 0"));
    free(body);

    /* binary_data_size disagrees with shape and datatype */
    const char *j2 = "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[2],"
                     "\"parameters\":{\"binary_data_size\":2}}]}";
    assert_int_equal(parse_bin(j2, bin, 2, &r, &body), -1);
    assert_string_equal(err, "input 'a': binary_data_size is 2 bytes, shape and datatype need 8");
    free(body);

    /* header length past the end, or zero */
    const uint8_t small[] = "{}";
    assert_int_equal(kserve_parse_request(small, 2, 3, 0, &r, err, sizeof err), -1);
    assert_string_equal(err, "Inference-Header-Content-Length 3 is larger than the body (2 bytes)");
    assert_int_equal(kserve_parse_request(small, 2, 0, 0, &r, err, sizeof err), -1);
    assert_string_equal(err, "request has no JSON header");
    /* the JSON ends where the header says: bytes after it are binary */
    assert_int_equal(kserve_parse_request(small, 2, 1, 0, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "request JSON:"));
    /* bad arguments */
    assert_int_equal(kserve_parse_request(NULL, 2, -1, 0, &r, err, sizeof err), -1);
    assert_int_equal(kserve_parse_request(small, 2, -1, 0, NULL, err, sizeof err), -1);
    assert_int_equal(kserve_parse_request(small, 2, -1, 0, &r, NULL, 0), -1);
}

/* ---- responses ---- */

/* Parses body[0, n) as JSON (jansson validates UTF-8 too). */
static json_t *load(const char *body, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb(body, n, 0, &je);
    if (!j)
        fail_msg("response is not valid JSON: %s at %d:%d: %.*s", je.text, je.line, je.column,
                 (int)(n > 300 ? 300 : n), body);
    return j;
}

static double num(const json_t *v)
{
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static json_t *output_at(json_t *root, size_t i)
{
    json_t *outs = json_object_get(root, "outputs");
    assert_true(json_is_array(outs));
    json_t *o = json_array_get(outs, i);
    assert_non_null(o);
    return o;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* FP32 values of every kind come back bit-exact through jansson's double
 * and a cast to float, as a Python client reads them; non-finite ones are
 * null. */
static void test_response_fp32_round_trip(void **state)
{
    (void)state;
    enum { N = 20000 };
    float *v = malloc(N * sizeof *v);
    assert_non_null(v);
    const float special[] = {0.0f,        -0.0f,       1.0f,         -1.0f,        0.1f,
                             1.0f / 3,    FLT_MAX,     -FLT_MAX,     FLT_MIN,      1e-45f,
                             16777216.0f, 16777215.0f, -16777217.0f, 123456792.0f, 2.5f,
                             640.0f,      INFINITY,    -INFINITY,    NAN,          33554488.0f};
    size_t ns = sizeof special / sizeof *special;
    for (size_t i = 0; i < N; i++) {
        if (i < ns) {
            v[i] = special[i];
        } else {
            uint32_t u = rnd();
            memcpy(&v[i], &u, 4);
            if (i % 3 == 0) v[i] = (float)(rnd() % 100000) / 1000.0f; /* "nice" values */
        }
    }
    int64_t dims[2] = {2, N / 2};
    kserve_output out = {"output0", GLINT_F32, 2, dims, v, 0, 0};
    char *body;
    size_t len, hlen;
    assert_int_equal(kserve_build_response("yolo", "1", "r7", &out, 1, &body, &len, &hlen), 0);
    assert_int_equal(hlen, 0);
    json_t *root = load(body, len);
    assert_string_equal(json_string_value(json_object_get(root, "model_name")), "yolo");
    assert_string_equal(json_string_value(json_object_get(root, "model_version")), "1");
    assert_string_equal(json_string_value(json_object_get(root, "id")), "r7");
    json_t *o = output_at(root, 0);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "output0");
    assert_string_equal(json_string_value(json_object_get(o, "datatype")), "FP32");
    json_t *shape = json_object_get(o, "shape");
    assert_int_equal(json_array_size(shape), 2);
    assert_int_equal(json_integer_value(json_array_get(shape, 0)), 2);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), N / 2);
    assert_null(json_object_get(o, "parameters"));
    json_t *data = json_object_get(o, "data");
    assert_int_equal(json_array_size(data), N);
    for (size_t i = 0; i < N; i++) {
        json_t *e = json_array_get(data, i);
        if (!isfinite(v[i])) {
            assert_true(json_is_null(e));
            continue;
        }
        float back = (float)num(e);
        if (f32_bits(back) != f32_bits(v[i]))
            fail_msg("element %zu: %.9g (0x%08x) came back as %.9g (0x%08x)", i, (double)v[i],
                     f32_bits(v[i]), (double)back, f32_bits(back));
    }
    /* short forms for short values */
    assert_non_null(strstr(body, "\"data\":[0,-0.0,1,-1,0.1,0.33333334,3.4028235e+38,"
                                 "-3.4028235e+38,1.1754944e-38,1.401298e-45,16777216,16777215,"
                                 "-16777216,123456790,2.5,640,null,null,null,"
                                 /* not "33554490": exactly halfway to the next float, so
                                  * only round-half-even parsers would read it back */
                                 "33554488,"));
    json_decref(root);
    free(body);
    free(v);
}

static void test_response_int_bool_f64(void **state)
{
    (void)state;
    const int64_t i64[4] = {INT64_MIN, INT64_MAX, 0, -1};
    const int32_t i32[2] = {INT32_MIN, INT32_MAX};
    const uint8_t u8[2] = {0, 255};
    const int8_t i8[2] = {-128, 127};
    const uint8_t bo[3] = {1, 0, 2};
    const double f64[6] = {0.1, -1e308, 5e-324, 3.0, 1.0 / 3, -0.0};
    int64_t d4[1] = {4}, d2[2] = {1, 2}, d3[1] = {3}, d6[1] = {6};
    kserve_output outs[6] = {
        {"i64", GLINT_I64, 1, d4, i64, 0, 0}, {"i32", GLINT_I32, 2, d2, i32, 0, 0},
        {"u8", GLINT_U8, 2, d2, u8, 0, 0},    {"i8", GLINT_I8, 2, d2, i8, 0, 0},
        {"b", GLINT_BOOL, 1, d3, bo, 0, 0},   {"f64", GLINT_F64, 1, d6, f64, 0, 0},
    };
    char *body;
    size_t len, hlen;
    assert_int_equal(kserve_build_response("m", NULL, NULL, outs, 6, &body, &len, &hlen), 0);
    json_t *root = load(body, len);
    assert_null(json_object_get(root, "model_version"));
    assert_null(json_object_get(root, "id"));
    json_t *d = json_object_get(output_at(root, 0), "data");
    for (int i = 0; i < 4; i++)
        assert_true(json_integer_value(json_array_get(d, (size_t)i)) == i64[i]);
    assert_string_equal(json_string_value(json_object_get(output_at(root, 0), "datatype")),
                        "INT64");
    d = json_object_get(output_at(root, 1), "data");
    assert_true(json_integer_value(json_array_get(d, 0)) == INT32_MIN);
    assert_true(json_integer_value(json_array_get(d, 1)) == INT32_MAX);
    d = json_object_get(output_at(root, 2), "data");
    assert_int_equal(json_integer_value(json_array_get(d, 1)), 255);
    d = json_object_get(output_at(root, 3), "data");
    assert_int_equal(json_integer_value(json_array_get(d, 0)), -128);
    d = json_object_get(output_at(root, 4), "data");
    assert_true(json_is_true(json_array_get(d, 0)));
    assert_true(json_is_false(json_array_get(d, 1)));
    assert_true(json_is_true(json_array_get(d, 2)));
    assert_string_equal(json_string_value(json_object_get(output_at(root, 4), "datatype")), "BOOL");
    d = json_object_get(output_at(root, 5), "data");
    for (int i = 0; i < 6; i++)
        assert_memory_equal(&(double){num(json_array_get(d, (size_t)i))}, &f64[i], 8);
    json_decref(root);
    free(body);

    /* random FP64 bit patterns round-trip exactly */
    enum { N = 5000 };
    double *r = malloc(N * sizeof *r);
    for (int i = 0; i < N; i++) {
        uint64_t u = ((uint64_t)rnd() << 32) | rnd();
        memcpy(&r[i], &u, 8);
    }
    int64_t dn[1] = {N};
    kserve_output o = {"r", GLINT_F64, 1, dn, r, 0, 0};
    assert_int_equal(kserve_build_response("m", "2", NULL, &o, 1, &body, &len, &hlen), 0);
    root = load(body, len);
    d = json_object_get(output_at(root, 0), "data");
    for (int i = 0; i < N; i++) {
        json_t *e = json_array_get(d, (size_t)i);
        if (!isfinite(r[i]))
            assert_true(json_is_null(e));
        else
            assert_memory_equal(&(double){num(e)}, &r[i], 8);
    }
    json_decref(root);
    free(body);
    free(r);
}

/* Names with quotes, backslashes, control characters, valid and invalid
 * UTF-8 give valid JSON; invalid bytes become U+FFFD. */
static void test_response_escaping(void **state)
{
    (void)state;
    const float v = 1.5f;
    int64_t d1[1] = {1};
    kserve_output outs[3] = {
        {"a\"b\\c\n\t\x01\x7f", GLINT_F32, 1, d1, &v, 0, 0},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", GLINT_F32, 1, d1, &v, 0, 0},
        {"bad\xff\xc3(\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80", GLINT_F32, 1, d1, &v, 0, 0},
    };
    char *body;
    size_t len, hlen;
    assert_int_equal(
        kserve_build_response("m\"odel", "v\\1", "id\x02", outs, 3, &body, &len, &hlen), 0);
    json_t *root = load(body, len);
    assert_string_equal(json_string_value(json_object_get(root, "model_name")), "m\"odel");
    assert_string_equal(json_string_value(json_object_get(root, "model_version")), "v\\1");
    assert_string_equal(json_string_value(json_object_get(root, "id")), "id\x02");
    assert_string_equal(json_string_value(json_object_get(output_at(root, 0), "name")),
                        "a\"b\\c\n\t\x01\x7f");
    assert_string_equal(json_string_value(json_object_get(output_at(root, 1), "name")),
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* ff, lone c3, '(' , surrogate ed a0 80 (3 bytes), overlong c0 af (2),
     * f4 90 80 80 over U+10FFFF (4): one U+FFFD per bad byte */
    const char *want = "bad\xef\xbf\xbd\xef\xbf\xbd("
                       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                       "\xef\xbf\xbd\xef\xbf\xbd"
                       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
    assert_string_equal(json_string_value(json_object_get(output_at(root, 2), "name")), want);
    json_decref(root);
    free(body);
}

/* JSON output, binary output, empty output, binary output: the header
 * length ends the JSON; the binary section holds the binary outputs in
 * order; binary outputs have binary_data_size and no data. */
static void test_response_binary_layout(void **state)
{
    (void)state;
    const float a[3] = {1, 2, 3};
    const uint8_t b[5] = {9, 8, 7, 6, 5};
    const int64_t c[2] = {-1, 1LL << 50};
    int64_t d3[1] = {3}, d5[2] = {5, 1}, d0[2] = {0, 4}, d2[1] = {2};
    kserve_output outs[4] = {
        {"a", GLINT_F32, 1, d3, a, 0, 0},
        {"b", GLINT_U8, 2, d5, b, 1, 0},
        {"e", GLINT_F32, 2, d0, NULL, 1, 0},
        {"c", GLINT_I64, 1, d2, c, 1, 0},
    };
    char *body;
    size_t len, hlen;
    assert_int_equal(kserve_build_response("m", "1", NULL, outs, 4, &body, &len, &hlen), 0);
    assert_true(hlen > 0);
    assert_int_equal(len, hlen + 5 + 0 + 16);
    json_t *root = load(body, hlen);
    json_t *o = output_at(root, 0);
    assert_null(json_object_get(o, "parameters"));
    assert_int_equal(json_array_size(json_object_get(o, "data")), 3);
    size_t sizes[4] = {0, 5, 0, 16};
    for (size_t i = 1; i < 4; i++) {
        o = output_at(root, i);
        assert_null(json_object_get(o, "data"));
        json_t *p = json_object_get(o, "parameters");
        assert_int_equal(json_integer_value(json_object_get(p, "binary_data_size")), sizes[i]);
    }
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(output_at(root, 2), "shape"), 1)), 4);
    assert_memory_equal(body + hlen, b, 5);
    assert_memory_equal(body + hlen + 5, c, 16);
    json_decref(root);
    free(body);

    /* no outputs at all: pure JSON */
    assert_int_equal(kserve_build_response("m", NULL, NULL, NULL, 0, &body, &len, &hlen), 0);
    assert_int_equal(hlen, 0);
    root = load(body, len);
    assert_int_equal(json_array_size(json_object_get(root, "outputs")), 0);
    json_decref(root);
    free(body);
}

/* A parsed request's binary input, echoed as a binary output, reads back
 * identically (the layout the Triton client expects both ways). */
static void test_request_response_echo(void **state)
{
    (void)state;
    const float v[4] = {0.25f, -8.0f, 1e-7f, 123.456f};
    const char *json = "{\"id\":\"echo\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\","
                       "\"shape\":[2,2],\"parameters\":{\"binary_data_size\":16}}]}";
    kserve_request r;
    uint8_t *req_body;
    assert_int_equal(parse_bin(json, v, sizeof v, &r, &req_body), 0);
    const kserve_tensor *t = &r.inputs[0];
    kserve_output outs[2] = {{t->name, t->dtype, t->ndim, t->dims, t->data, 1, 0},
                             {"json", t->dtype, t->ndim, t->dims, t->data, 0, 0}};
    char *body;
    size_t len, hlen;
    assert_int_equal(kserve_build_response("m", "1", r.id, outs, 2, &body, &len, &hlen), 0);
    assert_int_equal(len - hlen, 16);
    assert_memory_equal(body + hlen, v, 16);
    json_t *root = load(body, hlen);
    json_t *d = json_object_get(output_at(root, 1), "data");
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(f32_bits((float)num(json_array_get(d, i))), f32_bits(v[i]));

    /* and the JSON output parses back as a request input with the same bits */
    char req2[512];
    char *dj = json_dumps(d, JSON_COMPACT);
    snprintf(req2, sizeof req2,
             "{\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":%s}]}",
             dj);
    free(dj);
    kserve_request r2;
    assert_int_equal(parse_json(req2, &r2), 0);
    assert_memory_equal(r2.inputs[0].data, v, 16);
    kserve_request_dispose(&r2);
    json_decref(root);
    free(body);
    kserve_request_dispose(&r);
    free(req_body);
}

static void test_response_refusals(void **state)
{
    (void)state;
    const float v[2] = {1, 2};
    int64_t ok[1] = {2}, neg[1] = {-2}, huge[3] = {1 << 20, 1 << 20, 1 << 20},
            zero_huge[2] = {0, INT64_MAX};
    char *body = (char *)1;
    size_t len = 9, hlen = 9;
    kserve_output o = {"x", GLINT_F32, 1, ok, v, 0, 0};
    assert_int_equal(kserve_build_response(NULL, "1", NULL, &o, 1, &body, &len, &hlen), -1);
    assert_null(body);
    assert_int_equal(len, 0);
    assert_int_equal(hlen, 0);
    assert_int_equal(kserve_build_response("m", "1", NULL, NULL, 1, &body, &len, &hlen), -1);
    assert_int_equal(kserve_build_response("m", "1", NULL, &o, -1, &body, &len, &hlen), -1);
    kserve_output bad[] = {
        {NULL, GLINT_F32, 1, ok, v, 0, 0},
        {"x", GLINT_DTYPE_UNDEFINED, 1, ok, v, 0, 0},
        {"x", (glint_dtype)10, 1, ok, v, 0, 0},
        {"x", GLINT_F32, -1, ok, v, 0, 0},
        {"x", GLINT_F32, GLINT_MAX_DIMS + 1, ok, v, 0, 0},
        {"x", GLINT_F32, 1, NULL, v, 0, 0},
        {"x", GLINT_F32, 1, neg, v, 0, 0},
        {"x", GLINT_F32, 1, ok, NULL, 0, 0},
        {"x", GLINT_F32, 3, huge, v, 1, 0}, /* 2^60 elements: over the response limit */
        {"x", GLINT_U8, 2, zero_huge, v, 0,
         0}, /* empty but a negative-free huge axis: fine below */
    };
    for (size_t i = 0; i + 1 < sizeof bad / sizeof *bad; i++) {
        if (kserve_build_response("m", "1", NULL, &bad[i], 1, &body, &len, &hlen) != -1)
            fail_msg("bad output %zu accepted", i);
        assert_null(body);
    }
    /* an empty tensor with a huge other axis is valid and has no data */
    kserve_output last = bad[sizeof bad / sizeof *bad - 1];
    assert_int_equal(kserve_build_response("m", "1", NULL, &last, 1, &body, &len, &hlen), 0);
    json_t *root = load(body, len);
    assert_int_equal(json_array_size(json_object_get(output_at(root, 0), "data")), 0);
    json_decref(root);
    free(body);
}

/* Every 4093rd float bit pattern (a million of them, all exponents and
 * subnormals): its text reads back as the same float both directly
 * (strtof) and through a double, and is no longer than %.9g's. */
static void test_response_fp32_sweep(void **state)
{
    (void)state;
    enum { CHUNK = 1 << 18 };
    float *v = malloc(CHUNK * sizeof *v);
    assert_non_null(v);
    uint64_t bits = 0, checked = 0, shorter = 0;
    while (bits <= UINT32_MAX) {
        size_t n = 0;
        for (; n < CHUNK && bits <= UINT32_MAX; bits += 4093) {
            uint32_t u = (uint32_t)bits;
            memcpy(&v[n], &u, 4);
            if (isfinite(v[n])) n++;
        }
        int64_t dims[1] = {(int64_t)n};
        kserve_output o = {"o", GLINT_F32, 1, dims, v, 0, 0};
        char *body;
        size_t len, hlen;
        assert_int_equal(kserve_build_response("m", NULL, NULL, &o, 1, &body, &len, &hlen), 0);
        char *p = strstr(body, "\"data\":[");
        assert_non_null(p);
        p += 8;
        for (size_t i = 0; i < n; i++) {
            char *end, *end2;
            float direct = strtof(p, &end);
            double wide = strtod(p, &end2);
            assert_ptr_equal(end, end2);
            char ref[32];
            int reflen = snprintf(ref, sizeof ref, "%.9g", (double)v[i]);
            if (f32_bits(direct) != f32_bits(v[i]) || f32_bits((float)wide) != f32_bits(v[i]) ||
                (int)(end - p) > reflen + (v[i] == 0 && signbit(v[i]) ? 2 : 0))
                fail_msg("0x%08x: '%.*s' (%%.9g '%s')", f32_bits(v[i]), (int)(end - p), p, ref);
            shorter += (int)(end - p) < reflen;
            assert_true(*end == (i + 1 < n ? ',' : ']'));
            p = end + 1;
            checked++;
        }
        free(body);
    }
    print_message("%llu floats checked, %llu shorter than %%.9g\n", (unsigned long long)checked,
                  (unsigned long long)shorter);
    assert_true(checked > 1000000);
    free(v);
}

/* A YOLOv8 output ([1, 84, 8400] floats) as JSON: valid, complete, and
 * built without a JSON tree (time printed for the report). */
static void test_response_large_output(void **state)
{
    (void)state;
    size_t n = 84 * 8400;
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(rnd() % 6400000) / 10000.0f;
    int64_t dims[3] = {1, 84, 8400};
    kserve_output o = {"output0", GLINT_F32, 3, dims, v, 0, 0};
    char *body;
    size_t len, hlen;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kserve_build_response("yolov8n", "1", NULL, &o, 1, &body, &len, &hlen), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("705600 floats as JSON: %zu bytes in %.1f ms\n", len,
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    json_t *root = load(body, len);
    json_t *d = json_object_get(output_at(root, 0), "data");
    assert_int_equal(json_array_size(d), n);
    for (size_t i = 0; i < n; i += 997)
        assert_int_equal(f32_bits((float)num(json_array_get(d, i))), f32_bits(v[i]));
    json_decref(root);
    free(body);
    free(v);
}

static void test_datatype_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        glint_dtype t;
    } map[] = {{"FP32", GLINT_F32},  {"FP64", GLINT_F64},  {"UINT8", GLINT_U8}, {"INT8", GLINT_I8},
               {"INT32", GLINT_I32}, {"INT64", GLINT_I64}, {"BOOL", GLINT_BOOL}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        assert_string_equal(kserve_datatype_name(map[i].t), map[i].name);
        assert_int_equal(kserve_datatype_parse(map[i].name, strlen(map[i].name)), map[i].t);
    }
    assert_null(kserve_datatype_name(GLINT_DTYPE_UNDEFINED));
    assert_int_equal(kserve_datatype_parse("FP16", 4), GLINT_DTYPE_UNDEFINED);
    assert_int_equal(kserve_datatype_parse("FP3", 3), GLINT_DTYPE_UNDEFINED);
    assert_int_equal(kserve_datatype_parse("FP32x", 4), GLINT_F32); /* length-bounded */
    assert_int_equal(kserve_datatype_parse(NULL, 0), GLINT_DTYPE_UNDEFINED);
}

/* BYTES: strings in JSON and length-prefixed elements in binary, both read
 * as Triton serializes them; bad lengths refused; written back as JSON
 * strings (escaped) or as the same binary layout. */
static void test_bytes(void **state)
{
    (void)state;
    kserve_request r;
    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\","
                                "\"shape\":[2,1],\"data\":[[\"ab\"],[\"\"]]}]}",
                                &r),
                     0);
    const kserve_tensor *t = &r.inputs[0];
    assert_int_equal(t->dtype, KSERVE_BYTES);
    assert_int_equal(t->elements, 2);
    assert_int_equal(t->size, 4 + 2 + 4);
    assert_memory_equal(t->data, "\x02\0\0\0ab\0\0\0\0", 10);
    assert_int_equal(kserve_bytes_check(t->data, t->size, 2), 0);
    assert_int_equal(kserve_bytes_check(t->data, t->size, 1), -1); /* bytes left over */
    assert_int_equal(kserve_bytes_check(t->data, t->size, 3), -1); /* one short */
    kserve_request_dispose(&r);

    static const uint8_t good[] = {3, 0, 0, 0, 'x', 'y', 'z', 1, 0, 0, 0, 0xff};
    uint8_t *body;
    const char *head = "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[2],"
                       "\"parameters\":{\"binary_data_size\":12}}]}";
    assert_int_equal(parse_bin(head, good, sizeof good, &r, &body), 0);
    const uint8_t *p = r.inputs[0].data, *e;
    size_t left = r.inputs[0].size, len;
    assert_int_equal(kserve_bytes_next(&p, &left, &e, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(e, "xyz", 3);
    assert_int_equal(kserve_bytes_next(&p, &left, &e, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(e[0], 0xff);
    assert_int_equal(kserve_bytes_next(&p, &left, &e, &len), -1);
    kserve_request_dispose(&r);
    free(body);
    static const uint8_t past[] = {9, 0, 0, 0, 'x', 'y', 'z', 1, 0, 0, 0, 0xff};
    assert_int_equal(parse_bin(head, past, sizeof past, &r, &body), -1);
    assert_non_null(strstr(err, "are not 2 BYTES elements"));
    kserve_request_dispose(&r);
    free(body);

    /* out: JSON strings (a quote and a bad UTF-8 byte escaped), or binary */
    static const uint8_t ans[] = {3, 0, 0, 0, '{', '"', '}', 1, 0, 0, 0, 0xff};
    int64_t dims[1] = {2};
    kserve_output o = {"answer", KSERVE_BYTES, 1, dims, ans, 0, sizeof ans};
    char *resp;
    size_t rlen, hlen;
    assert_int_equal(kserve_build_response("m", NULL, NULL, &o, 1, &resp, &rlen, &hlen), 0);
    assert_non_null(strstr(resp, "\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"{\\\"}\","
                                 "\"\\ufffd\"]"));
    free(resp);
    o.binary = 1;
    assert_int_equal(kserve_build_response("m", NULL, NULL, &o, 1, &resp, &rlen, &hlen), 0);
    assert_int_equal(rlen, hlen + sizeof ans);
    assert_memory_equal(resp + hlen, ans, sizeof ans);
    free(resp);
    o.bytes = 11; /* elements that do not fill it: refused */
    assert_int_equal(kserve_build_response("m", NULL, NULL, &o, 1, &resp, &rlen, &hlen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32_flat_and_nested),
        cmocka_unit_test(test_int_types_and_ranges),
        cmocka_unit_test(test_scalar_and_empty_shapes),
        cmocka_unit_test(test_parameters_and_outputs),
        cmocka_unit_test(test_binary_input),
        cmocka_unit_test(test_mixed_binary_and_json),
        cmocka_unit_test(test_refused_json_requests),
        cmocka_unit_test(test_refused_outputs),
        cmocka_unit_test(test_message_names_are_sanitized),
        cmocka_unit_test(test_tensor_count_limits),
        cmocka_unit_test(test_max_elements),
        cmocka_unit_test(test_refused_binary_layouts),
        cmocka_unit_test(test_response_fp32_round_trip),
        cmocka_unit_test(test_response_int_bool_f64),
        cmocka_unit_test(test_response_escaping),
        cmocka_unit_test(test_response_binary_layout),
        cmocka_unit_test(test_request_response_echo),
        cmocka_unit_test(test_response_refusals),
        cmocka_unit_test(test_response_fp32_sweep),
        cmocka_unit_test(test_response_large_output),
        cmocka_unit_test(test_datatype_names),
        cmocka_unit_test(test_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
