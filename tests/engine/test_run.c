/* Context creation and run-time argument checks: wrong input count, dtype,
 * shape, batch outside 1..max_batch, missing data, max_batch on a fixed-batch
 * model; a refused run leaves the context usable. Also the per-step profile. */
#include "etest.h"

static glint_model *conv;
static float x4[4 * 3 * 8 * 8];

static int setup(void **state)
{
    if (glint_model_load(etest_path("conv_bn_relu/model.onnx"), &conv)) return -1;
    for (size_t i = 0; i < sizeof x4 / sizeof *x4; i++)
        x4[i] = etest_det((int64_t)i, 100);
    return 0;
}

static int teardown(void **state)
{
    glint_model_free(conv);
    return 0;
}

static glint_tensor image(int batch)
{
    return (glint_tensor){.dtype = GLINT_F32, .ndim = 4, .dims = {batch, 3, 8, 8}, .data = x4};
}

/* Runs batch 1 and returns output element 0..n (copied to out). */
static void run_ok(glint_context *c, float *out, int n)
{
    glint_tensor in = image(1), y;
    etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    glint_context_output(c, 0, &y);
    assert_int_equal(y.dims[0], 1);
    memcpy(out, y.data, (size_t)n * sizeof *out);
}

static void test_input_count(void **state)
{
    glint_context *c = etest_context(conv, GLINT_BACKEND_REF, 1, 2);
    glint_tensor in[2] = {image(1), image(1)};
    etest_status(glint_context_run(c, in, 0), GLINT_ERR_INVALID);
    etest_msg_has("takes 1 inputs, got 0");
    etest_status(glint_context_run(c, in, 2), GLINT_ERR_INVALID);
    etest_msg_has("got 2");
    glint_context_free(c);
}

static void test_dtype(void **state)
{
    glint_context *c = etest_context(conv, GLINT_BACKEND_REF, 1, 1);
    float before[16], after[16];
    run_ok(c, before, 16);
    glint_tensor in = image(1);
    in.dtype = GLINT_I32;
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_INVALID);
    etest_msg_has("'x'");
    etest_msg_has("float32");
    etest_msg_has("int32");
    in.dtype = GLINT_DTYPE_UNDEFINED;
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_INVALID);
    run_ok(c, after, 16);
    assert_memory_equal(before, after, sizeof before);
    glint_context_free(c);
}

static void test_shape(void **state)
{
    glint_context *c = etest_context(conv, GLINT_BACKEND_REF, 1, 2);
    glint_tensor in = image(1);
    in.dims[3] = 9;
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    etest_msg_has("[-1,3,8,8]");
    etest_msg_has("[1,3,8,9]");
    in = image(1);
    in.ndim = 3; /* rank */
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    in = image(1);
    in.ndim = 5;
    in.dims[4] = 1;
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    in = image(2);
    in.dims[1] = 4; /* channels, with a valid batch */
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    etest_msg_has("[-1,3,8,8]");
    glint_context_free(c);
}

/* A rank above GLINT_MAX_DIMS is a bad argument: refused without reading
 * past the caller's dims[] (the tensor sits alone on the heap so that ASan
 * sees any such read). */
static void test_rank_too_large(void **state)
{
    glint_context *c = etest_context(conv, GLINT_BACKEND_REF, 1, 1);
    glint_tensor *in = malloc(sizeof *in);
    *in = image(1);
    int ranks[] = {GLINT_MAX_DIMS + 1, 40, -1};
    for (int k = 0; k < 3; k++) {
        in->ndim = ranks[k];
        glint_status s = glint_context_run(c, in, 1);
        assert_true(s == GLINT_ERR_SHAPE || s == GLINT_ERR_INVALID);
    }
    free(in);
    glint_context_free(c);
}

static void test_batch_range(void **state)
{
    glint_context *c = etest_context(conv, GLINT_BACKEND_REF, 1, 3);
    glint_tensor in = image(0);
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    etest_msg_has("batch 0");
    etest_msg_has("1..3");
    in = image(4);
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    etest_msg_has("batch 4");
    in = image(-1);
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    in = image(1);
    in.ndim = 0; /* a scalar has no batch axis */
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    in = image(3);
    etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    glint_tensor y;
    glint_context_output(c, 0, &y);
    etest_assert_dims(&y, 4, (int64_t[]){3, 4, 8, 8});
    glint_context_free(c);

    /* the default max_batch is 1 */
    glint_context_options o = {.threads = 1, .backend = GLINT_BACKEND_REF};
    etest_status(glint_context_create(conv, &o, &c), GLINT_OK);
    in = image(2);
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    etest_msg_has("1..1");
    glint_context_free(c);
}

static void test_no_data(void **state)
{
    glint_context *c = etest_context(conv, GLINT_BACKEND_REF, 1, 1);
    glint_tensor in = image(1);
    in.data = NULL;
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_INVALID);
    etest_msg_has("no data");
    glint_context_free(c);
}

static void test_max_batch_limits(void **state)
{
    glint_model *fixed = etest_load("upsample_opset9/model.onnx");
    glint_context *c = (glint_context *)&c;
    glint_context_options o = {.threads = 1, .max_batch = 2, .backend = GLINT_BACKEND_REF};
    etest_status(glint_context_create(fixed, &o, &c), GLINT_ERR_INVALID);
    assert_null(c);
    etest_msg_has("fixed batch");
    o.max_batch = 1;
    etest_status(glint_context_create(fixed, &o, &c), GLINT_OK);
    float x[24] = {0};
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 2, 3, 4}, .data = x};
    etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    in.dims[0] = 2;
    etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
    glint_context_free(c);
    glint_model_free(fixed);

    o.max_batch = 100000;
    c = (glint_context *)&c;
    etest_status(glint_context_create(conv, &o, &c), GLINT_ERR_INVALID);
    assert_null(c);
    etest_msg_has("100000");
}

/* NULL options: threads = all cores, max_batch 1, AUTO backend. */
static void test_default_options(void **state)
{
    glint_context *c = NULL;
    etest_status(glint_context_create(conv, NULL, &c), GLINT_OK);
    float a[64];
    run_ok(c, a, 64);
    glint_context_free(c);
    c = etest_context(conv, GLINT_BACKEND_REF, 1, 1);
    float b[64];
    run_ok(c, b, 64);
    glint_context_free(c);
    assert_true(etest_max_diff(a, b, 64) < 1e-4);
}

/* Warming runs every batch size on zeros; afterwards real runs give the
 * results of an unwarmed context. */
static void test_warm(void **state)
{
    glint_context *cold = etest_context(conv, GLINT_BACKEND_AUTO, 1, 3);
    glint_context *warm = etest_context(conv, GLINT_BACKEND_AUTO, 1, 3);
    etest_status(glint_context_warm(warm), GLINT_OK);
    for (int b = 1; b <= 3; b++) {
        glint_tensor in = image(b), yc, yw;
        etest_status(glint_context_run(cold, &in, 1), GLINT_OK);
        etest_status(glint_context_run(warm, &in, 1), GLINT_OK);
        glint_context_output(cold, 0, &yc);
        glint_context_output(warm, 0, &yw);
        assert_int_equal(yw.dims[0], b);
        assert_memory_equal(yc.data, yw.data, (size_t)etest_count(&yc) * sizeof(float));
    }
    etest_status(glint_context_warm(warm), GLINT_OK); /* again, at any time */
    glint_context_free(cold);
    glint_context_free(warm);
}

static void test_profile(void **state)
{
    glint_context_options o = {
        .threads = 1, .max_batch = 2, .backend = GLINT_BACKEND_REF, .profile = 1};
    glint_context *c = NULL;
    etest_status(glint_context_create(conv, &o, &c), GLINT_OK);
    glint_tensor in = image(2);
    for (int i = 0; i < 3; i++)
        etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    size_t need = glint_context_profile(c, NULL, 0);
    assert_true(need > 0);
    char *buf = malloc(need + 1);
    assert_int_equal(glint_context_profile(c, buf, need + 1), need);
    assert_int_equal(strlen(buf), need);
    /* BN and the Relus are fused away: four Conv steps named after their nodes */
    int lines = 0;
    for (const char *p = buf; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 4);
    for (int k = 1; k <= 4; k++) {
        char name[16];
        snprintf(name, sizeof name, "conv%d ", k);
        if (!strstr(buf, name)) fail_msg("profile lacks %s:\n%s", name, buf);
    }
    assert_null(strstr(buf, "Relu"));
    assert_null(strstr(buf, "BatchNormalization"));
    /* a short buffer is not overrun and still reports the full length */
    char small[8];
    memset(small, 'z', sizeof small);
    assert_int_equal(glint_context_profile(c, small, 4), need);
    assert_int_equal(small[4], 'z');
    free(buf);
    glint_context_free(c);
}

/* glint_context_run reads an input where the caller holds it only when
 * that is safe: an input that is also a graph output still comes back
 * from glint_context_output, and an output fed back as the next input
 * (it lives in the context's own memory) gives what a copy of it gives. */
static void test_input_in_place(void **state)
{
    (void)state;
    glint_model *m = etest_load("input_as_output/model.onnx");
    float xv[2 * 4 * 6];
    for (int i = 0; i < 48; i++)
        xv[i] = (float)(i % 7) - 3.0f;
    glint_tensor x = {.dtype = GLINT_F32, .ndim = 3, .dims = {2, 4, 6}, .data = xv};
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        glint_context *c = etest_context(m, (glint_backend)be, 1, 2);
        etest_status(glint_context_run(c, &x, 1), GLINT_OK);
        glint_tensor y0, y1;
        glint_context_output(c, 0, &y0);
        glint_context_output(c, 1, &y1);
        for (int i = 0; i < 48; i++) {
            assert_float_equal(((const float *)y0.data)[i], xv[i], 0);
            assert_float_equal(((const float *)y1.data)[i], xv[i] > 0 ? xv[i] : 0, 0);
        }
        glint_context_free(c);
    }
    glint_model_free(m);

    m = etest_load("c2f/model.onnx");
    enum { N = 2 * 8 * 10 * 10 };
    float *a = malloc(N * sizeof *a), *copy = malloc(N * sizeof *copy);
    float *r1 = malloc(N * sizeof *r1);
    for (int i = 0; i < N; i++)
        a[i] = etest_det(i, 131);
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        glint_context *c = etest_context(m, (glint_backend)be, 1, 2);
        glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 10, 10}, .data = a}, o;
        etest_status(glint_context_run(c, &in, 1), GLINT_OK);
        glint_context_output(c, 0, &o);
        memcpy(copy, o.data, N * sizeof *copy);
        etest_status(glint_context_run(c, &o, 1), GLINT_OK); /* its own output as input */
        glint_context_output(c, 0, &o);
        memcpy(r1, o.data, N * sizeof *r1);
        in.data = copy;
        etest_status(glint_context_run(c, &in, 1), GLINT_OK);
        glint_context_output(c, 0, &o);
        for (int i = 0; i < N; i++)
            if (r1[i] != ((const float *)o.data)[i])
                fail_msg("backend %d: fed-back output differs at %d: %g against %g", be, i, r1[i],
                         ((const float *)o.data)[i]);
        glint_context_free(c);
    }
    free(a);
    free(copy);
    free(r1);
    glint_model_free(m);
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_count),
        cmocka_unit_test(test_dtype),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_batch_range),
        cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_max_batch_limits),
        cmocka_unit_test(test_default_options),
        cmocka_unit_test(test_warm),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_input_in_place),
        /* last: ASan aborts on the over-read until the engine checks ndim */
        cmocka_unit_test(test_rank_too_large),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_freeze_*" */
    return cmocka_run_group_tests(tests, setup, teardown);
}
