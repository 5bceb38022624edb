/* Text (OCR) answers: a DB text detector's probability map -> text boxes, a
 * CTC recogniser's per-step class probabilities -> a string.
 *
 * Detection follows PaddleOCR's DBPostProcess (PP-OCR's detectors, any DB
 * head), on one [H, W] map:
 *   1. pixels with probability > threshold are text; 8-connected regions
 *      are found in raster order, at most max_candidates of them;
 *   2. each region's minimum-area rectangle (rotating calipers over the
 *      convex hull of its pixel centres, as OpenCV's minAreaRect over its
 *      contour): a shorter side under min_size drops it;
 *   3. its score is the mean probability over the rectangle's pixels (those
 *      inside or on it); under box_threshold drops it;
 *   4. the rectangle is grown by d = area * unclip_ratio / perimeter on
 *      every side (DB's unclip: the corners truncated to whole pixels, as
 *      pyclipper takes them; the minimum-area rectangle of a polygon offset
 *      with round joins is its own grown by d); a shorter side under
 *      min_size + 2 drops it.
 * Boxes are four corners in map pixels: top-left, top-right, bottom-right,
 * bottom-left (PaddleOCR's get_mini_boxes order). text_box_place maps one
 * to the picture and applies PaddleOCR's final filter; text_boxes_sort
 * orders them as PaddleOCR reads them (top to bottom, left to right within
 * 10 pixels). Regions with holes are taken by their outer border only
 * (OpenCV's RETR_LIST would also try each hole; on DB maps holes score
 * under box_threshold).
 *
 * Recognition is CTC's greedy decoding (PaddleOCR's CTCLabelDecode): the best
 * class per step, repeats collapsed, blanks (class 0) dropped; the score is
 * the mean best probability of the steps kept (0 for an empty string).
 *
 * Memory: a text_det_ws holds the per-pixel buffers, grown to the largest
 * map seen; with one, text_det_decode allocates only when a map is larger.
 * Thread-safety: a workspace is used by one thread at a time; the rest is
 * reentrant. Cost: one pass over the map plus work per region pixel.
 */
#ifndef GLINT_TASKS_TEXT_H
#define GLINT_TASKS_TEXT_H

#include "tasks/task_status.h"

/* Largest map side accepted (a detector's input side, at most). */
#define TEXT_MAX_SIDE 16384

typedef struct text_det_options {
    float threshold;     /* probability over which a pixel is text (0.3) */
    float box_threshold; /* least mean probability of a kept box (0.6) */
    float unclip_ratio;  /* growth: area * ratio / perimeter (1.5) */
    int max_candidates;  /* regions considered, at most (1000) */
    int min_size;        /* least shorter side, map pixels (3) */
} text_det_options;

/* PaddleOCR's DBPostProcess defaults. */
#define TEXT_DET_OPTIONS_DEFAULT ((text_det_options){0.3f, 0.6f, 1.5f, 1000, 3})

typedef struct text_box {
    float pts[4][2]; /* x, y of top-left, top-right, bottom-right, bottom-left */
    float score;     /* mean probability over the region's rectangle */
} text_box;

typedef struct text_det_ws text_det_ws;

/* A workspace; NULL if out of memory. */
text_det_ws *text_det_ws_create(void);
void text_det_ws_destroy(text_det_ws *ws);

/* Decodes the h x w map `prob` (row-major) into at most max_out boxes in
 * out (map pixels), their count in *n. TASK_ERR_INVALID for bad dims or
 * options, TASK_ERR_NOMEM if the workspace cannot grow. A NaN probability
 * is not text. */
task_status text_det_decode(text_det_ws *ws, const float *prob, int h, int w,
                            const text_det_options *opt, text_box *out, int max_out, int *n);

/* PaddleOCR's last step on one box of a map_w x map_h map: corners scaled
 * into a dest_w x dest_h picture (x / map_w * dest_w), rounded to whole
 * pixels (half to even) and clipped to it; 0 if the box is kept, -1 if a
 * side is 3 pixels or less. */
int text_box_place(text_box *b, int map_w, int map_h, int dest_w, int dest_h);

/* Sorts boxes as PaddleOCR's sorted_boxes: by the top-left corner's y, then
 * x; neighbours whose top-left y differ by under 10 read left to right. */
void text_boxes_sort(text_box *b, int n);

/* Greedy CTC over `steps` rows of `classes` probabilities (row-major): the
 * kept class ids (1..classes-1) in ids (room for `steps`), their count in
 * *n, the mean probability of the kept steps in *score. Rows that are not
 * probabilities (logits: a negative value or a sum off 1 by more than
 * 1e-3) are softmaxed for the score. TASK_ERR_INVALID for bad dims. */
task_status text_ctc_decode(const float *probs, int steps, int classes, int *ids, int *n,
                            float *score);

#endif
