/* Resize and Upsample (nearest, linear and cubic, every ONNX coordinate mode) and
 * GridSample — shape functions, plain C reference kernels, and the
 * nearest-index maps the shared NHWC resize kernel uses. */
#include "ops_impl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Resize / Upsample ---- */
typedef enum coord_mode { CM_HALF, CM_PYTORCH_HALF, CM_ALIGN, CM_ASYM, CM_TF_HALF_NN } coord_mode;
typedef enum near_mode { NM_PREFER_FLOOR, NM_PREFER_CEIL, NM_FLOOR, NM_CEIL } near_mode;

typedef struct resize_plan {
    bool linear; /* linear or cubic: taps weighted (else nearest) */
    bool cubic;
    double cubic_a;       /* cubic_coeff_a */
    bool exclude_outside; /* cubic: taps outside the input weigh 0, the rest renormalised */
    coord_mode cm;
    near_mode nm;
    double scale[MAXD];
} resize_plan;

static glint_status resize_plan_make(op_ctx *c, bool upsample, resize_plan *p, int64_t *odims)
{
    const glint_tensor *x = c->in[0];
    const char *mode = eng_attr_s(c->n, "mode", "nearest");
    p->cubic = !upsample && !strcmp(mode, "cubic");
    p->cubic_a = eng_attr_f(c->n, "cubic_coeff_a", -0.75f);
    p->exclude_outside = p->cubic && eng_attr_i(c->n, "exclude_outside", 0);
    if (!strcmp(mode, "nearest"))
        p->linear = false;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear") || p->cubic)
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
        if (eng_attr_i(c->n, "exclude_outside", 0) && !p->cubic)
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
    if (eng_dims_count_checked(odims, n) < 0)
        return OP_FAIL(c, GLINT_ERR_NOMEM, "output too large");
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

/* The taps of source coordinate x along an axis of `in` samples: linear 2
 * (x clamped into the axis), cubic 4 (Keys' kernel with a = cubic_coeff_a;
 * taps past the ends read the edge sample, as the ONNX reference pads, or
 * weigh 0 with exclude_outside). Returns the tap count. */
static int axis_taps(const resize_plan *p, double x, int64_t in, int64_t *idx, double *w)
{
    if (!p->cubic) {
        if (!(x >= 0)) x = 0;
        if (x > (double)(in - 1)) x = (double)(in - 1);
        idx[0] = (int64_t)floor(x);
        idx[1] = idx[0] + 1 < in ? idx[0] + 1 : idx[0];
        w[1] = x - (double)idx[0];
        w[0] = 1 - w[1];
        return 2;
    }
    if (!(x > -1e9)) x = -1e9; /* NaN or a huge scale's coordinate */
    if (x > 1e9) x = 1e9;
    double f = floor(x), r = x - f, A = p->cubic_a;
    double d[4] = {1 + r, r, 1 - r, 2 - r}, sum = 0;
    for (int k = 0; k < 4; k++) {
        double t = d[k];
        w[k] = t <= 1 ? ((A + 2) * t - (A + 3)) * t * t + 1
                      : ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
        int64_t i = (int64_t)f - 1 + k;
        if (p->exclude_outside && (i < 0 || i >= in)) w[k] = 0;
        sum += w[k];
        idx[k] = i < 0 ? 0 : i >= in ? in - 1 : i;
    }
    if (p->exclude_outside && sum != 0)
        for (int k = 0; k < 4; k++)
            w[k] /= sum;
    return 4;
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
    bool same = p.cm != CM_TF_HALF_NN; /* a scale of 1 samples every input at its centre */
    for (int i = 0; i < n && same; i++)
        same = p.scale[i] == 1.0 && o->dims[i] == x->dims[i];
    if (same) { /* torchvision's transform resizing a 320x320 image to 320x320 */
        memcpy(o->data, x->data, eng_tensor_bytes(o));
        return GLINT_OK;
    }
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
            /* separable taps over the axes that are resized */
            int64_t ti[MAXD][4];
            double tw[MAXD][4];
            int act[MAXD], nt[MAXD], na = 0;
            int64_t base = 0;
            for (int d = 0; d < n; d++) {
                if (x->dims[d] == o->dims[d] && p.scale[d] == 1.0) {
                    base += idx[d] * xst[d];
                    continue;
                }
                double sc = src_coord(&p, idx[d], x->dims[d], o->dims[d], p.scale[d]);
                nt[na] = axis_taps(&p, sc, x->dims[d], ti[na], tw[na]);
                act[na++] = d;
            }
            double acc = 0;
            int pick[MAXD] = {0};
            for (;;) {
                double wt = 1;
                int64_t off = base;
                for (int k = 0; k < na; k++) {
                    wt *= tw[k][pick[k]];
                    off += ti[k][pick[k]] * xst[act[k]];
                }
                if (wt != 0) acc += wt * X[off];
                int k = 0;
                while (k < na && ++pick[k] == nt[k])
                    pick[k++] = 0;
                if (k == na) break;
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

/* ---- GridSample (opset 16, 4-D) ----
 * Y[n, c, h, w] samples X[n, c] at grid[n, h, w] = (x, y) in [-1, 1]
 * (align_corners: -1 and 1 are the corner pixels' centres, else their outer
 * edges), bilinear, nearest or bicubic (A = -0.75), outside the image by
 * zeros, the border or its reflection — PyTorch's grid_sample, which the
 * ONNX operator is defined by. */
glint_status eng_infer_GridSample(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *g = c->in[1];
    glint_status s;
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    if (x->ndim != 4 || g->ndim != 4 || g->dims[3] != 2 || g->dims[0] != x->dims[0])
        return OP_FAIL(c, GLINT_ERR_SHAPE, "want X [N,C,H,W] and grid [N,Ho,Wo,2]");
    const char *m = eng_attr_s(c->n, "mode", "bilinear"),
               *pm = eng_attr_s(c->n, "padding_mode", "zeros");
    if (strcmp(m, "bilinear") && strcmp(m, "nearest") && strcmp(m, "bicubic"))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "mode '%s' is not supported", m);
    if (strcmp(pm, "zeros") && strcmp(pm, "border") && strcmp(pm, "reflection"))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "padding_mode '%s' is not supported", pm);
    int64_t dims[4] = {x->dims[0], x->dims[1], g->dims[1], g->dims[2]};
    eng_set_out(c, 0, GLINT_F32, 4, dims);
    return GLINT_OK;
}

typedef struct gs_par {
    int pad; /* 0 zeros, 1 border, 2 reflection */
    bool align;
} gs_par;

static double gs_unnormalize(double v, int64_t size, bool align)
{
    return align ? (v + 1) / 2 * (double)(size - 1) : ((v + 1) * (double)size - 1) / 2;
}

static double gs_reflect(double v, double twice_lo, double twice_hi)
{
    if (twice_lo == twice_hi) return 0;
    double lo = twice_lo / 2, span = (twice_hi - twice_lo) / 2;
    v = fabs(v - lo);
    double extra = fmod(v, span);
    int64_t flips = (int64_t)floor(v / span);
    return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

/* A source coordinate with the padding mode applied (border: clipped;
 * reflection: reflected, then clipped). */
static double gs_pad(double v, int64_t size, const gs_par *p)
{
    double hi = (double)(size - 1);
    if (p->pad == 2)
        v = p->align ? gs_reflect(v, 0, 2 * hi) : gs_reflect(v, -1, 2 * (double)size - 1);
    if (p->pad >= 1) v = v < 0 ? 0 : v > hi ? hi : v;
    return v;
}

static double gs_at(const float *img, int64_t H, int64_t W, int64_t y, int64_t x)
{
    return y >= 0 && y < H && x >= 0 && x < W ? img[y * W + x] : 0.0;
}

static void gs_cubic(double t, double w[4])
{
    const double A = -0.75;
    double t1 = t + 1, u = 1 - t, u1 = u + 1;
    w[0] = ((A * t1 - 5 * A) * t1 + 8 * A) * t1 - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
    w[3] = ((A * u1 - 5 * A) * u1 + 8 * A) * u1 - 4 * A;
}

static double gs_sample(const float *img, int64_t H, int64_t W, double gx, double gy, int mode,
                        const gs_par *p)
{
    double ix = gs_unnormalize(gx, W, p->align), iy = gs_unnormalize(gy, H, p->align);
    if (mode == 2) { /* bicubic: padding applies to every tap */
        double x0 = floor(ix), y0 = floor(iy), wx[4], wy[4], v = 0;
        gs_cubic(ix - x0, wx);
        gs_cubic(iy - y0, wy);
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 4; i++) {
                double tx = gs_pad(x0 - 1 + i, W, p), ty = gs_pad(y0 - 1 + j, H, p);
                v += wx[i] * wy[j] * gs_at(img, H, W, (int64_t)ty, (int64_t)tx);
            }
        return v;
    }
    ix = gs_pad(ix, W, p);
    iy = gs_pad(iy, H, p);
    if (!isfinite(ix) || !isfinite(iy)) return 0;
    if (mode == 1) return gs_at(img, H, W, (int64_t)nearbyint(iy), (int64_t)nearbyint(ix));
    int64_t x0 = (int64_t)floor(ix), y0 = (int64_t)floor(iy);
    double fx = ix - (double)x0, fy = iy - (double)y0;
    return gs_at(img, H, W, y0, x0) * (1 - fx) * (1 - fy) +
           gs_at(img, H, W, y0, x0 + 1) * fx * (1 - fy) +
           gs_at(img, H, W, y0 + 1, x0) * (1 - fx) * fy +
           gs_at(img, H, W, y0 + 1, x0 + 1) * fx * fy;
}

/* Bilinear with zeros padding (RT-DETR's deformable attention): the taps and
 * weights of a point once, then every channel; images in parallel. */
static void gs_bilinear_zeros(const float *X, const float *G, float *Y, int64_t N, int64_t C,
                              int64_t H, int64_t W, int64_t P, bool align)
{
#pragma omp parallel for schedule(static) if (N * C * P > (1 << 14) && N > 1)
    for (int64_t n = 0; n < N; n++) {
        const float *img = X + n * C * H * W;
        float *out = Y + n * C * P;
        for (int64_t i = 0; i < P; i++) {
            const float *gp = G + (n * P + i) * 2;
            float ix = (float)gs_unnormalize(gp[0], W, align);
            float iy = (float)gs_unnormalize(gp[1], H, align);
            float w[4] = {0, 0, 0, 0};
            int64_t off[4] = {0, 0, 0, 0};
            if (ix > -2.0f && ix < (float)W + 1 && iy > -2.0f && iy < (float)H + 1) {
                float fx0 = floorf(ix), fy0 = floorf(iy), fx = ix - fx0, fy = iy - fy0;
                int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
                const float wx[2] = {1 - fx, fx}, wy[2] = {1 - fy, fy};
                for (int t = 0; t < 4; t++) {
                    int64_t x = x0 + (t & 1), y = y0 + (t >> 1);
                    if (x < 0 || x >= W || y < 0 || y >= H) continue;
                    w[t] = wx[t & 1] * wy[t >> 1];
                    off[t] = y * W + x;
                }
            } /* else (NaN included): every tap outside, 0 */
            for (int64_t ch = 0; ch < C; ch++) {
                const float *pl = img + ch * H * W;
                out[ch * P + i] =
                    w[0] * pl[off[0]] + w[1] * pl[off[1]] + w[2] * pl[off[2]] + w[3] * pl[off[3]];
            }
        }
    }
}

glint_status eng_run_GridSample(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *g = c->in[1];
    const char *m = eng_attr_s(c->n, "mode", "bilinear"),
               *pm = eng_attr_s(c->n, "padding_mode", "zeros");
    int mode = !strcmp(m, "nearest") ? 1 : !strcmp(m, "bicubic") ? 2 : 0;
    gs_par p = {.pad = !strcmp(pm, "border")       ? 1
                       : !strcmp(pm, "reflection") ? 2
                                                   : 0,
                .align = eng_attr_i(c->n, "align_corners", 0) != 0};
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t Ho = g->dims[1], Wo = g->dims[2];
    const float *X = x->data, *G = g->data;
    float *Y = c->out[0]->data;
    if (mode == 0 && p.pad == 0 && H > 0 && W > 0) {
        gs_bilinear_zeros(X, G, Y, N, C, H, W, Ho * Wo, p.align);
        return GLINT_OK;
    }
    /* one plane (image, channel) per iteration: RT-DETR's deformable attention
     * samples batch x heads planes of head_dim channels per level */
#pragma omp parallel for schedule(static) if (N * C * Ho * Wo > (1 << 14) && N * C > 1)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t n = nc / C;
        const float *img = X + nc * H * W;
        for (int64_t i = 0; i < Ho * Wo; i++) {
            const float *gp = G + (n * Ho * Wo + i) * 2;
            Y[nc * Ho * Wo + i] = (float)gs_sample(img, H, W, gp[0], gp[1], mode, &p);
        }
    }
    return GLINT_OK;
}
