/* Text (OCR) answers (see text.h). */
#include "tasks/text.h"

#include "tasks/task_status_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct text_det_ws {
    uint8_t *seen;            /* per pixel: 1 once a region took it; cap pixels */
    int32_t *queue;           /* a region's pixels, in the order the fill found them */
    int32_t *row_lo, *row_hi; /* per row of the map: the region's extent; cap_h rows */
    float (*pts)[2];          /* a region's points, then its hull: 2 per row + 1 */
    float (*chain)[2];        /* the hull being built: twice pts */
    size_t cap;
    int cap_h;
};

text_det_ws *text_det_ws_create(void)
{
    return calloc(1, sizeof(text_det_ws));
}

void text_det_ws_destroy(text_det_ws *ws)
{
    if (!ws) return;
    free(ws->seen);
    free(ws->queue);
    free(ws->row_lo);
    free(ws->row_hi);
    free(ws->pts);
    free(ws->chain);
    free(ws);
}

static int ws_grow(text_det_ws *ws, int h, int w)
{
    size_t px = (size_t)h * (size_t)w;
    if (px > ws->cap) {
        free(ws->seen);
        free(ws->queue);
        ws->seen = malloc(px * sizeof *ws->seen);
        ws->queue = malloc(px * sizeof *ws->queue);
        ws->cap = ws->seen && ws->queue ? px : 0;
        if (!ws->cap) return -1;
    }
    if (h > ws->cap_h) {
        free(ws->row_lo);
        free(ws->row_hi);
        free(ws->pts);
        free(ws->chain);
        ws->row_lo = malloc((size_t)h * sizeof *ws->row_lo);
        ws->row_hi = malloc((size_t)h * sizeof *ws->row_hi);
        ws->pts = malloc((2 * (size_t)h + 1) * sizeof *ws->pts);
        ws->chain = malloc((4 * (size_t)h + 2) * sizeof *ws->chain);
        ws->cap_h = ws->row_lo && ws->row_hi && ws->pts && ws->chain ? h : 0;
        if (!ws->cap_h) return -1;
    }
    return 0;
}

static double cross(const float *o, const float *a, const float *b)
{
    return ((double)a[0] - o[0]) * ((double)b[1] - o[1]) -
           ((double)a[1] - o[1]) * ((double)b[0] - o[0]);
}

/* Convex hull of the n points p sorted by (y, x), in place (Andrew's
 * monotone chain, built in h of room 2n); returns its point count. */
static int hull(float (*p)[2], int n, float (*h)[2])
{
    if (n < 3) return n;
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        memcpy(h[k++], p[i], sizeof h[0]);
    }
    for (int i = n - 2, t = k + 1; i >= 0; i--) {
        while (k >= t && cross(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        memcpy(h[k++], p[i], sizeof h[0]);
    }
    k--; /* the last point is the first */
    memcpy(p, h, (size_t)k * sizeof *h);
    return k;
}

/* A rectangle as centre, unit axis u (v is u turned 90 degrees) and the
 * half extents along u and v. */
typedef struct rect {
    double cx, cy, ux, uy, hu, hv;
} rect;

/* Minimum-area rectangle of the n hull points (rotating calipers: one side
 * lies on a hull edge). n of 1 or 2 gives a degenerate one. */
static rect min_area_rect(float (*p)[2], int n)
{
    rect best = {p[0][0], p[0][1], 1, 0, 0, 0};
    double best_area = INFINITY;
    for (int i = 0; i < n; i++) {
        const float *a = p[i], *b = p[(i + 1) % n];
        double ex = (double)b[0] - a[0], ey = (double)b[1] - a[1], len = hypot(ex, ey);
        if (len == 0) continue;
        double ux = ex / len, uy = ey / len;
        double lo_u = INFINITY, hi_u = -INFINITY, lo_v = INFINITY, hi_v = -INFINITY;
        for (int j = 0; j < n; j++) {
            double du = p[j][0] * ux + p[j][1] * uy, dv = -p[j][0] * uy + p[j][1] * ux;
            lo_u = fmin(lo_u, du);
            hi_u = fmax(hi_u, du);
            lo_v = fmin(lo_v, dv);
            hi_v = fmax(hi_v, dv);
        }
        double area = (hi_u - lo_u) * (hi_v - lo_v);
        if (area < best_area) {
            double mu = (lo_u + hi_u) / 2, mv = (lo_v + hi_v) / 2;
            best = (rect){mu * ux - mv * uy, mu * uy + mv * ux, ux, uy,
                          (hi_u - lo_u) / 2, (hi_v - lo_v) / 2};
            best_area = area;
        }
    }
    return best;
}

/* The rectangle's corners in get_mini_boxes' order (top-left, top-right,
 * bottom-right, bottom-left: the two leftmost by x, the upper of them
 * first) and its shorter side. */
static double mini_box(const rect *r, float out[4][2])
{
    static const int su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
    float c[4][2];
    for (int k = 0; k < 4; k++) {
        double du = su[k] * r->hu, dv = sv[k] * r->hv;
        c[k][0] = (float)(r->cx + du * r->ux - dv * r->uy);
        c[k][1] = (float)(r->cy + du * r->uy + dv * r->ux);
    }
    int idx[4] = {0, 1, 2, 3};
    for (int i = 1; i < 4; i++) /* stable insertion sort by x */
        for (int j = i; j > 0 && c[idx[j]][0] < c[idx[j - 1]][0]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    int i1 = c[idx[1]][1] > c[idx[0]][1] ? idx[0] : idx[1];
    int i4 = i1 == idx[0] ? idx[1] : idx[0];
    int i2 = c[idx[3]][1] > c[idx[2]][1] ? idx[2] : idx[3];
    int i3 = i2 == idx[2] ? idx[3] : idx[2];
    const int order[4] = {i1, i2, i3, i4};
    for (int k = 0; k < 4; k++)
        memcpy(out[k], c[order[k]], sizeof out[k]);
    return 2 * fmin(r->hu, r->hv);
}

/* Mean of prob over the quad q as PaddleOCR's box_score_fast masks it: the
 * corners truncated to whole pixels within the bounding box (clipped to the
 * map), filled as OpenCV's fillPoly does: a row takes every pixel between
 * the edges, and the pixels of each edge's raster line on it (the edge
 * within half a row), which a nearly level edge makes a long run. */
static float quad_score(const float *prob, int h, int w, const float q[4][2])
{
    float xmn = q[0][0], xmx = q[0][0], ymn = q[0][1], ymx = q[0][1];
    for (int k = 1; k < 4; k++) {
        xmn = fminf(xmn, q[k][0]);
        xmx = fmaxf(xmx, q[k][0]);
        ymn = fminf(ymn, q[k][1]);
        ymx = fmaxf(ymx, q[k][1]);
    }
    int x0 = (int)fminf(fmaxf(floorf(xmn), 0), (float)(w - 1));
    int x1 = (int)fminf(fmaxf(ceilf(xmx), 0), (float)(w - 1));
    int y0 = (int)fminf(fmaxf(floorf(ymn), 0), (float)(h - 1));
    int y1 = (int)fminf(fmaxf(ceilf(ymx), 0), (float)(h - 1));
    double p[4][2];
    for (int k = 0; k < 4; k++) { /* box - (xmin, ymin), cast to int32 (truncation) */
        p[k][0] = (double)(int32_t)(q[k][0] - (float)x0);
        p[k][1] = (double)(int32_t)(q[k][1] - (float)y0);
    }
    double sum = 0;
    long cnt = 0;
    for (int y = y0; y <= y1; y++) {
        double yy = y - y0, lo = INFINITY, hi = -INFINITY;
        for (int k = 0; k < 4; k++) { /* each edge over the band yy +- 0.5 */
            const double *a = p[k], *b = p[(k + 1) % 4];
            double ya = fmax(fmin(a[1], b[1]), yy - 0.5), yb = fmin(fmax(a[1], b[1]), yy + 0.5);
            if (ya > yb) continue;
            if (a[1] == b[1]) {
                lo = fmin(lo, fmin(a[0], b[0]));
                hi = fmax(hi, fmax(a[0], b[0]));
                continue;
            }
            for (int e = 0; e < 2; e++) {
                double yv = e ? yb : ya, x = a[0] + (yv - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                lo = fmin(lo, x);
                hi = fmax(hi, x);
            }
        }
        if (!(lo <= hi)) continue;
        int xa = (int)ceil(lo - 1e-6) + x0, xb = (int)floor(hi + 1e-6) + x0;
        if (xa < x0) xa = x0;
        if (xb > x1) xb = x1;
        const float *row = prob + (size_t)y * (size_t)w;
        for (int x = xa; x <= xb; x++) {
            sum += isnan(row[x]) ? 0.0 : row[x];
            cnt++;
        }
    }
    return cnt ? (float)(sum / (double)cnt) : 0.0f;
}

/* Fills the region holding pixel `start` (8-connected) and collects, per
 * row, its leftmost and rightmost pixel centres as (y, x)-sorted points
 * into ws->pts; returns their count. */
static int region_points(text_det_ws *ws, const float *prob, int h, int w, float thr, int start)
{
    int32_t *q = ws->queue;
    size_t head = 0, tail = 0;
    int ymin = start / w, ymax = ymin;
    q[tail++] = start;
    ws->seen[start] = 1;
    ws->row_lo[ymin] = ws->row_hi[ymin] = start % w;
    while (head < tail) {
        int p = q[head++], y = p / w, x = p % w;
        for (int dy = -1; dy <= 1; dy++) {
            int yy = y + dy;
            if (yy < 0 || yy >= h) continue;
            for (int dx = -1; dx <= 1; dx++) {
                int xx = x + dx;
                if (xx < 0 || xx >= w || (!dx && !dy)) continue;
                int k = yy * w + xx;
                if (ws->seen[k] || !(prob[k] > thr)) continue;
                ws->seen[k] = 1;
                q[tail++] = k;
                if (yy < ymin || yy > ymax) { /* rows are reached one at a time */
                    ws->row_lo[yy] = ws->row_hi[yy] = xx;
                    if (yy < ymin) ymin = yy;
                    if (yy > ymax) ymax = yy;
                } else {
                    if (xx < ws->row_lo[yy]) ws->row_lo[yy] = xx;
                    if (xx > ws->row_hi[yy]) ws->row_hi[yy] = xx;
                }
            }
        }
    }
    int n = 0;
    for (int y = ymin; y <= ymax; y++) {
        ws->pts[n][0] = (float)ws->row_lo[y];
        ws->pts[n++][1] = (float)y;
        if (ws->row_hi[y] != ws->row_lo[y]) {
            ws->pts[n][0] = (float)ws->row_hi[y];
            ws->pts[n++][1] = (float)y;
        }
    }
    return n;
}

task_status text_det_decode(text_det_ws *ws, const float *prob, int h, int w,
                            const text_det_options *opt, text_box *out, int max_out, int *n)
{
    if (n) *n = 0;
    if (!ws || !prob || !opt || !n || (max_out > 0 && !out) || max_out < 0)
        return task_fail(TASK_ERR_INVALID, "text_det_decode: NULL argument");
    if (h < 1 || w < 1 || h > TEXT_MAX_SIDE || w > TEXT_MAX_SIDE)
        return task_fail(TASK_ERR_INVALID, "text map %dx%d outside 1..%d a side", w, h,
                         TEXT_MAX_SIDE);
    if (!(opt->threshold >= 0 && opt->threshold < 1) ||
        !(opt->box_threshold >= 0 && opt->box_threshold <= 1) ||
        !(opt->unclip_ratio >= 0 && opt->unclip_ratio <= 100) || opt->max_candidates < 1 ||
        opt->min_size < 0)
        return task_fail(TASK_ERR_INVALID,
                         "text options: threshold %g, box_threshold %g, "
                         "unclip_ratio %g, max_candidates %d, min_size %d",
                         (double)opt->threshold, (double)opt->box_threshold,
                         (double)opt->unclip_ratio, opt->max_candidates, opt->min_size);
    if (ws_grow(ws, h, w)) return task_fail(TASK_ERR_NOMEM, "text map %dx%d: out of memory", w, h);
    memset(ws->seen, 0, (size_t)h * (size_t)w * sizeof *ws->seen);
    int regions = 0, kept = 0;
    for (int p = 0; p < h * w && regions < opt->max_candidates && kept < max_out; p++) {
        if (ws->seen[p] || !(prob[p] > opt->threshold)) continue;
        regions++;
        int np = hull(ws->pts, region_points(ws, prob, h, w, opt->threshold, p), ws->chain);
        rect r = min_area_rect(ws->pts, np);
        text_box b;
        if (mini_box(&r, b.pts) < opt->min_size) continue;
        b.score = quad_score(prob, h, w, b.pts);
        if (opt->box_threshold > b.score) continue;
        /* unclip: d from the box as computed, its corners truncated to ints */
        double wu = 2 * r.hu, hv = 2 * r.hv, d = wu * hv * opt->unclip_ratio / (2 * (wu + hv));
        float tq[4][2];
        for (int k = 0; k < 4; k++) {
            tq[k][0] = (float)(int32_t)b.pts[k][0];
            tq[k][1] = (float)(int32_t)b.pts[k][1];
        }
        rect g = min_area_rect(tq, 4);
        g.hu += d;
        g.hv += d;
        if (mini_box(&g, b.pts) < opt->min_size + 2) continue;
        out[kept++] = b;
    }
    *n = kept;
    return TASK_OK;
}

int text_box_place(text_box *b, int map_w, int map_h, int dest_w, int dest_h)
{
    for (int k = 0; k < 4; k++) {
        double x = rint((double)b->pts[k][0] / map_w * dest_w);
        double y = rint((double)b->pts[k][1] / map_h * dest_h);
        b->pts[k][0] = (float)(x < 0 ? 0 : x > dest_w ? dest_w : x);
        b->pts[k][1] = (float)(y < 0 ? 0 : y > dest_h ? dest_h : y);
    }
    int rw = (int)hypot((double)b->pts[0][0] - b->pts[1][0], (double)b->pts[0][1] - b->pts[1][1]);
    int rh = (int)hypot((double)b->pts[0][0] - b->pts[3][0], (double)b->pts[0][1] - b->pts[3][1]);
    return rw <= 3 || rh <= 3 ? -1 : 0;
}

static int box_before(const text_box *a, const text_box *b)
{
    return a->pts[0][1] < b->pts[0][1] ||
           (a->pts[0][1] == b->pts[0][1] && a->pts[0][0] < b->pts[0][0]);
}

void text_boxes_sort(text_box *b, int n)
{
    for (int i = 1; i < n; i++) /* stable: Python's sorted by (y, x) */
        for (int j = i; j > 0 && box_before(&b[j], &b[j - 1]); j--) {
            text_box t = b[j];
            b[j] = b[j - 1];
            b[j - 1] = t;
        }
    for (int i = 0; i < n - 1; i++)
        for (int j = i; j >= 0; j--) {
            if (!(fabsf(b[j + 1].pts[0][1] - b[j].pts[0][1]) < 10 &&
                  b[j + 1].pts[0][0] < b[j].pts[0][0]))
                break;
            text_box t = b[j];
            b[j] = b[j + 1];
            b[j + 1] = t;
        }
}

task_status text_ctc_decode(const float *probs, int steps, int classes, int *ids, int *n,
                            float *score)
{
    if (n) *n = 0;
    if (score) *score = 0;
    if (!probs || !ids || !n || !score || steps < 0 || classes < 2)
        return task_fail(TASK_ERR_INVALID, "text_ctc_decode: %d steps of %d classes", steps,
                         classes);
    double sum = 0;
    int kept = 0, prev = -1;
    for (int t = 0; t < steps; t++) {
        const float *row = probs + (size_t)t * (size_t)classes;
        int best = 0;
        double total = 0, mn = INFINITY;
        for (int c = 0; c < classes; c++) {
            if (row[c] > row[best] || (isnan(row[best]) && !isnan(row[c]))) best = c;
            total += row[c];
            mn = fmin(mn, row[c]);
        }
        int same = best == prev;
        prev = best;
        if (best == 0 || same) continue;
        double p = row[best];
        if (mn < 0 || fabs(total - 1) > 1e-3) { /* logits: the softmax of the best */
            double z = 0;
            for (int c = 0; c < classes; c++)
                z += exp((double)row[c] - row[best]);
            p = z > 0 && isfinite(z) ? 1 / z : 0;
        }
        ids[kept++] = best;
        sum += isfinite(p) ? p : 0;
    }
    *n = kept;
    *score = kept ? (float)(sum / kept) : 0.0f;
    return TASK_OK;
}
