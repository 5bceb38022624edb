/* Add / Sub / Mul / Div with numpy broadcasting of one side, on any layout,
 * as a oneDNN binary primitive. */
#include "onednn_impl.h"

#include "simd.h"

#include <stdlib.h>
#include <string.h>

/* ---- Add/Sub/Mul/Div with numpy broadcasting of one side, any layout ---- */
bool eng_onednn_binary_alg(op_id op, dnnl_alg_kind_t *alg, bool *commutes)
{
    *commutes = true;
    if (op == OP_Add)
        *alg = dnnl_binary_add;
    else if (op == OP_Mul)
        *alg = dnnl_binary_mul;
    else if (op == OP_Sub) {
        *alg = dnnl_binary_sub;
        *commutes = false;
    } else if (op == OP_Div) {
        *alg = dnnl_binary_div;
        *commutes = false;
    } else
        return false;
    return true;
}

static bool same_dims(const glint_tensor *a, const glint_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

/* Describes t broadcast to rank nd (leading 1s) in layout l. */
static void md_bcast(dnnl_memory_desc_t *md, const glint_tensor *t, int nd, layout l)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - t->ndim);
        d[i] = j >= 0 ? t->dims[j] : 1;
    }
    static const dnnl_format_tag_t plain[] = {dnnl_a,    dnnl_ab,    dnnl_abc,
                                              dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32,
                                 l == LAYOUT_NHWC && nd == 4 ? dnnl_nhwc : plain[nd - 1]);
}

/* ---- x * s[n, c]: a 4-D tensor scaled per channel (squeeze-and-excite) ----
 * oneDNN's jit:uni binary took 29 us for MobileNetV3's first one (16 x 56 x 56
 * NHWC floats) on one thread: ~7 elements a nanosecond less than a plain
 * loop. State: which input is x, and the layout. */
typedef struct chscale {
    int big;
    layout lay;
} chscale;

static glint_status chscale_run(step *st)
{
    const chscale *k = st->k.state;
    const glint_tensor *x = st->ctx.in[k->big], *sc = st->ctx.in[1 - k->big];
    const glint_tensor *y = st->ctx.out[0];
    const float *xd = x->data, *sd = sc->data;
    float *yd = y->data;
    int64_t N = y->dims[0], C = y->dims[1], P = y->dims[2] * y->dims[3];
    int64_t s_img = sc->ndim == 4 && sc->dims[0] == N && N > 1 ? C : 0; /* floats per image */
    if (k->lay == LAYOUT_NHWC) { /* blocks of 64 pixels of one image */
        int64_t blocks = (P + 63) / 64;
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t b = 0; b < blocks; b++) {
                int64_t p0 = b * 64, rows = P - p0 < 64 ? P - p0 : 64, at = (n * P + p0) * C;
                eng_simd_scale_rows(xd + at, sd + n * s_img, yd + at, rows, C);
            }
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t pl = 0; pl < N * C; pl++) {
            float v = sd[pl / C * s_img + pl % C];
            const float *xr = xd + pl * P;
            float *yr = yd + pl * P;
            for (int64_t i = 0; i < P; i++)
                yr[i] = xr[i] * v;
        }
    }
    return GLINT_OK;
}

/* Whether Mul step st is x (4-D, y's shape) times s of shape [N or 1, C, 1, 1]
 * (or [C, 1, 1]); *big: which input is x. */
static bool is_chscale(const step *st, int *big)
{
    const op_ctx *c = &st->ctx;
    const glint_tensor *y = c->out[0];
    if (st->n->op != OP_Mul || c->n_in != 2 || y->ndim != 4) return false;
    for (int b = 0; b < 2; b++) {
        const glint_tensor *x = c->in[b], *s = c->in[1 - b];
        if (!same_dims(x, y) || s->ndim < 3 || s->ndim > 4) continue;
        const int64_t *d = s->dims + (s->ndim - 3); /* [C, 1, 1] */
        if (d[0] != y->dims[1] || d[1] != 1 || d[2] != 1) continue;
        if (s->ndim == 4 && s->dims[0] != 1 && s->dims[0] != y->dims[0]) continue;
        *big = b;
        return true;
    }
    return false;
}

/* `lay` is the layout the step runs in (both inputs are in it, or layout-
 * invariant). */
glint_status eng_onednn_binary_make(plan *p, step *st, layout lay, bool *taken)
{
    glint_status s = GLINT_OK;
    op_ctx *c = &st->ctx;
    const glint_tensor *y = c->out[0];
    dnnl_alg_kind_t alg;
    bool commutes;
    *taken = false;
    if (c->n_in != 2 || !eng_onednn_binary_alg(st->n->op, &alg, &commutes) ||
        y->dtype != GLINT_F32 || c->in[0]->dtype != GLINT_F32 || c->in[1]->dtype != GLINT_F32 ||
        y->ndim < 1 || y->ndim > 6 || eng_tensor_count(y) == 0)
        return GLINT_OK;
    int big = same_dims(c->in[0], y) ? 0 : same_dims(c->in[1], y) && commutes ? 1 : -1;
    if (big < 0) return GLINT_OK;
    if (eng_simd_has_avx2() && is_chscale(st, &big)) {
        chscale *k = malloc(sizeof *k);
        if (!k) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        *k = (chscale){big, lay};
        st->k = (kernel){chscale_run, free, k, "glint:channel_scale"};
        *taken = true;
        /* cppcheck-suppress memleak ; the kernel made above owns k */
        return GLINT_OK;
    }
    /* rank 3 as rank 4 with a leading 1: [3, H, W] - [3, 1, 1] (an image without its
     * batch axis, torchvision's detection transform) is then a per-channel
     * broadcast, which oneDNN's JIT kernels take */
    int nd = y->ndim == 3 ? 4 : y->ndim;
    dnnl_memory_desc_t m0, m1, my;
    md_bcast(&m0, c->in[big], nd, lay);
    md_bcast(&m1, c->in[1 - big], nd, lay);
    md_bcast(&my, y, nd, lay);
    dnnl_binary_desc_t bd;
    dnnl_primitive_desc_t pd;
    const char *impl;
    if (dnnl_binary_desc_init(&bd, alg, &m0, &m1, &my) != dnnl_success ||
        !eng_onednn_pd_fast(&bd, NULL, &pd, &impl))
        return GLINT_OK;
    if ((s = eng_onednn_prim_make(p, st, pd, impl))) return s;
    prim_k *k = st->k.state;
    k->src_arg = 0;
    k->src_in = big;
    k->src1_arg = 1;
    k->src1_in = 1 - big;
    k->dst_arg = 2;
    if ((s = eng_onednn_add_mem(k, DNNL_ARG_SRC_0, &m0, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_SRC_1, &m1, DNNL_MEMORY_NONE)) ||
        (s = eng_onednn_add_mem(k, DNNL_ARG_DST, &my, DNNL_MEMORY_NONE))) {
        st->k.destroy(st->k.state);
        memset(&st->k, 0, sizeof st->k);
        return s;
    }
    *taken = true;
    return GLINT_OK;
}
