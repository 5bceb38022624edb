/* Numerical correctness of the small test models: against a convolution
 * written out here in C, against numpy (the committed test_data_set_0 of each
 * model), reference backend against oneDNN on the fused net, a dynamic batch
 * against single-image runs, and external weights against inline ones.
 * White-box: the fusion passes leave exactly the expected Conv steps. */
#include "etest.h"

#include "engine_impl.h"

/* ---- conv_bn_relu rebuilt in C (seeds as in tools/gen_test_models.py) ---- */
static void fill(float *p, int64_t n, int seed, bool positive)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = positive ? etest_det_pos(i, seed) : etest_det(i, seed);
}

/* y[N,M,H,W] = conv(x[N,C,H,W], w[M,C,k,k]) + b, stride 1, same padding. */
static void conv_ref(const float *x, int N, int C, int H, int W, const float *w, const float *b,
                     int M, int k, float *y)
{
    int pad = k / 2;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double acc = b ? b[m] : 0;
                    for (int c = 0; c < C; c++)
                        for (int di = 0; di < k; di++)
                            for (int dj = 0; dj < k; dj++) {
                                int yi = i + di - pad, xj = j + dj - pad;
                                if (yi < 0 || yi >= H || xj < 0 || xj >= W) continue;
                                acc += (double)w[((m * C + c) * k + di) * k + dj] *
                                       x[((n * C + c) * H + yi) * W + xj];
                            }
                    y[((n * M + m) * H + i) * W + j] = (float)acc;
                }
}

static void relu_ref(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

static void conv_bn_relu_ref(const float *x, int N, float *y)
{
    float w1[8 * 3 * 9], b1[8], sc[8], bb[8], mean[8], var[8], w2[8 * 8 * 9], b2[8], w3[8 * 8 * 9],
        w4[4 * 8], b4[4];
    fill(w1, 216, 1, false);
    fill(b1, 8, 2, false);
    fill(sc, 8, 3, true);
    fill(bb, 8, 4, false);
    fill(mean, 8, 5, false);
    fill(var, 8, 6, true);
    fill(w2, 576, 7, false);
    fill(b2, 8, 8, false);
    fill(w3, 576, 9, false);
    fill(w4, 32, 10, false);
    fill(b4, 4, 11, false);
    int64_t hw = 64, n8 = (int64_t)N * 8 * hw;
    float *t1 = malloc((size_t)n8 * sizeof *t1), *t2 = malloc((size_t)n8 * sizeof *t2);
    conv_ref(x, N, 3, 8, 8, w1, b1, 8, 3, t1);
    for (int64_t i = 0; i < n8; i++) {
        int c = (int)(i / hw % 8);
        t1[i] = (float)((t1[i] - mean[c]) / sqrt(var[c] + 1e-5) * sc[c] + bb[c]);
    }
    relu_ref(t1, n8);
    conv_ref(t1, N, 8, 8, 8, w2, b2, 8, 3, t2);
    relu_ref(t2, n8);
    conv_ref(t2, N, 8, 8, 8, w3, NULL, 8, 3, t1);
    relu_ref(t1, n8);
    conv_ref(t1, N, 8, 8, 8, w4, b4, 4, 1, y);
    free(t1);
    free(t2);
}

/* Runs model input x (batch N of per-image dims) and copies output 0 to y. */
static void run1(glint_context *c, const glint_tensor *in, float *y, int64_t count)
{
    etest_status(glint_context_run(c, in, 1), GLINT_OK);
    glint_tensor out;
    glint_context_output(c, 0, &out);
    assert_int_equal(out.dtype, GLINT_F32);
    assert_int_equal(etest_count(&out), count);
    memcpy(y, out.data, (size_t)count * sizeof *y);
}

static void test_conv_vs_c(void **state)
{
    enum { N = 3, IN = N * 3 * 64, OUT = N * 4 * 64 };
    static float x[IN], want[OUT], got[OUT];
    for (int i = 0; i < IN; i++)
        x[i] = etest_det(i, 200) * 2;
    conv_bn_relu_ref(x, N, want);
    double scale = etest_max_abs(want, OUT);
    assert_true(scale > 1); /* the net does not collapse to zeros */
    int nonzero = 0;
    for (int i = 0; i < OUT; i++)
        nonzero += want[i] != 0;
    assert_true(nonzero > OUT / 2);
    glint_model *m = etest_load("conv_bn_relu/model.onnx");
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {N, 3, 8, 8}, .data = x};
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        glint_context *c = etest_context(m, (glint_backend)be, 1, N);
        run1(c, &in, got, OUT);
        double d = etest_max_diff(got, want, OUT);
        if (!(d <= 1e-5 * scale)) fail_msg("backend %d: max diff %g (scale %g)", be, d, scale);
        glint_context_free(c);
    }
    glint_model_free(m);
}

/* ---- numpy references ---- */
static void check_against_numpy(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/model.onnx", name);
    glint_model *m = etest_load(rel);
    assert_int_equal(glint_model_num_inputs(m), 1);
    snprintf(rel, sizeof rel, "%s/test_data_set_0/input_0.pb", name);
    glint_tensor x = etest_read_pb(etest_path(rel));
    snprintf(rel, sizeof rel, "%s/test_data_set_0/output_0.pb", name);
    glint_tensor want = etest_read_pb(etest_path(rel));
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    glint_context_options o = {.threads = 1, .max_batch = info.dims[0] < 0 ? (int)x.dims[0] : 1};
    for (int d = 1; d < info.ndim; d++) /* free spatial axes: the size of the test input */
        if (info.dims[d] < 0) o.input_dims[d] = x.dims[d];
    int64_t n = etest_count(&want);
    double scale = etest_max_abs(want.data, n);
    assert_true(scale > 0);
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        o.backend = (glint_backend)be;
        glint_context *c = NULL;
        etest_status(glint_context_create(m, &o, &c), GLINT_OK);
        etest_status(glint_context_run(c, &x, 1), GLINT_OK);
        glint_tensor y;
        glint_context_output(c, 0, &y);
        etest_assert_dims(&y, want.ndim, want.dims);
        double d = etest_max_diff(y.data, want.data, n);
        if (!(d <= 1e-5 * (scale > 1 ? scale : 1)))
            fail_msg("%s, backend %d: max diff %g from numpy (scale %g)", name, be, d, scale);
        glint_context_free(c);
    }
    free(x.data);
    free(want.data);
    glint_model_free(m);
}

static void test_numpy(void **state)
{
    const char *models[] = {"conv_bn_relu",  "conv_bn_relu_ext", "silu_residual",
                            "reshape_chain", "upsample_opset9",  "upsample_slice_opset8",
                            "slice_opset10", "mini_yolo",        "dynamic_hw",
                            "c2f",           "sppf_neck"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        check_against_numpy(models[i]);
}

/* YOLOv8's DFL chain folds into one GlintDFL (the fast kernel on the
 * oneDNN backend, the reference one on the other); the same chain with
 * other weights stays a Softmax and a Conv. Both outputs match numpy. */
static void test_dfl_fold(void **state)
{
    (void)state;
    glint_model *m = etest_load("dfl_head/model.onnx");
    glint_tensor x = etest_read_pb(etest_path("dfl_head/test_data_set_0/input_0.pb"));
    glint_tensor want[2] = {etest_read_pb(etest_path("dfl_head/test_data_set_0/output_0.pb")),
                            etest_read_pb(etest_path("dfl_head/test_data_set_0/output_1.pb"))};
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        glint_context_options o = {
            .threads = 2, .max_batch = (int)x.dims[0], .backend = (glint_backend)be, .profile = 1};
        glint_context *c = NULL;
        etest_status(glint_context_create(m, &o, &c), GLINT_OK);
        etest_status(glint_context_run(c, &x, 1), GLINT_OK);
        for (int k = 0; k < 2; k++) {
            glint_tensor y;
            glint_context_output(c, k, &y);
            etest_assert_dims(&y, want[k].ndim, want[k].dims);
            int64_t n = etest_count(&want[k]);
            double d = etest_max_diff(y.data, want[k].data, n);
            if (!(d <= 1e-5 * etest_max_abs(want[k].data, n)))
                fail_msg("backend %d output %d: max diff %g from numpy", be, k, d);
        }
        char prof[8192];
        glint_context_profile(c, prof, sizeof prof);
        if (!strstr(prof, "GlintDFL") || strstr(strstr(prof, "GlintDFL") + 1, "GlintDFL") ||
            !strstr(prof, "not_dfl") || !strstr(prof, "softmax2") || strstr(prof, "softmax ") ||
            (be == GLINT_BACKEND_AUTO && !strstr(prof, "dfl_avx2")))
            fail_msg("backend %d: one GlintDFL and the other chain as it was, got:\n%s", be, prof);
        glint_context_free(c);
    }
    free(x.data);
    free(want[0].data);
    free(want[1].data);
    glint_model_free(m);
}

/* A model with free batch, height and width: input_dims plans one size at
 * creation; other sizes are planned on first use, kept (least recently used
 * out past max_plans) and agree with contexts made for that size; sizes
 * above max_pixels and batches above max_batch are refused. */
static void test_any_shape(void **state)
{
    glint_model *m = etest_load("dynamic_hw/model.onnx");
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    assert_true(info.dims[0] == -1 && info.dims[2] == -1 && info.dims[3] == -1);
    static float x[2 * 3 * 16 * 24];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = etest_det((int64_t)i, 800);
    const int64_t sizes[3][2] = {{12, 20}, {16, 24}, {7, 5}};
    for (int be = 0; be < 2; be++) {
        /* one context per size, planned at creation */
        float want[3][8];
        for (int k = 0; k < 3; k++) {
            glint_context_options o = {.threads = 1, .max_batch = 2, .backend = be};
            o.input_dims[2] = sizes[k][0];
            o.input_dims[3] = sizes[k][1];
            glint_context *c;
            etest_status(glint_context_create(m, &o, &c), GLINT_OK);
            glint_context_stats st;
            glint_context_get_stats(c, &st);
            assert_int_equal(st.plans, 2); /* batch 1 and 2 */
            glint_tensor in = {
                .dtype = GLINT_F32, .ndim = 4, .dims = {2, 3, sizes[k][0], sizes[k][1]}, .data = x};
            etest_status(glint_context_run(c, &in, 1), GLINT_OK);
            glint_tensor y;
            glint_context_output(c, 0, &y);
            etest_assert_dims(&y, 4, (int64_t[]){2, 4, 1, 1});
            memcpy(want[k], y.data, sizeof want[k]);
            glint_context_get_stats(c, &st);
            assert_int_equal(st.plans_built, 2);
            glint_context_free(c);
        }
        /* one context for every size, planning none at creation and
         * keeping two */
        glint_context_options o = {
            .threads = 1, .max_batch = 2, .backend = be, .max_plans = 2, .max_pixels = 16 * 24};
        glint_context *c;
        etest_status(glint_context_create(m, &o, &c), GLINT_OK);
        glint_context_stats st;
        glint_context_get_stats(c, &st);
        assert_int_equal(st.plans, 0);
        assert_int_equal(st.arena_bytes, 0);
        const int order[] = {0, 1, 0, 2, 1, 1};
        for (int r = 0; r < 6; r++) {
            int k = order[r];
            glint_tensor in = {
                .dtype = GLINT_F32, .ndim = 4, .dims = {2, 3, sizes[k][0], sizes[k][1]}, .data = x};
            etest_status(glint_context_run(c, &in, 1), GLINT_OK);
            glint_tensor y;
            glint_context_output(c, 0, &y);
            etest_assert_dims(&y, 4, (int64_t[]){2, 4, 1, 1});
            assert_true(etest_max_diff(y.data, want[k], 8) == 0);
        }
        /* built: 12x20, 16x24, 7x5 (evicts 16x24, the older of the two), 16x24
         * again (evicts 12x20) */
        glint_context_get_stats(c, &st);
        assert_int_equal(st.plans, 2);
        assert_int_equal(st.plans_built, 4);
        assert_int_equal(st.plans_evicted, 2);
        assert_true(st.build_ms > 0 && st.last_build_ms > 0 && st.plan_bytes > 0);
        assert_true(st.arena_bytes > 0);
        /* above the bounds */
        glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 3, 16, 25}, .data = x};
        etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
        etest_msg_has("384 pixels");
        in.dims[0] = 3;
        in.dims[3] = 8;
        etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
        etest_msg_has("batch 3 is outside 1..2");
        in.dims[0] = 1;
        in.dims[1] = 4; /* the channel axis is fixed */
        etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
        etest_msg_has("[-1,3,-1,-1]");
        in.dims[1] = 3;
        in.dims[2] = 0;
        etest_status(glint_context_run(c, &in, 1), GLINT_ERR_SHAPE);
        etest_msg_has("axis 2 is 0");
        glint_context_get_stats(c, &st);
        assert_int_equal(st.plans_built, 4);
        glint_context_free(c);
    }
    glint_model_free(m);
}

/* models/yolov8n_e2e (YOLOv10's end-to-end head: TopK, GatherElements,
 * GatherND in the graph) against PyTorch's output: its rows are ranked by
 * score and scores 1e-6 apart swap under any other float evaluation order
 * (ONNX Runtime's too), so the rows that a detector answers with (score >
 * 0.25) are compared as a set: each PyTorch row has a glint row of the same
 * class, score within 1e-4 and corners within 0.05 px. Both backends, both
 * data sets (the second a batch of two). */
static void test_e2e_detector(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/yolov8n_e2e/model.onnx", GLINT_SOURCE_DIR);
    glint_model *m = NULL;
    etest_status(glint_model_load(path, &m), GLINT_OK);
    for (int be = 0; be < 2; be++)
        for (int set = 0; set < 2; set++) {
            snprintf(path, sizeof path, "%s/models/yolov8n_e2e/test_data_set_%d/input_0.pb",
                     GLINT_SOURCE_DIR, set);
            glint_tensor x = etest_read_pb(path);
            snprintf(path, sizeof path, "%s/models/yolov8n_e2e/test_data_set_%d/output_0.pb",
                     GLINT_SOURCE_DIR, set);
            glint_tensor want = etest_read_pb(path);
            glint_context *c = etest_context(m, be, 2, (int)x.dims[0]);
            etest_status(glint_context_run(c, &x, 1), GLINT_OK);
            glint_tensor y;
            glint_context_output(c, 0, &y);
            etest_assert_dims(&y, 3, want.dims);
            const float *g = y.data, *w = want.data;
            int64_t rows = want.dims[1], answered = 0;
            for (int64_t b = 0; b < want.dims[0]; b++)
                for (int64_t r = 0; r < rows; r++) {
                    const float *wr = w + (b * rows + r) * 6;
                    if (!(wr[4] > 0.25f)) continue;
                    answered++;
                    bool found = false;
                    for (int64_t k = 0; k < rows && !found; k++) {
                        const float *gr = g + (b * rows + k) * 6;
                        found = gr[5] == wr[5] && fabsf(gr[4] - wr[4]) <= 1e-4f;
                        for (int j = 0; j < 4 && found; j++)
                            found = fabsf(gr[j] - wr[j]) <= 0.05f;
                    }
                    if (!found)
                        fail_msg("backend %d set %d image %lld: PyTorch row %lld (class %g score "
                                 "%g) has no match",
                                 be, set, (long long)b, (long long)r, (double)wr[5], (double)wr[4]);
                }
            assert_true(answered > 100); /* the dog and the eagle answer with boxes */
            glint_context_free(c);
            free(x.data);
            free(want.data);
        }
    glint_model_free(m);
}

/* ---- fusion ---- */
static const node *find_node(const glint_model *m, const char *name)
{
    for (int i = 0; i < m->g.n_nodes; i++)
        if (!strcmp(m->g.nodes[i].name, name)) return &m->g.nodes[i];
    fail_msg("no node %s", name);
    return NULL;
}

static void test_fusion(void **state)
{
    glint_model *m = etest_load("silu_residual/model.onnx");
    int live = 0;
    for (int i = 0; i < m->g.n_nodes; i++)
        if (!m->g.nodes[i].dead) {
            live++;
            assert_int_equal(m->g.nodes[i].op, OP_Conv);
        }
    assert_int_equal(live, 4);
    const node *n = find_node(m, "conv1");
    assert_int_equal(n->n_post, 1);
    assert_int_equal(n->post[0].kind, POST_SWISH);
    n = find_node(m, "conv2");
    assert_int_equal(n->n_post, 1);
    assert_int_equal(n->post[0].kind, POST_SUM);
    assert_string_equal(m->g.vals[n->sum_in].name, "x");
    n = find_node(m, "conv3");
    assert_int_equal(n->n_post, 1);
    assert_int_equal(n->post[0].kind, POST_RELU);
    assert_true(n->post[0].alpha == 0.125f);
    n = find_node(m, "conv4");
    assert_int_equal(n->n_post, 1);
    assert_int_equal(n->post[0].kind, POST_CLIP);
    assert_true(n->post[0].alpha == 0.0f && n->post[0].beta == 6.0f);
    assert_string_equal(m->g.vals[n->out[0]].name, "y");
    glint_model_free(m);

    m = etest_load("conv_bn_relu/model.onnx");
    n = find_node(m, "conv1"); /* BN folded, Relu fused */
    assert_int_equal(n->n_post, 1);
    assert_int_equal(n->post[0].kind, POST_RELU);
    assert_true(n->post[0].alpha == 0.0f);
    assert_true(find_node(m, "bn1")->dead);
    glint_model_free(m);
}

/* The fused net: oneDNN agrees with the reference kernels, batch 4. */
static void test_ref_vs_auto(void **state)
{
    enum { N = 4, IN = N * 8 * 36, OUT = N * 4 * 36 };
    static float x[IN], a[OUT], r[OUT];
    for (int i = 0; i < IN; i++)
        x[i] = etest_det(i, 300) * 8;
    glint_model *m = etest_load("silu_residual/model.onnx");
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {N, 8, 6, 6}, .data = x};
    glint_context *ca = etest_context(m, GLINT_BACKEND_AUTO, 2, N);
    glint_context *cr = etest_context(m, GLINT_BACKEND_REF, 1, N);
    run1(ca, &in, a, OUT);
    run1(cr, &in, r, OUT);
    int clipped = 0, mid = 0;
    for (int i = 0; i < OUT; i++) {
        clipped += r[i] == 0 || r[i] == 6;
        mid += r[i] > 0.01f && r[i] < 5.99f;
    }
    assert_true(clipped > 0 && mid > OUT / 4); /* both ends and the middle of Clip are hit */
    double d = etest_max_diff(a, r, OUT);
    if (!(d < 1e-4)) fail_msg("oneDNN vs reference: max diff %g", d);
    glint_context_free(ca);
    glint_context_free(cr);
    glint_model_free(m);
}

/* ---- dynamic batch ---- */
static void check_batch(const char *name, const int64_t *img_dims, int img_ndim, glint_backend be)
{
    enum { B = 3 };
    glint_model *m = etest_load(name);
    int64_t per_in = 1;
    for (int d = 0; d < img_ndim; d++)
        per_in *= img_dims[d];
    float *x = malloc((size_t)(B * per_in) * sizeof *x);
    for (int64_t i = 0; i < B * per_in; i++)
        x[i] = etest_det(i, 400) * 3;
    glint_context *c = etest_context(m, be, 1, 4);
    glint_tensor in = {.dtype = GLINT_F32, .ndim = img_ndim + 1, .dims = {B}, .data = x};
    memcpy(in.dims + 1, img_dims, (size_t)img_ndim * sizeof *img_dims);
    etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    glint_tensor y;
    glint_context_output(c, 0, &y);
    assert_int_equal(y.dims[0], B);
    int64_t per_out = etest_count(&y) / B;
    float *all = malloc((size_t)(B * per_out) * sizeof *all);
    memcpy(all, y.data, (size_t)(B * per_out) * sizeof *all);
    for (int b = 0; b < B; b++) {
        in.dims[0] = 1;
        in.data = x + b * per_in;
        etest_status(glint_context_run(c, &in, 1), GLINT_OK);
        glint_context_output(c, 0, &y);
        assert_int_equal(y.dims[0], 1);
        assert_int_equal(etest_count(&y), per_out);
        double d = etest_max_diff(y.data, all + b * per_out, per_out);
        double scale = etest_max_abs(all + b * per_out, per_out);
        assert_true(scale > 0);
        if (!(d <= 1e-6 * (scale > 1 ? scale : 1)))
            fail_msg("%s backend %d image %d: batch-3 and batch-1 differ by %g", name, be, b, d);
    }
    free(all);
    free(x);
    glint_context_free(c);
    glint_model_free(m);
}

static void test_dynamic_batch(void **state)
{
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        check_batch("conv_bn_relu/model.onnx", (int64_t[]){3, 8, 8}, 3, (glint_backend)be);
        check_batch("silu_residual/model.onnx", (int64_t[]){8, 6, 6}, 3, (glint_backend)be);
        check_batch("reshape_chain/model.onnx", (int64_t[]){4, 3, 3}, 3, (glint_backend)be);
        check_batch("mini_yolo/model.onnx", (int64_t[]){3, 16, 16}, 3, (glint_backend)be);
    }
}

/* The batch of the reshape chain is folded per plan: each batch size gets
 * its own [N,36] target shape. */
static void test_reshape_chain_shapes(void **state)
{
    glint_model *m = etest_load("reshape_chain/model.onnx");
    glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, 5);
    static float x[5 * 36];
    for (int b = 1; b <= 5; b++) {
        glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {b, 4, 3, 3}, .data = x};
        etest_status(glint_context_run(c, &in, 1), GLINT_OK);
        glint_tensor y;
        glint_context_output(c, 0, &y);
        etest_assert_dims(&y, 2, (int64_t[]){b, 5});
    }
    glint_context_free(c);
    glint_model_free(m);
}

/* External weights load to the very same numbers as inline ones. */
static void test_external_equals_inline(void **state)
{
    enum { IN = 2 * 3 * 64, OUT = 2 * 4 * 64 };
    static float x[IN], a[OUT], b[OUT];
    for (int i = 0; i < IN; i++)
        x[i] = etest_det(i, 500);
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 3, 8, 8}, .data = x};
    glint_model *mi = etest_load("conv_bn_relu/model.onnx");
    glint_model *me = etest_load("conv_bn_relu_ext/model.onnx");
    assert_true(glint_model_flops(mi) == glint_model_flops(me));
    for (int be = GLINT_BACKEND_AUTO; be <= GLINT_BACKEND_REF; be++) {
        glint_context *ci = etest_context(mi, (glint_backend)be, 1, 2);
        glint_context *ce = etest_context(me, (glint_backend)be, 1, 2);
        run1(ci, &in, a, OUT);
        run1(ce, &in, b, OUT);
        assert_memory_equal(a, b, sizeof a);
        glint_context_free(ci);
        glint_context_free(ce);
    }
    /* and the weights themselves are equal, value by value */
    for (int v = 0; v < mi->g.n_vals; v++) {
        const value *vi = &mi->g.vals[v], *ve = &me->g.vals[v];
        assert_string_equal(vi->name, ve->name);
        assert_int_equal(vi->data != NULL, ve->data != NULL);
        if (vi->data)
            assert_memory_equal(vi->data, ve->data,
                                (size_t)eng_dims_count(vi->dims, vi->ndim) *
                                    glint_dtype_size(vi->dtype));
    }
    glint_model_free(mi);
    glint_model_free(me);
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dfl_fold),
        cmocka_unit_test(test_conv_vs_c),
        cmocka_unit_test(test_numpy),
        cmocka_unit_test(test_any_shape),
        cmocka_unit_test(test_e2e_detector),
        cmocka_unit_test(test_fusion),
        cmocka_unit_test(test_ref_vs_auto),
        cmocka_unit_test(test_dynamic_batch),
        cmocka_unit_test(test_reshape_chain_shapes),
        cmocka_unit_test(test_external_equals_inline),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_freeze_*" */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
