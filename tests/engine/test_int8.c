/* The oneDNN int8 path against the exact QDQ semantics of the reference
 * kernels. Each small test model is quantized here (glint_quant, calibrated
 * on deterministic inputs run through the reference backend), then the QDQ
 * file runs on both backends: oneDNN (GlintQConv with quantizing reorders,
 * u8 outputs written straight for int8 readers, zero points folded into the
 * bias where there is no padding) must agree with the reference within
 * quantization noise, and the profile must show which of those paths ran.
 * The float models also run with bf16 convolutions (options.bf16): within
 * bf16 rounding of the reference, and not bit-equal to it (they did round).
 *
 * Without VNNI the loaded models carry 7-bit weights (both backends:
 * eng_simd_int8_weight_bits); test_extremes builds single QDQ convolutions
 * whose u8 inputs and s8 weights are at the extremes, where 8-bit weights
 * saturate oneDNN's AVX2 kernels, and demands float-precision agreement on
 * this CPU's width (and on 7 bits as well on a VNNI CPU); test_7bit_vs_8bit
 * bounds what 7-bit weights cost against the 8-bit reference. */
#include "etest.h"

#include "glint/quant.h"
#include "onnx.pb-c.h"
#include "simd.h"

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

/* The model at path loaded with int8 convolution weights of `bits` (7 or 8:
 * GLINT_INT8_WEIGHT_BITS while it loads; 0: this CPU's width). */
static glint_model *load_bits(const char *path, int bits)
{
    glint_model *m = NULL;
    if (bits) setenv("GLINT_INT8_WEIGHT_BITS", bits == 7 ? "7" : "8", 1);
    glint_status s = glint_model_load(path, &m);
    if (bits) unsetenv("GLINT_INT8_WEIGHT_BITS");
    etest_status(s, GLINT_OK);
    return m;
}

/* Runs the model at path on both backends (oneDNN with bf16 convolutions
 * if bf16), loaded with int8 weights of a_bits for oneDNN and of r_bits for
 * the reference (see load_bits), on the input xin (NULL: fill_input from lo
 * and span); returns the oneDNN profile (malloc'ed) after checking the
 * outputs agree: relative L2 in [min_l2, rel_l2). */
static char *run_pair(const char *path, glint_tensor in, const float *xin, float lo, float span,
                      double rel_l2, int bf16, double min_l2, int a_bits, int r_bits)
{
    glint_model *m = load_bits(path, a_bits), *mr = a_bits == r_bits ? m : load_bits(path, r_bits);
    glint_context_options oa = {.threads = 2,
                                .max_batch = (int)in.dims[0],
                                .backend = GLINT_BACKEND_AUTO,
                                .profile = 1,
                                .bf16 = bf16};
    glint_context *ca = NULL, *cr = etest_context(mr, GLINT_BACKEND_REF, 1, (int)in.dims[0]);
    etest_status(glint_context_create(m, &oa, &ca), GLINT_OK);
    int64_t n = etest_count(&in);
    float *x = malloc((size_t)n * sizeof *x);
    if (xin)
        memcpy(x, xin, (size_t)n * sizeof *x);
    else
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
        if (getenv("GLINT_TEST_VERBOSE"))
            print_message("%s output %d: rel L2 %g\n", path, o, sqrt(num / den));
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
    if (mr != m) glint_model_free(mr);
    glint_model_free(m);
    return prof;
}

/* run_pair on this CPU's weights for both backends, on fill_input. */
static char *run_both(const char *path, glint_tensor in, float lo, float span, double rel_l2,
                      int bf16, double min_l2)
{
    return run_pair(path, in, NULL, lo, span, rel_l2, bf16, min_l2, 0, 0);
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

/* ---- single QDQ convolutions at the extremes ----
 * QuantizeLinear -> DequantizeLinear -> Conv(., DequantizeLinear(w, per
 * channel scales, axis 0), bias): what passes.c folds into one GlintQConv. */
typedef struct xconv {
    const char *what;
    int64_t c, m, k, group, pad, stride;
    int zp;         /* the input's zero point (u8) */
    int per_tensor; /* one weight scale (else one per output channel) */
} xconv;

static Onnx__AttributeProto *ints_attr(Onnx__AttributeProto *a, const char *name, int64_t *v,
                                       size_t n)
{
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = n;
    a->ints = v;
    return a;
}

static void init_tensor(Onnx__TensorProto *t, const char *name, int type, size_t ndim,
                        int64_t *dims, void *data, size_t bytes)
{
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = ndim;
    t->dims = dims;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = data;
}

static void init_node(Onnx__NodeProto *n, const char *op, char **in, size_t n_in, char **out)
{
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)op;
    n->input = in;
    n->n_input = n_in;
    n->output = out;
    n->n_output = 1;
}

static void init_value_info(Onnx__ValueInfoProto *vi, Onnx__TypeProto *tp,
                            Onnx__TypeProto__Tensor *tt, Onnx__TensorShapeProto *sh,
                            Onnx__TensorShapeProto__Dimension *d,
                            Onnx__TensorShapeProto__Dimension **dp, const char *name,
                            const int64_t *dims)
{
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < 4; i++) {
        onnx__tensor_shape_proto__dimension__init(&d[i]);
        d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d[i].dim_value = dims[i];
        dp[i] = &d[i];
    }
    sh->n_dim = 4;
    sh->dim = dp;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
}

/* Weight i of an extreme convolution (per weights per output channel):
 * mostly 127 or -128, in runs of one sign (so that pairs of products add
 * up), with some values that round differently to 7 bits (odd, +-1,
 * 63..65); every fourth output channel at the edge that 8 bits still take
 * without VNNI: +-64 and smaller (two largest |w| add up to 128). */
static int8_t extreme_weight(int64_t i, int64_t per)
{
    static const int8_t odd[] = {1, -1, 3, -3, 63, 64, 65, -63, -64, -65, 0, 126};
    bool edge = (i / per) % 4 == 3;
    if (i % 7 == 3) return edge ? (int8_t)(odd[(i / 7) % 12] / 2) : odd[(i / 7) % 12];
    return (i / 24) % 3 == 1 ? (edge ? -64 : -128) : (edge ? 64 : 127);
}

/* Writes the QDQ convolution xc on input dims xd to path. */
static void write_xconv(const xconv *xc, const int64_t *xd, const char *path)
{
    int64_t M = xc->m, cg = xc->c / xc->group, K = xc->k;
    int64_t oh = (xd[2] + 2 * xc->pad - K) / xc->stride + 1,
            ow = (xd[3] + 2 * xc->pad - K) / xc->stride + 1;
    int64_t yd[4] = {xd[0], M, oh, ow}, wd[4] = {M, cg, K, K}, md[1] = {M};
    int64_t nw = M * cg * K * K;
    int8_t *w = malloc((size_t)nw);
    float *ws = malloc((size_t)M * sizeof *ws), *b = malloc((size_t)M * sizeof *b);
    for (int64_t i = 0; i < nw; i++)
        w[i] = extreme_weight(i, cg * K * K);
    for (int64_t m = 0; m < M; m++) {
        ws[m] = 0.001f * (float)(1 + m % 5);
        b[m] = 0.25f * (float)(m % 3) - 0.25f;
    }
    float xs = xc->zp ? 2.0f / 255 : 1.0f / 255;
    uint8_t xz = (uint8_t)xc->zp;
    Onnx__TensorProto t[5], *tp[5];
    init_tensor(&t[0], "xs", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &xs, sizeof xs);
    init_tensor(&t[1], "xz", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &xz, 1);
    init_tensor(&t[2], "w", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 4, wd, w, (size_t)nw);
    init_tensor(&t[3], "ws", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, xc->per_tensor ? 0 : 1, md, ws,
                (size_t)(xc->per_tensor ? 1 : M) * sizeof *ws);
    init_tensor(&t[4], "b", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, md, b, (size_t)M * sizeof *b);
    for (int i = 0; i < 5; i++)
        tp[i] = &t[i];
    char *q_in[] = {"x", "xs", "xz"}, *q_out[] = {"xq"}, *dq_in[] = {"xq", "xs", "xz"},
         *dq_out[] = {"xd"}, *w_in[] = {"w", "ws"}, *w_out[] = {"wd"}, *c_in[] = {"xd", "wd", "b"},
         *c_out[] = {"y"};
    Onnx__NodeProto n[4], *np[4];
    init_node(&n[0], "QuantizeLinear", q_in, 3, q_out);
    init_node(&n[1], "DequantizeLinear", dq_in, 3, dq_out);
    init_node(&n[2], "DequantizeLinear", w_in, 2, w_out);
    init_node(&n[3], "Conv", c_in, 3, c_out);
    n[2].name = "DequantizeLinear_w";
    Onnx__AttributeProto axis, a[4], *ap[4] = {&a[0], &a[1], &a[2], &a[3]}, *axp = &axis;
    onnx__attribute_proto__init(&axis);
    axis.name = "axis";
    axis.has_type = 1;
    axis.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    axis.has_i = 1;
    axis.i = 0;
    n[2].n_attribute = 1;
    n[2].attribute = &axp;
    int64_t pads[4] = {xc->pad, xc->pad, xc->pad, xc->pad}, strides[2] = {xc->stride, xc->stride},
            kshape[2] = {K, K};
    ints_attr(&a[0], "pads", pads, 4);
    ints_attr(&a[1], "strides", strides, 2);
    ints_attr(&a[2], "kernel_shape", kshape, 2);
    onnx__attribute_proto__init(&a[3]);
    a[3].name = "group";
    a[3].has_type = 1;
    a[3].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a[3].has_i = 1;
    a[3].i = xc->group;
    n[3].n_attribute = 4;
    n[3].attribute = ap;
    for (int i = 0; i < 4; i++)
        np[i] = &n[i];
    Onnx__ValueInfoProto vi[2], *vin = &vi[0], *vout = &vi[1];
    Onnx__TypeProto typ[2];
    Onnx__TypeProto__Tensor tt[2];
    Onnx__TensorShapeProto sh[2];
    Onnx__TensorShapeProto__Dimension d[8], *dp[8];
    init_value_info(&vi[0], &typ[0], &tt[0], &sh[0], d, dp, "x", xd);
    init_value_info(&vi[1], &typ[1], &tt[1], &sh[1], d + 4, dp + 4, "y", yd);
    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = "xconv";
    g.n_node = 4;
    g.node = np;
    g.n_initializer = 5;
    g.initializer = tp;
    g.n_input = 1;
    g.input = &vin;
    g.n_output = 1;
    g.output = &vout;
    Onnx__OperatorSetIdProto ops, *opsp = &ops;
    onnx__operator_set_id_proto__init(&ops);
    ops.domain = "";
    ops.has_version = 1;
    ops.version = 13;
    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    mp.has_ir_version = 1;
    mp.ir_version = 7;
    mp.n_opset_import = 1;
    mp.opset_import = &opsp;
    mp.graph = &g;
    size_t len = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(&mp, buf);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    free(w);
    free(ws);
    free(b);
}

/* The convolutions, each on u8 inputs at 255 (mostly) and 0 and weights at
 * 127 / -128: the dense path (f32q, padded), a zero point folded into the
 * bias (1x1), a oneDNN zero point (padded), the 3-channel image stem
 * quantized into 4-channel pixels, depthwise, grouped, and one weight
 * scale for all channels (which narrowing makes per channel). With 8-bit
 * weights on AVX2 (GLINT_INT8_WEIGHT_BITS=8) oneDNN is off by rel L2 0.34,
 * 0.88, 0.88, 0.27, 0 (its depthwise kernel widens to 32 bits first) and
 * 0.35 (the 8-bit test models: 0.0047 to 0.118); here they must agree
 * with the reference to float precision, on this CPU's weights, and on a
 * VNNI CPU on 7-bit weights as well. */
static void test_extremes(void **state)
{
    (void)state;
    static const xconv cases[] = {
        {"dense 3x3", 16, 16, 3, 1, 1, 1, 0, 0},
        {"1x1 folded zp", 32, 8, 1, 1, 0, 1, 128, 0},
        {"3x3 oneDNN zp", 16, 16, 3, 1, 1, 1, 128, 0},
        {"stem", 3, 16, 3, 1, 1, 2, 0, 0},
        {"depthwise", 16, 16, 3, 16, 1, 1, 0, 0},
        {"per-tensor scale", 16, 16, 3, 1, 1, 1, 0, 1},
        {"grouped", 16, 16, 3, 4, 1, 1, 0, 0},
    };
    int native = eng_simd_int8_weight_bits();
    for (int pass = 0; pass < (native == 8 ? 2 : 1); pass++) {
        int bits = pass ? 7 : 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const xconv *xc = &cases[i];
            glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {1, xc->c, 8, 8}};
            write_xconv(xc, in.dims, tmp_model);
            int64_t n = etest_count(&in);
            float *x = malloc((size_t)n * sizeof *x);
            for (int64_t k = 0; k < n; k++) /* u8 255 but every 5th: u8 0 */
                x[k] = k % 5 == 2 ? -1.0f : 1.0f;
            char *prof = run_pair(tmp_model, in, x, 0, 0, 1e-5, 0, 0, bits, bits);
            if (getenv("GLINT_TEST_VERBOSE")) print_message("%s:\n%s", xc->what, prof);
            if (count_of(prof, "GlintQConv") != 1 || strstr(prof, "ref:"))
                fail_msg("%s: not one oneDNN int8 convolution:\n%s", xc->what, prof);
            free(prof);
            free(x);
        }
    }
}

/* What 7-bit weights cost: each test model's QDQ file on oneDNN with 7-bit
 * weights (any CPU runs them exactly) against the reference on the 8-bit
 * weights the quantizer wrote. Halving the weight grid doubles the weights'
 * rounding error (up to 1/127 instead of 1/254 of a channel's largest
 * weight); measured on an AMD EPYC (AVX2): rel L2 0.032 (silu_residual),
 * 0.0059 (mini_yolo), 0.020 (c2f), 0.021 (sppf_neck), the calculation being
 * deterministic, so any CPU gets the same. The bound, 0.05, leaves room for
 * that and fails if narrowing went wrong (a lost scale doubling: ~0.5; a
 * wrong sign or rounding of many weights: > 0.1). */
static void test_7bit_vs_8bit(void **state)
{
    (void)state;
    static const struct {
        const char *rel;
        glint_tensor in;
        float lo, span;
    } cases[] = {
        {"silu_residual/model.onnx", {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 6, 6}}, -2, 4},
        {"mini_yolo/model.onnx", {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 3, 16, 16}}, 0, 1},
        {"c2f/model.onnx", {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 10, 10}}, -2, 4},
        {"sppf_neck/model.onnx", {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 16, 16}}, -2, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        quantize(cases[i].rel, cases[i].in, 4, cases[i].lo, cases[i].span, tmp_model);
        free(run_pair(tmp_model, cases[i].in, NULL, cases[i].lo, cases[i].span, 0.05, 0, 0, 7, 8));
    }
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
        cmocka_unit_test_setup_teardown(test_extremes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_7bit_vs_8bit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
