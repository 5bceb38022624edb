/* Object-detection answers: YOLO output tensor -> boxes in original-image
 * pixels.
 *
 * Two output layouts are decoded (per image of a [B, ...] batch):
 *   DETECT_LAYOUT_V8  [B, 4+C, N]  YOLOv8/v11: rows cx, cy, w, h, then C
 *                     class scores (already sigmoid-ed, no objectness);
 *                     channel-major: element (c, n) at c*N + n.
 *   DETECT_LAYOUT_V5  [B, N, 5+C]  YOLOv5: per box cx, cy, w, h, objectness,
 *                     C class probabilities; score = objectness * class.
 *   DETECT_LAYOUT_E2E [B, N, 6]    end-to-end heads that select their own
 *                     boxes (YOLOv10's export, max_det rows): per box
 *                     x1, y1, x2, y2, score, class id (a float); no NMS,
 *                     only the score threshold and max_det apply. The class
 *                     count is not in the dims (num_classes is 1; ids come
 *                     from the output, 0..DETECT_MAX_CLASSES-1).
 *   DETECT_LAYOUT_DETR [B, N, 4+C] DETR-style heads (RT-DETR's export): per
 *                     query cx, cy, w, h as fractions of the input (the
 *                     shape's input_width/height scale them), then C class
 *                     scores (sigmoid-ed); the best class is the answer, no
 *                     NMS (the queries are one box each), only the score
 *                     threshold and max_det apply.
 * Coordinates are model-input pixels (e.g. 0..640).
 *
 * One call (detect_decode) does, for one image:
 *   1. per box, the best class and its score (ties: lower class id; a NaN
 *      score is never the best);
 *   2. keeps boxes with score > score_threshold (V5: objectness must pass
 *      too, as in YOLOv5) whose score and coordinates are finite: a box with
 *      an infinite best score or a NaN/inf coordinate is dropped, so no NaN
 *      reaches an answer;
 *   3. greedy NMS over at most max_nms best candidates, in (score desc, box
 *      index asc) order: a candidate is dropped if its IoU with an already
 *      kept box (of the same class, unless agnostic) is > iou_threshold;
 *      stops at max_det kept boxes;
 *   4. maps the kept boxes through the letterbox to original-image pixels
 *      and clips them to the image.
 * Results come sorted by score descending (ties: lower box index first).
 * Cost: step 1 on V8 sweeps the class rows contiguously for the per-box
 * maximum and looks the class up only for boxes that pass; a [1, 84, 8400]
 * output decodes in ~0.1 ms on one core. Per-class NMS compares a candidate
 * only with kept boxes of its class. A pathological output (every box over
 * the threshold) is bounded by max_nms and max_det: ~0.5-1 ms for 8400.
 *
 * Memory: a detect_workspace holds every buffer a call needs, sized once for
 * the largest output; with one, detect_decode allocates nothing. Results go
 * to a caller array.
 * Thread-safety: a workspace is used by one thread at a time; everything
 * else is reentrant.
 */
#ifndef GLINT_TASKS_DETECT_H
#define GLINT_TASKS_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "tasks/task_status.h"

/* Largest box count N and class count C accepted anywhere. */
#define DETECT_MAX_BOXES (1 << 20)
#define DETECT_MAX_CLASSES (1 << 16)
#define DETECT_MAX_BATCH (1 << 16)

typedef enum detect_layout {
    DETECT_LAYOUT_AUTO = 0, /* only for detect_shape_from_dims: guess from dims */
    DETECT_LAYOUT_V8,
    DETECT_LAYOUT_V5,
    DETECT_LAYOUT_E2E,  /* [B, N, 6]: x1, y1, x2, y2, score, class (NMS-free heads) */
    DETECT_LAYOUT_DETR, /* [B, N, 4+C]: cx, cy, w, h as input fractions, C scores; no NMS */
    /* three outputs, batch 1: boxes [N, 4] (x1, y1, x2, y2), scores [N], labels [N]:
     * torchvision's detectors exported with their post-processing (NMS done in the
     * graph); read by the answer layer (model/answer.c), not by detect_decode */
    DETECT_LAYOUT_BOXES,
} detect_layout;

/* What one output tensor holds. */
typedef struct detect_shape {
    detect_layout layout; /* V8 or V5 */
    int batch;            /* B */
    int num_boxes;        /* N */
    int num_classes;      /* C */
    /* DETR: the input's size in pixels, which the box fractions scale to
     * (detect_shape_from_dims leaves them 0: the caller sets them) */
    int input_width, input_height;
} detect_shape;

/* The letterbox that produced the model input from the original image:
 * model_x = orig_x * scale + pad_x, model_y = orig_y * scale + pad_y.
 * The vision layer fills the same numbers. E.g. 768x576 into 640x640:
 * scale = 640/768, pad_x = 0, pad_y = 80. */
typedef struct task_letterbox {
    float scale; /* > 0 */
    float pad_x;
    float pad_y;
    int orig_w; /* original image size in pixels, > 0: boxes are clipped to it */
    int orig_h;
} task_letterbox;

typedef struct detect_options {
    float score_threshold; /* keep score > this; >= 0. Default 0.25 */
    float iou_threshold;   /* suppress IoU > this; 0..1. Default 0.7 (Ultralytics) */
    int max_det;           /* most boxes returned; >= 1. Default 300 */
    int max_nms;           /* most candidates entering NMS, best first; >= 1. Default 30000 */
    int agnostic;          /* 0: NMS within each class (default); 1: across classes */
} detect_options;

/* The defaults above, as an initializer. */
/* clang-format off */
#define DETECT_OPTIONS_DEFAULT {0.25f, 0.7f, 300, 30000, 0}
/* clang-format on */

/* One answer: corners in original-image pixels (model-input pixels if no
 * letterbox was given), x1 <= x2 and y1 <= y2 for well-formed outputs. */
typedef struct detect_box {
    float x1, y1, x2, y2;
    float score;
    int class_id;
} detect_box;

typedef struct detect_workspace detect_workspace;

/* Reads the layout and sizes from an output's dims: [B, A, D] or [A, D]
 * (batch 1). With DETECT_LAYOUT_AUTO, A < D means V8 ([1, 84, 8400]), D = 6
 * with at most 1000 rows E2E ([1, 300, 6]: a one-class YOLOv5 has thousands
 * of anchors), otherwise V5 ([1, 25200, 85]); a model with more classes than
 * boxes must name its layout. Errors: TASK_ERR_INVALID for other ranks, too few
 * channels, or sizes over the DETECT_MAX_* limits. */
task_status detect_shape_from_dims(const int64_t *dims, int ndim, detect_layout layout,
                                   detect_shape *out);

/* Floats per image in the tensor: image b starts at data + b * this. */
size_t detect_image_floats(const detect_shape *s);

/* Allocates buffers for outputs of up to max_boxes boxes and max_classes
 * classes (1..DETECT_MAX_*). On success *out owns them: free with
 * detect_workspace_destroy(). About 16 bytes per box and 4 per class. */
task_status detect_workspace_create(int max_boxes, int max_classes, detect_workspace **out);
/* Accepts NULL. */
void detect_workspace_destroy(detect_workspace *ws);

/* Decodes one image's output `image` (detect_image_floats(shape) floats)
 * into out[0..capacity), see the steps above; *n_out receives the count,
 * at most min(opt->max_det, capacity).
 * ws: a workspace at least as large as the shape, or NULL to allocate one
 * for this call. opt: NULL for the defaults. lb: NULL to leave boxes in
 * model-input pixels, unclipped.
 * Errors: TASK_ERR_INVALID (NULL image/out/n_out/shape, bad options or
 * letterbox, a shape larger than ws), TASK_ERR_NOMEM (ws NULL and no memory).
 * On error *n_out is 0. */
task_status detect_decode(detect_workspace *ws, const detect_shape *shape, const float *image,
                          const detect_options *opt, const task_letterbox *lb, detect_box *out,
                          int capacity, int *n_out);

/* Intersection over union of two boxes given as {x1, y1, x2, y2}. A box with
 * x2 < x1 or y2 < y1 has area 0; two empty boxes have IoU 0. This is the
 * exact function NMS uses. */
float detect_iou(const float a[4], const float b[4]);

#endif
