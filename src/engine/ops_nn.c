/* Reference kernels and shape functions of the neural-network operators:
 * convolution (and transposed), pooling, normalisation, softmax, matrix
 * products, reductions and resizing. Plain C, up to 3 spatial dimensions;
 * they define the semantics that the oneDNN backend is checked against. */
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
    eng_post_apply(Y, eng_tensor_count(c->out[0]), c->n->post, c->n->n_post, c->sum ? c->sum->data : NULL);
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
    int nos = eng_attr_ints(c->n, "output_shape", &os), nk = eng_attr_ints(c->n, "kernel_shape", &ks);
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
    eng_post_apply(Y, eng_tensor_count(c->out[0]), c->n->post, c->n->n_post, c->sum ? c->sum->data : NULL);
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

/* ---- Softmax / LogSoftmax ---- */
static glint_status infer_softmax(op_ctx *c)
{
    glint_status s = eng_need_f32(c, 0);
    if (s) return s;
    int64_t axis = eng_attr_i(c->n, "axis", c->opset < 13 ? 1 : -1);
    if (eng_norm_axis(axis, c->in[0]->ndim) < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    eng_set_out(c, 0, GLINT_F32, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_infer_Softmax(op_ctx *c)
{
    return infer_softmax(c);
}

glint_status eng_infer_LogSoftmax(op_ctx *c)
{
    return infer_softmax(c);
}

static void softmax_run(op_ctx *c, bool log_mode)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", c->opset < 13 ? 1 : -1), x->ndim);
    int64_t outer, n, inner;
    if (c->opset < 13) { /* coerced to 2-D at axis */
        outer = eng_dims_count(x->dims, axis);
        n = eng_dims_count(x->dims + axis, x->ndim - axis);
        inner = 1;
    } else {
        outer = eng_dims_count(x->dims, axis);
        n = x->dims[axis];
        inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    }
    const float *X = x->data;
    float *Y = c->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xp = X + o * n * inner + i;
            float *yp = Y + o * n * inner + i;
            float mx = -INFINITY;
            for (int64_t k = 0; k < n; k++)
                mx = xp[k * inner] > mx ? xp[k * inner] : mx;
            float sum = 0;
            for (int64_t k = 0; k < n; k++) {
                float e = expf(xp[k * inner] - mx);
                yp[k * inner] = e;
                sum += e;
            }
            if (log_mode) {
                float ls = logf(sum);
                for (int64_t k = 0; k < n; k++)
                    yp[k * inner] = xp[k * inner] - mx - ls;
            } else {
                float inv = 1.0f / sum;
                for (int64_t k = 0; k < n; k++)
                    yp[k * inner] *= inv;
            }
        }
}

glint_status eng_run_Softmax(op_ctx *c)
{
    softmax_run(c, false);
    return GLINT_OK;
}

glint_status eng_run_LogSoftmax(op_ctx *c)
{
    softmax_run(c, true);
    return GLINT_OK;
}

/* ---- MatMul / Gemm ---- */
glint_status eng_matmul_shape(op_ctx *c, const glint_tensor *a, const glint_tensor *b, glint_dtype t)
{
    if (a->ndim < 1 || b->ndim < 1) return OP_FAIL(c, GLINT_ERR_SHAPE, "scalar operand");
    glint_tensor a2 = *a, b2 = *b;
    if (a->ndim == 1) {
        a2.ndim = 2;
        a2.dims[0] = 1;
        a2.dims[1] = a->dims[0];
    }
    if (b->ndim == 1) {
        b2.ndim = 2;
        b2.dims[0] = b->dims[0];
        b2.dims[1] = 1;
    }
    int64_t K = a2.dims[a2.ndim - 1];
    if (b2.dims[b2.ndim - 2] != K) {
        char x[96], y[96];
        return OP_FAIL(c, GLINT_ERR_SHAPE, "cannot multiply %s by %s",
                       eng_dims_str(a->dims, a->ndim, x, sizeof x),
                       eng_dims_str(b->dims, b->ndim, y, sizeof y));
    }
    glint_tensor ba = a2, bb = b2;
    ba.ndim -= 2;
    bb.ndim -= 2;
    int nd;
    int64_t dims[MAXD];
    if (!eng_broadcast_shape(&ba, &bb, &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "batch dimensions do not broadcast");
    if (a->ndim > 1) dims[nd++] = a2.dims[a2.ndim - 2];
    if (b->ndim > 1) dims[nd++] = b2.dims[b2.ndim - 1];
    eng_set_out(c, 0, t, nd, dims);
    return GLINT_OK;
}

glint_status eng_infer_MatMul(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    return eng_matmul_shape(c, c->in[0], c->in[1], GLINT_F32);
}

/* C[M,N] (+)= A[M,K] * B[K,N] with element strides. */
static void gemm_ref(int64_t M, int64_t N, int64_t K, const float *A, int64_t am, int64_t ak,
                     const float *B, int64_t bk, int64_t bn, float *C, float alpha)
{
    for (int64_t i = 0; i < M; i++) {
        float *cr = C + i * N;
        for (int64_t j = 0; j < N; j++)
            cr[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            float av = alpha * A[i * am + k * ak];
            const float *br = B + k * bk;
            if (bn == 1)
                for (int64_t j = 0; j < N; j++)
                    cr[j] += av * br[j];
            else
                for (int64_t j = 0; j < N; j++)
                    cr[j] += av * br[j * bn];
        }
    }
}

glint_status eng_run_MatMul(op_ctx *c)
{
    const glint_tensor *a = c->in[0], *b = c->in[1];
    glint_tensor a2 = *a, b2 = *b;
    if (a->ndim == 1) {
        a2.ndim = 2;
        a2.dims[0] = 1;
        a2.dims[1] = a->dims[0];
    }
    if (b->ndim == 1) {
        b2.ndim = 2;
        b2.dims[0] = b->dims[0];
        b2.dims[1] = 1;
    }
    int64_t M = a2.dims[a2.ndim - 2], K = a2.dims[a2.ndim - 1], N = b2.dims[b2.ndim - 1];
    glint_tensor ba = a2, bb = b2;
    ba.ndim -= 2;
    bb.ndim -= 2;
    glint_tensor out = {.ndim = 0};
    eng_broadcast_shape(&ba, &bb, &out.ndim, out.dims);
    int64_t sa[MAXD], sb[MAXD], batches = eng_dims_count(out.dims, out.ndim);
    /* strides of the batch dims in units of matrices */
    {
        int64_t s = 1;
        for (int i = out.ndim - 1; i >= 0; i--) {
            int j = i - (out.ndim - ba.ndim);
            int64_t d = j >= 0 ? ba.dims[j] : 1;
            sa[i] = d == 1 ? 0 : s;
            s *= d;
        }
        s = 1;
        for (int i = out.ndim - 1; i >= 0; i--) {
            int j = i - (out.ndim - bb.ndim);
            int64_t d = j >= 0 ? bb.dims[j] : 1;
            sb[i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    float *Y = c->out[0]->data;
    int64_t idx[MAXD] = {0};
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < out.ndim; d++) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        gemm_ref(M, N, K, (const float *)a->data + oa * M * K, K, 1,
                 (const float *)b->data + ob * K * N, N, 1, Y + bi * M * N, 1.0f);
        for (int d = out.ndim - 1; d >= 0; d--) {
            if (++idx[d] < out.dims[d]) break;
            idx[d] = 0;
        }
    }
    return GLINT_OK;
}

glint_status eng_infer_Gemm(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    const glint_tensor *a = c->in[0], *b = c->in[1];
    if (a->ndim != 2 || b->ndim != 2) return OP_FAIL(c, GLINT_ERR_SHAPE, "A and B must be 2-D");
    bool ta = eng_attr_i(c->n, "transA", 0), tb = eng_attr_i(c->n, "transB", 0);
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t K2 = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != K2)
        return OP_FAIL(c, GLINT_ERR_SHAPE, "inner dimensions %lld and %lld differ", (long long)K,
                       (long long)K2);
    int64_t dims[2] = {M, N};
    if (c->n_in > 2 && c->in[2]) {
        glint_tensor o = {.ndim = 2, .dims = {M, N}};
        int nd;
        int64_t bd[MAXD];
        if (!eng_broadcast_shape(&o, c->in[2], &nd, bd) || nd != 2 || bd[0] != M || bd[1] != N)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "C does not broadcast to [M,N]");
    }
    eng_set_out(c, 0, GLINT_F32, 2, dims);
    return GLINT_OK;
}

glint_status eng_run_Gemm(op_ctx *c)
{
    const glint_tensor *a = c->in[0], *b = c->in[1];
    bool ta = eng_attr_i(c->n, "transA", 0), tb = eng_attr_i(c->n, "transB", 0);
    float alpha = eng_attr_f(c->n, "alpha", 1.0f), beta = eng_attr_f(c->n, "beta", 1.0f);
    int64_t M = c->out[0]->dims[0], N = c->out[0]->dims[1];
    int64_t K = ta ? a->dims[0] : a->dims[1];
    float *Y = c->out[0]->data;
    gemm_ref(M, N, K, a->data, ta ? 1 : K, ta ? M : 1, b->data, tb ? 1 : N, tb ? K : 1, Y, alpha);
    if (c->n_in > 2 && c->in[2] && beta != 0) {
        const glint_tensor *C = c->in[2];
        int64_t cm = C->ndim == 2 ? C->dims[0] : 1, cn = C->ndim >= 1 ? C->dims[C->ndim - 1] : 1;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                Y[i * N + j] += beta * eng_tensor_get_f(C, (cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j));
    }
    eng_post_apply(Y, M * N, c->n->post, c->n->n_post, c->sum ? c->sum->data : NULL);
    return GLINT_OK;
}

/* ---- reductions ---- */
static glint_status reduce_axes(op_ctx *c, bool *red, bool *noop)
{
    const glint_tensor *x = c->in[0];
    int64_t axes[MAXD];
    int n = 0;
    bool axes_input = (c->n->op == OP_ReduceSum && c->opset >= 13) || c->opset >= 18;
    if (axes_input && c->n_in > 1 && c->in[1]) {
        glint_status s = eng_need_const(c, 1, "axes");
        if (s) return s;
        n = (int)eng_tensor_count(c->in[1]);
        if (n > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < n; i++)
            axes[i] = eng_tensor_get_i(c->in[1], i);
    } else {
        const int64_t *v;
        n = eng_attr_ints(c->n, "axes", &v);
        if (n > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < n; i++)
            axes[i] = v[i];
    }
    *noop = n == 0 && eng_attr_i(c->n, "noop_with_empty_axes", 0);
    for (int i = 0; i < x->ndim; i++)
        red[i] = n == 0 && !*noop;
    for (int i = 0; i < n; i++) {
        int a = eng_norm_axis(axes[i], x->ndim);
        if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis %lld", (long long)axes[i]);
        red[a] = true;
    }
    return GLINT_OK;
}

static glint_status infer_reduce(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    if (x->dtype != GLINT_F32 && x->dtype != GLINT_I64 && x->dtype != GLINT_I32 &&
        x->dtype != GLINT_F64)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(x->dtype));
    bool red[MAXD], noop;
    glint_status s = reduce_axes(c, red, &noop);
    if (s) return s;
    bool keep = eng_attr_i(c->n, "keepdims", 1) != 0;
    int64_t dims[MAXD];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!red[i])
            dims[nd++] = x->dims[i];
        else if (keep)
            dims[nd++] = 1;
    eng_set_out(c, 0, x->dtype, nd, dims);
    return GLINT_OK;
}

static glint_status run_reduce(op_ctx *c, int kind) /* 0 mean 1 sum 2 max 3 min */
{
    const glint_tensor *x = c->in[0];
    glint_tensor *o = c->out[0];
    bool red[MAXD], noop;
    reduce_axes(c, red, &noop);
    int64_t ocount = eng_tensor_count(o), xcount = eng_tensor_count(x);
    /* output strides laid over the input's dims (0 on reduced axes) */
    int64_t ost[MAXD], s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        ost[i] = red[i] ? 0 : s;
        s *= red[i] ? 1 : x->dims[i];
    }
    double init = kind == 2 ? -INFINITY : kind == 3 ? INFINITY : 0;
    for (int64_t i = 0; i < ocount; i++)
        eng_tensor_set_f(o, i, init);
    if (xcount == 0) return GLINT_OK;
    int64_t idx[MAXD] = {0}, off = 0;
    bool f32 = x->dtype == GLINT_F32;
    for (int64_t i = 0; i < xcount; i++) {
        double v = f32 ? ((const float *)x->data)[i] : eng_tensor_get_f(x, i);
        double cur = f32 ? ((float *)o->data)[off] : eng_tensor_get_f(o, off);
        double r = kind <= 1 ? cur + v : kind == 2 ? (v > cur ? v : cur) : (v < cur ? v : cur);
        if (f32)
            ((float *)o->data)[off] = (float)r;
        else
            eng_tensor_set_f(o, off, r);
        for (int d = x->ndim - 1; d >= 0; d--) {
            idx[d]++;
            off += ost[d];
            if (idx[d] < x->dims[d]) break;
            off -= ost[d] * x->dims[d];
            idx[d] = 0;
        }
    }
    if (kind == 0) {
        double n = (double)xcount / (double)(ocount ? ocount : 1);
        for (int64_t i = 0; i < ocount; i++)
            eng_tensor_set_f(o, i, eng_tensor_get_f(o, i) / n);
    }
    return GLINT_OK;
}

glint_status eng_infer_ReduceMean(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_infer_ReduceSum(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_infer_ReduceMax(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_infer_ReduceMin(op_ctx *c)
{
    return infer_reduce(c);
}
glint_status eng_run_ReduceMean(op_ctx *c)
{
    return run_reduce(c, 0);
}
glint_status eng_run_ReduceSum(op_ctx *c)
{
    return run_reduce(c, 1);
}
glint_status eng_run_ReduceMax(op_ctx *c)
{
    return run_reduce(c, 2);
}
glint_status eng_run_ReduceMin(op_ctx *c)
{
    return run_reduce(c, 3);
}

/* ---- Resize / Upsample ---- */
typedef enum coord_mode { CM_HALF, CM_PYTORCH_HALF, CM_ALIGN, CM_ASYM, CM_TF_HALF_NN } coord_mode;
typedef enum near_mode { NM_PREFER_FLOOR, NM_PREFER_CEIL, NM_FLOOR, NM_CEIL } near_mode;

typedef struct resize_plan {
    bool linear;
    coord_mode cm;
    near_mode nm;
    double scale[MAXD];
} resize_plan;

static glint_status resize_plan_make(op_ctx *c, bool upsample, resize_plan *p, int64_t *odims)
{
    const glint_tensor *x = c->in[0];
    const char *mode = eng_attr_s(c->n, "mode", "nearest");
    if (!strcmp(mode, "nearest"))
        p->linear = false;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear"))
        p->linear = true;
    else
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "mode '%s'", mode);
    p->cm = CM_ASYM;
    p->nm = NM_FLOOR;
    int n = x->ndim;
    const glint_tensor *scales = NULL, *sizes = NULL;
    if (upsample) {
        const attr *a = eng_node_attr(c->n, "scales");
        if (c->n_in > 1 && c->in[1]) {
            glint_status s = eng_need_const(c, 1, "scales");
            if (s) return s;
            scales = c->in[1];
        } else if (a && a->type == ATTR_FLOATS && a->n == n) {
            for (int i = 0; i < n; i++)
                p->scale[i] = a->floats[i];
        } else {
            return OP_FAIL(c, GLINT_ERR_INVALID, "scales missing");
        }
    } else {
        const char *ct = eng_attr_s(c->n, "coordinate_transformation_mode", "half_pixel");
        if (c->opset < 11) ct = "asymmetric";
        if (!strcmp(ct, "half_pixel"))
            p->cm = CM_HALF;
        else if (!strcmp(ct, "pytorch_half_pixel"))
            p->cm = CM_PYTORCH_HALF;
        else if (!strcmp(ct, "align_corners"))
            p->cm = CM_ALIGN;
        else if (!strcmp(ct, "asymmetric"))
            p->cm = CM_ASYM;
        else if (!strcmp(ct, "tf_half_pixel_for_nn"))
            p->cm = CM_TF_HALF_NN;
        else
            return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s'", ct);
        const char *nmode = eng_attr_s(c->n, "nearest_mode", "round_prefer_floor");
        if (c->opset < 11) nmode = "floor";
        if (!strcmp(nmode, "round_prefer_floor"))
            p->nm = NM_PREFER_FLOOR;
        else if (!strcmp(nmode, "round_prefer_ceil"))
            p->nm = NM_PREFER_CEIL;
        else if (!strcmp(nmode, "floor"))
            p->nm = NM_FLOOR;
        else if (!strcmp(nmode, "ceil"))
            p->nm = NM_CEIL;
        else
            return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "nearest_mode '%s'", nmode);
        if (eng_attr_i(c->n, "antialias", 0) || eng_node_attr(c->n, "axes") ||
            strcmp(eng_attr_s(c->n, "keep_aspect_ratio_policy", "stretch"), "stretch"))
            return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "antialias/axes/keep_aspect_ratio_policy");
        if (eng_attr_i(c->n, "exclude_outside", 0))
            return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "exclude_outside");
        int si = c->opset < 11 ? 1 : 2, zi = 3;
        if (c->n_in > si && c->in[si] && eng_tensor_count(c->in[si]) > 0) {
            glint_status s = eng_need_const(c, si, "scales");
            if (s) return s;
            scales = c->in[si];
        }
        if (c->opset >= 11 && c->n_in > zi && c->in[zi] && eng_tensor_count(c->in[zi]) > 0) {
            glint_status s = eng_need_const(c, zi, "sizes");
            if (s) return s;
            sizes = c->in[zi];
        }
        if (!scales && !sizes) return OP_FAIL(c, GLINT_ERR_INVALID, "neither scales nor sizes");
    }
    if (scales && eng_tensor_count(scales) != n)
        return OP_FAIL(c, GLINT_ERR_INVALID, "scales has %lld values for rank %d",
                       (long long)eng_tensor_count(scales), n);
    if (sizes && eng_tensor_count(sizes) != n)
        return OP_FAIL(c, GLINT_ERR_INVALID, "sizes has %lld values for rank %d",
                       (long long)eng_tensor_count(sizes), n);
    for (int i = 0; i < n; i++) {
        if (sizes) {
            odims[i] = eng_tensor_get_i(sizes, i);
            p->scale[i] = x->dims[i] ? (double)odims[i] / (double)x->dims[i] : 1;
        } else {
            if (scales) p->scale[i] = eng_tensor_get_f(scales, i);
            if (!(p->scale[i] > 0) || p->scale[i] > 1e6)
                return OP_FAIL(c, GLINT_ERR_INVALID, "scale %g", p->scale[i]);
            odims[i] = (int64_t)floor((double)x->dims[i] * p->scale[i]);
        }
        if (odims[i] < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "negative size");
        if (x->dims[i] == 0 && odims[i] != 0)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "cannot resize an empty axis to %lld",
                           (long long)odims[i]);
    }
    if (eng_dims_count_checked(odims, n) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "output too large");
    /* nearest copies values: u8 too (the int8 graph's u8 tensors) */
    if (x->dtype != GLINT_F32 && !(x->dtype == GLINT_U8 && !p->linear)) return eng_need_f32(c, 0);
    return GLINT_OK;
}

static glint_status infer_resize_common(op_ctx *c, bool upsample)
{
    resize_plan p;
    int64_t dims[MAXD];
    glint_status s = resize_plan_make(c, upsample, &p, dims);
    if (s) return s;
    eng_set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, dims);
    return GLINT_OK;
}

glint_status eng_infer_Resize(op_ctx *c)
{
    return infer_resize_common(c, false);
}

glint_status eng_infer_Upsample(op_ctx *c)
{
    return infer_resize_common(c, true);
}

static double src_coord(const resize_plan *p, int64_t o, int64_t in, int64_t out, double scale)
{
    switch (p->cm) {
    case CM_HALF:
        return ((double)o + 0.5) / scale - 0.5;
    case CM_PYTORCH_HALF:
        return out > 1 ? ((double)o + 0.5) / scale - 0.5 : 0;
    case CM_ALIGN: { /* the spec's length_resized is in * scale, unrounded */
        double len = (double)in * scale;
        return out > 1 && len > 1 ? (double)o * (double)(in - 1) / (len - 1) : 0;
    }
    case CM_TF_HALF_NN:
        return ((double)o + 0.5) / scale;
    case CM_ASYM:
    default:
        return (double)o / scale;
    }
}

static int64_t nearest_index(const resize_plan *p, double x, int64_t in)
{
    /* clamp first: a tiny scale or an empty axis gives huge or infinite x */
    if (!(x > -1.0)) x = -1.0;
    if (x > (double)in) x = (double)in;
    int64_t i;
    switch (p->nm) {
    case NM_PREFER_CEIL:
        i = (int64_t)(x == floor(x) + 0.5 ? ceil(x) : round(x));
        break;
    case NM_FLOOR:
        i = (int64_t)floor(x);
        break;
    case NM_CEIL:
        i = (int64_t)ceil(x);
        break;
    case NM_PREFER_FLOOR:
    default:
        i = (int64_t)(x == floor(x) + 0.5 ? floor(x) : round(x));
        break;
    }
    return i < 0 ? 0 : i >= in ? in - 1 : i;
}

static glint_status run_resize_common(op_ctx *c, bool upsample)
{
    resize_plan p;
    int64_t dims[MAXD];
    glint_status s = resize_plan_make(c, upsample, &p, dims);
    if (s) return s;
    const glint_tensor *x = c->in[0];
    glint_tensor *o = c->out[0];
    int n = x->ndim;
    int64_t xst[MAXD], idx[MAXD] = {0}, count = eng_tensor_count(o);
    {
        int64_t st = 1;
        for (int i = n - 1; i >= 0; i--) {
            xst[i] = st;
            st *= x->dims[i];
        }
    }
    const float *X = x->data;
    float *Y = o->data;
    bool u8 = x->dtype == GLINT_U8; /* nearest only (resize_plan_make) */
    /* nearest: part[d] is axis d's source offset, recomputed only when idx[d]
     * changes (the innermost axis every element, the others rarely) */
    int64_t part[MAXD];
    int changed = 0; /* axes >= changed need their part recomputed */
    for (int64_t e = 0; e < count; e++) {
        if (!p.linear) {
            for (int d = changed; d < n; d++)
                part[d] =
                    nearest_index(&p, src_coord(&p, idx[d], x->dims[d], o->dims[d], p.scale[d]),
                                  x->dims[d]) *
                    xst[d];
            int64_t off = 0;
            for (int d = 0; d < n; d++)
                off += part[d];
            if (u8)
                ((uint8_t *)o->data)[e] = ((const uint8_t *)x->data)[off];
            else
                Y[e] = X[off];
        } else {
            /* N-linear over the axes that are resized */
            int64_t lo[MAXD], hi[MAXD];
            double w[MAXD];
            int act[MAXD], na = 0;
            int64_t base = 0;
            for (int d = 0; d < n; d++) {
                if (x->dims[d] == o->dims[d] && p.scale[d] == 1.0) {
                    base += idx[d] * xst[d];
                    continue;
                }
                double sc = src_coord(&p, idx[d], x->dims[d], o->dims[d], p.scale[d]);
                if (!(sc >= 0)) sc = 0;
                if (sc > (double)(x->dims[d] - 1)) sc = (double)(x->dims[d] - 1);
                lo[d] = (int64_t)floor(sc);
                hi[d] = lo[d] + 1 < x->dims[d] ? lo[d] + 1 : lo[d];
                w[d] = sc - (double)lo[d];
                act[na++] = d;
            }
            double acc = 0;
            for (int corner = 0; corner < (1 << na); corner++) {
                double wt = 1;
                int64_t off = base;
                for (int k = 0; k < na; k++) {
                    int d = act[k];
                    bool up = corner >> k & 1;
                    wt *= up ? w[d] : 1 - w[d];
                    off += (up ? hi[d] : lo[d]) * xst[d];
                }
                if (wt != 0) acc += wt * X[off];
            }
            Y[e] = (float)acc;
        }
        for (int d = n - 1; d >= 0; d--) {
            changed = d;
            if (++idx[d] < o->dims[d]) break;
            idx[d] = 0;
        }
    }
    return GLINT_OK;
}

glint_status eng_run_Resize(op_ctx *c)
{
    return run_resize_common(c, false);
}

glint_status eng_run_Upsample(op_ctx *c)
{
    return run_resize_common(c, true);
}

bool eng_resize_nearest_map(op_ctx *c, int axis, int64_t *map)
{
    resize_plan p;
    int64_t dims[MAXD];
    bool up = c->n->op == OP_Upsample;
    if (resize_plan_make(c, up, &p, dims) != GLINT_OK || p.linear) return false;
    int64_t in = c->in[0]->dims[axis], out = dims[axis];
    for (int64_t o = 0; o < out; o++)
        map[o] = nearest_index(&p, src_coord(&p, o, in, out, p.scale[axis]), in);
    return true;
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

/* ---- GlintDFL: the expected bin of a softmax over R bins (passes.c
 * fold_dfl). x [N, A, R, L] -> y [N, 1, A, L], y = sum_i i * softmax_i(x[n,
 * a, :, l]). */
glint_status eng_infer_GlintDFL(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    if (x->dtype != GLINT_F32) return eng_need_f32(c, 0);
    if (x->ndim != 4) return OP_FAIL(c, GLINT_ERR_SHAPE, "input rank %d, want 4", x->ndim);
    int64_t dims[4] = {x->dims[0], 1, x->dims[1], x->dims[3]};
    eng_set_out(c, 0, GLINT_F32, 4, dims);
    return GLINT_OK;
}

glint_status eng_run_GlintDFL(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t rows = x->dims[0] * x->dims[1], R = x->dims[2], L = x->dims[3];
    const float *X = x->data;
    float *Y = c->out[0]->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t l = 0; l < L; l++) {
            const float *p = X + r * R * L + l;
            float m = -INFINITY;
            for (int64_t i = 0; i < R; i++)
                m = p[i * L] > m ? p[i * L] : m;
            double sum = 0, wsum = 0;
            for (int64_t i = 0; i < R; i++) {
                double e = exp((double)p[i * L] - m);
                sum += e;
                wsum += e * (double)i;
            }
            Y[r * L + l] = R ? (float)(wsum / sum) : 0.0f;
        }
    return GLINT_OK;
}

/* ---- ArgMax / ArgMin ---- */
glint_status eng_infer_argmax(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0 || x->dims[axis] == 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad or empty axis");
    int64_t dims[MAXD];
    int nd = 0;
    bool keep = eng_attr_i(c->n, "keepdims", 1) != 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != axis) dims[nd++] = x->dims[i];
        else if (keep) dims[nd++] = 1;
    eng_set_out(c, 0, GLINT_I64, nd, dims);
    return GLINT_OK;
}

glint_status eng_run_argmax(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = eng_norm_axis(eng_attr_i(c->n, "axis", 0), x->ndim);
    bool is_min = c->n->op == OP_ArgMin;
    bool last = eng_attr_i(c->n, "select_last_index", 0) != 0;
    int64_t outer = eng_dims_count(x->dims, axis), n = x->dims[axis];
    int64_t inner = eng_dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    int64_t *o = c->out[0]->data;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t b = 0; b < inner; b++) {
            int64_t best = 0;
            double bv = eng_tensor_get_f(x, a * n * inner + b);
            for (int64_t k = 1; k < n; k++) {
                double v = eng_tensor_get_f(x, (a * n + k) * inner + b);
                bool better = is_min ? (v < bv || (last && v == bv)) : (v > bv || (last && v == bv));
                if (better) { bv = v; best = k; }
            }
            o[a * inner + b] = best;
        }
    return GLINT_OK;
}

