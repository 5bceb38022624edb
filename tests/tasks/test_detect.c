/* Unit tests of src/tasks/detect: IoU, thresholding, NMS (per-class and
 * agnostic, caps), both YOLO layouts, letterbox inverse and clipping,
 * non-finite inputs, and a randomized check of the NMS against a naive
 * O(n^2) reference written here. Expectations are computed by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/detect.h"

/* A synthetic detection: box centre and size in model pixels, class, score. */
typedef struct obj {
    float cx, cy, w, h;
    int cls;
    float score;
} obj;

/* [4+C, N] channel-major; boxes past n get a box and all-zero scores. */
static float *make_v8(const obj *o, int n, int nbox, int ncls)
{
    float *t = calloc((size_t)(4 + ncls) * nbox, sizeof *t);
    assert_non_null(t);
    for (int i = 0; i < nbox; i++) {
        obj b = i < n ? o[i] : (obj){320, 320, 10, 10, 0, 0.0f};
        t[0 * nbox + i] = b.cx;
        t[1 * nbox + i] = b.cy;
        t[2 * nbox + i] = b.w;
        t[3 * nbox + i] = b.h;
        t[(size_t)(4 + b.cls) * nbox + i] = b.score;
    }
    return t;
}

/* [N, 5+C] with objectness 1, so score = class probability exactly; other
 * classes get a smaller probability to make the argmax matter. */
static float *make_v5(const obj *o, int n, int nbox, int ncls)
{
    float *t = calloc((size_t)(5 + ncls) * nbox, sizeof *t);
    assert_non_null(t);
    for (int i = 0; i < nbox; i++) {
        obj b = i < n ? o[i] : (obj){320, 320, 10, 10, 0, 0.0f};
        float *row = t + (size_t)i * (5 + ncls);
        row[0] = b.cx;
        row[1] = b.cy;
        row[2] = b.w;
        row[3] = b.h;
        row[4] = 1.0f;
        for (int c = 0; c < ncls; c++)
            row[5 + c] = b.score * 0.5f;
        row[5 + b.cls] = b.score;
    }
    return t;
}

/* Decodes with the given options, no letterbox. */
static int run(detect_layout layout, const float *t, int nbox, int ncls, const detect_options *opt,
               detect_box *out, int cap)
{
    detect_shape s = {layout, 1, nbox, ncls, 0, 0};
    int n = -1;
    assert_int_equal(detect_decode(NULL, &s, t, opt, NULL, out, cap, &n), TASK_OK);
    return n;
}

static void assert_box(detect_box b, float x1, float y1, float x2, float y2, int cls, float score)
{
    assert_float_equal(b.x1, x1, 1e-3);
    assert_float_equal(b.y1, y1, 1e-3);
    assert_float_equal(b.x2, x2, 1e-3);
    assert_float_equal(b.y2, y2, 1e-3);
    assert_int_equal(b.class_id, cls);
    assert_float_equal(b.score, score, 1e-6);
}

static void test_iou_known_boxes(void **state)
{
    (void)state;
    const float a[4] = {0, 0, 10, 10};
    const float b[4] = {5, 5, 15, 15};     /* inter 25, union 175 */
    const float half[4] = {0, 0, 5, 10};   /* inside a: 50 / 100 */
    const float far[4] = {20, 20, 30, 30}; /* disjoint */
    const float edge[4] = {10, 0, 20, 10}; /* shares an edge only */
    const float empty[4] = {3, 3, 3, 3};
    assert_float_equal(detect_iou(a, b), 25.0f / 175.0f, 1e-7);
    assert_float_equal(detect_iou(b, a), 25.0f / 175.0f, 1e-7);
    assert_float_equal(detect_iou(a, a), 1.0f, 0);
    assert_float_equal(detect_iou(a, half), 0.5f, 1e-7);
    assert_float_equal(detect_iou(a, far), 0.0f, 0);
    assert_float_equal(detect_iou(a, edge), 0.0f, 0);
    assert_float_equal(detect_iou(empty, empty), 0.0f, 0);
    assert_float_equal(detect_iou(a, empty), 0.0f, 0);
}

/* A (index 1, 0.9) and B (index 0, 0.8) overlap: inter 90x100 = 9000,
 * union 20000 - 9000 = 11000, IoU 0.818 > 0.7. */
static const obj overlap_pair[2] = {
    {110, 100, 100, 100, 0, 0.8f},
    {100, 100, 100, 100, 0, 0.9f},
};

static void test_nms_same_class_keeps_higher(void **state)
{
    (void)state;
    float *t = make_v8(overlap_pair, 2, 8, 3);
    detect_box out[8];
    int n = run(DETECT_LAYOUT_V8, t, 8, 3, NULL, out, 8);
    assert_int_equal(n, 1);
    assert_box(out[0], 50, 50, 150, 150, 0, 0.9f);

    /* With the IoU threshold above 0.818 both survive, best first. */
    detect_options opt = DETECT_OPTIONS_DEFAULT;
    opt.iou_threshold = 0.85f;
    n = run(DETECT_LAYOUT_V8, t, 8, 3, &opt, out, 8);
    assert_int_equal(n, 2);
    assert_box(out[0], 50, 50, 150, 150, 0, 0.9f);
    assert_box(out[1], 60, 50, 160, 150, 0, 0.8f);
    free(t);
}

/* Suppression needs IoU strictly above the threshold: these two overlap by
 * exactly 0.5 (inter 50x100, union 100x100). */
static void test_nms_iou_at_threshold(void **state)
{
    (void)state;
    const obj o[2] = {{50, 50, 100, 100, 0, 0.9f}, {25, 50, 50, 100, 0, 0.8f}};
    float *t = make_v8(o, 2, 2, 1);
    detect_box out[2];
    detect_options opt = DETECT_OPTIONS_DEFAULT;
    opt.iou_threshold = 0.5f;
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 2, 1, &opt, out, 2), 2);
    opt.iou_threshold = 0.49f;
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 2, 1, &opt, out, 2), 1);
    assert_box(out[0], 0, 0, 100, 100, 0, 0.9f);
    free(t);
}

static void test_nms_per_class_vs_agnostic(void **state)
{
    (void)state;
    obj o[2] = {overlap_pair[0], overlap_pair[1]};
    o[0].cls = 2;
    float *t = make_v8(o, 2, 8, 3);
    detect_box out[8];
    int n = run(DETECT_LAYOUT_V8, t, 8, 3, NULL, out, 8);
    assert_int_equal(n, 2);
    assert_box(out[0], 50, 50, 150, 150, 0, 0.9f);
    assert_box(out[1], 60, 50, 160, 150, 2, 0.8f);

    detect_options opt = DETECT_OPTIONS_DEFAULT;
    opt.agnostic = 1;
    n = run(DETECT_LAYOUT_V8, t, 8, 3, &opt, out, 8);
    assert_int_equal(n, 1);
    assert_box(out[0], 50, 50, 150, 150, 0, 0.9f);
    free(t);
}

static void test_score_threshold(void **state)
{
    (void)state;
    const obj o[5] = {
        {50, 50, 20, 20, 0, 0.25f},                 /* equal to the threshold: out */
        {150, 50, 20, 20, 1, nextafterf(0.25f, 1)}, /* just above: in */
        {250, 50, 20, 20, 0, 0.1f},                 /* out */
        {350, 50, 20, 20, 1, 0.9f},                 /* in */
        {450, 50, 20, 20, 0, 0.0f},                 /* out */
    };
    float *t = make_v8(o, 5, 5, 2);
    detect_box out[5];
    int n = run(DETECT_LAYOUT_V8, t, 5, 2, NULL, out, 5);
    assert_int_equal(n, 2);
    assert_box(out[0], 340, 40, 360, 60, 1, 0.9f);
    assert_box(out[1], 140, 40, 160, 60, 1, nextafterf(0.25f, 1));

    detect_options opt = DETECT_OPTIONS_DEFAULT;
    opt.score_threshold = 0.05f;
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 5, 2, &opt, out, 5), 4);
    free(t);
}

/* The best class is the highest score, the lowest class among equal ones,
 * whatever its position among C = 7 classes (not a multiple of four). */
static void test_best_class(void **state)
{
    (void)state;
    enum { N = 3, C = 7 };
    const float scores[N][C] = {
        {0.5f, 0.505f, 0.505f, 0.3f, 0.0f, 0.504f, 0.1f}, /* class 1 */
        {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.61f},      /* class 6 */
        {0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f},       /* class 0 */
    };
    float v8[(4 + C) * N], v5[N * (5 + C)];
    for (int i = 0; i < N; i++) {
        const float box[4] = {100.0f + 200 * i, 100, 50, 50};
        for (int k = 0; k < 4; k++) {
            v8[k * N + i] = box[k];
            v5[i * (5 + C) + k] = box[k];
        }
        v5[i * (5 + C) + 4] = 1.0f;
        for (int c = 0; c < C; c++) {
            v8[(4 + c) * N + i] = scores[i][c];
            v5[i * (5 + C) + 5 + c] = scores[i][c];
        }
    }
    const int want_cls[N] = {1, 6, 0};
    const float want_score[N] = {0.505f, 0.61f, 0.9f};
    for (int layout = 0; layout < 2; layout++) {
        detect_box out[N];
        int n = layout ? run(DETECT_LAYOUT_V5, v5, N, C, NULL, out, N)
                       : run(DETECT_LAYOUT_V8, v8, N, C, NULL, out, N);
        assert_int_equal(n, N);
        for (int i = 0; i < N; i++) {
            int box = (int)((out[i].x1 - 75) / 200); /* which box this is */
            assert_int_equal(out[i].class_id, want_cls[box]);
            assert_true(out[i].score == want_score[box]);
        }
    }
}

/* A scene with overlaps inside and across classes, decoded from both layouts:
 * the answers must be identical, field by field. */
static void test_v5_and_v8_agree(void **state)
{
    (void)state;
    enum { N = 40, C = 5, NOBJ = 12 };
    const obj o[NOBJ] = {
        {100, 100, 80, 80, 0, 0.9f},  {105, 102, 80, 80, 0, 0.85f},  {108, 100, 80, 76, 1, 0.8f},
        {300, 300, 50, 120, 2, 0.7f}, {302, 310, 52, 118, 2, 0.75f}, {500, 200, 30, 30, 3, 0.3f},
        {505, 205, 30, 30, 4, 0.6f},  {503, 203, 28, 30, 3, 0.65f},  {50, 600, 60, 40, 1, 0.4f},
        {60, 600, 60, 40, 1, 0.2f},   {620, 620, 60, 60, 0, 0.55f},  {400, 50, 100, 50, 4, 0.5f},
    };
    float *t8 = make_v8(o, NOBJ, N, C);
    float *t5 = make_v5(o, NOBJ, N, C);
    for (int agnostic = 0; agnostic <= 1; agnostic++) {
        detect_options opt = DETECT_OPTIONS_DEFAULT;
        opt.agnostic = agnostic;
        opt.iou_threshold = 0.5f;
        detect_box a[N], b[N];
        int na = run(DETECT_LAYOUT_V8, t8, N, C, &opt, a, N);
        int nb = run(DETECT_LAYOUT_V5, t5, N, C, &opt, b, N);
        assert_int_equal(na, nb);
        assert_true(na >= 6);
        for (int i = 0; i < na; i++) {
            assert_box(b[i], a[i].x1, a[i].y1, a[i].x2, a[i].y2, a[i].class_id, a[i].score);
            if (i > 0) assert_true(a[i - 1].score >= a[i].score);
        }
    }
    free(t8);
    free(t5);
}

/* YOLOv5 score is objectness x class probability; objectness alone must pass. */
static void test_v5_objectness(void **state)
{
    (void)state;
    enum { C = 3 };
    float t[4][5 + C] = {
        {100, 100, 20, 20, 0.5f, 0.2f, 0.8f, 0.1f}, /* 0.5 x 0.8 = 0.4, class 1 */
        {200, 100, 20, 20, 0.2f, 1.0f, 1.0f, 1.0f}, /* objectness 0.2: out */
        {300, 100, 20, 20, 0.3f, 0.1f, 0.0f, 0.9f}, /* 0.3 x 0.9 = 0.27, class 2 */
        {400, 100, 20, 20, 0.2f, 2.0f, 0.0f, 0.0f}, /* 0.4, but objectness fails */
    };
    detect_box out[4];
    int n = run(DETECT_LAYOUT_V5, &t[0][0], 4, C, NULL, out, 4);
    assert_int_equal(n, 2);
    assert_box(out[0], 90, 90, 110, 110, 1, 0.4f);
    assert_box(out[1], 290, 90, 310, 110, 2, 0.3f * 0.9f);
}

/* 768x576 letterboxed into 640x640: scale 640/768 = 0.8333, image rows at
 * 80..560. Model box (100,180)-(300,380) is (120,120)-(360,360) originally. */
static void test_letterbox_mapping(void **state)
{
    (void)state;
    const obj o[1] = {{200, 280, 200, 200, 3, 0.9f}};
    float *t = make_v8(o, 1, 4, 4);
    detect_shape s = {DETECT_LAYOUT_V8, 1, 4, 4, 0, 0};
    task_letterbox lb = {640.0f / 768.0f, 0.0f, 80.0f, 768, 576};
    detect_box out[4];
    int n = -1;
    assert_int_equal(detect_decode(NULL, &s, t, NULL, &lb, out, 4, &n), TASK_OK);
    assert_int_equal(n, 1);
    assert_box(out[0], 120, 120, 360, 360, 3, 0.9f);
    free(t);
}

/* Corners outside the image are clipped to it; a box entirely in the padding
 * collapses onto the border. */
static void test_letterbox_clipping(void **state)
{
    (void)state;
    const obj o[2] = {
        {340, 380, 720, 640, 0, 0.9f}, /* (-20,60)-(700,700) -> (-24,-24)-(840,744) */
        {320, 40, 100, 40, 1, 0.8f},   /* y 20..60, inside the top padding */
    };
    float *t = make_v8(o, 2, 2, 2);
    detect_shape s = {DETECT_LAYOUT_V8, 1, 2, 2, 0, 0};
    task_letterbox lb = {640.0f / 768.0f, 0.0f, 80.0f, 768, 576};
    detect_box out[2];
    int n = -1;
    assert_int_equal(detect_decode(NULL, &s, t, NULL, &lb, out, 2, &n), TASK_OK);
    assert_int_equal(n, 2);
    assert_box(out[0], 0, 0, 768, 576, 0, 0.9f);
    assert_box(out[1], 324, 0, 444, 0, 1, 0.8f);
    free(t);
}

/* Ten disjoint boxes with scores 0.50, 0.55, ... 0.95. */
static float *ten_boxes(void)
{
    obj o[10];
    for (int i = 0; i < 10; i++)
        o[i] = (obj){30.0f + 60 * i, 100, 40, 40, i % 3, 0.5f + 0.05f * i};
    return make_v8(o, 10, 10, 3);
}

static void test_max_det_and_capacity(void **state)
{
    (void)state;
    float *t = ten_boxes();
    detect_box out[10];
    detect_options opt = DETECT_OPTIONS_DEFAULT;
    opt.max_det = 3;
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 10, 3, &opt, out, 10), 3);
    assert_box(out[0], 550, 80, 590, 120, 0, 0.5f + 0.05f * 9);
    assert_box(out[1], 490, 80, 530, 120, 2, 0.5f + 0.05f * 8);
    assert_box(out[2], 430, 80, 470, 120, 1, 0.5f + 0.05f * 7);

    /* The caller's array is smaller than max_det: it bounds the answer. */
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 10, 3, NULL, out, 2), 2);
    assert_float_equal(out[1].score, 0.5f + 0.05f * 8, 0);
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 10, 3, NULL, out, 10), 10);
    free(t);
}

/* max_nms bounds the candidates considered, best first, before suppression. */
static void test_max_nms_cap(void **state)
{
    (void)state;
    float *t = ten_boxes();
    detect_box out[10];
    detect_options opt = DETECT_OPTIONS_DEFAULT;
    opt.max_nms = 2;
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 10, 3, &opt, out, 10), 2);
    assert_float_equal(out[0].score, 0.5f + 0.05f * 9, 0);
    assert_float_equal(out[1].score, 0.5f + 0.05f * 8, 0);
    free(t);

    /* The two best overlap: with max_nms 2 one is suppressed and the third
     * best, never considered, does not replace it. */
    const obj o[3] = {
        {100, 100, 100, 100, 0, 0.9f}, {100, 100, 100, 100, 0, 0.8f}, {400, 100, 50, 50, 0, 0.7f}};
    t = make_v8(o, 3, 3, 1);
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 3, 1, &opt, out, 10), 1);
    assert_float_equal(out[0].score, 0.9f, 0);
    opt.max_nms = 3;
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 3, 1, &opt, out, 10), 2);
    free(t);
}

static void test_empty_output(void **state)
{
    (void)state;
    const obj none[1] = {{0, 0, 0, 0, 0, 0.0f}};
    float *t = make_v8(none, 0, 100, 80); /* every score 0 */
    detect_box out[4];
    assert_int_equal(run(DETECT_LAYOUT_V8, t, 100, 80, NULL, out, 4), 0);
    free(t);
    t = make_v5(none, 0, 100, 80);
    assert_int_equal(run(DETECT_LAYOUT_V5, t, 100, 80, NULL, out, 4), 0);
    free(t);

    /* A shape with no boxes at all. */
    float dummy = 0;
    assert_int_equal(run(DETECT_LAYOUT_V8, &dummy, 0, 80, NULL, out, 4), 0);
}

/* NaN and inf never crash, never become the best class, never reach out. */
static void test_non_finite_inputs(void **state)
{
    (void)state;
    enum { N = 6, C = 3 };
    const obj o[N] = {
        {100, 100, 20, 20, 0, 0.9f},     /* 0: NaN in class 1, 0.9 in class 0: kept */
        {200, 100, 20, 20, 0, NAN},      /* 1: every class NaN: dropped */
        {300, 100, 20, 20, 0, 0.8f},     /* 2: cx NaN: dropped */
        {400, 100, 20, 20, 2, INFINITY}, /* 3: inf score: dropped */
        {500, 100, 20, 20, 1, 0.7f},     /* 4: h = inf: dropped */
        {600, 100, 20, 20, 1, 0.6f},     /* 5: clean: kept */
    };
    float *t = make_v8(o, N, N, C);
    t[(4 + 1) * N + 0] = NAN;
    t[(4 + 1) * N + 1] = NAN;
    t[(4 + 2) * N + 1] = NAN;
    t[0 * N + 2] = NAN;
    t[3 * N + 4] = INFINITY;
    detect_box out[N];
    int n = run(DETECT_LAYOUT_V8, t, N, C, NULL, out, N);
    assert_int_equal(n, 2);
    assert_box(out[0], 90, 90, 110, 110, 0, 0.9f);
    assert_box(out[1], 590, 90, 610, 110, 1, 0.6f);
    free(t);

    /* V5: NaN objectness, NaN class probability, NaN width. */
    float *t5 = make_v5(o, N, N, C);
    t5[0 * (5 + C) + 5 + 1] = NAN; /* box 0: one class NaN, still 0.9 */
    t5[2 * (5 + C) + 4] = NAN;     /* box 2: objectness NaN */
    t5[5 * (5 + C) + 2] = NAN;     /* box 5: width NaN */
    n = run(DETECT_LAYOUT_V5, t5, N, C, NULL, out, N);
    assert_int_equal(n, 2); /* box 4 is clean in this copy */
    assert_box(out[0], 90, 90, 110, 110, 0, 0.9f);
    assert_box(out[1], 490, 90, 510, 110, 1, 0.7f);
    free(t5);
}

/* ---- randomized cross-check against a naive reference ---- */

static uint64_t rng_state;

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static float rng_unit(void)
{
    return (float)(rng_next() >> 8) / 16777216.0f;
}

typedef struct ref_cand {
    int idx, cls;
    float score;
    float box[4];
} ref_cand;

static int ref_cmp(const void *pa, const void *pb)
{
    const ref_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->idx - b->idx;
}

/* Textbook NMS: per-box argmax, threshold, full sort, then every kept box
 * suppresses every later overlapping one. O(n^2). Model pixels, no caps but
 * max_det. */
static int ref_nms(const float *t, int nbox, int ncls, const detect_options *opt, detect_box *out)
{
    ref_cand *c = calloc((size_t)nbox, sizeof *c);
    int *removed = calloc((size_t)nbox, sizeof *removed);
    assert_true(c && removed);
    int k = 0;
    for (int i = 0; i < nbox; i++) {
        int best = 0;
        for (int j = 1; j < ncls; j++)
            if (t[(size_t)(4 + j) * nbox + i] > t[(size_t)(4 + best) * nbox + i]) best = j;
        float s = t[(size_t)(4 + best) * nbox + i];
        if (!(s > opt->score_threshold)) continue;
        float cx = t[i], cy = t[nbox + i], w = t[2 * nbox + i], h = t[3 * nbox + i];
        c[k] = (ref_cand){i, best, s, {cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h}};
        k++;
    }
    qsort(c, (size_t)k, sizeof *c, ref_cmp);
    int n = 0;
    for (int i = 0; i < k && n < opt->max_det; i++) {
        if (removed[i]) continue;
        out[n++] =
            (detect_box){c[i].box[0], c[i].box[1], c[i].box[2], c[i].box[3], c[i].score, c[i].cls};
        for (int j = i + 1; j < k; j++) {
            if ((opt->agnostic || c[j].cls == c[i].cls) &&
                detect_iou(c[i].box, c[j].box) > opt->iou_threshold)
                removed[j] = 1;
        }
    }
    free(c);
    free(removed);
    return n;
}

/* Random clustered scenes (many overlaps; scores on a 1/64 grid so that ties
 * happen): the heap-based NMS must give exactly the reference's answer. */
static void test_nms_matches_reference(void **state)
{
    (void)state;
    enum { N = 600, C = 4 };
    const float ious[3] = {0.3f, 0.5f, 0.7f};
    detect_workspace *ws = NULL;
    assert_int_equal(detect_workspace_create(N, C, &ws), TASK_OK);
    float *t = malloc((size_t)(4 + C) * N * sizeof *t);
    detect_box *got = malloc(N * sizeof *got), *want = malloc(N * sizeof *want);
    assert_true(t && got && want);
    rng_state = 0x9E3779B97F4A7C15ull;
    int total_kept = 0;
    for (int trial = 0; trial < 60; trial++) {
        int nclusters = 1 + (int)(rng_next() % 30);
        float ccx[30] = {0}, ccy[30] = {0};
        for (int k = 0; k < nclusters; k++) {
            ccx[k] = 640 * rng_unit();
            ccy[k] = 640 * rng_unit();
        }
        for (int i = 0; i < N; i++) {
            int k = (int)(rng_next() % (unsigned)nclusters);
            t[i] = ccx[k] + 40 * (rng_unit() - 0.5f);
            t[N + i] = ccy[k] + 40 * (rng_unit() - 0.5f);
            t[2 * N + i] = 20 + 100 * rng_unit();
            t[3 * N + i] = 20 + 100 * rng_unit();
            for (int c = 0; c < C; c++)
                t[(4 + c) * N + i] = (float)(rng_next() % 64) / 64.0f;
        }
        for (int v = 0; v < 6; v++) {
            detect_options opt = DETECT_OPTIONS_DEFAULT;
            opt.iou_threshold = ious[v % 3];
            opt.agnostic = v / 3;
            opt.max_det = trial % 4 == 0 ? 5 : 300;
            detect_shape s = {DETECT_LAYOUT_V8, 1, N, C, 0, 0};
            int n = -1;
            assert_int_equal(detect_decode(ws, &s, t, &opt, NULL, got, N, &n), TASK_OK);
            int m = ref_nms(t, N, C, &opt, want);
            assert_int_equal(n, m);
            for (int i = 0; i < n; i++) {
                assert_int_equal(got[i].class_id, want[i].class_id);
                assert_true(got[i].score == want[i].score);
                assert_memory_equal(&got[i], &want[i], sizeof got[i]);
            }
            total_kept += n;
        }
    }
    assert_true(total_kept > 1000); /* the scenes were not trivially empty */
    free(t);
    free(got);
    free(want);
    detect_workspace_destroy(ws);
}

/* A realistic-size output (8400 boxes x 80 classes, low noise everywhere)
 * with three planted objects, one of them duplicated by neighbouring
 * anchors: exactly the three come back. Image 1 of a batch of 2. */
static void test_realistic_size_batch(void **state)
{
    (void)state;
    int64_t dims[3] = {2, 84, 8400};
    detect_shape s;
    assert_int_equal(detect_shape_from_dims(dims, 3, DETECT_LAYOUT_AUTO, &s), TASK_OK);
    size_t per = detect_image_floats(&s);
    assert_int_equal(per, 84 * 8400);
    float *t = malloc(2 * per * sizeof *t);
    assert_non_null(t);
    rng_state = 42;
    for (size_t i = 0; i < 2 * per; i++)
        t[i] = 0.2f * rng_unit();
    float *img = t + per;
    const int N = 8400;
    const struct {
        int n, cls;
        float cx, cy, w, h, score;
    } plant[4] = {
        {100, 0, 320, 320, 200, 300, 0.91f},
        {101, 0, 324, 318, 204, 296, 0.87f}, /* duplicate of the first */
        {5000, 16, 100, 500, 80, 60, 0.66f},
        {8399, 79, 600, 40, 60, 60, 0.33f},
    };
    for (int p = 0; p < 4; p++) {
        img[plant[p].n] = plant[p].cx;
        img[N + plant[p].n] = plant[p].cy;
        img[2 * N + plant[p].n] = plant[p].w;
        img[3 * N + plant[p].n] = plant[p].h;
        img[(size_t)(4 + plant[p].cls) * N + plant[p].n] = plant[p].score;
    }
    detect_workspace *ws = NULL;
    assert_int_equal(detect_workspace_create(8400, 80, &ws), TASK_OK);
    detect_box out[300];
    int n = -1;
    assert_int_equal(detect_decode(ws, &s, img, NULL, NULL, out, 300, &n), TASK_OK);
    assert_int_equal(n, 3);
    assert_box(out[0], 220, 170, 420, 470, 0, 0.91f);
    assert_box(out[1], 60, 470, 140, 530, 16, 0.66f);
    assert_box(out[2], 570, 10, 630, 70, 79, 0.33f);
    detect_workspace_destroy(ws);
    free(t);
}

static void test_shape_from_dims(void **state)
{
    (void)state;
    detect_shape s;
    const int64_t v8[3] = {1, 84, 8400};
    assert_int_equal(detect_shape_from_dims(v8, 3, DETECT_LAYOUT_AUTO, &s), TASK_OK);
    assert_int_equal(s.layout, DETECT_LAYOUT_V8);
    assert_int_equal(s.batch, 1);
    assert_int_equal(s.num_boxes, 8400);
    assert_int_equal(s.num_classes, 80);

    const int64_t v5[3] = {4, 25200, 85};
    assert_int_equal(detect_shape_from_dims(v5, 3, DETECT_LAYOUT_AUTO, &s), TASK_OK);
    assert_int_equal(s.layout, DETECT_LAYOUT_V5);
    assert_int_equal(s.batch, 4);
    assert_int_equal(s.num_boxes, 25200);
    assert_int_equal(s.num_classes, 80);
    assert_int_equal(detect_image_floats(&s), 25200 * 85);

    /* Rank 2 means batch 1; an explicit layout overrides the guess. */
    const int64_t many[2] = {1004, 525};
    assert_int_equal(detect_shape_from_dims(many, 2, DETECT_LAYOUT_V8, &s), TASK_OK);
    assert_int_equal(s.batch, 1);
    assert_int_equal(s.num_boxes, 525);
    assert_int_equal(s.num_classes, 1000);

    const int64_t no_class[3] = {1, 4, 8400};
    const int64_t huge[3] = {1, 84, (int64_t)1 << 40};
    const int64_t neg[3] = {-1, 84, 8400};
    assert_int_equal(detect_shape_from_dims(no_class, 3, DETECT_LAYOUT_AUTO, &s), TASK_ERR_INVALID);
    assert_int_equal(detect_shape_from_dims(huge, 3, DETECT_LAYOUT_AUTO, &s), TASK_ERR_INVALID);
    assert_int_equal(detect_shape_from_dims(neg, 3, DETECT_LAYOUT_AUTO, &s), TASK_ERR_INVALID);
    assert_int_equal(detect_shape_from_dims(v8, 4, DETECT_LAYOUT_AUTO, &s), TASK_ERR_INVALID);
    assert_int_equal(detect_shape_from_dims(v8, 1, DETECT_LAYOUT_AUTO, &s), TASK_ERR_INVALID);
}

/* End-to-end rows (x1, y1, x2, y2, score, class): the score threshold and
 * max_det apply, no NMS (two overlapping boxes of one class both stay),
 * rows come back best first whatever their order, a row with a non-finite
 * value or a class that is not a whole number in range is dropped; AUTO
 * tells [B, 300, 6] from a one-class YOLOv5's [B, 25200, 6]. */
static void test_e2e_rows(void **state)
{
    (void)state;
    const float rows[7][6] = {
        {10, 10, 50, 50, 0.60f, 2},     {12, 12, 52, 52, 0.90f, 2}, /* overlap: both kept */
        {100, 100, 120, 140, 0.20f, 1},                             /* under the threshold */
        {0, 0, 5, 5, 0.70f, 2.5f},                                  /* class not whole */
        {0, 0, NAN, 5, 0.95f, 1},       {0, 0, 5, 5, INFINITY, 1},  /* not finite */
        {200, 80, 300, 180, 0.80f, 7},
    };
    const int64_t dims[3] = {1, 7, 6};
    detect_shape s;
    assert_int_equal(detect_shape_from_dims(dims, 3, DETECT_LAYOUT_AUTO, &s), TASK_OK);
    assert_int_equal(s.layout, DETECT_LAYOUT_E2E);
    assert_int_equal(s.num_boxes, 7);
    assert_int_equal(detect_image_floats(&s), 7 * 6);
    const int64_t v5_one[3] = {1, 25200, 6};
    assert_int_equal(detect_shape_from_dims(v5_one, 3, DETECT_LAYOUT_AUTO, &s), TASK_OK);
    assert_int_equal(s.layout, DETECT_LAYOUT_V5);
    assert_int_equal(detect_shape_from_dims(dims, 3, DETECT_LAYOUT_AUTO, &s), TASK_OK);
    detect_box out[8];
    int n = -1;
    detect_options o = DETECT_OPTIONS_DEFAULT;
    assert_int_equal(detect_decode(NULL, &s, &rows[0][0], &o, NULL, out, 8, &n), TASK_OK);
    assert_int_equal(n, 3);
    assert_box(out[0], 12, 12, 52, 52, 2, 0.90f);
    assert_box(out[1], 200, 80, 300, 180, 7, 0.80f);
    assert_box(out[2], 10, 10, 50, 50, 2, 0.60f);
    o.max_det = 2;
    assert_int_equal(detect_decode(NULL, &s, &rows[0][0], &o, NULL, out, 8, &n), TASK_OK);
    assert_int_equal(n, 2);
    /* through a letterbox like the others */
    task_letterbox lb = {0.5f, 0.0f, 10.0f, 800, 600};
    o.max_det = 1;
    assert_int_equal(detect_decode(NULL, &s, &rows[0][0], &o, &lb, out, 8, &n), TASK_OK);
    assert_box(out[0], 24, 4, 104, 84, 2, 0.90f);
    const int64_t bad[3] = {1, 7, 7};
    assert_int_equal(detect_shape_from_dims(bad, 3, DETECT_LAYOUT_E2E, &s), TASK_ERR_INVALID);
}

/* DETR queries (cx, cy, w, h as fractions of the input, then C scores): the
 * best class answers, scaled to the input size the shape carries; no NMS
 * (two overlapping queries of one class both stay), best first, threshold
 * and max_det apply, a non-finite box is dropped; without an input size the
 * call is refused. */
static void test_detr_queries(void **state)
{
    (void)state;
    const float rows[5][7] = {
        {0.25f, 0.5f, 0.1f, 0.2f, 0.1f, 0.7f, 0.2f},  /* class 1, 0.7 */
        {0.26f, 0.5f, 0.1f, 0.2f, 0.1f, 0.9f, 0.2f},  /* overlaps it: kept */
        {0.5f, 0.5f, 0.5f, 0.5f, 0.1f, 0.2f, 0.24f},  /* best 0.24: under 0.25 */
        {NAN, 0.5f, 0.1f, 0.1f, 0.99f, 0.0f, 0.0f},   /* not finite */
        {0.75f, 0.25f, 0.5f, 0.5f, 0.8f, 0.1f, 0.3f}, /* class 0, 0.8 */
    };
    const int64_t dims[3] = {1, 5, 7};
    detect_shape s;
    assert_int_equal(detect_shape_from_dims(dims, 3, DETECT_LAYOUT_DETR, &s), TASK_OK);
    assert_int_equal(s.num_boxes, 5);
    assert_int_equal(s.num_classes, 3);
    assert_int_equal(detect_image_floats(&s), 5 * 7);
    detect_box out[8];
    int n = -1;
    detect_options o = DETECT_OPTIONS_DEFAULT;
    assert_int_equal(detect_decode(NULL, &s, &rows[0][0], &o, NULL, out, 8, &n), TASK_ERR_INVALID);
    s.input_width = 200;
    s.input_height = 100;
    assert_int_equal(detect_decode(NULL, &s, &rows[0][0], &o, NULL, out, 8, &n), TASK_OK);
    assert_int_equal(n, 3);
    assert_box(out[0], 42, 40, 62, 60, 1, 0.9f);
    assert_box(out[1], 100, 0, 200, 50, 0, 0.8f);
    assert_box(out[2], 40, 40, 60, 60, 1, 0.7f);
    o.max_det = 1;
    assert_int_equal(detect_decode(NULL, &s, &rows[0][0], &o, NULL, out, 8, &n), TASK_OK);
    assert_int_equal(n, 1);
    const int64_t bad[3] = {1, 5, 4};
    assert_int_equal(detect_shape_from_dims(bad, 3, DETECT_LAYOUT_DETR, &s), TASK_ERR_INVALID);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    float *t = ten_boxes();
    detect_shape s = {DETECT_LAYOUT_V8, 1, 10, 3, 0, 0};
    detect_box out[10];
    int n = 7;
    detect_workspace *ws = NULL;
    assert_int_equal(detect_workspace_create(0, 3, &ws), TASK_ERR_INVALID);
    assert_null(ws);
    assert_int_equal(detect_workspace_create(8, 3, &ws), TASK_OK);

    /* The output is larger than the workspace. */
    assert_int_equal(detect_decode(ws, &s, t, NULL, NULL, out, 10, &n), TASK_ERR_INVALID);
    assert_int_equal(n, 0);
    assert_true(strlen(task_last_error()) > 0);

    detect_options bad[4] = {DETECT_OPTIONS_DEFAULT, DETECT_OPTIONS_DEFAULT, DETECT_OPTIONS_DEFAULT,
                             DETECT_OPTIONS_DEFAULT};
    bad[0].iou_threshold = 1.5f;
    bad[1].score_threshold = NAN;
    bad[2].max_det = 0;
    bad[3].max_nms = 0;
    for (int i = 0; i < 4; i++)
        assert_int_equal(detect_decode(NULL, &s, t, &bad[i], NULL, out, 10, &n), TASK_ERR_INVALID);
    task_letterbox lb = {0.0f, 0, 0, 640, 480};
    assert_int_equal(detect_decode(NULL, &s, t, NULL, &lb, out, 10, &n), TASK_ERR_INVALID);
    lb = (task_letterbox){1.0f, 0, 0, 0, 480};
    assert_int_equal(detect_decode(NULL, &s, t, NULL, &lb, out, 10, &n), TASK_ERR_INVALID);
    assert_int_equal(detect_decode(NULL, &s, t, NULL, NULL, out, 0, &n), TASK_ERR_INVALID);
    assert_int_equal(detect_decode(NULL, &s, NULL, NULL, NULL, out, 10, &n), TASK_ERR_INVALID);
    assert_int_equal(detect_decode(NULL, &s, t, NULL, NULL, out, 10, NULL), TASK_ERR_INVALID);
    s.layout = DETECT_LAYOUT_AUTO;
    assert_int_equal(detect_decode(NULL, &s, t, NULL, NULL, out, 10, &n), TASK_ERR_INVALID);
    detect_workspace_destroy(ws);
    detect_workspace_destroy(NULL);
    free(t);
}

/* Equal scores come out in box-index order, and a reused workspace gives the
 * same answer as a fresh one. */
static void test_ties_and_workspace_reuse(void **state)
{
    (void)state;
    obj o[4];
    for (int i = 0; i < 4; i++)
        o[i] = (obj){50.0f + 100 * i, 50, 20, 20, 3 - i, 0.5f};
    float *t = make_v8(o, 4, 4, 4);
    detect_shape s = {DETECT_LAYOUT_V8, 1, 4, 4, 0, 0};
    detect_workspace *ws = NULL;
    assert_int_equal(detect_workspace_create(100, 10, &ws), TASK_OK);
    detect_box a[4], b[4];
    int na = -1, nb = -1;
    for (int rep = 0; rep < 3; rep++)
        assert_int_equal(detect_decode(ws, &s, t, NULL, NULL, a, 4, &na), TASK_OK);
    assert_int_equal(detect_decode(NULL, &s, t, NULL, NULL, b, 4, &nb), TASK_OK);
    assert_int_equal(na, 4);
    assert_int_equal(nb, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a[i].class_id, 3 - i); /* box i carries class 3-i */
        assert_memory_equal(&a[i], &b[i], sizeof a[i]);
    }
    detect_workspace_destroy(ws);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iou_known_boxes),
        cmocka_unit_test(test_nms_same_class_keeps_higher),
        cmocka_unit_test(test_nms_iou_at_threshold),
        cmocka_unit_test(test_nms_per_class_vs_agnostic),
        cmocka_unit_test(test_score_threshold),
        cmocka_unit_test(test_best_class),
        cmocka_unit_test(test_v5_and_v8_agree),
        cmocka_unit_test(test_v5_objectness),
        cmocka_unit_test(test_letterbox_mapping),
        cmocka_unit_test(test_letterbox_clipping),
        cmocka_unit_test(test_max_det_and_capacity),
        cmocka_unit_test(test_max_nms_cap),
        cmocka_unit_test(test_empty_output),
        cmocka_unit_test(test_non_finite_inputs),
        cmocka_unit_test(test_nms_matches_reference),
        cmocka_unit_test(test_realistic_size_batch),
        cmocka_unit_test(test_shape_from_dims),
        cmocka_unit_test(test_e2e_rows),
        cmocka_unit_test(test_detr_queries),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_ties_and_workspace_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
