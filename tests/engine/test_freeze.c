/* glint_model_freeze_input(): a Reshape whose target shape is a graph input
 * is planned as a step once that input is frozen into a constant (until
 * then the interpreter of run-time shapes runs it); freezing
 * checks type, rank and fixed dimensions, copies the value and renumbers the
 * remaining inputs. */
#include "etest.h"

static const float xs[12] = {-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5};

static glint_tensor shape_of(int64_t *v, int n)
{
    return (glint_tensor){.dtype = GLINT_I64, .ndim = 1, .dims = {n}, .data = v};
}

static glint_tensor x_input(void)
{
    return (glint_tensor){.dtype = GLINT_F32, .ndim = 1, .dims = {12}, .data = (void *)xs};
}

/* Unfrozen, the Reshape takes its shape from each run: the interpreter of
 * run-time shapes runs it (and the Relu after it); a shape that does not fit
 * is a clean error. */
static void test_shape_at_run_time(void **state)
{
    glint_model *m = etest_load("reshape_by_input/model.onnx");
    assert_int_equal(glint_model_num_inputs(m), 2);
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        glint_context *c = etest_context(m, (glint_backend)be, 1, 1);
        int64_t shapes[2][2] = {{3, 4}, {6, 2}};
        for (int k = 0; k < 2; k++) {
            glint_tensor two[2] = {x_input(), shape_of(shapes[k], 2)}, y;
            etest_status(glint_context_run(c, two, 2), GLINT_OK);
            glint_context_output(c, 0, &y);
            etest_assert_dims(&y, 2, shapes[k]);
            for (int i = 0; i < 12; i++)
                assert_true(((const float *)y.data)[i] == (xs[i] > 0 ? xs[i] : 0));
        }
        glint_context_stats st;
        glint_context_get_stats(c, &st);
        assert_int_equal(st.interpreted, 2);
        int64_t bad[2] = {5, 3};
        glint_tensor two[2] = {x_input(), shape_of(bad, 2)};
        etest_status(glint_context_run(c, two, 2), GLINT_ERR_SHAPE);
        etest_msg_has("reshape");
        glint_context_free(c);
    }
    glint_model_free(m);
}

static void test_freeze_plans(void **state)
{
    glint_model *m = etest_load("reshape_by_input/model.onnx");
    int64_t shape[2] = {3, 4};
    glint_tensor t = shape_of(shape, 2);
    etest_status(glint_model_freeze_input(m, 1, &t), GLINT_OK);
    shape[0] = 4; /* the value was copied */
    shape[1] = 3;
    assert_int_equal(glint_model_num_inputs(m), 1);
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    assert_string_equal(info.name, "x");

    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        glint_context *c = etest_context(m, (glint_backend)be, 1, 1);
        glint_tensor in = x_input();
        etest_status(glint_context_run(c, &in, 1), GLINT_OK);
        glint_tensor y;
        glint_context_output(c, 0, &y);
        etest_assert_dims(&y, 2, (int64_t[]){3, 4});
        glint_context_stats st;
        glint_context_get_stats(c, &st);
        assert_int_equal(st.interpreted, 0); /* frozen: planned steps */
        const float *v = y.data;
        for (int i = 0; i < 12; i++)
            assert_true(v[i] == (xs[i] > 0 ? xs[i] : 0));
        /* the old second input is gone */
        glint_tensor two[2] = {x_input(), shape_of(shape, 2)};
        etest_status(glint_context_run(c, two, 2), GLINT_ERR_INVALID);
        glint_context_free(c);
    }
    glint_model_free(m);
}

static void test_freeze_infer_dim(void **state)
{
    glint_model *m = etest_load("reshape_by_input/model.onnx");
    int64_t shape[2] = {-1, 6};
    glint_tensor t = shape_of(shape, 2);
    etest_status(glint_model_freeze_input(m, 1, &t), GLINT_OK);
    glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, 1);
    glint_tensor in = x_input(), y;
    etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    glint_context_output(c, 0, &y);
    etest_assert_dims(&y, 2, (int64_t[]){2, 6});
    glint_context_free(c);
    glint_model_free(m);
}

static void test_freeze_refused(void **state)
{
    glint_model *m = etest_load("reshape_by_input/model.onnx");
    int32_t s32[2] = {3, 4};
    glint_tensor t = {.dtype = GLINT_I32, .ndim = 1, .dims = {2}, .data = s32};
    etest_status(glint_model_freeze_input(m, 1, &t), GLINT_ERR_INVALID);
    etest_msg_has("'shape'");
    int64_t s64[3] = {3, 4, 1};
    t = (glint_tensor){.dtype = GLINT_I64, .ndim = 2, .dims = {1, 2}, .data = s64};
    etest_status(glint_model_freeze_input(m, 1, &t), GLINT_ERR_INVALID); /* rank */
    t = shape_of(s64, 3);
    etest_status(glint_model_freeze_input(m, 1, &t), GLINT_ERR_SHAPE); /* [3] vs [2] */
    etest_msg_has("dimension 0");
    t = shape_of(s64, 2);
    etest_status(glint_model_freeze_input(m, 2, &t), GLINT_ERR_INVALID);
    etest_status(glint_model_freeze_input(m, -1, &t), GLINT_ERR_INVALID);
    assert_int_equal(glint_model_num_inputs(m), 2); /* nothing changed */
    glint_model_free(m);
}

/* A frozen value that does not fit the Reshape is refused when planning. */
static void test_freeze_bad_value(void **state)
{
    int64_t bad[][2] = {{5, 5}, {-1, 5}, {-2, 6}, {-1, -1}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        glint_model *m = etest_load("reshape_by_input/model.onnx");
        glint_tensor t = shape_of(bad[k], 2);
        etest_status(glint_model_freeze_input(m, 1, &t), GLINT_OK);
        glint_context *c = (glint_context *)&c;
        glint_context_options o = {.threads = 1, .backend = GLINT_BACKEND_REF};
        etest_status(glint_context_create(m, &o, &c), GLINT_ERR_SHAPE);
        assert_null(c);
        etest_msg_has("reshape_in");
        glint_model_free(m);
    }
}

/* Target dimensions whose product overflows int64 must be refused, not
 * multiplied (UBSan aborts on the signed overflow). */
static void test_freeze_huge_shape(void **state)
{
    int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    glint_model *m = etest_load("reshape_by_input/model.onnx");
    glint_tensor t = shape_of(huge, 2);
    etest_status(glint_model_freeze_input(m, 1, &t), GLINT_OK);
    glint_context *c = (glint_context *)&c;
    glint_context_options o = {.threads = 1, .backend = GLINT_BACKEND_REF};
    assert_int_not_equal(glint_context_create(m, &o, &c), GLINT_OK);
    assert_null(c);
    glint_model_free(m);
}

/* A free (batch) axis accepts any size, but not a negative one. */
static void test_freeze_negative_batch(void **state)
{
    glint_model *m = etest_load("conv_bn_relu/model.onnx");
    static float x[3 * 64];
    glint_tensor t = {.dtype = GLINT_F32, .ndim = 4, .dims = {-1, 3, 8, 8}, .data = x};
    assert_int_not_equal(glint_model_freeze_input(m, 0, &t), GLINT_OK);
    assert_int_equal(glint_model_num_inputs(m), 1);
    glint_model_free(m);
}

/* A frozen value's size is checked before it is multiplied out (the batch
 * axis is free, so nothing else bounds it; UBSan aborts on the overflow). */
static void test_freeze_huge_batch(void **state)
{
    glint_model *m = etest_load("conv_bn_relu/model.onnx");
    static float x[3 * 64];
    glint_tensor t = {
        .dtype = GLINT_F32, .ndim = 4, .dims = {(int64_t)1 << 62, 3, 8, 8}, .data = x};
    glint_status s = glint_model_freeze_input(m, 0, &t);
    assert_true(s == GLINT_ERR_NOMEM || s == GLINT_ERR_SHAPE || s == GLINT_ERR_INVALID);
    glint_model_free(m);
}

/* Every input frozen: the whole graph folds at plan time; a run takes no
 * inputs and the output is the folded constant. */
static void test_freeze_everything(void **state)
{
    glint_model *m = etest_load("reshape_by_input/model.onnx");
    int64_t shape[2] = {6, 2};
    glint_tensor t = shape_of(shape, 2);
    etest_status(glint_model_freeze_input(m, 1, &t), GLINT_OK);
    t = x_input();
    etest_status(glint_model_freeze_input(m, 0, &t), GLINT_OK);
    assert_int_equal(glint_model_num_inputs(m), 0);
    glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, 1);
    etest_status(glint_context_run(c, NULL, 0), GLINT_OK);
    glint_tensor y;
    glint_context_output(c, 0, &y);
    etest_assert_dims(&y, 2, (int64_t[]){6, 2});
    const float *v = y.data;
    for (int i = 0; i < 12; i++)
        assert_true(v[i] == (xs[i] > 0 ? xs[i] : 0));
    glint_context_free(c);
    glint_model_free(m);
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_at_run_time),
        cmocka_unit_test(test_freeze_plans),
        cmocka_unit_test(test_freeze_infer_dim),
        cmocka_unit_test(test_freeze_refused),
        cmocka_unit_test(test_freeze_bad_value),
        cmocka_unit_test(test_freeze_everything),
        /* last: these abort under ASan/UBSan until the engine checks the value */
        cmocka_unit_test(test_freeze_negative_batch),
        cmocka_unit_test(test_freeze_huge_batch),
        cmocka_unit_test(test_freeze_huge_shape),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_freeze_*" */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
