/* glint_tensor_parse(): ONNX TensorProto files. The ONNX node tests' .pb
 * files decode (or are refused as unsupported types, never as corrupt);
 * hand-built protobufs check each refusal: short raw data, a value count
 * that disagrees with the shape, negative and overflowing dimensions, an
 * unknown data type, external data, garbage and truncation. */
#include "etest.h"

#include <dirent.h>

#define TESTDATA "/usr/share/libonnx-testdata/data/node"

/* ---- a tiny protobuf writer for hand-built TensorProtos ---- */
typedef struct pb {
    uint8_t b[512];
    size_t n;
} pb;

static void pb_varint(pb *p, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        p->b[p->n++] = byte | (v ? 0x80 : 0);
    } while (v);
}

static void pb_int(pb *p, int field, int64_t v)
{
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, (uint64_t)v);
}

static void pb_bytes(pb *p, int field, const void *data, size_t n)
{
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, data, n);
    p->n += n;
}

enum {
    F_DIMS = 1,
    F_TYPE = 2,
    F_FLOATS = 4,
    F_NAME = 8,
    F_RAW = 9,
    F_EXTERNAL = 13,
    F_LOCATION = 14
};

/* TensorProto with `nd` dims, data type `dt` and `raw_len` bytes of raw data. */
static pb tensor_pb(const int64_t *dims, int nd, int dt, const void *raw, size_t raw_len)
{
    pb p = {.n = 0};
    for (int i = 0; i < nd; i++)
        pb_int(&p, F_DIMS, dims[i]);
    pb_int(&p, F_TYPE, dt);
    if (raw) pb_bytes(&p, F_RAW, raw, raw_len);
    return p;
}

static void expect_parse_fail(const pb *p, glint_status want, const char *needle)
{
    glint_tensor t = {.data = (void *)&t};
    char *name = (char *)&name;
    etest_status(glint_tensor_parse(p->b, p->n, &t, &name), want);
    if (needle) etest_msg_has(needle);
    assert_null(t.data);
}

static void test_onnx_abs(void **state)
{
    size_t n;
    uint8_t *buf = etest_read_file(TESTDATA "/test_abs/test_data_set_0/input_0.pb", &n);
    glint_tensor x;
    char *name = NULL;
    etest_status(glint_tensor_parse(buf, n, &x, &name), GLINT_OK);
    free(buf);
    assert_string_equal(name, "x");
    free(name);
    assert_int_equal(x.dtype, GLINT_F32);
    etest_assert_dims(&x, 3, (int64_t[]){3, 4, 5});
    glint_tensor y = etest_read_pb(TESTDATA "/test_abs/test_data_set_0/output_0.pb");
    etest_assert_dims(&y, 3, (int64_t[]){3, 4, 5});
    const float *xv = x.data, *yv = y.data;
    int neg = 0;
    for (int i = 0; i < 60; i++) {
        assert_true(yv[i] == fabsf(xv[i]));
        neg += xv[i] < 0;
    }
    assert_true(neg > 0 && neg < 60); /* a real input, not zeros */
    free(x.data);
    free(y.data);
}

/* int64 data (ArgMax's output) decodes with its values. */
static void test_onnx_int64(void **state)
{
    glint_tensor y =
        etest_read_pb(TESTDATA "/test_argmax_default_axis_example/test_data_set_0/output_0.pb");
    assert_int_equal(y.dtype, GLINT_I64);
    etest_assert_dims(&y, 2, (int64_t[]){1, 2});
    const int64_t *v = y.data;
    assert_int_equal(v[0], 1); /* argmax over axis 0 of [[2,1],[3,10]] */
    assert_int_equal(v[1], 1);
    free(y.data);
}

/* Every .pb of the node tests: decodes, or is a type glint does not have. */
static void test_onnx_all(void **state)
{
    DIR *d = opendir(TESTDATA);
    if (!d) skip();
    int ok = 0, unsupported = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        for (int k = 0; k < 4; k++) {
            char path[1024];
            snprintf(path, sizeof path, TESTDATA "/%s/test_data_set_0/%s_%d.pb", e->d_name,
                     k < 2 ? "input" : "output", k % 2);
            FILE *f = fopen(path, "rb");
            if (!f) continue;
            fclose(f);
            size_t n;
            uint8_t *buf = etest_read_file(path, &n);
            glint_tensor t;
            glint_status s = glint_tensor_parse(buf, n, &t, NULL);
            free(buf);
            if (s == GLINT_OK) {
                assert_true(glint_dtype_size(t.dtype) > 0);
                assert_non_null(t.data);
                free(t.data);
                ok++;
            } else if (s == GLINT_ERR_UNSUPPORTED) {
                unsupported++;
            } else {
                /* sequences and optionals (test_if_seq, test_identity_opt,
                 * test_optional_*, test_sequence_*...) are not TensorProtos */
                if (strstr(e->d_name, "seq") || strstr(e->d_name, "opt")) continue;
                fail_msg("%s: %s (%s)", path, glint_strerror(s), glint_last_error());
            }
        }
    }
    closedir(d);
    assert_true(ok > 1000);
    assert_true(unsupported > 10); /* float16, strings, uint16... */
}

static void test_handmade_ok(void **state)
{
    const float v[4] = {1, -2, 3.5f, 1e30f};
    pb p = tensor_pb((int64_t[]){2, 2}, 2, GLINT_F32, v, sizeof v);
    glint_tensor t;
    char *name = (char *)&name;
    etest_status(glint_tensor_parse(p.b, p.n, &t, &name), GLINT_OK);
    assert_null(name); /* it has none */
    etest_assert_dims(&t, 2, (int64_t[]){2, 2});
    assert_memory_equal(t.data, v, sizeof v);
    free(t.data);

    /* typed float_data instead of raw, with a name */
    p = tensor_pb((int64_t[]){4}, 1, GLINT_F32, NULL, 0);
    pb_bytes(&p, F_FLOATS, v, sizeof v); /* packed repeated float */
    pb_bytes(&p, F_NAME, "weights", 7);
    etest_status(glint_tensor_parse(p.b, p.n, &t, &name), GLINT_OK);
    assert_string_equal(name, "weights");
    free(name);
    assert_memory_equal(t.data, v, sizeof v);
    free(t.data);

    /* empty and scalar tensors */
    p = tensor_pb((int64_t[]){0, 3}, 2, GLINT_F32, "", 0);
    etest_status(glint_tensor_parse(p.b, p.n, &t, NULL), GLINT_OK);
    assert_int_equal(etest_count(&t), 0);
    free(t.data);
    p = tensor_pb(NULL, 0, GLINT_I64, (int64_t[]){-7}, 8);
    etest_status(glint_tensor_parse(p.b, p.n, &t, NULL), GLINT_OK);
    assert_int_equal(t.ndim, 0);
    assert_int_equal(*(int64_t *)t.data, -7);
    free(t.data);
}

static void test_handmade_refused(void **state)
{
    const float v[4] = {1, 2, 3, 4};
    pb p = tensor_pb((int64_t[]){3}, 1, GLINT_F32, v, 4);
    expect_parse_fail(&p, GLINT_ERR_PARSE, "raw_data has 4 bytes");
    p = tensor_pb((int64_t[]){3}, 1, GLINT_F32, v, 16); /* too long is wrong too */
    expect_parse_fail(&p, GLINT_ERR_PARSE, "12");
    p = tensor_pb((int64_t[]){3}, 1, GLINT_F32, NULL, 0);
    pb_bytes(&p, F_FLOATS, v, sizeof v);
    expect_parse_fail(&p, GLINT_ERR_PARSE, "holds 4 values");
    p = tensor_pb((int64_t[]){2, -3}, 2, GLINT_F32, v, 0);
    expect_parse_fail(&p, GLINT_ERR_PARSE, "negative");
    p = tensor_pb((int64_t[]){1 << 30, 1 << 30, 1 << 30}, 3, GLINT_F32, v, 4);
    expect_parse_fail(&p, GLINT_ERR_NOMEM, "too large");
    p = tensor_pb((int64_t[]){INT64_MAX, 2}, 2, GLINT_U8, v, 4);
    expect_parse_fail(&p, GLINT_ERR_NOMEM, "too large");
    p = tensor_pb((int64_t[]){2}, 1, 16 /* bfloat16 */, v, 4);
    expect_parse_fail(&p, GLINT_ERR_UNSUPPORTED, "data type 16");
    p = tensor_pb((int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 9, GLINT_F32, v, 4);
    expect_parse_fail(&p, GLINT_ERR_UNSUPPORTED, "rank 9");

    /* external data: nothing to resolve it against */
    p = tensor_pb((int64_t[]){4}, 1, GLINT_F32, NULL, 0);
    pb q = {.n = 0};
    pb_bytes(&q, 1, "location", 8);
    pb_bytes(&q, 2, "w.bin", 5);
    pb_bytes(&p, F_EXTERNAL, q.b, q.n);
    pb_int(&p, F_LOCATION, 1);
    expect_parse_fail(&p, GLINT_ERR_INVALID, "w.bin");
}

static void test_garbage(void **state)
{
    const uint8_t ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    glint_tensor t;
    etest_status(glint_tensor_parse(ff, sizeof ff, &t, NULL), GLINT_ERR_PARSE);
    etest_msg_has("TensorProto");
    const char *txt = "not a tensor at all";
    etest_status(glint_tensor_parse(txt, strlen(txt), &t, NULL), GLINT_ERR_PARSE);

    /* every prefix of a real file: an error or a tensor, never a crash */
    size_t n;
    uint8_t *buf = etest_read_file(TESTDATA "/test_abs/test_data_set_0/input_0.pb", &n);
    int parsed = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, buf, len);
        char *name = NULL;
        if (glint_tensor_parse(cut, len, &t, &name) == GLINT_OK) {
            parsed++;
            free(t.data);
            free(name);
        }
        free(cut);
    }
    /* the raw data is the last field and its length must match the shape:
     * no strict prefix holds all 240 bytes, so none decodes */
    assert_int_equal(parsed, 0);
    free(buf);
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onnx_abs),
        cmocka_unit_test(test_onnx_int64),
        cmocka_unit_test(test_onnx_all),
        cmocka_unit_test(test_handmade_ok),
        cmocka_unit_test(test_handmade_refused),
        cmocka_unit_test(test_garbage),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_freeze_*" */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
