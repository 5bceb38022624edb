/* Tensor preparation: fit the image to the model input (letterbox or resize +
 * centre crop), bilinear resample, normalise and write planar float NCHW, in
 * one pass over the output.
 *
 * Resampling is separable. Each needed source row is resampled horizontally
 * once into a row of {R,G,B,x} float vectors (a two-row cache serves
 * consecutive output rows); each output row is then a vertical blend of two
 * such rows, fused with normalisation and a 4x4 transpose into the three
 * planes. Column taps are computed once per call. 768x576 -> 640x640 takes
 * ~0.8 ms on one core of the reference machine (decode is ~3 ms).
 */
#include "image_impl.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Resized sizes beyond this are clamped (only crop mode on absurd aspect
 * ratios gets near it); keeps every coordinate comfortably inside int. */
#define MAX_RESIZED (1 << 24)

vision_spec vision_spec_letterbox(int width, int height)
{
    vision_spec s = {
        .mode = VISION_LETTERBOX,
        .width = width,
        .height = height,
        .pad_value = 114,
        .mean = {0.0f, 0.0f, 0.0f},
        .std = {1.0f, 1.0f, 1.0f},
    };
    return s;
}

vision_spec vision_spec_crop(int width, int height, int resize_short)
{
    vision_spec s = {
        .mode = VISION_CROP,
        .width = width,
        .height = height,
        .resize_short = resize_short,
        .pad_value = 0,
        .mean = {0.485f, 0.456f, 0.406f},
        .std = {0.229f, 0.224f, 0.225f},
    };
    return s;
}

vision_status vision_spec_check(const vision_spec *s, vision_error *err)
{
    if (!s) return vision_fail(err, VISION_ERR_ARG, "spec: NULL");
    if (s->mode != VISION_LETTERBOX && s->mode != VISION_CROP && s->mode != VISION_STRETCH &&
        s->mode != VISION_TEXTLINE)
        return vision_fail(err, VISION_ERR_ARG, "spec: unknown mode %d", (int)s->mode);
    if (s->width < 1 || s->width > VISION_MAX_SIDE || s->height < 1 || s->height > VISION_MAX_SIDE)
        return vision_fail(err, VISION_ERR_ARG, "spec: tensor size %dx%d outside 1..%d", s->width,
                           s->height, VISION_MAX_SIDE);
    if (s->resize_short < 0 || s->resize_short > VISION_MAX_SIDE)
        return vision_fail(err, VISION_ERR_ARG, "spec: resize_short %d outside 0..%d",
                           s->resize_short, VISION_MAX_SIDE);
    if (s->stride < 0 || s->stride > VISION_MAX_SIDE || s->fit_width < 0 ||
        s->fit_width > VISION_MAX_SIDE || s->fit_height < 0 || s->fit_height > VISION_MAX_SIDE)
        return vision_fail(err, VISION_ERR_ARG, "spec: stride %d or fit %dx%d outside 0..%d",
                           s->stride, s->fit_width, s->fit_height, VISION_MAX_SIDE);
    if (s->pad_value < 0 || s->pad_value > 255)
        return vision_fail(err, VISION_ERR_ARG, "spec: pad_value %d outside 0..255", s->pad_value);
    for (int c = 0; c < 3; c++)
        if (!isfinite(s->mean[c]) || !isfinite(s->std[c]) || s->std[c] == 0.0f)
            return vision_fail(err, VISION_ERR_ARG, "spec: channel %d mean %g std %g", c,
                               (double)s->mean[c], (double)s->std[c]);
    return VISION_OK;
}

static int clampi(int64_t v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

void vision_fit(const vision_spec *spec, int w, int h, int *rw, int *rh)
{
    if (spec->mode == VISION_LETTERBOX) {
        int fw = spec->fit_width > 0 ? spec->fit_width : spec->width;
        int fh = spec->fit_height > 0 ? spec->fit_height : spec->height;
        double r = fmin((double)fw / w, (double)fh / h);
        *rw = clampi(lround(w * r), 1, spec->width < fw ? spec->width : fw);
        *rh = clampi(lround(h * r), 1, spec->height < fh ? spec->height : fh);
        return;
    }
    if (spec->mode == VISION_STRETCH) {
        *rw = spec->width;
        *rh = spec->height;
        return;
    }
    if (spec->mode == VISION_TEXTLINE) { /* PaddleOCR's resize_norm_img */
        *rh = spec->height;
        *rw = clampi((int64_t)ceil(spec->height * ((double)w / h)), 1, spec->width);
        return;
    }
    /* torchvision Resize(int): short side = s, long side = int(s * long / short). */
    int64_t s = spec->resize_short ? spec->resize_short
                                   : (spec->width > spec->height ? spec->width : spec->height);
    if (w <= h) {
        *rw = clampi(s, 1, MAX_RESIZED);
        *rh = clampi(s * h / w, 1, MAX_RESIZED);
    } else {
        *rh = clampi(s, 1, MAX_RESIZED);
        *rw = clampi(s * w / h, 1, MAX_RESIZED);
    }
}

/* The padded side: the resized side plus (box - resized) mod stride, as
 * Ultralytics pads with auto=True. */
static int rect_side(int resized, int box, int stride)
{
    return resized + (box - resized) % stride;
}

vision_spec vision_spec_rect(const vision_spec *spec, int orig_w, int orig_h)
{
    vision_spec s = *spec;
    if (spec->stride <= 0 || orig_w < 1 || orig_h < 1) return s;
    if (spec->mode == VISION_STRETCH) { /* DetResizeForTest, limit_type max */
        double r = fmin(1.0, fmin((double)spec->width / orig_w, (double)spec->height / orig_h));
        int st = spec->stride;
        int rw = (int)(orig_w * r), rh = (int)(orig_h * r);
        s.width = clampi((int64_t)rint((double)rw / st) * st, st, VISION_MAX_SIDE);
        s.height = clampi((int64_t)rint((double)rh / st) * st, st, VISION_MAX_SIDE);
        return s;
    }
    if (spec->mode == VISION_TEXTLINE) {
        int64_t w = (int64_t)(spec->height * ((double)orig_w / orig_h));
        if (w < spec->width) w = spec->width;
        w = (w + spec->stride - 1) / spec->stride * spec->stride;
        int most = spec->max_width > 0 ? spec->max_width : VISION_MAX_SIDE;
        s.width = clampi(w, 1, most < spec->width ? spec->width : most);
        return s;
    }
    if (spec->mode != VISION_LETTERBOX) return s;
    s.fit_width = spec->fit_width > 0 ? spec->fit_width : spec->width;
    s.fit_height = spec->fit_height > 0 ? spec->fit_height : spec->height;
    s.width = s.fit_width;
    s.height = s.fit_height;
    int rw, rh;
    vision_fit(&s, orig_w, orig_h, &rw, &rh);
    s.width = rect_side(rw, s.fit_width, spec->stride);
    s.height = rect_side(rh, s.fit_height, spec->stride);
    return s;
}

/* torchvision CenterCrop offset of a crop of `out` from `in` (in >= out):
 * int(round((in - out) / 2)), Python rounding half to even. */
static int crop_offset(int in, int out)
{
    int d = in - out, k = d / 2;
    return (d % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

/* Fills the geometry of tf for an image of decoded size dw x dh whose file
 * size was ow x oh. */
static void make_transform(const vision_spec *spec, int ow, int oh, int dw, int dh,
                           vision_transform *tf)
{
    memset(tf, 0, sizeof *tf);
    tf->mode = spec->mode;
    tf->orig_width = ow;
    tf->orig_height = oh;
    tf->decoded_width = dw;
    tf->decoded_height = dh;
    tf->tensor_width = spec->width;
    tf->tensor_height = spec->height;
    vision_fit(spec, ow, oh, &tf->resized_width, &tf->resized_height);
    int rw = tf->resized_width, rh = tf->resized_height;
    int W = spec->width, H = spec->height;
    /* Letterbox centres with the odd pixel right/bottom (Ultralytics'
     * round(d - 0.1)); a crop larger than the image is padded the same way
     * (torchvision pads (crop - size) // 2 on the left). */
    if (rw >= W && spec->mode == VISION_CROP)
        tf->crop_x = crop_offset(rw, W);
    else if (spec->mode != VISION_TEXTLINE) /* a text line sits at the left */
        tf->pad_x = (W - rw) / 2;
    if (rh >= H && spec->mode == VISION_CROP)
        tf->crop_y = crop_offset(rh, H);
    else
        tf->pad_y = (H - rh) / 2;
    tf->scale_x = (float)((double)rw / ow);
    tf->scale_y = (float)((double)rh / oh);
    tf->offset_x = (float)(tf->pad_x - tf->crop_x);
    tf->offset_y = (float)(tf->pad_y - tf->crop_y);
}

void vision_transform_point(const vision_transform *tf, float *x, float *y)
{
    *x = (*x - tf->offset_x) / tf->scale_x;
    *y = (*y - tf->offset_y) / tf->scale_y;
}

static float clampf(float v, float hi)
{
    return v < 0.0f ? 0.0f : v > hi ? hi : v;
}

void vision_transform_box(const vision_transform *tf, float box[4])
{
    vision_transform_point(tf, &box[0], &box[1]);
    vision_transform_point(tf, &box[2], &box[3]);
    box[0] = clampf(box[0], (float)tf->orig_width);
    box[2] = clampf(box[2], (float)tf->orig_width);
    box[1] = clampf(box[1], (float)tf->orig_height);
    box[3] = clampf(box[3], (float)tf->orig_height);
}

/* ---- resampling ----
 *
 * SIMD through GCC/clang vector extensions (no intrinsics, any target): a
 * pixel is a v4f {R, G, B, unused}. gcc 12 at -O2 does not vectorise the
 * equivalent scalar loops (its "very cheap" cost model), so the lanes are
 * written out here. */

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* Pixel at p as floats. Reads 4 bytes (p[3] belongs to the next pixel or
 * row); the caller never passes the last pixel of the buffer. Mask-and-scale
 * is exact and compiles to a broadcast, an and, a convert and a multiply. */
static inline v4f load_rgbx(const uint8_t *p)
{
    int32_t u = (int32_t)(p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    v4i x = {u, u, u, u};
    x &= (v4i){0xff, 0xff00, 0xff0000, 0};
    return __builtin_convertvector(x, v4f) * (v4f){1.0f, 1.0f / 256, 1.0f / 65536, 0.0f};
}

static inline v4f load_rgb_scalar(const uint8_t *p)
{
    return (v4f){p[0], p[1], p[2], 0.0f};
}

/* Source taps for resized coordinate r (pixel r of rsize) from a source axis
 * of n pixels: half-pixel centres, clamped at the borders. */
static void tap(int r, double scale, int n, int *i0, int *i1, float *w)
{
    double s = (r + 0.5) * scale - 0.5;
    if (s < 0.0) s = 0.0;
    int a = (int)s;
    if (a >= n - 1) {
        *i0 = *i1 = n - 1;
        *w = 0.0f;
        return;
    }
    *i0 = a;
    *i1 = a + 1;
    *w = (float)(s - a);
}

typedef struct resampler {
    const uint8_t *src;
    size_t stride;
    int rows_n;        /* source rows */
    int vw;            /* visible output columns */
    int vw_safe;       /* columns whose taps may be read 4 bytes wide in the last row */
    const int32_t *o0; /* per column: byte offsets of the two taps in a row */
    const int32_t *o1;
    const float *wx; /* weight of tap o1 */
    v4f *rows[2];    /* horizontally resampled source rows, vw pixels each */
    int tag[2];      /* source row held in rows[i], -1 = none */
} resampler;

static void resample_row(const resampler *rs, int sy, v4f *restrict out)
{
    const uint8_t *restrict p = rs->src + (size_t)sy * rs->stride;
    const int32_t *restrict o0 = rs->o0, *restrict o1 = rs->o1;
    const float *restrict wx = rs->wx;
    int n = sy == rs->rows_n - 1 ? rs->vw_safe : rs->vw;
    for (int k = 0; k < n; k++) {
        v4f a = load_rgbx(p + o0[k]), c = load_rgbx(p + o1[k]);
        out[k] = a + wx[k] * (c - a);
    }
    for (int k = n; k < rs->vw; k++) {
        v4f a = load_rgb_scalar(p + o0[k]), c = load_rgb_scalar(p + o1[k]);
        out[k] = a + wx[k] * (c - a);
    }
}

/* Resampled source row sy, computed unless cached; never evicts `keep`. */
static const v4f *get_row(resampler *rs, int sy, int keep)
{
    for (int i = 0; i < 2; i++)
        if (rs->tag[i] == sy) return rs->rows[i];
    int v = rs->tag[0] == keep ? 1 : 0;
    resample_row(rs, sy, rs->rows[v]);
    rs->tag[v] = sy;
    return rs->rows[v];
}

static void fill(float *restrict p, int n, float v)
{
    v4f q = {v, v, v, v};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        memcpy(p + i, &q, sizeof q);
    for (; i < n; i++)
        p[i] = v;
}

/* Four {R,G,B,x} pixels transposed to one vector per plane, so that each
 * plane gets a whole-vector store. */
static inline void store4(float *restrict r, float *restrict g, float *restrict b, v4f p0, v4f p1,
                          v4f p2, v4f p3)
{
    v4f rg01 = __builtin_shufflevector(p0, p1, 0, 4, 1, 5); /* r0 r1 g0 g1 */
    v4f rg23 = __builtin_shufflevector(p2, p3, 0, 4, 1, 5);
    v4f bx01 = __builtin_shufflevector(p0, p1, 2, 6, 3, 7); /* b0 b1 x x */
    v4f bx23 = __builtin_shufflevector(p2, p3, 2, 6, 3, 7);
    v4f vr = __builtin_shufflevector(rg01, rg23, 0, 1, 4, 5);
    v4f vg = __builtin_shufflevector(rg01, rg23, 2, 3, 6, 7);
    v4f vb = __builtin_shufflevector(bx01, bx23, 0, 1, 4, 5);
    memcpy(r, &vr, sizeof vr);
    memcpy(g, &vg, sizeof vg);
    memcpy(b, &vb, sizeof vb);
}

/* One output row of the three planes: vertical blend of two resampled rows,
 * then x * a + b per channel (a, b hold the per-channel constants). Four
 * pixels at a time are transposed from {R,G,B,x} lanes to one vector per
 * plane, so that each plane gets whole-vector stores. */
static void blend_norm(float *restrict r, float *restrict g, float *restrict b,
                       const v4f *restrict h0, const v4f *restrict h1, int n, float wy, v4f a,
                       v4f bias)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        store4(r + i, g + i, b + i, (h0[i] + wy * (h1[i] - h0[i])) * a + bias,
               (h0[i + 1] + wy * (h1[i + 1] - h0[i + 1])) * a + bias,
               (h0[i + 2] + wy * (h1[i + 2] - h0[i + 2])) * a + bias,
               (h0[i + 3] + wy * (h1[i + 3] - h0[i + 3])) * a + bias);
    for (; i < n; i++) {
        v4f v = (h0[i] + wy * (h1[i] - h0[i])) * a + bias;
        r[i] = v[0];
        g[i] = v[1];
        b[i] = v[2];
    }
}

/* One output row of the three planes straight from n source pixels at p
 * (no resampling: the decoder already made the resized size), x * a + b
 * per channel. last: p's row is the buffer's last, whose last pixel cannot
 * be read 4 bytes wide. */
static void copy_norm(float *restrict r, float *restrict g, float *restrict b,
                      const uint8_t *restrict p, int n, bool last, v4f a, v4f bias)
{
    int i = 0, wide = last ? n - 1 : n;
    for (; i + 4 <= wide; i += 4)
        store4(r + i, g + i, b + i, load_rgbx(p + 3 * i) * a + bias,
               load_rgbx(p + 3 * i + 3) * a + bias, load_rgbx(p + 3 * i + 6) * a + bias,
               load_rgbx(p + 3 * i + 9) * a + bias);
    for (; i < n; i++) {
        v4f v = load_rgb_scalar(p + 3 * i) * a + bias;
        r[i] = v[0];
        g[i] = v[1];
        b[i] = v[2];
    }
}

vision_status vision_prepare(const vision_image *img, const vision_spec *spec, float *dst,
                             size_t dst_floats, vision_transform *tf, vision_error *err)
{
    vision_status s = vision_spec_check(spec, err);
    if (s) return s;
    if (!img || !img->pixels || img->width < 1 || img->height < 1 ||
        img->stride < (size_t)img->width * 3)
        return vision_fail(err, VISION_ERR_ARG, "prepare: no decoded image");
    const int W = spec->width, H = spec->height;
    const size_t plane = (size_t)W * H;
    if (!dst || dst_floats < 3 * plane)
        return vision_fail(err, VISION_ERR_ARG, "prepare: destination holds %zu floats, need %zu",
                           dst ? dst_floats : 0, 3 * plane);

    const int dw = img->width, dh = img->height;
    vision_transform t;
    make_transform(spec, img->orig_width > 0 ? img->orig_width : dw,
                   img->orig_height > 0 ? img->orig_height : dh, dw, dh, &t);
    if (tf) *tf = t;
    const int rw = t.resized_width, rh = t.resized_height;
    const int offx = t.pad_x - t.crop_x, offy = t.pad_y - t.crop_y;
    /* Visible part of the image in the tensor: [x0, x1) x [y0, y1). */
    const int x0 = offx > 0 ? offx : 0, y0 = offy > 0 ? offy : 0;
    const int x1 = offx + rw < W ? offx + rw : W, y1 = offy + rh < H ? offy + rh : H;
    const int vw = x1 - x0;

    float *planes[3], padv[3];
    v4f a = {0}, b = {0};
    for (int c = 0; c < 3; c++) { /* c: source channel R, G, B */
        int p = spec->bgr ? 2 - c : c;
        planes[c] = dst + (size_t)p * plane;
        a[c] = 1.0f / (255.0f * spec->std[p]);
        b[c] = -spec->mean[p] / spec->std[p];
        padv[c] = spec->mode == VISION_TEXTLINE
                      ? 0.0f
                      : ((float)spec->pad_value / 255.0f - spec->mean[p]) / spec->std[p];
    }

    if (rw == dw && rh == dh) { /* scale 1: the decoder resized it (DCT scaling) */
        for (int y = 0; y < H; y++) {
            size_t row = (size_t)y * W;
            if (y < y0 || y >= y1) {
                for (int c = 0; c < 3; c++)
                    fill(planes[c] + row, W, padv[c]);
                continue;
            }
            for (int c = 0; c < 3; c++) {
                fill(planes[c] + row, x0, padv[c]);
                fill(planes[c] + row + x1, W - x1, padv[c]);
            }
            int sy0 = y - offy;
            copy_norm(planes[0] + row + x0, planes[1] + row + x0, planes[2] + row + x0,
                      img->pixels + (size_t)sy0 * img->stride + (size_t)3 * (x0 - offx), vw,
                      sy0 == dh - 1 && x0 - offx + vw == dw, a, b);
        }
        return VISION_OK;
    }

    /* One scratch block: the two cached rows, then the column taps. */
    size_t bytes = (size_t)vw * (2 * sizeof(v4f) + sizeof(float) + 2 * sizeof(int32_t));
    void *scratch = malloc(bytes); /* malloc aligns for v4f */
    if (!scratch)
        return vision_fail(err, VISION_ERR_NOMEM, "prepare: cannot allocate %zu bytes", bytes);
    v4f *rowbuf = scratch;
    int32_t *o0 = (void *)(rowbuf + 2 * (size_t)vw), *o1 = o0 + vw;
    float *wx = (void *)(o1 + vw);

    const double sx = (double)dw / rw, sy = (double)dh / rh;
    int vw_safe = vw;
    for (int k = 0; k < vw; k++) {
        int i0, i1;
        tap(x0 - offx + k, sx, dw, &i0, &i1, &wx[k]);
        o0[k] = 3 * i0;
        o1[k] = 3 * i1;
        if (i1 == dw - 1 && vw_safe == vw)
            vw_safe = k; /* taps are monotonic: from here on they reach the last pixel */
    }
    resampler rs = {
        .src = img->pixels,
        .stride = img->stride,
        .rows_n = dh,
        .vw = vw,
        .vw_safe = vw_safe,
        .o0 = o0,
        .o1 = o1,
        .wx = wx,
        .rows = {rowbuf, rowbuf + vw},
        .tag = {-1, -1},
    };

    for (int y = 0; y < H; y++) {
        if (y < y0 || y >= y1) {
            for (int c = 0; c < 3; c++)
                fill(planes[c] + (size_t)y * W, W, padv[c]);
            continue;
        }
        int i0, i1;
        float wy;
        tap(y - offy, sy, dh, &i0, &i1, &wy);
        const v4f *r0 = get_row(&rs, i0, i1);
        const v4f *r1 = get_row(&rs, i1, i0);
        size_t row = (size_t)y * W;
        for (int c = 0; c < 3; c++) {
            fill(planes[c] + row, x0, padv[c]);
            fill(planes[c] + row + x1, W - x1, padv[c]);
        }
        blend_norm(planes[0] + row + x0, planes[1] + row + x0, planes[2] + row + x0, r0, r1, vw, wy,
                   a, b);
    }
    free(scratch);
    return VISION_OK;
}
