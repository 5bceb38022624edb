/* The oneDNN backend's table (eng_backend_onednn): which layouts it runs a
 * step in, the kernel maker that sends each operator to its file, layout
 * conversions, the checks once a plan is laid out, and the per-plan state
 * (a stream on the CPU engine, created once per process).
 *
 * Threads: plan-time calls run on the thread building the plan; kernels run
 * on the thread that calls eng_plan_run, with its context's OpenMP threads. */
#include "onednn_impl.h"

#include "simd.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static dnnl_status_t g_engine_status;

static void engine_init(void)
{
    g_engine_status = dnnl_engine_create(&eng_onednn_engine, dnnl_cpu, 0);
}

static void onednn_plan_free(void *state)
{
    onednn_state *d = state;
    if (d && d->stream) dnnl_stream_destroy(d->stream);
    free(d);
}

static glint_status onednn_plan_init(plan *p, void **state)
{
    pthread_once(&g_once, engine_init);
    if (g_engine_status != dnnl_success)
        return eng_fail(GLINT_ERR_BACKEND, "oneDNN: no CPU engine (status %d)",
                        (int)g_engine_status);
    glint_status s = GLINT_OK;
    onednn_state *d = calloc(1, sizeof *d);
    if (!d) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    *state = d;
    DN(dnnl_stream_create(&d->stream, eng_onednn_engine, dnnl_stream_default_flags));
    return GLINT_OK;
fail:
    onednn_plan_free(d);
    *state = NULL;
    return s;
}

static bool is4d_f32(const plan *p, int v)
{
    return v >= 0 && p->t[v].ndim == 4 && p->t[v].dtype == GLINT_F32;
}

/* A convolution's input layouts, best first: a plain input with few
 * channels (the image) goes in as NCHW; into an int8 convolution only with
 * <= 4 channels, which qconv_make quantizes straight into 4-channel u8
 * pixels (oneDNN's NCHW f32 -> NHWC u8 reorder costs more than a reorder to
 * NHWC f32 and then the NHWC quantization: 2.4 against 2.0 ms for YOLOv8n's
 * stem). Else NHWC. */
static int conv_layouts(const plan *p, const step *st, layout *lays)
{
    int x = st->in_id[0];
    bool qconv = st->n->op == OP_GlintQConv;
    if (!is4d_f32(p, x) && !(qconv && x >= 0 && p->t[x].dtype == GLINT_U8)) return 0;
    int n = 0;
    if (p->lay[x] != LAYOUT_NHWC && p->t[x].dims[1] < 8 && !(qconv && p->t[x].dims[1] > 4))
        lays[n++] = LAYOUT_PLAIN;
    lays[n++] = LAYOUT_NHWC;
    return n;
}

static int onednn_layouts(void *state, const plan *p, const step *st, layout *lays)
{
    dnnl_alg_kind_t alg;
    float a, b;
    bool commutes;
    switch (st->n->op) {
    case OP_Conv:
    case OP_GlintQConv:
        return conv_layouts(p, st, lays);
    case OP_ConvTranspose:
        if (!is4d_f32(p, st->in_id[0])) return 0;
        lays[0] = LAYOUT_NHWC;
        return 1;
    case OP_MaxPool:
    case OP_AveragePool:
    case OP_GlobalAveragePool:
        lays[0] = LAYOUT_NHWC;
        return 1;
    case OP_Softmax:
    case OP_LogSoftmax:
    case OP_Gemm:
    case OP_MatMul:
    case OP_GlintMatMul:
    case OP_LayerNormalization:
    case OP_Transpose:
        lays[0] = LAYOUT_PLAIN;
        return 1;
    default:
        break;
    }
    if (!eng_onednn_eltwise_alg(st->n, &alg, &a, &b) &&
        !eng_onednn_binary_alg(st->n->op, &alg, &commutes))
        return 0;
    lays[0] = LAYOUT_NHWC; /* any dense layout */
    lays[1] = LAYOUT_PLAIN;
    return 2;
}

static glint_status onednn_make_kernel(void *state, plan *p, step *st, layout lay, const qout *oq,
                                       bool *taken)
{
    dnnl_alg_kind_t alg;
    float a, b;
    bool commutes;
    *taken = false;
    switch (st->n->op) {
    case OP_Conv:
    case OP_GlintQConv:
        return eng_onednn_conv_make(p, st, lay, oq, taken);
    case OP_ConvTranspose:
        return eng_onednn_deconv_make(p, st, taken);
    case OP_MaxPool:
    case OP_AveragePool:
    case OP_GlobalAveragePool:
        return eng_onednn_pool_make(p, st, taken);
    case OP_Softmax:
    case OP_LogSoftmax:
        return eng_onednn_softmax_make(p, st, taken);
    case OP_Gemm:
    case OP_MatMul:
    case OP_GlintMatMul:
        return eng_onednn_matmul_make(p, st, taken);
    case OP_LayerNormalization:
        return eng_onednn_layernorm_make(p, st, taken);
    case OP_Transpose:
        return eng_onednn_transpose_make(p, st, taken);
    default:
        break;
    }
    if (eng_onednn_eltwise_alg(st->n, &alg, &a, &b)) return eng_onednn_eltwise_make(p, st, taken);
    if (eng_onednn_binary_alg(st->n->op, &alg, &commutes))
        return eng_onednn_binary_make(p, st, lay, taken);
    return GLINT_OK;
}

static glint_status onednn_make_reorder(void *state, plan *p, step *st, int src, int dst,
                                        layout from, layout to)
{
    glint_status s = GLINT_OK;
    if (from == LAYOUT_NHWC && to == LAYOUT_PLAIN && p->t[src].dtype == GLINT_F32 &&
        eng_simd_has_avx2()) { /* faster than oneDNN's jit:uni reorder here */
        st->k = (kernel){eng_nhwc_to_plain_run, NULL, NULL, "glint:nhwc_to_plain"};
        st->planes_ok = true;
        return GLINT_OK;
    }
    if (from == LAYOUT_PLAIN && to == LAYOUT_NHWC && p->t[src].dtype == GLINT_F32 &&
        p->t[src].ndim == 4 && eng_simd_has_avx2()) {
        st->k = (kernel){eng_plain_to_nhwc_run, NULL, NULL, "glint:plain_to_nhwc"};
        return GLINT_OK;
    }
    dnnl_memory_desc_t a, b;
    eng_onednn_md_4d(&a, &p->t[src], from);
    eng_onednn_md_4d(&b, &p->t[dst], to);
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, &a, eng_onednn_engine, &b, eng_onednn_engine, NULL));
    const char *impl;
    eng_onednn_impl_is_ref(pd, &impl);
    return eng_onednn_prim_unary(p, st, pd, impl, DNNL_ARG_FROM, &a, DNNL_ARG_TO, &b);
fail:
    return s;
}

/* Refuses a bf16 plan without any bf16 convolution kernel; a residual the
 * planner accumulates in place (output aliased to the sum) needs no copy. */
static glint_status onednn_plan_finish(void *state, plan *p)
{
    if (p->bf16 && !p->bf16_convs && p->f32_convs)
        return eng_fail(GLINT_ERR_UNSUPPORTED, "bf16: oneDNN offers no bf16 convolution kernel "
                                               "on this CPU (it needs AVX512); use f32 or int8");
    glint_status s = eng_onednn_create_prims(p);
    if (s) return s;
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        if ((st->k.run != eng_onednn_prim_run && st->k.run != eng_onednn_qconv_run) ||
            st->sum_id < 0)
            continue;
        prim_k *k = st->k.state; /* first in a qconv kernel's state too */
        if (p->alias[st->out_id[0]] == st->sum_id) k->copy_sum = false;
    }
    return GLINT_OK;
}

const backend_iface eng_backend_onednn = {
    .name = "onednn",
    .plan_init = onednn_plan_init,
    .plan_free = onednn_plan_free,
    .layouts = onednn_layouts,
    .make_kernel = onednn_make_kernel,
    .make_reorder = onednn_make_reorder,
    .plan_finish = onednn_plan_finish,
    .model_cache_free = eng_onednn_wcache_free,
    .model_cache_unpack = eng_onednn_wcache_unpack,
};
