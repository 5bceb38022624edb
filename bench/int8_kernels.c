/* int8_kernels: what glint's int8 convolution step costs in oneDNN alone, on
 * YOLOv8n's 3x3 shapes, for each way of handling the activations' zero point:
 *   u8+zp    u8 src with a runtime src zero point (the general QDQ form)
 *   u8       u8 src without a zero point (post-ReLU activations)
 *   s8       s8 src, symmetric (no zero point)
 *   u8+pad   u8 src pre-padded with the zero point by the quantizer, the
 *            convolution with pad 0 and the zero point folded into the bias
 * and the quantizing f32 -> int8 reorder each one needs in front of it (dense
 * or into the interior of the padded buffer). Prints the implementation
 * oneDNN picks and ms per call (median of 7 rounds of 20 calls after warm-up).
 * Build: cmake target int8_kernels; run with OMP_NUM_THREADS=2. */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            fprintf(stderr, "%s: status %d\n", #call, (int)st_);                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef enum mode { M_U8_ZP, M_U8, M_S8, M_U8_PAD, N_MODES } mode;
static const char *mode_name[N_MODES] = {"u8+zp", "u8", "s8", "u8+pad"};

typedef struct shape {
    int ic, oc, hw, stride;
} shape;

static dnnl_engine_t eng;
static dnnl_stream_t str;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over 7 rounds of the mean of 20 executions of p. */
static double time_prim(dnnl_primitive_t p, int n_args, const dnnl_exec_arg_t *args)
{
    double r[7];
    for (int i = 0; i < 10; i++)
        CHECK(dnnl_primitive_execute(p, str, n_args, args));
    CHECK(dnnl_stream_wait(str));
    for (int k = 0; k < 7; k++) {
        double t0 = now_ms();
        for (int i = 0; i < 20; i++)
            CHECK(dnnl_primitive_execute(p, str, n_args, args));
        CHECK(dnnl_stream_wait(str));
        r[k] = (now_ms() - t0) / 20;
    }
    qsort(r, 7, sizeof *r, cmp_double);
    return r[3];
}

static const char *impl_of(dnnl_primitive_desc_t pd)
{
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    return impl;
}

/* One 3x3 convolution (SiLU post-op, f32 NHWC dst) and its quantizer in
 * mode m; prints one line. */
static void run(const shape *s, mode m)
{
    int pad = m == M_U8_PAD ? 0 : 1, in = s->hw, ph = m == M_U8_PAD ? in + 2 : in;
    int out = (in + 2 - 3) / s->stride + 1;
    dnnl_data_type_t st = m == M_S8 ? dnnl_s8 : dnnl_u8;
    dnnl_memory_desc_t src, wei, dst, xf, qdst, zmd;
    dnnl_dims_t sd = {1, s->ic, ph, ph}, xd = {1, s->ic, in, in}, wd = {s->oc, s->ic, 3, 3},
                dd = {1, s->oc, out, out}, one = {1};
    CHECK(dnnl_memory_desc_init_by_tag(&src, 4, sd, st, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&xf, 4, xd, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_s8, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&zmd, 1, one, dnnl_s32, dnnl_x));
    qdst = src;
    if (m == M_U8_PAD) { /* the interior of the padded buffer */
        dnnl_dims_t offs = {0, 0, 1, 1};
        CHECK(dnnl_memory_desc_init_submemory(&qdst, &src, xd, offs));
    }
    dnnl_dims_t strides = {s->stride, s->stride}, dil = {0, 0}, pads = {pad, pad};
    dnnl_convolution_desc_t cd;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                     dnnl_convolution_direct, &src, &wei, NULL,
                                                     &dst, strides, dil, pads, pads));
    dnnl_primitive_attr_t a;
    CHECK(dnnl_primitive_attr_create(&a));
    float sc = 0.01f;
    int rt = DNNL_RUNTIME_S32_VAL;
    CHECK(dnnl_primitive_attr_set_output_scales(a, 1, 0, &sc));
    if (m == M_U8_ZP) CHECK(dnnl_primitive_attr_set_zero_points(a, DNNL_ARG_SRC, 1, 0, &rt));
    dnnl_post_ops_t po;
    CHECK(dnnl_post_ops_create(&po));
    CHECK(dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_swish, 1, 0));
    CHECK(dnnl_primitive_attr_set_post_ops(a, po));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &cd, a, eng, NULL));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t mx, mq, mw, my, mz, mxf;
    int32_t z = 20;
    CHECK(dnnl_memory_create(&mx, &src, eng, DNNL_MEMORY_ALLOCATE));
    void *xbuf;
    CHECK(dnnl_memory_get_data_handle(mx, &xbuf));
    memset(xbuf, 3, dnnl_memory_desc_get_size(&src));
    CHECK(dnnl_memory_create(&mq, &qdst, eng, xbuf));
    CHECK(dnnl_memory_create(&mw, wmd, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&my, &dst, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&mxf, &xf, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&mz, &zmd, eng, &z));
    dnnl_primitive_t cp;
    CHECK(dnnl_primitive_create(&cp, pd));
    dnnl_primitive_attr_t ra;
    CHECK(dnnl_primitive_attr_create(&ra));
    float inv = 10.f;
    CHECK(dnnl_primitive_attr_set_output_scales(ra, 1, 0, &inv));
    if (m == M_U8_ZP || m == M_U8_PAD)
        CHECK(dnnl_primitive_attr_set_zero_points(ra, DNNL_ARG_DST, 1, 0, &rt));
    dnnl_primitive_desc_t rpd;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &xf, eng, &qdst, eng, ra));
    dnnl_primitive_t rp;
    CHECK(dnnl_primitive_create(&rp, rpd));
    dnnl_exec_arg_t ca[4] = {{DNNL_ARG_SRC, mx},
                             {DNNL_ARG_WEIGHTS, mw},
                             {DNNL_ARG_DST, my},
                             {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, mz}};
    dnnl_exec_arg_t qa[3] = {
        {DNNL_ARG_FROM, mxf}, {DNNL_ARG_TO, mq}, {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_TO, mz}};
    int nq = m == M_U8_ZP || m == M_U8_PAD ? 3 : 2;
    double tc = time_prim(cp, m == M_U8_ZP ? 4 : 3, ca), tq = time_prim(rp, nq, qa);
    printf("%3d@%3d->%3d s%d %-7s conv %.3f ms %-27s quant %.3f ms (%s) sum %.3f\n", s->ic, in,
           s->oc, s->stride, mode_name[m], tc, impl_of(pd), tq, impl_of(rpd), tc + tq);
    dnnl_primitive_destroy(cp);
    dnnl_primitive_destroy(rp);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_attr_destroy(a);
    dnnl_primitive_attr_destroy(ra);
    dnnl_post_ops_destroy(po);
    dnnl_memory_t mems[] = {mx, mq, mw, my, mz, mxf};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        dnnl_memory_destroy(mems[i]);
}

int main(void)
{
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&str, eng, dnnl_stream_default_flags));
    static const shape shapes[] = {{16, 16, 160, 1}, {16, 32, 320, 2},  {32, 32, 80, 1},
                                   {64, 64, 80, 1},  {64, 80, 80, 1},   {80, 80, 80, 1},
                                   {64, 64, 40, 1},  {128, 128, 20, 1}, {64, 128, 80, 2}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int m = 0; m < N_MODES; m++)
            run(&shapes[i], (mode)m);
    dnnl_stream_destroy(str);
    dnnl_engine_destroy(eng);
    return 0;
}
