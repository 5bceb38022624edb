/* Unit tests of src/tasks/text: DB text boxes (an upright and a rotated
 * region, the score and size filters, several regions, reading order, NaN)
 * and greedy CTC decoding (repeats, blanks, logits, empty).
 *
 * The expected boxes are PaddleOCR's: its DBPostProcess (OpenCV's
 * minAreaRect and fillPoly, pyclipper's offset; tools/train_ocr.py
 * db_postprocess) run on the same maps:
 *   upright 40x16 region at (20, 10) of a 100x60 map of 0.9, to 200x120:
 *     [[24, 4], [134, 4], [134, 66], [24, 66]], score 0.9
 *   cv2.fillPoly of the quad (40,48) (50,31) (119,71) (109,88) with 0.8 in a
 *   160x120 map (to the same size):
 *     [[44, 13], [136, 65], [114, 105], [22, 53]], score 0.757
 * (fillPoly also takes the pixels of each edge's raster line: the score of a
 * slanted box depends on it) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/text.h"

static float *map_new(int h, int w)
{
    float *m = calloc((size_t)h * w, sizeof *m);
    assert_non_null(m);
    return m;
}

static void fill_rect(float *m, int w, int x0, int y0, int x1, int y1, float v)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            m[y * w + x] = v;
}

/* The convex quad q (integer corners) filled as OpenCV's fillPoly fills it:
 * on each row, from the leftmost to the rightmost x any edge reaches within
 * half a row (its raster line's pixels), inclusive. */
static void fill_quad(float *m, int h, int w, const float q[4][2], float v)
{
    for (int y = 0; y < h; y++) {
        float lo = 1e9f, hi = -1e9f;
        for (int k = 0; k < 4; k++) {
            const float *a = q[k], *b = q[(k + 1) % 4];
            float ya = fmaxf(fminf(a[1], b[1]), (float)y - 0.5f);
            float yb = fminf(fmaxf(a[1], b[1]), (float)y + 0.5f);
            if (ya > yb) continue;
            for (int e = 0; e < 2; e++) {
                float yv = e ? yb : ya;
                float x = a[1] == b[1] ? (e ? b[0] : a[0])
                                       : a[0] + (yv - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                lo = fminf(lo, x);
                hi = fmaxf(hi, x);
            }
        }
        for (int x = (int)ceilf(lo - 1e-4f); x <= (int)floorf(hi + 1e-4f) && x < w; x++)
            if (x >= 0) m[y * w + x] = v;
    }
}

static void assert_box(const text_box *b, const int want[4][2], int tol)
{
    for (int k = 0; k < 4; k++) {
        assert_true(fabsf(b->pts[k][0] - (float)want[k][0]) <= (float)tol);
        assert_true(fabsf(b->pts[k][1] - (float)want[k][1]) <= (float)tol);
    }
}

static void test_upright(void **state)
{
    (void)state;
    float *m = map_new(60, 100);
    fill_rect(m, 100, 20, 10, 60, 26, 0.9f);
    text_det_ws *ws = text_det_ws_create();
    text_det_options o = TEXT_DET_OPTIONS_DEFAULT;
    text_box b[4];
    int n = -1;
    assert_int_equal(text_det_decode(ws, m, 60, 100, &o, b, 4, &n), TASK_OK);
    assert_int_equal(n, 1);
    assert_float_equal(b[0].score, 0.9f, 1e-6);
    /* in map pixels: the hull 20..59 x 10..25 grown by 39*15*1.5/108 = 8.125 */
    assert_float_equal(b[0].pts[0][0], 20 - 8.125f, 1e-3);
    assert_float_equal(b[0].pts[0][1], 10 - 8.125f, 1e-3);
    assert_float_equal(b[0].pts[2][0], 59 + 8.125f, 1e-3);
    assert_float_equal(b[0].pts[2][1], 25 + 8.125f, 1e-3);
    assert_int_equal(text_box_place(&b[0], 100, 60, 200, 120), 0);
    const int want[4][2] = {{24, 4}, {134, 4}, {134, 66}, {24, 66}};
    assert_box(&b[0], want, 0);
    text_det_ws_destroy(ws);
    free(m);
}

static void test_rotated(void **state)
{
    (void)state;
    float *m = map_new(120, 160);
    const float q[4][2] = {{40, 48}, {50, 31}, {119, 71}, {109, 88}};
    fill_quad(m, 120, 160, q, 0.8f);
    text_det_ws *ws = text_det_ws_create();
    text_det_options o = TEXT_DET_OPTIONS_DEFAULT;
    text_box b[4];
    int n = -1;
    assert_int_equal(text_det_decode(ws, m, 120, 160, &o, b, 4, &n), TASK_OK);
    assert_int_equal(n, 1);
    assert_float_equal(b[0].score, 0.757f, 0.005);
    assert_int_equal(text_box_place(&b[0], 160, 120, 160, 120), 0);
    const int want[4][2] = {{44, 13}, {136, 65}, {114, 105}, {22, 53}};
    assert_box(&b[0], want, 2);
    text_det_ws_destroy(ws);
    free(m);
}

static void test_filters(void **state)
{
    (void)state;
    float *m = map_new(40, 40);
    fill_rect(m, 40, 5, 5, 30, 20, 0.4f);   /* text (> 0.3) but scores 0.4 < 0.6 */
    fill_rect(m, 40, 30, 30, 32, 32, 0.9f); /* 2x2: a side of 1 < 3 */
    m[35 * 40 + 5] = NAN;                   /* never text */
    text_det_ws *ws = text_det_ws_create();
    text_det_options o = TEXT_DET_OPTIONS_DEFAULT;
    text_box b[4];
    int n = -1;
    assert_int_equal(text_det_decode(ws, m, 40, 40, &o, b, 4, &n), TASK_OK);
    assert_int_equal(n, 0);
    o.box_threshold = 0.35f; /* now the first passes */
    assert_int_equal(text_det_decode(ws, m, 40, 40, &o, b, 4, &n), TASK_OK);
    assert_int_equal(n, 1);
    assert_float_equal(b[0].score, 0.4f, 1e-6);
    o.threshold = 0.5f; /* and with the pixel threshold over 0.4, nothing is text but the dot */
    assert_int_equal(text_det_decode(ws, m, 40, 40, &o, b, 4, &n), TASK_OK);
    assert_int_equal(n, 0);
    text_det_ws_destroy(ws);
    free(m);
}

static void test_many_and_order(void **state)
{
    (void)state;
    /* two lines side by side (tops 2 px apart), one below; an L of two
     * rectangles joined at a corner (8-connectivity) is one region whose
     * rectangle it covers too little of (PaddleOCR drops it too) */
    float *m = map_new(100, 200);
    fill_rect(m, 200, 120, 12, 180, 30, 0.95f); /* right, top 12 */
    fill_rect(m, 200, 10, 10, 100, 30, 0.95f);  /* left, top 10 */
    fill_rect(m, 200, 10, 60, 60, 80, 0.95f);   /* the L */
    fill_rect(m, 200, 60, 80, 70, 90, 0.95f);
    fill_rect(m, 200, 100, 60, 150, 80, 0.95f); /* below */
    text_det_ws *ws = text_det_ws_create();
    text_det_options o = TEXT_DET_OPTIONS_DEFAULT;
    text_box b[8];
    int n = -1;
    assert_int_equal(text_det_decode(ws, m, 100, 200, &o, b, 8, &n), TASK_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_int_equal(text_box_place(&b[i], 200, 100, 200, 100), 0);
    text_boxes_sort(b, n);
    assert_true(b[0].pts[0][0] < 10 && b[0].pts[0][1] < 10);  /* left */
    assert_true(b[1].pts[0][0] > 100 && b[1].pts[0][1] < 15); /* right: same line */
    assert_true(b[2].pts[0][0] > 80 && b[2].pts[0][1] > 40);  /* below */
    /* max_out caps the boxes; max_candidates the regions */
    assert_int_equal(text_det_decode(ws, m, 100, 200, &o, b, 2, &n), TASK_OK);
    assert_int_equal(n, 2);
    o.max_candidates = 1;
    assert_int_equal(text_det_decode(ws, m, 100, 200, &o, b, 8, &n), TASK_OK);
    assert_int_equal(n, 1);
    text_det_ws_destroy(ws);
    free(m);
}

static void test_place_drops_small(void **state)
{
    (void)state;
    text_box b = {{{0, 0}, {10, 0}, {10, 3}, {0, 3}}, 0.9f};
    assert_int_equal(text_box_place(&b, 100, 100, 100, 100), -1); /* 3 px high */
    text_box c = {{{-5, -5}, {50, -5}, {50, 20}, {-5, 20}}, 0.9f};
    assert_int_equal(text_box_place(&c, 100, 100, 40, 40), 0); /* clipped to the picture */
    assert_float_equal(c.pts[0][0], 0, 0);
    assert_float_equal(c.pts[1][0], 20, 0);
    assert_float_equal(c.pts[2][1], 8, 0);
}

static void test_invalid(void **state)
{
    (void)state;
    float m[4] = {0};
    text_det_ws *ws = text_det_ws_create();
    text_det_options o = TEXT_DET_OPTIONS_DEFAULT;
    text_box b[1];
    int n = 5;
    assert_int_equal(text_det_decode(ws, m, 0, 4, &o, b, 1, &n), TASK_ERR_INVALID);
    assert_int_equal(n, 0);
    assert_int_equal(text_det_decode(ws, NULL, 2, 2, &o, b, 1, &n), TASK_ERR_INVALID);
    o.threshold = 1.5f;
    assert_int_equal(text_det_decode(ws, m, 2, 2, &o, b, 1, &n), TASK_ERR_INVALID);
    assert_true(strlen(task_last_error()) > 0);
    text_det_ws_destroy(ws);
    int ids[2];
    float s;
    assert_int_equal(text_ctc_decode(m, 2, 1, ids, &n, &s), TASK_ERR_INVALID);
    assert_int_equal(text_ctc_decode(NULL, 2, 2, ids, &n, &s), TASK_ERR_INVALID);
}

static void test_ctc(void **state)
{
    (void)state;
    /* classes: 0 blank, 1 'a', 2 'b'; steps: a a _ a b b _ -> a a b */
    const float p[7][3] = {{0.1f, 0.8f, 0.1f}, {0.2f, 0.7f, 0.1f}, {0.9f, 0.05f, 0.05f},
                           {0.3f, 0.6f, 0.1f}, {0.1f, 0.1f, 0.8f}, {0.0f, 0.0f, 1.0f},
                           {1.0f, 0.0f, 0.0f}};
    int ids[7], n = -1;
    float s = -1;
    assert_int_equal(text_ctc_decode(&p[0][0], 7, 3, ids, &n, &s), TASK_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], 2);
    assert_float_equal(s, (0.8f + 0.6f + 0.8f) / 3, 1e-6); /* the first of each run */
    /* logits: the score is the softmax of the kept steps */
    const float l[2][3] = {{0, 2, 0}, {5, 0, 0}};
    assert_int_equal(text_ctc_decode(&l[0][0], 2, 3, ids, &n, &s), TASK_OK);
    assert_int_equal(n, 1);
    assert_float_equal(s, expf(2) / (expf(2) + 2), 1e-6);
    /* all blank: empty, score 0 */
    assert_int_equal(text_ctc_decode(&p[6][0], 1, 3, ids, &n, &s), TASK_OK);
    assert_int_equal(n, 0);
    assert_float_equal(s, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upright),
        cmocka_unit_test(test_rotated),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_many_and_order),
        cmocka_unit_test(test_place_drops_small),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_ctc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
