/*
 * conv_peak.c — the ceiling glint's engine is measured against: how many
 * GFLOP/s (or GOP/s in int8) oneDNN reaches on one lone convolution.
 *
 * Default shape is YOLOv8n's dominant class: 3x3, 128->128 channels at
 * 40x40, stride 1, pad k/2, batch 1, with bias and a fused SiLU
 * (eltwise swish, alpha 1). Activations are NHWC; weights are `any`, so
 * oneDNN picks its own layout and they are reordered into it once, outside
 * the timed loop. That is the setup the engine itself uses, so the figure is
 * what a perfect engine would get for this layer and nothing more.
 *
 * Precisions: f32, and int8 (u8/s8 src, s8 weights, f32/s32 bias,
 * s8/u8/f32 dst, per-output-channel output scales).
 *
 * A sample of output points is checked against a plain C reference before
 * timing, so a benchmark of a wrongly set-up primitive does not pass silently.
 *
 * Stand-alone on purpose: links only oneDNN and OpenMP, never the engine.
 *   gcc -O2 -std=c17 bench/conv_peak.c -o build/conv_peak -ldnnl -fopenmp
 *   build/conv_peak --threads 2 --seconds 3 [--dtype int8] [--json]
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

/* Every dnnl call goes through CHECK: on failure it names the call, the
 * source line and oneDNN's status, and ends the program (a benchmark has
 * nothing to recover). */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        dnnl_status_t check_status_ = (call);                                                      \
        if (check_status_ != dnnl_success) {                                                       \
            fprintf(stderr, "conv_peak: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,        \
                    dnnl_status2str(check_status_));                                               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

enum { MAX_SAMPLES = 1 << 22, CHECK_POINTS = 512 };

typedef struct {
    long ic, oc, hw, k, stride, pad, batch;
    int threads;
    double seconds, warmup;
    int int8; /* 0: f32 everywhere; 1: quantised */
    dnnl_data_type_t src_dt, dst_dt, bias_dt;
    int json;
} conv_opts;

typedef struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd; /* owns impl */
    dnnl_primitive_t conv;
    dnnl_memory_t src, wei_user, wei, bias, dst, scratch;
    const char *impl;
    char wei_fmt[64];
    long oh;
    float *scales; /* per output channel, int8 only; owned */
} conv_bench;

static void usage(FILE *f)
{
    fprintf(f, "usage: conv_peak [--ic N] [--oc N] [--hw N] [--k N] [--stride N]\n"
               "                 [--pad N] [--batch N] [--threads T] [--seconds S]\n"
               "                 [--warmup S] [--dtype f32|int8] [--src u8|s8]\n"
               "                 [--dst s8|u8|f32] [--bias f32|s32] [--json]\n"
               "defaults: 128->128, 40x40, k3 s1 pad k/2, batch 1, threads = OMP default,\n"
               "          3 s timed after 0.5 s warm-up, f32; int8: src u8, dst s8, bias f32\n");
}

/* Parses a whole decimal integer in [lo, hi]; exits with a message if not. */
static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "conv_peak: %s wants an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, s);
        exit(2);
    }
    return v;
}

static double parse_double(const char *opt, const char *s, double lo, double hi)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "conv_peak: %s wants a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        exit(2);
    }
    return v;
}

static dnnl_data_type_t parse_dt(const char *opt, const char *s, int allow_f32, int allow_s32)
{
    if (strcmp(s, "u8") == 0) return dnnl_u8;
    if (strcmp(s, "s8") == 0) return dnnl_s8;
    if (allow_f32 && strcmp(s, "f32") == 0) return dnnl_f32;
    if (allow_s32 && strcmp(s, "s32") == 0) return dnnl_s32;
    fprintf(stderr, "conv_peak: bad value '%s' for %s\n", s, opt);
    exit(2);
}

static void parse_args(int argc, char **argv, conv_opts *o)
{
    *o = (conv_opts){.ic = 128,
                     .oc = 128,
                     .hw = 40,
                     .k = 3,
                     .stride = 1,
                     .pad = -1,
                     .batch = 1,
                     .threads = 0,
                     .seconds = 3.0,
                     .warmup = 0.5,
                     .src_dt = dnnl_u8,
                     .dst_dt = dnnl_s8,
                     .bias_dt = dnnl_f32};
    const char *dtype = "f32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "conv_peak: unknown option or missing value: %s\n", a);
            usage(stderr);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--ic") == 0)
            o->ic = parse_long(a, v, 1, 65536);
        else if (strcmp(a, "--oc") == 0)
            o->oc = parse_long(a, v, 1, 65536);
        else if (strcmp(a, "--hw") == 0)
            o->hw = parse_long(a, v, 1, 8192);
        else if (strcmp(a, "--k") == 0)
            o->k = parse_long(a, v, 1, 15);
        else if (strcmp(a, "--stride") == 0)
            o->stride = parse_long(a, v, 1, 15);
        else if (strcmp(a, "--pad") == 0)
            o->pad = parse_long(a, v, 0, 15);
        else if (strcmp(a, "--batch") == 0)
            o->batch = parse_long(a, v, 1, 1024);
        else if (strcmp(a, "--threads") == 0)
            o->threads = (int)parse_long(a, v, 1, 1024);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = parse_double(a, v, 0.01, 3600);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = parse_double(a, v, 0, 600);
        else if (strcmp(a, "--dtype") == 0)
            dtype = v;
        else if (strcmp(a, "--src") == 0)
            o->src_dt = parse_dt(a, v, 0, 0);
        else if (strcmp(a, "--dst") == 0)
            o->dst_dt = parse_dt(a, v, 1, 0);
        else if (strcmp(a, "--bias") == 0)
            o->bias_dt = parse_dt(a, v, 1, 1);
        else {
            fprintf(stderr, "conv_peak: unknown option: %s\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (strcmp(dtype, "int8") == 0 || strcmp(dtype, "s8") == 0 || strcmp(dtype, "u8") == 0)
        o->int8 = 1;
    else if (strcmp(dtype, "f32") != 0) {
        fprintf(stderr, "conv_peak: --dtype wants f32 or int8, got '%s'\n", dtype);
        exit(2);
    }
    if (strcmp(dtype, "s8") == 0 || strcmp(dtype, "u8") == 0)
        o->src_dt = strcmp(dtype, "s8") == 0 ? dnnl_s8 : dnnl_u8;
    if (!o->int8) o->src_dt = o->dst_dt = o->bias_dt = dnnl_f32;
    if (o->pad < 0) o->pad = o->k / 2;
    if (o->hw + 2 * o->pad < o->k) {
        fprintf(stderr, "conv_peak: kernel %ld larger than padded input %ld\n", o->k,
                o->hw + 2 * o->pad);
        exit(2);
    }
    /* Bound every tensor: 1 GiB of elements each is far past any real layer. */
    const double lim = 1024.0 * 1024 * 1024;
    if ((double)o->batch * o->ic * o->hw * o->hw > lim ||
        (double)o->batch * o->oc * o->hw * o->hw > lim ||
        (double)o->oc * o->ic * o->k * o->k > lim) {
        fprintf(stderr, "conv_peak: shape too large\n");
        exit(2);
    }
    if (o->threads == 0) o->threads = omp_get_max_threads();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes a memory descriptor's layout the way oneDNN's verbose mode does:
 * outer dims by decreasing stride (upper case when blocked), then the inner
 * blocks, e.g. "ABcd16b16a" or "acdb". */
static void md_layout_str(const dnnl_memory_desc_t *md, char *buf, size_t len)
{
    if (md->format_kind != dnnl_blocked) {
        snprintf(buf, len, "%s", dnnl_fmt_kind2str(md->format_kind));
        return;
    }
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int n = md->ndims, order[DNNL_MAX_NDIMS];
    dnnl_dim_t blk[DNNL_MAX_NDIMS] = {0};
    for (int d = 0; d < n; d++) {
        order[d] = d;
        blk[d] = 1;
    }
    for (int i = 0; i < b->inner_nblks; i++)
        blk[b->inner_idxs[i]] *= b->inner_blks[i];
    for (int i = 1; i < n; i++) /* insertion sort, stable: stride desc */
        for (int j = i; j > 0 && b->strides[order[j]] > b->strides[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t used = 0;
    for (int i = 0; i < n && used + 1 < len; i++)
        buf[used++] = (char)((blk[order[i]] > 1 ? 'A' : 'a') + order[i]);
    buf[used] = '\0';
    for (int i = 0; i < b->inner_nblks && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%lld%c", (long long)b->inner_blks[i],
                         (char)('a' + b->inner_idxs[i]));
        if (w < 0) break;
        used += (size_t)w;
    }
}

/* The few maths helpers the reference needs, written out so that the
 * program links without libm (the documented gcc line has no -lm). */
static double dabs(double x)
{
    return x < 0 ? -x : x;
}

/* exp(x) for |x| < 700 to double precision: 2^n * Taylor(r), |r| <= ln2/2. */
static double dexp(double x)
{
    const double ln2 = 0.69314718055994530942;
    x = x > 700 ? 700 : x < -700 ? -700 : x;
    long n = (long)(x / ln2 + (x < 0 ? -0.5 : 0.5));
    double r = x - (double)n * ln2, term = 1, sum = 1;
    for (int i = 1; i < 24; i++) {
        term *= r / i;
        sum += term;
    }
    double base = n < 0 ? 0.5 : 2.0, p = 1;
    for (unsigned long m = (unsigned long)(n < 0 ? -n : n); m; m >>= 1, base *= base)
        if (m & 1) p *= base;
    return sum * p;
}

static double dsqrt(double x)
{
    double y = x > 1 ? x : 1;
    for (int i = 0; i < 64; i++)
        y = 0.5 * (y + x / y);
    return y;
}

static double swish(double x)
{
    return x / (1.0 + dexp(-x));
}

static void *mem_ptr(dnnl_memory_t m)
{
    void *p = NULL;
    CHECK(dnnl_memory_get_data_handle(m, &p));
    return p;
}

static dnnl_memory_t mem_new(const dnnl_memory_desc_t *md, dnnl_engine_t eng)
{
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    return m;
}

/* xorshift: deterministic inputs, same on every run. */
static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* Uniform in [lo, hi], as float. */
static float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng() >> 8) * (1.0f / 16777216.0f);
}

/* Fills n elements of type dt with values in the range a quantised model would
 * have: f32 in [-1, 1], u8 in [0, 127], s8 in [-64, 63], s32 in [-1000, 1000]. */
static void fill(void *p, size_t n, dnnl_data_type_t dt)
{
    for (size_t i = 0; i < n; i++) {
        switch (dt) {
        case dnnl_f32:
            ((float *)p)[i] = rng_uniform(-1.0f, 1.0f);
            break;
        case dnnl_u8:
            ((uint8_t *)p)[i] = (uint8_t)(rng() % 128);
            break;
        case dnnl_s8:
            ((int8_t *)p)[i] = (int8_t)((int)(rng() % 128) - 64);
            break;
        case dnnl_s32:
            ((int32_t *)p)[i] = (int32_t)(rng() % 2001) - 1000;
            break;
        default:
            fprintf(stderr, "conv_peak: fill: unsupported type\n");
            exit(1);
        }
    }
}

/* Element i of a buffer of type dt, as a double. */
static double load(const void *p, size_t i, dnnl_data_type_t dt)
{
    switch (dt) {
    case dnnl_f32:
        return ((const float *)p)[i];
    case dnnl_u8:
        return ((const uint8_t *)p)[i];
    case dnnl_s8:
        return ((const int8_t *)p)[i];
    case dnnl_s32:
        return ((const int32_t *)p)[i];
    default: /* fill() has already refused any other type */
        fprintf(stderr, "conv_peak: load: unsupported type\n");
        exit(1);
    }
}

static void exec_reorder(conv_bench *cb, dnnl_memory_t from, dnnl_memory_t to)
{
    const dnnl_memory_desc_t *fmd, *tmd;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t r;
    CHECK(dnnl_memory_get_memory_desc(from, &fmd));
    CHECK(dnnl_memory_get_memory_desc(to, &tmd));
    CHECK(dnnl_reorder_primitive_desc_create(&pd, fmd, cb->engine, tmd, cb->engine, NULL));
    CHECK(dnnl_primitive_create(&r, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(r, cb->stream, 2, args));
    CHECK(dnnl_stream_wait(cb->stream));
    CHECK(dnnl_primitive_destroy(r));
    CHECK(dnnl_primitive_desc_destroy(pd));
}

/* Attributes of the convolution: user scratchpad, the fused swish and, in
 * int8, per-output-channel scales (kept in cb->scales). Caller destroys the
 * returned attr. */
static dnnl_primitive_attr_t conv_attr_create(conv_bench *cb, const conv_opts *o)
{
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    CHECK(dnnl_post_ops_create(&po));
    CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f));
    CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    if (o->int8) {
        /* Per-channel scales as a calibrated model has; sized so that the
         * int8 output keeps a useful range for the inputs fill() makes. */
        cb->scales = malloc((size_t)o->oc * sizeof *cb->scales);
        if (!cb->scales) {
            fprintf(stderr, "conv_peak: out of memory\n");
            exit(1);
        }
        double fan_in = (double)o->ic * o->k * o->k;
        for (long c = 0; c < o->oc; c++)
            cb->scales[c] = (float)(0.5 / dsqrt(fan_in) / 64.0) * rng_uniform(0.5f, 1.5f);
        CHECK(dnnl_primitive_attr_set_output_scales(attr, o->oc, 1 << 1, cb->scales));
    }

    CHECK(dnnl_post_ops_destroy(po));
    return attr;
}

/* Creates the convolution primitive, its memories (filled), and reorders the
 * weights into the layout oneDNN chose. cb owns everything it holds. */
static void bench_setup(conv_bench *cb, const conv_opts *o)
{
    memset(cb, 0, sizeof *cb);
    CHECK(dnnl_engine_create(&cb->engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&cb->stream, cb->engine, dnnl_stream_default_flags));

    cb->oh = (o->hw + 2 * o->pad - o->k) / o->stride + 1;
    dnnl_dims_t src_dims = {o->batch, o->ic, o->hw, o->hw};
    dnnl_dims_t dst_dims = {o->batch, o->oc, cb->oh, cb->oh};
    dnnl_dims_t wei_dims = {o->oc, o->ic, o->k, o->k};
    dnnl_dims_t bias_dims = {o->oc};
    dnnl_dims_t strides = {o->stride, o->stride};
    dnnl_dims_t pad = {o->pad, o->pad};
    dnnl_data_type_t wei_dt = o->int8 ? dnnl_s8 : dnnl_f32;

    dnnl_memory_desc_t src_md, dst_md, wei_any, wei_user_md, bias_md;
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, o->src_dt, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, o->dst_dt, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&wei_any, 4, wei_dims, wei_dt, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wei_user_md, 4, wei_dims, wei_dt, dnnl_oihw));
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, o->bias_dt, dnnl_a));

    dnnl_convolution_desc_t cd;
    CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                             &src_md, &wei_any, &bias_md, &dst_md, strides, pad,
                                             pad));

    dnnl_primitive_attr_t attr = conv_attr_create(cb, o);
    CHECK(dnnl_primitive_desc_create(&cb->pd, &cd, attr, cb->engine, NULL));
    const_dnnl_primitive_desc_t pd = cb->pd;
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &cb->impl));
    CHECK(dnnl_primitive_create(&cb->conv, cb->pd));

    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *scr_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (!wei_md || !scr_md) {
        fprintf(stderr, "conv_peak: querying the convolution's memory descriptors failed\n");
        exit(1);
    }
    md_layout_str(wei_md, cb->wei_fmt, sizeof cb->wei_fmt);

    cb->src = mem_new(&src_md, cb->engine);
    cb->dst = mem_new(&dst_md, cb->engine);
    cb->bias = mem_new(&bias_md, cb->engine);
    cb->wei_user = mem_new(&wei_user_md, cb->engine);
    cb->wei = mem_new(wei_md, cb->engine);
    cb->scratch = mem_new(scr_md, cb->engine);

    fill(mem_ptr(cb->src), (size_t)(o->batch * o->ic * o->hw * o->hw), o->src_dt);
    fill(mem_ptr(cb->wei_user), (size_t)(o->oc * o->ic * o->k * o->k), wei_dt);
    fill(mem_ptr(cb->bias), (size_t)o->oc, o->bias_dt);
    memset(mem_ptr(cb->dst), 0, dnnl_memory_desc_get_size(&dst_md));
    exec_reorder(cb, cb->wei_user, cb->wei);

    CHECK(dnnl_primitive_attr_destroy(attr));
}

/* Releases everything bench_setup made. */
static void bench_teardown(conv_bench *cb)
{
    dnnl_memory_t *mems[] = {&cb->src, &cb->wei_user, &cb->wei, &cb->bias, &cb->dst, &cb->scratch};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        CHECK(dnnl_memory_destroy(*mems[i]));
    CHECK(dnnl_primitive_destroy(cb->conv));
    CHECK(dnnl_primitive_desc_destroy(cb->pd));
    CHECK(dnnl_stream_destroy(cb->stream));
    CHECK(dnnl_engine_destroy(cb->engine));
    free(cb->scales);
    memset(cb, 0, sizeof *cb);
}

static void bench_run_once(conv_bench *cb)
{
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, cb->src}, {DNNL_ARG_WEIGHTS, cb->wei},        {DNNL_ARG_BIAS, cb->bias},
        {DNNL_ARG_DST, cb->dst}, {DNNL_ARG_SCRATCHPAD, cb->scratch},
    };
    CHECK(dnnl_primitive_execute(cb->conv, cb->stream, (int)(sizeof args / sizeof args[0]), args));
    CHECK(dnnl_stream_wait(cb->stream));
}

/* Compares CHECK_POINTS sampled outputs with a direct computation from the
 * user-layout weights. Returns the number of points out of tolerance and
 * stores the largest error seen in *max_err. */
static int bench_check(conv_bench *cb, const conv_opts *o, double *max_err)
{
    const void *src = mem_ptr(cb->src), *wei = mem_ptr(cb->wei_user);
    const void *bias = mem_ptr(cb->bias), *dst = mem_ptr(cb->dst);
    dnnl_data_type_t wei_dt = o->int8 ? dnnl_s8 : dnnl_f32;
    int bad = 0;
    *max_err = 0;
    for (int p = 0; p < CHECK_POINTS; p++) {
        long n = (long)(rng() % (uint32_t)o->batch), oc = (long)(rng() % (uint32_t)o->oc);
        long y = (long)(rng() % (uint32_t)cb->oh), x = (long)(rng() % (uint32_t)cb->oh);
        double acc = 0, mag = 0;
        for (long ky = 0; ky < o->k; ky++)
            for (long kx = 0; kx < o->k; kx++) {
                long iy = y * o->stride - o->pad + ky, ix = x * o->stride - o->pad + kx;
                if (iy < 0 || iy >= o->hw || ix < 0 || ix >= o->hw) continue;
                size_t sbase = (size_t)(((n * o->hw + iy) * o->hw + ix) * o->ic);
                for (long c = 0; c < o->ic; c++) {
                    double t =
                        load(src, sbase + (size_t)c, o->src_dt) *
                        load(wei, (size_t)(((oc * o->ic + c) * o->k + ky) * o->k + kx), wei_dt);
                    acc += t;
                    mag += dabs(t);
                }
            }
        double b = load(bias, (size_t)oc, o->bias_dt);
        /* oneDNN 2.x int8: dst = post_ops(scale * (acc + bias)). */
        double ref = o->int8 ? swish(cb->scales[oc] * (acc + b)) : swish(acc + b);
        double tol;
        if (o->dst_dt == dnnl_s8 || o->dst_dt == dnnl_u8) {
            double lo = o->dst_dt == dnnl_s8 ? -128 : 0, hi = o->dst_dt == dnnl_s8 ? 127 : 255;
            ref = (double)(long)(ref + (ref < 0 ? -0.5 : 0.5));
            ref = ref < lo ? lo : ref > hi ? hi : ref;
            tol = 1.0;
        } else {
            tol = 1e-5 * (mag * (o->int8 ? cb->scales[oc] : 1.0) + 1.0);
        }
        size_t di = (size_t)(((n * cb->oh + y) * cb->oh + x) * o->oc + oc);
        double err = dabs(load(dst, di, o->dst_dt) - ref);
        if (err > *max_err) *max_err = err;
        if (!(err <= tol)) bad++;
    }
    return bad;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs the primitive for o->warmup seconds (at least 3 times), then times
 * single executions until o->seconds have passed. Returns the number of
 * samples; *samples (owned by the caller, free()) holds them in ms, sorted. */
static size_t bench_time(conv_bench *cb, const conv_opts *o, double **samples)
{
    double t0 = now_s();
    for (int i = 0; i < 3 || now_s() - t0 < o->warmup; i++)
        bench_run_once(cb);

    size_t cap = 1024, n = 0;
    double *s = malloc(cap * sizeof *s);
    if (!s) {
        fprintf(stderr, "conv_peak: out of memory\n");
        exit(1);
    }
    double start = now_s(), end = start + o->seconds;
    for (double t = start; t < end && n < MAX_SAMPLES;) {
        bench_run_once(cb);
        double t1 = now_s();
        if (n == cap) {
            double *g = realloc(s, 2 * cap * sizeof *s);
            if (!g) {
                fprintf(stderr, "conv_peak: out of memory\n");
                exit(1);
            }
            s = g;
            cap *= 2;
        }
        s[n++] = (t1 - t) * 1e3;
        t = t1;
    }
    qsort(s, n, sizeof *s, cmp_double);
    *samples = s;
    return n;
}

/* Writes s as a JSON string literal (the impl names are plain ASCII, but a
 * quote or backslash must not break the object). */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    conv_opts o;
    parse_args(argc, argv, &o);
    omp_set_num_threads(o.threads);

    conv_bench cb;
    bench_setup(&cb, &o);

    bench_run_once(&cb);
    double max_err;
    int bad = bench_check(&cb, &o, &max_err);
    if (bad) {
        fprintf(stderr, "conv_peak: %s gave %d/%d wrong outputs (max error %g): not timing it\n",
                cb.impl, bad, CHECK_POINTS, max_err);
        bench_teardown(&cb);
        return 1;
    }

    double *s = NULL;
    size_t n = bench_time(&cb, &o, &s);
    double p50 = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    double ops = 2.0 * o.batch * o.oc * cb.oh * cb.oh * o.ic * o.k * o.k;
    double gflops = ops / (p50 * 1e-3) * 1e-9, best = ops / (s[0] * 1e-3) * 1e-9;
    const char *dt = o.int8 ? "int8" : "f32";

    if (o.json) {
        printf("{\"impl\":");
        json_str(cb.impl);
        printf(",\"ms_p50\":%.6f,\"gflops\":%.2f,\"threads\":%d,\"dtype\":\"%s\","
               "\"src\":\"%s\",\"wei\":\"%s\",\"bias\":\"%s\",\"dst\":\"%s\","
               "\"wei_layout\":\"%s\",\"ic\":%ld,\"oc\":%ld,\"hw\":%ld,\"k\":%ld,"
               "\"stride\":%ld,\"pad\":%ld,\"batch\":%ld,\"ms_min\":%.6f,"
               "\"gflops_best\":%.2f,\"iters\":%zu,\"gflop_per_iter\":%.6f}\n",
               p50, gflops, o.threads, dt, dnnl_dt2str(o.src_dt), o.int8 ? "s8" : "f32",
               dnnl_dt2str(o.bias_dt), dnnl_dt2str(o.dst_dt), cb.wei_fmt, o.ic, o.oc, o.hw, o.k,
               o.stride, o.pad, o.batch, s[0], best, n, ops * 1e-9);
    } else {
        const dnnl_version_t *v = dnnl_version();
        printf("oneDNN %d.%d.%d, %d thread%s\n", v->major, v->minor, v->patch, o.threads,
               o.threads == 1 ? "" : "s");
        printf("conv %ldx%ld s%ld p%ld  %ld->%ld @ %ldx%ld -> %ldx%ld  batch %ld  %s"
               " (src %s nhwc, wei %s %s, bias %s, dst %s nhwc) + swish\n",
               o.k, o.k, o.stride, o.pad, o.ic, o.oc, o.hw, o.hw, cb.oh, cb.oh, o.batch, dt,
               dnnl_dt2str(o.src_dt), o.int8 ? "s8" : "f32", cb.wei_fmt, dnnl_dt2str(o.bias_dt),
               dnnl_dt2str(o.dst_dt));
        printf("impl       %s\n", cb.impl);
        printf("check      ok (%d points, max error %.3g)\n", CHECK_POINTS, max_err);
        printf("iterations %zu in %.1f s, %.4f GOP each\n", n, o.seconds, ops * 1e-9);
        printf("median     %.4f ms  -> %.1f G%s/s\n", p50, gflops, o.int8 ? "OP" : "FLOP");
        printf("best       %.4f ms  -> %.1f G%s/s\n", s[0], best, o.int8 ? "OP" : "FLOP");
    }
    free(s);
    bench_teardown(&cb);
    return 0;
}
