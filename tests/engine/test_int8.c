/* The oneDNN int8 path against the exact QDQ semantics of the reference
 * kernels. Each small test model is quantized here (glint_quant, calibrated
 * on deterministic inputs run through the reference backend), then the QDQ
 * file runs on both backends: oneDNN (GlintQConv with quantizing reorders,
 * u8 outputs written straight for int8 readers, zero points folded into the
 * bias where there is no padding) must agree with the reference within
 * quantization noise, and the profile must show which of those paths ran.
 * The float models also run with bf16 convolutions (options.bf16): within
 * bf16 rounding of the reference, and not bit-equal to it (they did round). */
#include "etest.h"

#include "glint/quant.h"

#include <unistd.h>

/* Deterministic input values in [lo, lo + span). */
static void fill_input(float *x, int64_t n, int seed, float lo, float span)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + span * (etest_det(i * 7 + seed, seed) + 14.0f / 32) * (32.0f / 28);
}

/* Quantizes tests/data/onnx/<rel> on `calib` inputs of shape in (data
 * replaced per run) into `out_path`. */
static void quantize(const char *rel, glint_tensor in, int calib, float lo, float span,
                     const char *out_path)
{
    glint_quant *q = NULL;
    etest_status(glint_quant_create(etest_path(rel), &q), GLINT_OK);
    glint_model *m = etest_load(rel);
    glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, (int)in.dims[0]);
    glint_context_observe(c, glint_quant_observe, q);
    int64_t n = etest_count(&in);
    float *x = malloc((size_t)n * sizeof *x);
    in.data = x;
    for (int k = 0; k < calib; k++) {
        fill_input(x, n, 500 + k, lo, span);
        etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    }
    etest_status(glint_quant_write(q, NULL, out_path), GLINT_OK);
    free(x);
    glint_context_free(c);
    glint_model_free(m);
    glint_quant_free(q);
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Runs the model at path on both backends (oneDNN with bf16 convolutions
 * if bf16); returns the oneDNN profile (malloc'ed) after checking the
 * outputs agree: relative L2 in [min_l2, rel_l2). */
static char *run_both(const char *path, glint_tensor in, float lo, float span, double rel_l2,
                      int bf16, double min_l2)
{
    glint_model *m = NULL;
    etest_status(glint_model_load(path, &m), GLINT_OK);
    glint_context_options oa = {.threads = 2,
                                .max_batch = (int)in.dims[0],
                                .backend = GLINT_BACKEND_AUTO,
                                .profile = 1,
                                .bf16 = bf16};
    glint_context *ca = NULL, *cr = etest_context(m, GLINT_BACKEND_REF, 1, (int)in.dims[0]);
    etest_status(glint_context_create(m, &oa, &ca), GLINT_OK);
    int64_t n = etest_count(&in);
    float *x = malloc((size_t)n * sizeof *x);
    fill_input(x, n, 900, lo, span); /* not a calibration input */
    in.data = x;
    etest_status(glint_context_run(ca, &in, 1), GLINT_OK);
    etest_status(glint_context_run(cr, &in, 1), GLINT_OK);
    for (int o = 0; o < glint_model_num_outputs(m); o++) {
        glint_tensor a, r;
        glint_context_output(ca, o, &a);
        glint_context_output(cr, o, &r);
        int64_t cnt = etest_count(&r);
        assert_int_equal(etest_count(&a), cnt);
        double num = 0, den = 0;
        for (int64_t i = 0; i < cnt; i++) {
            double d = (double)((const float *)a.data)[i] - ((const float *)r.data)[i];
            num += d * d;
            den += (double)((const float *)r.data)[i] * ((const float *)r.data)[i];
        }
        assert_true(den > 0);
        if (!(sqrt(num / den) < rel_l2) || !(sqrt(num / den) >= min_l2))
            fail_msg("%s output %d: oneDNN %s vs reference rel L2 %g", path, o,
                     bf16 ? "bf16" : "int8", sqrt(num / den));
    }
    size_t need = glint_context_profile(ca, NULL, 0);
    char *prof = malloc(need + 1);
    glint_context_profile(ca, prof, need + 1);
    free(x);
    glint_context_free(ca);
    glint_context_free(cr);
    glint_model_free(m);
    return prof;
}

static char tmp_model[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_model, sizeof tmp_model, "/tmp/glint_int8_XXXXXX");
    int fd = mkstemp(tmp_model);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return unlink(tmp_model);
}

/* silu_residual: conv1 (3x3, SiLU, signed input) feeds only conv2, so it
 * writes u8; conv2 adds the residual (f32 out); conv3 (1x1) has no padding,
 * so its zero point folds into the bias, and it writes u8 for conv4. */
static void test_silu_residual(void **state)
{
    (void)state;
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 6, 6}};
    quantize("silu_residual/model.onnx", in, 4, -2, 4, tmp_model);
    char *prof = run_both(tmp_model, in, -2, 4, 1e-3, 0, 0);
    if (count_of(prof, "GlintQConv") != 4 || count_of(prof, "f32q+zp>u8") != 1 ||
        count_of(prof, "u8+zp>f32") != 2 || count_of(prof, "f32q>u8") != 1 ||
        strstr(prof, "dequantize") || strstr(prof, "ref:"))
        fail_msg("unexpected int8 kernels:\n%s", prof);
    free(prof);
}

/* mini_yolo: Split, Concat, MaxPool and Resize between the convolutions;
 * a non-negative image input quantizes with zero point 0 (no zero point
 * anywhere in its convolution). */
static void test_mini_yolo(void **state)
{
    (void)state;
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 3, 16, 16}};
    quantize("mini_yolo/model.onnx", in, 4, 0, 1, tmp_model);
    char *prof = run_both(tmp_model, in, 0, 1, 1e-3, 0, 0);
    if (count_of(prof, "GlintQConv") != 4 || !strstr(prof, "f32q>") || strstr(prof, "dequantize") ||
        strstr(prof, "ref:"))
        fail_msg("unexpected int8 kernels:\n%s", prof);
    free(prof);
}

/* c2f: YOLOv8's C2f block. The quantizer gives the Concat, its inputs and
 * the Split before them one scale and zero point, so everything between cv1
 * and cv2 stays u8: cv1 writes u8, Split and Concat move u8, every
 * bottleneck conv reads and writes u8 (the residual sum too), cv2 reads the
 * u8 Concat; the last Concat (of two conv outputs) is u8 as well. No
 * QuantizeLinear or DequantizeLinear is left to run. */
static void test_c2f(void **state)
{
    (void)state;
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 10, 10}};
    quantize("c2f/model.onnx", in, 4, -2, 4, tmp_model);
    char *prof = run_both(tmp_model, in, -2, 4, 1e-3, 0, 0);
    if (count_of(prof, "GlintQConv") != 8 || count_of(prof, "f32q>u8") != 1 ||
        count_of(prof, "u8+zp>u8") != 5 || count_of(prof, " u8>u8") != 1 ||
        count_of(prof, " u8>f32") != 1 || count_of(prof, "u8_nhwc") != 3 ||
        strstr(prof, "quantize") || strstr(prof, "ref:")) {
        fprintf(stderr, "%s", prof); /* longer than cmocka's message */
        fail_msg("unexpected int8 kernels (above)");
    }
    free(prof);
}

/* sppf_neck: YOLOv8's SPPF and neck. The quantizer gives the SPPF's
 * Concat, cv1's output and its MaxPools one scale and zero point, and the
 * two Concats that share t2 (one of them after a nearest Resize of it) one
 * merged group; so every convolution but the last writes u8, the MaxPools
 * and the Resize run on u8, and no QuantizeLinear or DequantizeLinear is
 * left to run. */
static void test_sppf_neck(void **state)
{
    (void)state;
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 16, 16}};
    quantize("sppf_neck/model.onnx", in, 4, -2, 4, tmp_model);
    char *prof = run_both(tmp_model, in, -2, 4, 1e-3, 0, 0);
    if (count_of(prof, "GlintQConv") != 7 || count_of(prof, ">u8") != 6 ||
        count_of(prof, "MaxPool") != 3 || count_of(prof, "jit_int:") != 3 ||
        !strstr(prof, "resize_nearest_u8_nhwc") || count_of(prof, "concat_u8_nhwc") != 3 ||
        strstr(prof, "quantize") || strstr(prof, "ref:")) {
        fprintf(stderr, "%s", prof);
        fail_msg("unexpected int8 kernels (above)");
    }
    free(prof);
}

/* bf16: every float Conv of the three models runs the bf16 kernel (the
 * residual sum included), and the answers stay within bf16 rounding. */
static int cpu_has_avx512_bf16(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int yes = 0;
    if (!f) return 0;
    while (!yes && fgets(line, sizeof line, f))
        yes = !strncmp(line, "flags", 5) && strstr(line, " avx512_bf16");
    fclose(f);
    return yes;
}

static void test_bf16(void **state)
{
    (void)state;
    if (!cpu_has_avx512_bf16()) {
        print_message("skip test_bf16: this CPU has no AVX512-BF16 (no avx512_bf16 in "
                      "/proc/cpuinfo); glint refuses bf16 here\n");
        skip();
    }
    static const struct {
        const char *rel;
        glint_tensor in;
        float lo, span;
        int convs;
    } cases[] = {
        {"silu_residual/model.onnx",
         {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 6, 6}},
         -2,
         4,
         4},
        {"mini_yolo/model.onnx", {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 3, 16, 16}}, 0, 1, 4},
        {"c2f/model.onnx", {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 10, 10}}, -2, 4, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *prof = run_both(etest_path(cases[i].rel), cases[i].in, cases[i].lo, cases[i].span,
                              2e-2, 1, 1e-6);
        if (count_of(prof, "f32>bf16>") != cases[i].convs || strstr(prof, "ref:")) {
            fprintf(stderr, "%s", prof);
            fail_msg("%s: expected %d bf16 convolutions (profile above)", cases[i].rel,
                     cases[i].convs);
        }
        free(prof);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16),
        cmocka_unit_test_setup_teardown(test_c2f, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sppf_neck, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silu_residual, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mini_yolo, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
