/* Reference kernels and shape functions of the windowed neural-network
 * operators: convolution (and transposed), pooling, and batch / instance
 * normalisation. Plain C, up to 3 spatial dimensions; they define the
 * semantics every backend is checked against (ops_matrix.c, ops_reduce.c and
 * ops_resize.c hold the other neural-network families). */
#include "ops_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- geometry shared by Conv, ConvTranspose and the pools ---- */
#define GEOM_MAX ((int64_t)1 << 24) /* bound on kernel, stride, dilation, pads */
typedef struct geom {
    int nsp; /* spatial rank (1..3) */
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3], opad[3];
} geom;

/* Pads 1-D/2-D geometry to 3-D by prepending unit dims. */
static void geom_to3(const geom *g, geom *g3)
{
    int off = 3 - g->nsp;
    for (int i = 0; i < 3; i++) {
        int j = i - off;
        bool real = j >= 0;
        g3->in[i] = real ? g->in[j] : 1;
        g3->out[i] = real ? g->out[j] : 1;
        g3->k[i] = real ? g->k[j] : 1;
        g3->s[i] = real ? g->s[j] : 1;
        g3->d[i] = real ? g->d[j] : 1;
        g3->pb[i] = real ? g->pb[j] : 0;
        g3->pe[i] = real ? g->pe[j] : 0;
        g3->opad[i] = real ? g->opad[j] : 0;
    }
    g3->nsp = 3;
}

/* Reads strides/dilations/pads/auto_pad; kernel dims come from `kdims` (the
 * weight's spatial dims) or the kernel_shape attribute. For pools, ceil_mode. */
static glint_status geom_fill(op_ctx *c, const int64_t *kdims, bool is_pool, geom *g)
{
    const glint_tensor *x = c->in[0];
    int nsp = x->ndim - 2;
    if (nsp < 1 || nsp > 3)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "%d spatial dimensions (1 to 3 supported)", nsp);
    g->nsp = nsp;
    const int64_t *ks, *st, *dl, *pd;
    int nk = eng_attr_ints(c->n, "kernel_shape", &ks);
    int ns = eng_attr_ints(c->n, "strides", &st);
    int nd = eng_attr_ints(c->n, "dilations", &dl);
    int np = eng_attr_ints(c->n, "pads", &pd);
    if ((nk && nk != nsp) || (ns && ns != nsp) || (nd && nd != nsp) || (np && np != 2 * nsp))
        return OP_FAIL(c, GLINT_ERR_INVALID,
                       "kernel_shape/strides/dilations/pads do not match "
                       "%d spatial dimensions",
                       nsp);
    if (!kdims && !nk) return OP_FAIL(c, GLINT_ERR_INVALID, "kernel_shape is required");
    for (int i = 0; kdims && nk && i < nsp; i++)
        if (ks[i] != kdims[i])
            return OP_FAIL(c, GLINT_ERR_SHAPE, "kernel_shape differs from the weights");
    const char *ap = eng_attr_s(c->n, "auto_pad", "NOTSET");
    bool ceil_mode = is_pool && eng_attr_i(c->n, "ceil_mode", 0);
    for (int i = 0; i < nsp; i++) {
        g->in[i] = x->dims[2 + i];
        g->k[i] = nk ? ks[i] : kdims[i];
        g->s[i] = ns ? st[i] : 1;
        g->d[i] = nd ? dl[i] : 1;
        g->pb[i] = np ? pd[i] : 0;
        g->pe[i] = np ? pd[i + nsp] : 0;
        g->opad[i] = 0;
        if (g->k[i] < 1 || g->s[i] < 1 || g->d[i] < 1 || g->pb[i] < 0 || g->pe[i] < 0 ||
            g->k[i] > GEOM_MAX || g->s[i] > GEOM_MAX || g->d[i] > GEOM_MAX || g->pb[i] > GEOM_MAX ||
            g->pe[i] > GEOM_MAX)
            return OP_FAIL(c, GLINT_ERR_INVALID,
                           "kernel, stride and dilation must be in [1, 2^24] "
                           "and pads in [0, 2^24]");
        int64_t ek = (g->k[i] - 1) * g->d[i] + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            g->out[i] = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (g->out[i] - 1) * g->s[i] + ek - g->in[i];
            if (total < 0) total = 0;
            bool upper = !strcmp(ap, "SAME_UPPER");
            g->pb[i] = upper ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
        } else {
            if (!strcmp(ap, "VALID"))
                g->pb[i] = g->pe[i] = 0;
            else if (strcmp(ap, "NOTSET"))
                return OP_FAIL(c, GLINT_ERR_INVALID, "auto_pad '%s'", ap);
            int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ek;
            if (span < 0) return OP_FAIL(c, GLINT_ERR_SHAPE, "kernel larger than padded input");
            g->out[i] = (ceil_mode ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
            if (ceil_mode && (g->out[i] - 1) * g->s[i] >= g->in[i] + g->pb[i]) g->out[i]--;
        }
    }
    return GLINT_OK;
}

/* ---- Conv ---- */
glint_status eng_conv_shape(op_ctx *c, const glint_tensor *w, glint_dtype out)
{
    const glint_tensor *x = c->in[0];
    int64_t group = eng_attr_i(c->n, "group", 1);
    if (w->ndim != x->ndim || group < 1 || x->dims[1] % group || w->dims[0] % group ||
        w->dims[1] * group != x->dims[1])
        return OP_FAIL(c, GLINT_ERR_SHAPE,
                       "weight shape does not match input channels %lld "
                       "and group %lld",
                       (long long)x->dims[1], (long long)group);
    geom g;
    glint_status s = geom_fill(c, w->dims + 2, false, &g);
    if (s) return s;
    int64_t dims[MAXD] = {x->dims[0], w->dims[0]};
    for (int i = 0; i < g.nsp; i++)
        dims[2 + i] = g.out[i];
    eng_set_out(c, 0, out, x->ndim, dims);
    return GLINT_OK;
}

glint_status eng_infer_Conv(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    if (c->n_in > 2 && c->in[2] && eng_tensor_count(c->in[2]) != c->in[1]->dims[0])
        return OP_FAIL(c, GLINT_ERR_SHAPE, "bias length differs from output channels");
    return eng_conv_shape(c, c->in[1], GLINT_F32);
}

/* Element i of an integer tensor (u8, i8, i32) as a double. */
static inline double qget(const glint_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case GLINT_U8:
        return ((const uint8_t *)t->data)[i];
    case GLINT_I8:
        return ((const int8_t *)t->data)[i];
    case GLINT_I32:
        return ((const int32_t *)t->data)[i];
    default:
        return eng_tensor_get_f(t, i);
    }
}

glint_status eng_conv_int_run(op_ctx *c, const glint_tensor *w, double x_scale, double x_zp,
                              const glint_tensor *w_zp, conv_store_fn store)
{
    const glint_tensor *x = c->in[0];
    geom g0, g;
    glint_status s = geom_fill(c, w->dims + 2, false, &g0);
    if (s) return s;
    geom_to3(&g0, &g);
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0], G = eng_attr_i(c->n, "group", 1);
    int64_t cg = C / G, mg = M / G, nzp = w_zp ? eng_tensor_count(w_zp) : 0;
    int64_t isz = g.in[0] * g.in[1] * g.in[2], osz = g.out[0] * g.out[1] * g.out[2];
    int64_t ksz = g.k[0] * g.k[1] * g.k[2];
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            double wz = nzp ? qget(w_zp, nzp == 1 ? 0 : m) : 0;
            int64_t grp = m / mg, o = 0;
            for (int64_t od = 0; od < g.out[0]; od++)
                for (int64_t oh = 0; oh < g.out[1]; oh++)
                    for (int64_t ow = 0; ow < g.out[2]; ow++, o++) {
                        double acc = 0; /* exact: integer products, far below 2^53 */
                        for (int64_t ci = 0; ci < cg; ci++) {
                            int64_t xb = (n * C + grp * cg + ci) * isz, wb = (m * cg + ci) * ksz;
                            for (int64_t kd = 0; kd < g.k[0]; kd++) {
                                int64_t id = od * g.s[0] + kd * g.d[0] - g.pb[0];
                                if (id < 0 || id >= g.in[0]) continue;
                                for (int64_t kh = 0; kh < g.k[1]; kh++) {
                                    int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];
                                    if (ih < 0 || ih >= g.in[1]) continue;
                                    for (int64_t kw = 0; kw < g.k[2]; kw++) {
                                        int64_t iw = ow * g.s[2] + kw * g.d[2] - g.pb[2];
                                        if (iw < 0 || iw >= g.in[2]) continue; /* padding is x_zp */
                                        double xv =
                                            qget(x, xb + (id * g.in[1] + ih) * g.in[2] + iw);
                                        if (x_scale > 0) { /* quantize on read, as QuantizeLinear */
                                            xv = nearbyint((float)xv / (float)x_scale) + x_zp;
                                            xv = xv < 0 ? 0 : xv > 255 ? 255 : xv;
                                        }
                                        double wv = qget(w, wb + (kd * g.k[1] + kh) * g.k[2] + kw);
                                        acc += (xv - x_zp) * (wv - wz);
                                    }
                                }
                            }
                        }
                        store(c, (n * M + m) * osz + o, m, acc);
                    }
        }
    return GLINT_OK;
}

glint_status eng_run_Conv(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *w = c->in[1];
    const float *bias = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    geom g0, g;
    glint_status s = geom_fill(c, w->dims + 2, false, &g0);
    if (s) return s;
    geom_to3(&g0, &g);
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0], G = eng_attr_i(c->n, "group", 1);
    int64_t cg = C / G, mg = M / G;
    int64_t isz = g.in[0] * g.in[1] * g.in[2], osz = g.out[0] * g.out[1] * g.out[2];
    int64_t ksz = g.k[0] * g.k[1] * g.k[2];
    const float *X = x->data, *W = w->data;
    float *Y = c->out[0]->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            float *y = Y + (n * M + m) * osz;
            float b = bias ? bias[m] : 0.0f;
            for (int64_t i = 0; i < osz; i++)
                y[i] = b;
            int64_t grp = m / mg;
            for (int64_t ci = 0; ci < cg; ci++) {
                const float *xp = X + (n * C + grp * cg + ci) * isz;
                const float *wp = W + (m * cg + ci) * ksz;
                for (int64_t kd = 0; kd < g.k[0]; kd++)
                    for (int64_t kh = 0; kh < g.k[1]; kh++)
                        for (int64_t kw = 0; kw < g.k[2]; kw++) {
                            float wv = wp[(kd * g.k[1] + kh) * g.k[2] + kw];
                            /* valid output-w range for this kw */
                            int64_t off_w = kw * g.d[2] - g.pb[2];
                            int64_t ow0 = off_w >= 0 ? 0 : (-off_w + g.s[2] - 1) / g.s[2];
                            int64_t ow1 =
                                g.in[2] - off_w <= 0 ? 0 : (g.in[2] - off_w - 1) / g.s[2] + 1;
                            if (ow1 > g.out[2]) ow1 = g.out[2];
                            for (int64_t od = 0; od < g.out[0]; od++) {
                                int64_t id = od * g.s[0] + kd * g.d[0] - g.pb[0];
                                if (id < 0 || id >= g.in[0]) continue;
                                for (int64_t oh = 0; oh < g.out[1]; oh++) {
                                    int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];
                                    if (ih < 0 || ih >= g.in[1]) continue;
                                    const float *xr = xp + (id * g.in[1] + ih) * g.in[2] + off_w;
                                    float *yr = y + (od * g.out[1] + oh) * g.out[2];
                                    if (g.s[2] == 1)
                                        for (int64_t ow = ow0; ow < ow1; ow++)
                                            yr[ow] += wv * xr[ow];
                                    else
                                        for (int64_t ow = ow0; ow < ow1; ow++)
                                            yr[ow] += wv * xr[ow * g.s[2]];
                                }
                            }
                        }
            }
        }
    eng_post_apply(Y, eng_tensor_count(c->out[0]), c->n->post, c->n->n_post,
                   c->sum ? c->sum->data : NULL);
    return GLINT_OK;
}

/* ---- ConvTranspose ---- */
static glint_status convt_geom(op_ctx *c, geom *g)
{
    const glint_tensor *x = c->in[0], *w = c->in[1];
    int nsp = x->ndim - 2;
    if (nsp < 1 || nsp > 3) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "%d spatial dims", nsp);
    g->nsp = nsp;
    const int64_t *st, *dl, *pd, *op, *os, *ks;
    int ns = eng_attr_ints(c->n, "strides", &st), nd = eng_attr_ints(c->n, "dilations", &dl);
    int np = eng_attr_ints(c->n, "pads", &pd), no = eng_attr_ints(c->n, "output_padding", &op);
    int nos = eng_attr_ints(c->n, "output_shape", &os),
        nk = eng_attr_ints(c->n, "kernel_shape", &ks);
    if ((ns && ns != nsp) || (nd && nd != nsp) || (np && np != 2 * nsp) || (no && no != nsp) ||
        (nk && nk != nsp))
        return OP_FAIL(c, GLINT_ERR_INVALID, "attribute lengths do not match %d spatial dims", nsp);
    const char *ap = eng_attr_s(c->n, "auto_pad", "NOTSET");
    for (int i = 0; i < nsp; i++) {
        g->in[i] = x->dims[2 + i];
        g->k[i] = w->dims[2 + i];
        if (nk && ks[i] != g->k[i])
            return OP_FAIL(c, GLINT_ERR_SHAPE, "kernel_shape differs from the weights");
        g->s[i] = ns ? st[i] : 1;
        g->d[i] = nd ? dl[i] : 1;
        g->opad[i] = no ? op[i] : 0;
        g->pb[i] = np ? pd[i] : 0;
        g->pe[i] = np ? pd[i + nsp] : 0;
        if (g->k[i] < 1 || g->s[i] < 1 || g->d[i] < 1 || g->k[i] > GEOM_MAX || g->s[i] > GEOM_MAX ||
            g->d[i] > GEOM_MAX || g->pb[i] < -GEOM_MAX || g->pb[i] > GEOM_MAX ||
            g->pe[i] < -GEOM_MAX || g->pe[i] > GEOM_MAX || g->opad[i] < 0 || g->opad[i] > GEOM_MAX)
            return OP_FAIL(c, GLINT_ERR_INVALID, "kernel/stride/dilation/pads out of range");
        int64_t ek = (g->k[i] - 1) * g->d[i] + 1;
        int64_t full = g->s[i] * (g->in[i] - 1) + g->opad[i] + ek;
        bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
        if (nos || same) {
            int64_t target = nos ? os[nos - nsp + i] : g->in[i] * g->s[i];
            int64_t total = full - target;
            if (total < 0) total = 0;
            bool lower = !strcmp(ap, "SAME_LOWER");
            g->pb[i] = lower ? total - total / 2 : total / 2;
            g->pe[i] = total - g->pb[i];
            g->out[i] = target;
        } else {
            g->out[i] = full - g->pb[i] - g->pe[i];
        }
        if (g->out[i] < 1) return OP_FAIL(c, GLINT_ERR_SHAPE, "output size below 1");
    }
    return GLINT_OK;
}

glint_status eng_infer_ConvTranspose(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    const glint_tensor *x = c->in[0], *w = c->in[1];
    int64_t G = eng_attr_i(c->n, "group", 1);
    if (w->ndim != x->ndim || G < 1 || w->dims[0] != x->dims[1] || x->dims[1] % G)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "weight shape does not match the input");
    if (c->n_in > 2 && c->in[2] && eng_tensor_count(c->in[2]) != w->dims[1] * G)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "bias length differs from output channels");
    geom g;
    if ((s = convt_geom(c, &g))) return s;
    int64_t dims[MAXD] = {x->dims[0], w->dims[1] * G};
    for (int i = 0; i < g.nsp; i++)
        dims[2 + i] = g.out[i];
    eng_set_out(c, 0, GLINT_F32, x->ndim, dims);
    return GLINT_OK;
}

glint_status eng_run_ConvTranspose(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *w = c->in[1];
    const float *bias = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    geom g0, g;
    convt_geom(c, &g0);
    geom_to3(&g0, &g);
    int64_t N = x->dims[0], C = x->dims[1], G = eng_attr_i(c->n, "group", 1);
    int64_t cg = C / G, mg = w->dims[1], M = mg * G;
    int64_t isz = g.in[0] * g.in[1] * g.in[2], osz = g.out[0] * g.out[1] * g.out[2];
    int64_t ksz = g.k[0] * g.k[1] * g.k[2];
    const float *X = x->data, *W = w->data;
    float *Y = c->out[0]->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            float *y = Y + (n * M + m) * osz;
            for (int64_t i = 0; i < osz; i++)
                y[i] = bias ? bias[m] : 0.0f;
        }
    for (int64_t n = 0; n < N; n++)
        for (int64_t ci = 0; ci < C; ci++) {
            int64_t grp = ci / cg;
            const float *xp = X + (n * C + ci) * isz;
            for (int64_t mo = 0; mo < mg; mo++) {
                int64_t m = grp * mg + mo;
                float *y = Y + (n * M + m) * osz;
                const float *wp = W + (ci * mg + mo) * ksz;
                for (int64_t id = 0; id < g.in[0]; id++)
                    for (int64_t ih = 0; ih < g.in[1]; ih++)
                        for (int64_t iw = 0; iw < g.in[2]; iw++) {
                            float xv = xp[(id * g.in[1] + ih) * g.in[2] + iw];
                            for (int64_t kd = 0; kd < g.k[0]; kd++) {
                                int64_t od = id * g.s[0] + kd * g.d[0] - g.pb[0];
                                if (od < 0 || od >= g.out[0]) continue;
                                for (int64_t kh = 0; kh < g.k[1]; kh++) {
                                    int64_t oh = ih * g.s[1] + kh * g.d[1] - g.pb[1];
                                    if (oh < 0 || oh >= g.out[1]) continue;
                                    for (int64_t kw = 0; kw < g.k[2]; kw++) {
                                        int64_t ow = iw * g.s[2] + kw * g.d[2] - g.pb[2];
                                        if (ow < 0 || ow >= g.out[2]) continue;
                                        y[(od * g.out[1] + oh) * g.out[2] + ow] +=
                                            xv * wp[(kd * g.k[1] + kh) * g.k[2] + kw];
                                    }
                                }
                            }
                        }
            }
        }
    eng_post_apply(Y, eng_tensor_count(c->out[0]), c->n->post, c->n->n_post,
                   c->sum ? c->sum->data : NULL);
    return GLINT_OK;
}

/* ---- BatchNormalization (inference) ---- */
glint_status eng_infer_BatchNormalization(op_ctx *c)
{
    if (c->n_out > 1 || eng_attr_i(c->n, "training_mode", 0))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "training mode is not supported");
    for (int i = 0; i < 5; i++) {
        glint_status s = eng_need_f32(c, i);
        if (s) return s;
        if (i && eng_tensor_count(c->in[i]) != (c->in[0]->ndim > 1 ? c->in[0]->dims[1] : 1))
            return OP_FAIL(c, GLINT_ERR_SHAPE, "parameter %d length differs from channels", i);
    }
    eng_set_out(c, 0, GLINT_F32, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_run_BatchNormalization(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    const float *sc = c->in[1]->data, *b = c->in[2]->data, *mean = c->in[3]->data,
                *var = c->in[4]->data;
    float eps = eng_attr_f(c->n, "epsilon", 1e-5f);
    int64_t N = x->dims[0], C = x->ndim > 1 ? x->dims[1] : 1;
    int64_t inner = x->ndim > 2 ? eng_dims_count(x->dims + 2, x->ndim - 2) : 1;
    const float *X = x->data;
    float *Y = c->out[0]->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            float a = sc[ch] / sqrtf(var[ch] + eps), o = b[ch] - mean[ch] * a;
            const float *xp = X + (n * C + ch) * inner;
            float *yp = Y + (n * C + ch) * inner;
            for (int64_t i = 0; i < inner; i++)
                yp[i] = xp[i] * a + o;
        }
    eng_post_apply(Y, eng_tensor_count(x), c->n->post, c->n->n_post, c->sum ? c->sum->data : NULL);
    return GLINT_OK;
}

/* ---- InstanceNormalization ---- */
glint_status eng_infer_InstanceNormalization(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_f32(c, 0))) return s;
    if (c->in[0]->ndim < 3) return OP_FAIL(c, GLINT_ERR_SHAPE, "input rank below 3");
    for (int i = 1; i < 3; i++)
        if ((s = eng_need_f32(c, i)))
            return s;
        else if (eng_tensor_count(c->in[i]) != c->in[0]->dims[1])
            return OP_FAIL(c, GLINT_ERR_SHAPE, "scale/bias length differs from channels");
    eng_set_out(c, 0, GLINT_F32, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_run_InstanceNormalization(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    const float *sc = c->in[1]->data, *b = c->in[2]->data, *X = x->data;
    float eps = eng_attr_f(c->n, "epsilon", 1e-5f), *Y = c->out[0]->data;
    int64_t N = x->dims[0], C = x->dims[1], inner = eng_dims_count(x->dims + 2, x->ndim - 2);
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xp = X + (n * C + ch) * inner;
            float *yp = Y + (n * C + ch) * inner;
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < inner; i++)
                sum += xp[i];
            double mean = sum / (double)inner;
            for (int64_t i = 0; i < inner; i++)
                sq += (xp[i] - mean) * (xp[i] - mean);
            double inv = 1.0 / sqrt(sq / (double)inner + eps);
            for (int64_t i = 0; i < inner; i++)
                yp[i] = (float)((xp[i] - mean) * inv * sc[ch] + b[ch]);
        }
    return GLINT_OK;
}

/* ---- LayerNormalization (opset 17) ----
 * Normalises over the axes from `axis` on: Y = (X - mean) / sqrt(var +
 * epsilon) * Scale + B, Scale and B broadcast to X's shape from `axis` on;
 * optional outputs Mean and InvStdDev keep X's leading axes and 1 for the
 * normalised ones. Statistics are accumulated in double (stash_type 1,
 * float, is what the spec requires at least). */
static bool bcast_to_tail(const glint_tensor *t, const glint_tensor *x, int axis)
{
    int tail = x->ndim - axis;
    if (t->ndim > tail) return false;
    for (int d = 0; d < t->ndim; d++) {
        int64_t want = x->dims[x->ndim - t->ndim + d];
        if (t->dims[d] != want && t->dims[d] != 1) return false;
    }
    return true;
}

glint_status eng_infer_LayerNormalization(op_ctx *c)
{
    glint_status s;
    const glint_tensor *x = c->in[0];
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1)) ||
        (c->in[2] && (s = eng_need_f32(c, 2))))
        return s;
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", -1), x->ndim);
    if (axis < 0 || x->ndim < 1)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "axis %lld is outside rank %d",
                       (long long)eng_attr_i(c->n, "axis", -1), x->ndim);
    if (eng_attr_i(c->n, "stash_type", 1) != 1)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "stash_type %lld is not supported",
                       (long long)eng_attr_i(c->n, "stash_type", 1));
    for (int i = 1; i < 3; i++)
        if (c->in[i] && !bcast_to_tail(c->in[i], x, axis))
            return OP_FAIL(c, GLINT_ERR_SHAPE, "%s does not broadcast to the normalised shape",
                           i == 1 ? "Scale" : "B");
    eng_set_out(c, 0, GLINT_F32, x->ndim, x->dims);
    int64_t sd[GLINT_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        sd[d] = d < axis ? x->dims[d] : 1;
    for (int i = 1; i < c->n_out && i < 3; i++)
        eng_set_out(c, i, GLINT_F32, x->ndim, sd);
    return GLINT_OK;
}

/* Element k (0..inner) of Scale or B broadcast over the normalised shape. */
static float tail_at(const glint_tensor *t, const glint_tensor *x, int axis, int64_t k)
{
    if (eng_tensor_count(t) == eng_dims_count(x->dims + axis, x->ndim - axis))
        return ((const float *)t->data)[k];
    int64_t idx = 0, mul = 1;
    for (int d = x->ndim - 1; d >= axis; d--) {
        int64_t i = k % x->dims[d];
        k /= x->dims[d];
        int td = d - (x->ndim - t->ndim);
        if (td >= 0 && t->dims[td] != 1) idx += i * mul;
        if (td >= 0) mul *= t->dims[td];
    }
    return ((const float *)t->data)[idx];
}

glint_status eng_run_LayerNormalization(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *sc = c->in[1], *b = c->in[2];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", -1), x->ndim);
    double eps = eng_attr_f(c->n, "epsilon", 1e-5f);
    int64_t outer = eng_dims_count(x->dims, axis),
            inner = eng_dims_count(x->dims + axis, x->ndim - axis);
    const float *X = x->data;
    float *Y = c->out[0]->data;
    float *mean_out = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    float *inv_out = c->n_out > 2 && c->out[2] ? c->out[2]->data : NULL;
    for (int64_t o = 0; o < outer; o++) {
        const float *xp = X + o * inner;
        float *yp = Y + o * inner;
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < inner; i++)
            sum += xp[i];
        double mean = inner ? sum / (double)inner : 0;
        for (int64_t i = 0; i < inner; i++)
            sq += (xp[i] - mean) * (xp[i] - mean);
        double inv = 1.0 / sqrt((inner ? sq / (double)inner : 0) + eps);
        for (int64_t i = 0; i < inner; i++) {
            double v = (xp[i] - mean) * inv * tail_at(sc, x, axis, i);
            yp[i] = (float)(b ? v + tail_at(b, x, axis, i) : v);
        }
        if (mean_out) mean_out[o] = (float)mean;
        if (inv_out) inv_out[o] = (float)inv;
    }
    return GLINT_OK;
}

/* ---- pooling ---- */
static glint_status infer_pool(op_ctx *c)
{
    glint_status s;
    /* MaxPool also on u8 (the int8 graph's u8 tensors; ONNX allows it) */
    bool u8 = c->in[0]->dtype == GLINT_U8 && c->n->op == OP_MaxPool;
    if (!u8 && (s = eng_need_f32(c, 0))) return s;
    if (c->n_out > 1) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "the Indices output");
    if (eng_attr_i(c->n, "storage_order", 0))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "storage_order=1");
    geom g;
    if ((s = geom_fill(c, NULL, true, &g))) return s;
    int64_t dims[MAXD] = {c->in[0]->dims[0], c->in[0]->dims[1]};
    for (int i = 0; i < g.nsp; i++)
        dims[2 + i] = g.out[i];
    eng_set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, dims);
    return GLINT_OK;
}

glint_status eng_infer_MaxPool(op_ctx *c)
{
    return infer_pool(c);
}

glint_status eng_infer_AveragePool(op_ctx *c)
{
    return infer_pool(c);
}

static glint_status run_pool(op_ctx *c, bool is_max)
{
    const glint_tensor *x = c->in[0];
    geom g0, g;
    glint_status s = geom_fill(c, NULL, true, &g0);
    if (s) return s;
    geom_to3(&g0, &g);
    bool incl = eng_attr_i(c->n, "count_include_pad", 0) != 0;
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t isz = g.in[0] * g.in[1] * g.in[2], osz = g.out[0] * g.out[1] * g.out[2];
    const float *X = x->data;
    float *Y = c->out[0]->data;
    const uint8_t *XB = x->data;
    uint8_t *YB = c->out[0]->data;
    bool u8 = x->dtype == GLINT_U8; /* MaxPool only (infer_pool) */
    for (int64_t p = 0; p < planes; p++) {
        float *yp = Y + p * osz;
        for (int64_t od = 0; od < g.out[0]; od++)
            for (int64_t oh = 0; oh < g.out[1]; oh++)
                for (int64_t ow = 0; ow < g.out[2]; ow++) {
                    int64_t o[3] = {od, oh, ow}, lo[3], hi[3], plo[3], phi[3];
                    int64_t padded = 1;
                    for (int a = 0; a < 3; a++) {
                        lo[a] = o[a] * g.s[a] - g.pb[a];
                        hi[a] = lo[a] + (g.k[a] - 1) * g.d[a] + 1;
                        plo[a] = lo[a];
                        phi[a] = hi[a] < g.in[a] + g.pe[a] ? hi[a] : g.in[a] + g.pe[a];
                        padded *= (phi[a] - plo[a] + g.d[a] - 1) / g.d[a];
                    }
                    float acc = is_max ? -INFINITY : 0.0f;
                    int64_t cnt = 0;
                    for (int64_t id = lo[0]; id < hi[0]; id += g.d[0]) {
                        if (id < 0 || id >= g.in[0]) continue;
                        for (int64_t ih = lo[1]; ih < hi[1]; ih += g.d[1]) {
                            if (ih < 0 || ih >= g.in[1]) continue;
                            for (int64_t iw = lo[2]; iw < hi[2]; iw += g.d[2]) {
                                if (iw < 0 || iw >= g.in[2]) continue;
                                int64_t at = p * isz + (id * g.in[1] + ih) * g.in[2] + iw;
                                float v = u8 ? (float)XB[at] : X[at];
                                if (is_max)
                                    acc = v > acc ? v : acc;
                                else
                                    acc += v;
                                cnt++;
                            }
                        }
                    }
                    if (!is_max) acc /= (float)(incl ? padded : (cnt ? cnt : 1));
                    int64_t at = (od * g.out[1] + oh) * g.out[2] + ow;
                    if (u8)
                        YB[p * osz + at] = cnt ? (uint8_t)acc : 0;
                    else
                        yp[at] = acc;
                }
    }
    return GLINT_OK;
}

glint_status eng_run_MaxPool(op_ctx *c)
{
    return run_pool(c, true);
}

glint_status eng_run_AveragePool(op_ctx *c)
{
    return run_pool(c, false);
}

static glint_status infer_global(op_ctx *c)
{
    glint_status s = eng_need_f32(c, 0);
    if (s) return s;
    if (c->in[0]->ndim < 3) return OP_FAIL(c, GLINT_ERR_SHAPE, "input rank below 3");
    int64_t dims[MAXD];
    for (int i = 0; i < c->in[0]->ndim; i++)
        dims[i] = i < 2 ? c->in[0]->dims[i] : 1;
    eng_set_out(c, 0, GLINT_F32, c->in[0]->ndim, dims);
    return GLINT_OK;
}

glint_status eng_infer_GlobalAveragePool(op_ctx *c)
{
    return infer_global(c);
}

glint_status eng_infer_GlobalMaxPool(op_ctx *c)
{
    return infer_global(c);
}

static void run_global(op_ctx *c, bool is_max)
{
    const glint_tensor *x = c->in[0];
    int64_t planes = x->dims[0] * x->dims[1], inner = eng_dims_count(x->dims + 2, x->ndim - 2);
    const float *X = x->data;
    float *Y = c->out[0]->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = X + p * inner;
        float acc = is_max ? -INFINITY : 0.0f;
        for (int64_t i = 0; i < inner; i++)
            acc = is_max ? (xp[i] > acc ? xp[i] : acc) : acc + xp[i];
        Y[p] = is_max ? acc : acc / (float)inner;
    }
}

glint_status eng_run_GlobalAveragePool(op_ctx *c)
{
    run_global(c, false);
    return GLINT_OK;
}

glint_status eng_run_GlobalMaxPool(op_ctx *c)
{
    run_global(c, true);
    return GLINT_OK;
}

bool eng_conv_transpose_geometry(op_ctx *c, int64_t *pad_begin, int64_t *stride, int64_t *dilation)
{
    geom g;
    if (convt_geom(c, &g) != GLINT_OK || g.nsp != 2) return false;
    for (int i = 0; i < 2; i++) {
        pad_begin[i] = g.pb[i];
        stride[i] = g.s[i];
        dilation[i] = g.d[i];
    }
    return true;
}
