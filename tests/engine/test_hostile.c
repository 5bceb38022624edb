/* Hostile model values (tests/data/onnx/hostile, from
 * tools/gen_test_models.py, mostly reductions of what fuzz/fuzz_model_load
 * found): shapes, steps, pads and bounds chosen to overflow 64-bit size
 * arithmetic or to read past small tensors. Each model must be refused with
 * a status and a message at load, context creation or run, or, where it is
 * valid ONNX, be computed correctly. Any overflow or over-read aborts this
 * suite under ASan+UBSan: run one case with `engine_test_hostile <name>`. */
#include "etest.h"

/* Loads hostile/<name>.onnx and, if it loads, runs it on the REF backend
 * with x (may be NULL for a model without inputs). Returns true and sets *y
 * (copied, free() it) if everything succeeded; false after a refusal, which
 * must carry a message. */
static bool try_model(const char *name, const glint_tensor *x, glint_tensor *y)
{
    char rel[128];
    snprintf(rel, sizeof rel, "hostile/%s.onnx", name);
    glint_model *m = NULL;
    glint_context *c = NULL;
    glint_status s = glint_model_load(etest_path(rel), &m);
    glint_context_options o = {.threads = 1, .backend = GLINT_BACKEND_REF};
    if (!s) s = glint_context_create(m, &o, &c);
    if (!s) s = glint_context_run(c, x, x ? 1 : 0);
    if (s) {
        assert_true(strlen(glint_last_error()) > 10);
        assert_true(s != GLINT_ERR_BACKEND && s != GLINT_ERR_IO);
    } else {
        glint_context_output(c, 0, y);
        size_t bytes = (size_t)etest_count(y) * glint_dtype_size(y->dtype);
        void *copy = malloc(bytes ? bytes : 1);
        memcpy(copy, y->data, bytes);
        y->data = copy;
    }
    glint_context_free(c);
    glint_model_free(m);
    return s == GLINT_OK;
}

static float x14[4] = {-3, 1, 5, 9};

static glint_tensor input_1x4(void)
{
    return (glint_tensor){.dtype = GLINT_F32, .ndim = 2, .dims = {1, 4}, .data = x14};
}

/* x [2,5,6] with x[n,c,w] = 100n + 10c + w */
static glint_tensor input_2x5x6(void)
{
    static float x[60];
    for (int i = 0; i < 60; i++)
        x[i] = (float)(i / 30 * 100 + i / 6 % 5 * 10 + i % 6);
    return (glint_tensor){.dtype = GLINT_F32, .ndim = 3, .dims = {2, 5, 6}, .data = x};
}

static void expect_refused(const char *name, const glint_tensor *x)
{
    glint_tensor y;
    if (try_model(name, x, &y)) {
        free(y.data);
        fail_msg("%s: accepted", name);
    }
}

static void test_reshape_overflow(void **state)
{
    glint_tensor x = input_1x4();
    expect_refused("reshape_overflow", &x);
}

/* Slice along axis 1 keeping only channel `keep`. */
static void expect_channel(const char *name, int keep)
{
    glint_tensor x = input_2x5x6(), y;
    if (!try_model(name, &x, &y)) fail_msg("%s: %s", name, glint_last_error());
    etest_assert_dims(&y, 3, (int64_t[]){2, 1, 6});
    const float *v = y.data;
    for (int n = 0; n < 2; n++)
        for (int w = 0; w < 6; w++)
            assert_true(v[n * 6 + w] == (float)(100 * n + 10 * keep + w));
    free(y.data);
}

static void test_slice_huge_step(void **state)
{
    expect_channel("slice_huge_step", 0);
}

static void test_slice_huge_neg_step(void **state)
{
    expect_channel("slice_huge_neg_step", 4);
}

/* An empty min is refused, or read as "no lower bound". */
static void test_clip_empty_min(void **state)
{
    glint_tensor x = input_1x4(), y;
    if (!try_model("clip_empty_min", &x, &y)) return;
    const float want[4] = {-3, 1, 5, 6};
    assert_true(etest_max_diff(y.data, want, 4) == 0);
    free(y.data);
}

static void test_tile_overflow(void **state)
{
    glint_tensor x = input_1x4();
    expect_refused("tile_overflow", &x);
}

static void test_pad_overflow(void **state)
{
    glint_tensor x = input_1x4();
    expect_refused("pad_overflow", &x);
}

static void test_maxpool_huge_pads(void **state)
{
    static float v[4];
    glint_tensor x = {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 1, 2, 2}, .data = v};
    expect_refused("maxpool_huge_pads", &x);
}

static void test_conv_huge_dilation(void **state)
{
    static float v[16];
    glint_tensor x = {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 1, 4, 4}, .data = v};
    expect_refused("conv_huge_dilation", &x);
}

/* A required input left empty is refused at load, naming the node. */
static void test_omitted_required(void **state)
{
    glint_tensor x = input_1x4();
    expect_refused("omitted_required", &x);
    etest_msg_has("sig_noinput");
}

static void test_range_huge(void **state)
{
    expect_refused("range_huge", NULL);
}

static void test_convtranspose_bias(void **state)
{
    static float v[48];
    glint_tensor x = {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 3, 4, 4}, .data = v};
    expect_refused("convtranspose_bias", &x);
}

/* Refused, or the identity of min over int64 (INT64_MAX). */
static void test_reduce_empty_int(void **state)
{
    glint_tensor y;
    if (!try_model("reduce_empty_int", NULL, &y)) return;
    assert_int_equal(y.dtype, GLINT_I64);
    assert_int_equal(etest_count(&y), 1);
    assert_true(*(int64_t *)y.data == INT64_MAX);
    free(y.data);
}

/* QuantizeLinear by a zero scale: x/0 + zero point is +-inf, which
 * saturates, or NaN (0/0), which becomes 0 — never an undefined
 * float-to-int cast. */
static void test_quantize_zero_scale(void **state)
{
    (void)state;
    float v[4] = {-3, 0, 5, 9};
    glint_tensor x = {.dtype = GLINT_F32, .ndim = 2, .dims = {1, 4}, .data = v}, y;
    assert_true(try_model("quantize_zero_scale", &x, &y));
    const uint8_t *q = y.data;
    assert_int_equal(y.dtype, GLINT_U8);
    assert_int_equal(q[0], 0);   /* -inf saturates low */
    assert_int_equal(q[1], 0);   /* NaN */
    assert_int_equal(q[2], 255); /* +inf saturates high */
    assert_int_equal(q[3], 255);
    free(y.data);
}

static void test_matmulinteger_zp(void **state)
{
    (void)state;
    expect_refused("matmulinteger_zp", NULL);
}

static void test_qlinearconv_scales(void **state)
{
    (void)state;
    expect_refused("qlinearconv_scales", NULL);
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_huge),
        cmocka_unit_test(test_reshape_overflow),
        cmocka_unit_test(test_slice_huge_step),
        cmocka_unit_test(test_slice_huge_neg_step),
        cmocka_unit_test(test_clip_empty_min),
        cmocka_unit_test(test_omitted_required),
        /* last: each aborts under UBSan until its arithmetic is checked */
        cmocka_unit_test(test_tile_overflow),
        cmocka_unit_test(test_pad_overflow),
        cmocka_unit_test(test_maxpool_huge_pads),
        cmocka_unit_test(test_conv_huge_dilation),
        cmocka_unit_test(test_convtranspose_bias),
        cmocka_unit_test(test_reduce_empty_int),
        cmocka_unit_test(test_quantize_zero_scale),
        cmocka_unit_test(test_matmulinteger_zp),
        cmocka_unit_test(test_qlinearconv_scales),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_slice_*" */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
