/* Model loading: every way a model file can be wrong is refused with the
 * right status and a message that names the problem (which file, which
 * operator, which node, which tensor), never a crash or a leak (this suite
 * runs under ASan+UBSan); good models describe their inputs and outputs. */
#include "etest.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* Expects glint_model_load(path) to fail with `want`; *out stays NULL. */
static void expect_load_fail(const char *path, glint_status want)
{
    glint_model *m = (glint_model *)&m; /* must be reset to NULL */
    etest_status(glint_model_load(path, &m), want);
    assert_null(m);
    assert_true(strlen(glint_last_error()) > 10);
}

static void expect_buffer_fail(const void *data, size_t n, const char *dir, glint_status want)
{
    glint_model *m = (glint_model *)&m;
    etest_status(glint_model_load_buffer(data, n, dir, &m), want);
    assert_null(m);
    assert_true(strlen(glint_last_error()) > 10);
}

static void test_missing_file(void **state)
{
    const char *path = etest_path("no_such_model.onnx");
    expect_load_fail(path, GLINT_ERR_IO);
    etest_msg_has("no_such_model.onnx");
    etest_msg_has(strerror(ENOENT));
}

static void test_directory(void **state)
{
    /* fopen() succeeds on a directory on Linux: the read must still fail.
     * The engine currently takes ftell()'s LONG_MAX for the size and answers
     * GLINT_ERR_NOMEM ("is 9223372036854775807 bytes"); GLINT_ERR_IO is the
     * right status (reported), so only the refusal and the path are pinned. */
    glint_model *m = (glint_model *)&m;
    glint_status s = glint_model_load(etest_path("conv_bn_relu"), &m);
    assert_true(s == GLINT_ERR_IO || s == GLINT_ERR_NOMEM);
    assert_null(m);
    etest_msg_has("conv_bn_relu");
}

static void test_empty(void **state)
{
    char path[] = "/tmp/glint_etest_emptyXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    expect_load_fail(path, GLINT_ERR_PARSE); /* an empty protobuf is a model with no graph */
    etest_msg_has(path);
    etest_msg_has("no graph");
    unlink(path);
    expect_buffer_fail("", 0, NULL, GLINT_ERR_PARSE);
}

static void test_random_bytes(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint8_t buf[4096];
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + etest_rng(&seed) % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)etest_rng(&seed);
        glint_model *m = NULL;
        glint_status s = glint_model_load_buffer(buf, n, NULL, &m);
        if (s == GLINT_OK) fail_msg("round %d: %zu random bytes loaded as a model", round, n);
        assert_null(m);
        assert_true(glint_last_error()[0] != 0);
    }
    /* text is not a model either */
    const char *txt = "this is not an onnx model\n";
    expect_buffer_fail(txt, strlen(txt), NULL, GLINT_ERR_PARSE);
    etest_msg_has("protobuf");
}

/* Loads data[0,n): must fail with a message or load a usable model. Returns
 * true if it loaded. */
static bool try_load(const uint8_t *data, size_t n)
{
    glint_model *m = NULL;
    glint_status s = glint_model_load_buffer(data, n, NULL, &m);
    if (s != GLINT_OK) {
        assert_null(m);
        assert_true(glint_last_error()[0] != 0);
        return false;
    }
    assert_non_null(m);
    assert_true(glint_model_num_outputs(m) >= 1);
    glint_model_free(m);
    return true;
}

static void test_truncated(void **state)
{
    size_t n;
    uint8_t *full = etest_read_file(etest_path("conv_bn_relu/model.onnx"), &n);
    int loaded = 0, tried = 0;
    for (size_t len = 0; len < n; len += len < 256 ? 1 : 13) {
        /* a copy of exactly len bytes, so that ASan sees any over-read */
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, full, len);
        loaded += try_load(cut, len);
        tried++;
        free(cut);
    }
    for (size_t len = n - 64; len < n; len++) {
        uint8_t *cut = malloc(len);
        memcpy(cut, full, len);
        loaded += try_load(cut, len);
        tried++;
        free(cut);
    }
    /* a prefix that ends between the graph and opset_import is a complete
     * model of opset 1 and may load; most prefixes must not */
    assert_true(tried > 500);
    assert_true(loaded < 5);
    assert_true(try_load(full, n));
    free(full);
}

static void test_corrupt_bytes(void **state)
{
    size_t n;
    uint8_t *full = etest_read_file(etest_path("silu_residual/model.onnx"), &n);
    uint8_t *buf = malloc(n);
    uint64_t seed = 42;
    for (int round = 0; round < 300; round++) {
        memcpy(buf, full, n);
        for (int k = 0; k < 1 + round % 3; k++)
            buf[etest_rng(&seed) % n] = (uint8_t)etest_rng(&seed);
        try_load(buf, n);
    }
    free(buf);
    free(full);
}

static void test_unsupported_op(void **state)
{
    expect_load_fail(etest_path("unsupported_op/model.onnx"), GLINT_ERR_UNSUPPORTED);
    etest_msg_has("Det");
    etest_msg_has("find_det");
    etest_msg_has("unsupported_op/model.onnx");
}

static void test_undefined_input(void **state)
{
    expect_load_fail(etest_path("undefined_input/model.onnx"), GLINT_ERR_INVALID);
    etest_msg_has("add_ghost");
    etest_msg_has("Add");
}

static void test_cycle(void **state)
{
    expect_load_fail(etest_path("cycle/model.onnx"), GLINT_ERR_INVALID);
    etest_msg_has("loop_");
}

/* Each model of tests/data/onnx/bad is refused at load with the status and
 * the words of its row. */
static void test_bad_models(void **state)
{
    static const struct {
        const char *file;
        glint_status status;
        const char *words[3];
    } cases[] = {
        {"opset_future", GLINT_ERR_UNSUPPORTED, {"opset 99"}},
        {"domain", GLINT_ERR_UNSUPPORTED, {"ms_gemm", "FusedGemm", "com.microsoft"}},
        {"dup_output", GLINT_ERR_INVALID, {"sig_b", "'y'", "twice"}},
        {"dup_init", GLINT_ERR_INVALID, {"'c'", "twice"}},
        {"no_outputs", GLINT_ERR_INVALID, {"no outputs"}},
        {"output_missing", GLINT_ERR_INVALID, {"'nowhere'", "not produced"}},
        {"arity", GLINT_ERR_INVALID, {"relu2in", "Relu", "2 inputs"}},
        {"declared_type", GLINT_ERR_INVALID, {"'y'", "int64", "float32"}},
        {"string_input", GLINT_ERR_UNSUPPORTED, {"x", "data type 8"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "bad/%s.onnx", cases[i].file);
        glint_model *m = (glint_model *)&m;
        glint_status s = glint_model_load(etest_path(rel), &m);
        if (s != cases[i].status)
            fail_msg("%s: status %s, want %s (%s)", rel, glint_strerror(s),
                     glint_strerror(cases[i].status), glint_last_error());
        assert_null(m);
        etest_msg_has(rel);
        for (int k = 0; k < 3 && cases[i].words[k]; k++)
            etest_msg_has(cases[i].words[k]);
    }
}

/* An input with no declared shape, and one with a free axis that is not
 * the batch: a context plans neither at creation and each run at the shape
 * it is given (the fixed axis 0 of free_dim still holds). */
static void test_free_inputs(void **state)
{
    const char *files[] = {"bad/no_shape.onnx", "bad/free_dim.onnx"};
    float x[10];
    for (int k = 0; k < 10; k++)
        x[k] = (float)k - 4.5f;
    for (int i = 0; i < 2; i++) {
        glint_model *m = etest_load(files[i]);
        glint_context *c;
        glint_context_options o = {.threads = 1, .backend = GLINT_BACKEND_REF};
        etest_status(glint_context_create(m, &o, &c), GLINT_OK);
        const int64_t shapes[2][2] = {{1, 5}, {1, 10}};
        for (int k = 0; k < 2; k++) {
            glint_tensor in = {.dtype = GLINT_F32, .ndim = 2, .data = x};
            memcpy(in.dims, shapes[k], sizeof shapes[k]);
            etest_status(glint_context_run(c, &in, 1), GLINT_OK);
            glint_tensor y;
            glint_context_output(c, 0, &y);
            etest_assert_dims(&y, 2, shapes[k]);
            for (int e = 0; e < shapes[k][1]; e++)
                assert_true(((float *)y.data)[e] == (x[e] > 0 ? x[e] : 0));
        }
        glint_tensor in = {.dtype = GLINT_F32, .ndim = 2, .dims = {2, 5}, .data = x};
        etest_status(glint_context_run(c, &in, 1), i == 0 ? GLINT_OK : GLINT_ERR_SHAPE);
        glint_context_free(c);
        glint_model_free(m);
    }
}

/* ---- external data ---- */
static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup_tmp(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/glint_etest_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Copies tests/data/onnx/<rel> to tmpdir/<name>, keeping `keep` bytes
 * (all if keep < 0). */
static const char *copy_to_tmp(const char *rel, const char *name, long keep)
{
    static char dst[256];
    size_t n;
    uint8_t *data = etest_read_file(etest_path(rel), &n);
    snprintf(dst, sizeof dst, "%s/%s", tmpdir, name);
    etest_write_file(dst, data, keep < 0 ? n : (size_t)keep);
    free(data);
    return dst;
}

static void test_external_ok(void **state)
{
    glint_model *m = etest_load("conv_bn_relu_ext/model.onnx");
    assert_int_equal(glint_model_num_inputs(m), 1);
    glint_model_free(m);

    m = etest_load("ext_tiny/model.onnx");
    glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, 1);
    float x[4] = {1, 2, 3, 4};
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 1, .dims = {4}, .data = x};
    etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    glint_tensor y;
    glint_context_output(c, 0, &y);
    const float want[4] = {2.5f, 0.0f, 3.25f, 12.0f}; /* x + B read at offset 16 */
    assert_true(etest_max_diff(y.data, want, 4) == 0);
    glint_context_free(c);
    glint_model_free(m);
}

static void test_external_missing(void **state)
{
    const char *path = copy_to_tmp("conv_bn_relu_ext/model.onnx", "model.onnx", -1);
    expect_load_fail(path, GLINT_ERR_IO);
    etest_msg_has("weights.bin");
    etest_msg_has(strerror(ENOENT));
}

static void test_external_short(void **state)
{
    size_t n;
    free(etest_read_file(etest_path("conv_bn_relu_ext/weights.bin"), &n));
    char path[256];
    /* cut inside the last tensor, and to nothing */
    long keeps[] = {(long)n - 1, (long)n / 2, 0};
    for (size_t k = 0; k < sizeof keeps / sizeof *keeps; k++) {
        copy_to_tmp("conv_bn_relu_ext/weights.bin", "weights.bin", keeps[k]);
        snprintf(path, sizeof path, "%s",
                 copy_to_tmp("conv_bn_relu_ext/model.onnx", "model.onnx", -1));
        expect_load_fail(path, GLINT_ERR_PARSE);
        etest_msg_has("weights.bin");
        etest_msg_has("shorter");
    }
    /* the whole file loads */
    copy_to_tmp("conv_bn_relu_ext/weights.bin", "weights.bin", -1);
    glint_model *m = NULL;
    etest_status(glint_model_load(path, &m), GLINT_OK);
    glint_model_free(m);
}

static void test_external_refused(void **state)
{
    expect_load_fail(etest_path("ext_tiny/escape.onnx"), GLINT_ERR_INVALID);
    etest_msg_has("../ext_tiny/ext_tiny.bin");
    etest_msg_has("leaves");
    expect_load_fail(etest_path("ext_tiny/absolute.onnx"), GLINT_ERR_INVALID);
    etest_msg_has("/tmp/ext_tiny.bin");
    expect_load_fail(etest_path("ext_tiny/badlength.onnx"), GLINT_ERR_PARSE);
    etest_msg_has("length 8");
    expect_load_fail(etest_path("ext_tiny/badoffset.onnx"), GLINT_ERR_PARSE);
    etest_msg_has("offset 24");

    /* from memory, external data needs a base directory */
    size_t n;
    uint8_t *data = etest_read_file(etest_path("ext_tiny/model.onnx"), &n);
    expect_buffer_fail(data, n, NULL, GLINT_ERR_INVALID);
    etest_msg_has("ext_tiny.bin");
    glint_model *m = NULL;
    etest_status(glint_model_load_buffer(data, n, etest_path("ext_tiny"), &m), GLINT_OK);
    glint_model_free(m);
    free(data);
}

/* A model path without a directory resolves external data from the current
 * directory. */
static void test_external_relative_path(void **state)
{
    copy_to_tmp("conv_bn_relu_ext/weights.bin", "weights.bin", -1);
    copy_to_tmp("conv_bn_relu_ext/model.onnx", "model.onnx", -1);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    glint_model *m = NULL;
    glint_status s = glint_model_load("model.onnx", &m);
    assert_int_equal(chdir(cwd), 0);
    etest_status(s, GLINT_OK);
    glint_model_free(m);
}

/* A directory named as the data file is refused (how depends on the file
 * system: a failed read or a failed size check). */
static void test_external_directory(void **state)
{
    glint_model *m = (glint_model *)&m;
    glint_status s = glint_model_load(etest_path("ext_tiny/dirloc.onnx"), &m);
    assert_true(s == GLINT_ERR_IO || s == GLINT_ERR_PARSE);
    assert_null(m);
    etest_msg_has("ext_tiny/.");
}

/* An offset near INT64_MAX must be refused, not added to the length
 * (offset + length overflows int64: UBSan aborts here). */
static void test_external_huge_offset(void **state)
{
    glint_model *m = (glint_model *)&m;
    glint_status s = glint_model_load(etest_path("ext_tiny/hugeoffset.onnx"), &m);
    assert_true(s == GLINT_ERR_PARSE || s == GLINT_ERR_IO);
    assert_null(m);
    etest_msg_has("ext_tiny.bin");
}

/* ---- good models ---- */
static void test_io_info(void **state)
{
    glint_model *m = etest_load("conv_bn_relu/model.onnx");
    assert_int_equal(glint_model_num_inputs(m), 1);
    assert_int_equal(glint_model_num_outputs(m), 1);
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    assert_string_equal(info.name, "x");
    assert_int_equal(info.dtype, GLINT_F32);
    assert_int_equal(info.ndim, 4);
    const int64_t want_in[4] = {-1, 3, 8, 8};
    for (int d = 0; d < 4; d++)
        assert_int_equal(info.dims[d], want_in[d]);
    glint_model_output_info(m, 0, &info);
    assert_string_equal(info.name, "y");
    assert_int_equal(info.ndim, 4);
    assert_int_equal(info.dims[0], -1);
    assert_int_equal(info.dims[1], 4);
    /* 3x3x3x8 + 3x3x8x8 x2 + 1x1x8x4 MACs per pixel, 64 pixels, x2 */
    double want = 2.0 * 64 * (3 * 9 * 8 + 8 * 9 * 8 * 2 + 8 * 4);
    assert_true(fabs(glint_model_flops(m) - want) < 0.5);
    glint_model_free(m);

    m = etest_load("upsample_opset9/model.onnx");
    glint_model_input_info(m, 0, &info);
    assert_int_equal(info.dims[0], 1); /* fixed batch */
    glint_model_output_info(m, 0, &info);
    assert_int_equal(info.dims[3], 12);
    assert_true(glint_model_flops(m) == 0);
    glint_model_free(m);
}

static void test_metadata(void **state)
{
    glint_model *m = etest_load("dynamic_hw/model.onnx");
    const char *v = glint_model_metadata(m, "imgsz");
    assert_non_null(v);
    assert_string_equal(v, "[12, 20]");
    assert_string_equal(glint_model_metadata(m, "task"), "classify");
    assert_string_equal(glint_model_metadata(m, "names"), "{0: 'cat', 1: 'dog'}");
    assert_null(glint_model_metadata(m, "stride"));
    assert_null(glint_model_metadata(m, ""));
    glint_model_free(m);
    m = etest_load("conv_bn_relu/model.onnx"); /* none at all */
    assert_null(glint_model_metadata(m, "imgsz"));
    glint_model_free(m);
}

static void test_free_null(void **state)
{
    glint_model_free(NULL);
    glint_context_free(NULL);
}

static void test_strings(void **state)
{
    for (int s = GLINT_OK; s <= GLINT_ERR_BACKEND; s++)
        assert_true(strlen(glint_strerror((glint_status)s)) > 0);
    assert_string_equal(glint_strerror(GLINT_OK), "ok");
    assert_string_equal(glint_dtype_name(GLINT_F32), "float32");
    assert_string_equal(glint_dtype_name(GLINT_I64), "int64");
    assert_int_equal(glint_dtype_size(GLINT_F32), 4);
    assert_int_equal(glint_dtype_size(GLINT_I64), 8);
    assert_int_equal(glint_dtype_size(GLINT_BOOL), 1);
    assert_int_equal(glint_dtype_size(GLINT_DTYPE_UNDEFINED), 0);
}

/* The reference YOLOv8n: loads (plans batch 1 at load) and counts its
 * published 8.7 GFLOPs; it is not run here. */
static void test_yolov8n_flops(void **state)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/yolov8n/model.onnx", GLINT_SOURCE_DIR);
    glint_model *m = NULL;
    etest_status(glint_model_load(path, &m), GLINT_OK);
    double f = glint_model_flops(m);
    if (fabs(f - 8.744e9) > 0.01 * 8.744e9) fail_msg("yolov8n: %.4g FLOPs, want 8.744e9", f);
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    assert_string_equal(info.name, "images");
    assert_int_equal(info.dims[0], -1);
    assert_int_equal(info.dims[2], 640);
    glint_model_output_info(m, 0, &info);
    assert_string_equal(info.name, "output0");
    glint_model_free(m);
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt_bytes),
        cmocka_unit_test(test_unsupported_op),
        cmocka_unit_test(test_undefined_input),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_free_inputs),
        cmocka_unit_test(test_external_ok),
        cmocka_unit_test_setup_teardown(test_external_missing, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_external_short, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_external_refused),
        cmocka_unit_test_setup_teardown(test_external_relative_path, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_external_directory),
        cmocka_unit_test(test_io_info),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_yolov8n_flops),
        /* last: aborts the run under UBSan until the engine checks the sum */
        cmocka_unit_test(test_external_huge_offset),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_freeze_*" */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
