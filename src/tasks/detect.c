/* YOLO decoding: best class per box, threshold, greedy NMS over a heap of
 * candidates, letterbox inverse. All buffers come from a detect_workspace. */
#include "tasks/detect.h"
#include "tasks/rank.h"
#include "tasks/task_status_impl.h"

#include <math.h>
#include <stdlib.h>

/* Boxes per block of the V8 class sweep: the block's running maxima (4 KiB)
 * stay in L1 while the C class rows stream past. */
#define V8_BLOCK 1024

struct detect_workspace {
    int max_boxes;
    int max_classes;
    float *best;      /* [V8_BLOCK] best class score of each box of a block */
    int *best_class;  /* [max_boxes] its class, set for candidates only */
    task_rank *cand;  /* [max_boxes] candidates (box index, score), a heap */
    float *kept_area; /* [max_boxes] area of each kept box, for IoU */
    int *kept_next;   /* [max_boxes] next kept box of the same class, or -1 */
    int *class_head;  /* [max_classes] last kept box of a class, or -1; all -1
                         between calls */
};

void detect_workspace_destroy(detect_workspace *ws)
{
    if (!ws) return;
    free(ws->best);
    free(ws->best_class);
    free(ws->cand);
    free(ws->kept_area);
    free(ws->kept_next);
    free(ws->class_head);
    free(ws);
}

task_status detect_workspace_create(int max_boxes, int max_classes, detect_workspace **out)
{
    if (!out) return task_fail(TASK_ERR_INVALID, "detect_workspace_create: NULL out");
    *out = NULL;
    if (max_boxes < 1 || max_boxes > DETECT_MAX_BOXES || max_classes < 1 ||
        max_classes > DETECT_MAX_CLASSES)
        return task_fail(TASK_ERR_INVALID,
                         "detect_workspace_create: %d boxes x %d classes outside 1..%d x 1..%d",
                         max_boxes, max_classes, DETECT_MAX_BOXES, DETECT_MAX_CLASSES);
    detect_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) goto fail;
    size_t n = (size_t)max_boxes;
    ws->max_boxes = max_boxes;
    ws->max_classes = max_classes;
    ws->best = malloc(V8_BLOCK * sizeof *ws->best);
    ws->best_class = malloc(n * sizeof *ws->best_class);
    ws->cand = malloc(n * sizeof *ws->cand);
    ws->kept_area = malloc(n * sizeof *ws->kept_area);
    ws->kept_next = malloc(n * sizeof *ws->kept_next);
    ws->class_head = malloc((size_t)max_classes * sizeof *ws->class_head);
    if (!ws->best || !ws->best_class || !ws->cand || !ws->kept_area || !ws->kept_next ||
        !ws->class_head)
        goto fail;
    for (int c = 0; c < max_classes; c++)
        ws->class_head[c] = -1;
    *out = ws;
    return TASK_OK;
fail:
    detect_workspace_destroy(ws);
    return task_fail(TASK_ERR_NOMEM, "detect_workspace_create: out of memory for %d boxes",
                     max_boxes);
}

/* ---- shapes ---- */

static task_status check_sizes(int64_t batch, int64_t boxes, int64_t classes)
{
    if (batch < 1 || batch > DETECT_MAX_BATCH || boxes < 0 || boxes > DETECT_MAX_BOXES ||
        classes < 1 || classes > DETECT_MAX_CLASSES)
        return task_fail(TASK_ERR_INVALID,
                         "detect: batch %lld, %lld boxes, %lld classes outside 1..%d, 0..%d, "
                         "1..%d",
                         (long long)batch, (long long)boxes, (long long)classes, DETECT_MAX_BATCH,
                         DETECT_MAX_BOXES, DETECT_MAX_CLASSES);
    return TASK_OK;
}

task_status detect_shape_from_dims(const int64_t *dims, int ndim, detect_layout layout,
                                   detect_shape *out)
{
    if (!dims || !out) return task_fail(TASK_ERR_INVALID, "detect_shape_from_dims: NULL argument");
    if (ndim != 2 && ndim != 3)
        return task_fail(TASK_ERR_INVALID, "detect: output rank %d, want [B, A, D] or [A, D]",
                         ndim);
    int64_t batch = ndim == 3 ? dims[0] : 1;
    int64_t a = dims[ndim - 2], d = dims[ndim - 1];
    if (layout == DETECT_LAYOUT_AUTO)
        layout = a < d                 ? DETECT_LAYOUT_V8
                 : d == 6 && a <= 1000 ? DETECT_LAYOUT_E2E
                                       : DETECT_LAYOUT_V5;
    int64_t boxes, classes;
    if (layout == DETECT_LAYOUT_E2E) {
        if (d != 6)
            return task_fail(TASK_ERR_INVALID,
                             "detect: end-to-end output rows have %lld values, "
                             "want 6 (x1, y1, x2, y2, score, class)",
                             (long long)d);
        boxes = a;
        classes = 1;
    } else if (layout == DETECT_LAYOUT_V8) {
        boxes = d;
        classes = a - 4;
    } else if (layout == DETECT_LAYOUT_V5) {
        boxes = a;
        classes = d - 5;
    } else if (layout == DETECT_LAYOUT_DETR) {
        boxes = a;
        classes = d - 4;
    } else {
        return task_fail(TASK_ERR_INVALID, "detect: unknown layout %d", (int)layout);
    }
    task_status s = check_sizes(batch, boxes, classes);
    if (s != TASK_OK) return s;
    *out = (detect_shape){layout, (int)batch, (int)boxes, (int)classes, 0, 0};
    return TASK_OK;
}

static size_t box_stride(const detect_shape *s)
{
    if (s->layout == DETECT_LAYOUT_E2E) return 6;
    return (size_t)s->num_classes + (s->layout == DETECT_LAYOUT_V5 ? 5 : 4);
}

size_t detect_image_floats(const detect_shape *s)
{
    return (size_t)s->num_boxes * box_stride(s);
}

/* ---- geometry ---- */

/* Plain compares, not fminf/fmaxf: those are libm calls on x86-64-v2, and
 * NMS only sees finite numbers. */
static inline float min2(float a, float b)
{
    return a < b ? a : b;
}

static inline float max2(float a, float b)
{
    return a > b ? a : b;
}

static inline float box_area(const float b[4])
{
    return max2(b[2] - b[0], 0.0f) * max2(b[3] - b[1], 0.0f);
}

/* IoU given both areas; detect_iou and NMS share it so they agree exactly. */
static inline float iou_with_areas(const float a[4], float area_a, const float b[4], float area_b)
{
    float iw = min2(a[2], b[2]) - max2(a[0], b[0]);
    float ih = min2(a[3], b[3]) - max2(a[1], b[1]);
    if (iw <= 0.0f || ih <= 0.0f) return 0.0f;
    float inter = iw * ih;
    float uni = area_a + area_b - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

float detect_iou(const float a[4], const float b[4])
{
    return iou_with_areas(a, box_area(a), b, box_area(b));
}

/* Corners {x1, y1, x2, y2} of box n from its cx, cy, w, h; 0 if any is not
 * finite. */
static int read_box(const detect_shape *s, const float *image, int n, float box[4])
{
    float cx, cy, w, h;
    if (s->layout == DETECT_LAYOUT_V8) {
        size_t stride = (size_t)s->num_boxes;
        cx = image[n];
        cy = image[stride + n];
        w = image[2 * stride + n];
        h = image[3 * stride + n];
    } else {
        const float *row = image + (size_t)n * box_stride(s);
        cx = row[0];
        cy = row[1];
        w = row[2];
        h = row[3];
    }
    if (s->layout == DETECT_LAYOUT_DETR) { /* fractions of the input */
        cx *= (float)s->input_width;
        w *= (float)s->input_width;
        cy *= (float)s->input_height;
        h *= (float)s->input_height;
    }
    box[0] = cx - 0.5f * w;
    box[1] = cy - 0.5f * h;
    box[2] = cx + 0.5f * w;
    box[3] = cy + 0.5f * h;
    return isfinite(box[0]) && isfinite(box[1]) && isfinite(box[2]) && isfinite(box[3]);
}

/* ---- candidates ---- */

/* Appends box n to the candidates if its score passes and it is finite. */
static inline void consider(detect_workspace *ws, const detect_shape *s, const float *image, int n,
                            float score, float thr, size_t *count)
{
    float box[4];
    if (score > thr && score < INFINITY && read_box(s, image, n, box))
        ws->cand[(*count)++] = (task_rank){n, score};
}

/* Folds four class rows into the running max of a block of boxes, and
 * sweep_1 one row. Written as `v > m ? v : m` (one MAXPS; NaN never wins) in
 * a fixed order, so the maximum is that of a sequential scan. Four rows per
 * pass load and store the block's maxima a quarter as often; inlined with
 * n = V8_BLOCK the compiler vectorizes both at -O2. */
static inline void sweep_4(float *restrict best, const float *restrict row, size_t stride, int n)
{
    const float *restrict r1 = row + stride;
    const float *restrict r2 = r1 + stride;
    const float *restrict r3 = r2 + stride;
    for (int i = 0; i < n; i++) {
        float m = best[i];
        m = row[i] > m ? row[i] : m;
        m = r1[i] > m ? r1[i] : m;
        m = r2[i] > m ? r2[i] : m;
        m = r3[i] > m ? r3[i] : m;
        best[i] = m;
    }
}

static inline void sweep_1(float *restrict best, const float *restrict row, int n)
{
    for (int i = 0; i < n; i++)
        best[i] = row[i] > best[i] ? row[i] : best[i];
}

/* Lowest class whose score equals the box's maximum (the first maximum,
 * exactly as a strict `>` scan would pick). */
static int first_class_at(const float *scores, size_t stride, int ncls, int n, float max)
{
    for (int c = 0; c < ncls; c++) {
        if (scores[(size_t)c * stride + n] == max) return c;
    }
    return 0;
}

/* V8: class rows are contiguous over boxes. Per block of boxes, sweep the
 * rows for the per-box maximum score (vectorized), then look up the class
 * only for the few boxes that pass the threshold. */
static size_t candidates_v8(detect_workspace *ws, const detect_shape *s, const float *image,
                            float thr)
{
    const int nbox = s->num_boxes, ncls = s->num_classes;
    const size_t stride = (size_t)nbox;
    const float *scores = image + 4 * stride;
    size_t count = 0;
    for (int n0 = 0; n0 < nbox; n0 += V8_BLOCK) {
        int nb = nbox - n0 < V8_BLOCK ? nbox - n0 : V8_BLOCK;
        float *best = ws->best;
        for (int i = 0; i < nb; i++)
            best[i] = -INFINITY;
        int c = 0;
        for (; c + 4 <= ncls; c += 4) {
            const float *row = scores + (size_t)c * stride + n0;
            if (nb == V8_BLOCK)
                sweep_4(best, row, stride, V8_BLOCK);
            else
                sweep_4(best, row, stride, nb);
        }
        for (; c < ncls; c++)
            sweep_1(best, scores + (size_t)c * stride + n0, nb);
        for (int i = 0; i < nb; i++) {
            int n = n0 + i;
            if (!(best[i] > thr && best[i] < INFINITY)) continue;
            ws->best_class[n] = first_class_at(scores, stride, ncls, n, best[i]);
            consider(ws, s, image, n, best[i], thr, &count);
        }
    }
    return count;
}

/* V5: boxes are contiguous rows; objectness alone must pass first (a class
 * probability of at most 1 cannot lift obj * cls above it), as in YOLOv5. */
static size_t candidates_v5(detect_workspace *ws, const detect_shape *s, const float *image,
                            float thr)
{
    const size_t stride = box_stride(s);
    size_t count = 0;
    for (int n = 0; n < s->num_boxes; n++) {
        const float *row = image + (size_t)n * stride;
        float obj = row[4];
        if (!(obj > thr)) continue;
        float best = -INFINITY;
        int cls = 0;
        for (int c = 0; c < s->num_classes; c++) {
            float v = obj * row[5 + c];
            if (v > best) {
                best = v;
                cls = c;
            }
        }
        ws->best_class[n] = cls;
        consider(ws, s, image, n, best, thr, &count);
    }
    return count;
}

/* DETR: rows of 4 + C; the best class of each query is its answer. */
static size_t candidates_detr(detect_workspace *ws, const detect_shape *s, const float *image,
                              float thr)
{
    const size_t stride = box_stride(s);
    size_t count = 0;
    for (int n = 0; n < s->num_boxes; n++) {
        const float *row = image + (size_t)n * stride + 4;
        float best = -INFINITY;
        int cls = 0;
        for (int c = 0; c < s->num_classes; c++)
            if (row[c] > best) {
                best = row[c];
                cls = c;
            }
        ws->best_class[n] = cls;
        consider(ws, s, image, n, best, thr, &count);
    }
    return count;
}

/* The best `limit` candidates, best first, without NMS (the model chose one
 * box per query). */
static int take_best(detect_workspace *ws, const detect_shape *s, const float *image, size_t ncand,
                     detect_box *out, int limit)
{
    rank_heap_build(ws->cand, ncand);
    int k = 0;
    while (ncand > 0 && k < limit) {
        task_rank r = rank_heap_pop(ws->cand, &ncand);
        float box[4];
        read_box(s, image, r.id, box);
        out[k++] = (detect_box){box[0], box[1], box[2], box[3], r.score, ws->best_class[r.id]};
    }
    return k;
}

/* ---- NMS ---- */

static inline int overlaps(const detect_box *k, float k_area, const float box[4], float area,
                           float thr)
{
    const float kb[4] = {k->x1, k->y1, k->x2, k->y2};
    return iou_with_areas(kb, k_area, box, area) > thr;
}

/* 1 if `box` overlaps a kept box by IoU > thr: any kept box if agnostic,
 * else only those on its class's list. */
static int suppressed(const detect_workspace *ws, const detect_box *kept, int nkept,
                      const float box[4], float area, int cls, const detect_options *opt)
{
    float thr = opt->iou_threshold;
    if (opt->agnostic) {
        for (int j = 0; j < nkept; j++) {
            if (overlaps(&kept[j], ws->kept_area[j], box, area, thr)) return 1;
        }
        return 0;
    }
    for (int j = ws->class_head[cls]; j >= 0; j = ws->kept_next[j]) {
        if (overlaps(&kept[j], ws->kept_area[j], box, area, thr)) return 1;
    }
    return 0;
}

/* Pops candidates best first into out[] (model pixels) until `limit` are
 * kept, max_nms were considered, or none are left. Returns the count kept.
 * Leaves ws->class_head all -1 again. */
static int nms(detect_workspace *ws, const detect_shape *s, const float *image, size_t ncand,
               const detect_options *opt, detect_box *out, int limit)
{
    rank_heap_build(ws->cand, ncand);
    int nkept = 0;
    for (int popped = 0; ncand > 0 && nkept < limit && popped < opt->max_nms; popped++) {
        task_rank r = rank_heap_pop(ws->cand, &ncand);
        float box[4];
        read_box(s, image, r.id, box); /* finite: checked when it became a candidate */
        float area = box_area(box);
        int cls = ws->best_class[r.id];
        if (suppressed(ws, out, nkept, box, area, cls, opt)) continue;
        out[nkept] = (detect_box){box[0], box[1], box[2], box[3], r.score, cls};
        ws->kept_area[nkept] = area;
        ws->kept_next[nkept] = ws->class_head[cls];
        ws->class_head[cls] = nkept;
        nkept++;
    }
    for (int j = 0; j < nkept; j++)
        ws->class_head[out[j].class_id] = -1;
    return nkept;
}

/* ---- letterbox ---- */

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static void unletterbox(const task_letterbox *lb, detect_box *b, int n)
{
    const float w = (float)lb->orig_w, h = (float)lb->orig_h;
    for (int i = 0; i < n; i++) {
        b[i].x1 = clampf((b[i].x1 - lb->pad_x) / lb->scale, 0.0f, w);
        b[i].y1 = clampf((b[i].y1 - lb->pad_y) / lb->scale, 0.0f, h);
        b[i].x2 = clampf((b[i].x2 - lb->pad_x) / lb->scale, 0.0f, w);
        b[i].y2 = clampf((b[i].y2 - lb->pad_y) / lb->scale, 0.0f, h);
    }
}

/* ---- end-to-end outputs ---- */

/* The rows of an E2E output that pass: finite corners, a finite score over
 * the threshold, an integral class id in range; best score first (ties:
 * lower row), at most limit. No NMS: the model chose its boxes. */
static int decode_e2e(detect_workspace *ws, const detect_shape *s, const float *image, float thr,
                      detect_box *out, int limit)
{
    size_t ncand = 0;
    for (int n = 0; n < s->num_boxes; n++) {
        const float *r = image + (size_t)n * 6;
        float cls = r[5];
        if (!(r[4] > thr && r[4] < INFINITY) || !(cls >= 0.0f && cls < (float)DETECT_MAX_CLASSES) ||
            cls != floorf(cls) || !isfinite(r[0]) || !isfinite(r[1]) || !isfinite(r[2]) ||
            !isfinite(r[3]))
            continue;
        ws->cand[ncand++] = (task_rank){n, r[4]};
    }
    rank_heap_build(ws->cand, ncand);
    int k = 0;
    while (ncand > 0 && k < limit) {
        task_rank t = rank_heap_pop(ws->cand, &ncand);
        const float *r = image + (size_t)t.id * 6;
        out[k++] = (detect_box){r[0], r[1], r[2], r[3], r[4], (int)r[5]};
    }
    return k;
}

/* ---- the call ---- */

static task_status check_call(const detect_workspace *ws, const detect_shape *s,
                              const detect_options *o, const task_letterbox *lb)
{
    if (s->layout != DETECT_LAYOUT_V8 && s->layout != DETECT_LAYOUT_V5 &&
        s->layout != DETECT_LAYOUT_E2E && s->layout != DETECT_LAYOUT_DETR)
        return task_fail(TASK_ERR_INVALID, "detect_decode: layout %d is not V8, V5, E2E or DETR",
                         (int)s->layout);
    if (s->layout == DETECT_LAYOUT_DETR &&
        (s->input_width < 1 || s->input_height < 1 || s->input_width > (1 << 16) ||
         s->input_height > (1 << 16)))
        return task_fail(TASK_ERR_INVALID, "detect_decode: DETR input size %dx%d", s->input_width,
                         s->input_height);
    task_status st = check_sizes(1, s->num_boxes, s->num_classes);
    if (st != TASK_OK) return st;
    if (ws && (s->num_boxes > ws->max_boxes || s->num_classes > ws->max_classes))
        return task_fail(TASK_ERR_INVALID,
                         "detect_decode: output of %d boxes x %d classes exceeds the workspace "
                         "(%d x %d)",
                         s->num_boxes, s->num_classes, ws->max_boxes, ws->max_classes);
    if (!(o->score_threshold >= 0.0f && o->score_threshold < INFINITY) ||
        !(o->iou_threshold >= 0.0f && o->iou_threshold <= 1.0f) || o->max_det < 1 || o->max_nms < 1)
        return task_fail(TASK_ERR_INVALID,
                         "detect_decode: bad options (score %g, iou %g, max_det %d, max_nms %d)",
                         o->score_threshold, o->iou_threshold, o->max_det, o->max_nms);
    if (lb && !(lb->scale > 0.0f && lb->scale < INFINITY && isfinite(lb->pad_x) &&
                isfinite(lb->pad_y) && lb->orig_w > 0 && lb->orig_h > 0))
        return task_fail(TASK_ERR_INVALID,
                         "detect_decode: bad letterbox (scale %g, pad %g,%g, image %dx%d)",
                         lb->scale, lb->pad_x, lb->pad_y, lb->orig_w, lb->orig_h);
    return TASK_OK;
}

task_status detect_decode(detect_workspace *ws, const detect_shape *shape, const float *image,
                          const detect_options *opt, const task_letterbox *lb, detect_box *out,
                          int capacity, int *n_out)
{
    static const detect_options defaults = DETECT_OPTIONS_DEFAULT;
    if (!n_out) return task_fail(TASK_ERR_INVALID, "detect_decode: NULL n_out");
    *n_out = 0;
    if (!shape || !image || !out || capacity < 1)
        return task_fail(TASK_ERR_INVALID, "detect_decode: NULL argument or capacity %d", capacity);
    if (!opt) opt = &defaults;
    task_status st = check_call(ws, shape, opt, lb);
    if (st != TASK_OK) return st;
    if (shape->num_boxes == 0) return TASK_OK;

    detect_workspace *own = NULL;
    if (!ws) {
        st = detect_workspace_create(shape->num_boxes, shape->num_classes, &own);
        if (st != TASK_OK) return st;
        ws = own;
    }
    float thr = opt->score_threshold;
    int limit = opt->max_det < capacity ? opt->max_det : capacity;
    int n;
    if (shape->layout == DETECT_LAYOUT_E2E) {
        n = decode_e2e(ws, shape, image, thr, out, limit);
    } else if (shape->layout == DETECT_LAYOUT_DETR) {
        n = take_best(ws, shape, image, candidates_detr(ws, shape, image, thr), out, limit);
    } else {
        size_t ncand = shape->layout == DETECT_LAYOUT_V8 ? candidates_v8(ws, shape, image, thr)
                                                         : candidates_v5(ws, shape, image, thr);
        n = nms(ws, shape, image, ncand, opt, out, limit);
    }
    if (lb) unletterbox(lb, out, n);
    detect_workspace_destroy(own);
    *n_out = n;
    return TASK_OK;
}
