/* The JSON answer to one image: what `glint run` prints and `glint serve`
 * returns.
 *
 *   {"width": W, "height": H, "model": name, "task": "detect",
 *    "detections": [{"label": "dog", "class_id": 16, "score": 0.87,
 *                    "box": {"x1": .., "y1": .., "x2": .., "y2": ..}}, ...],
 *    "timings_ms": {"decode": .., "preprocess": .., "infer": .., "post": ..}}
 *
 * with "classes": [{"label", "class_id", "score"}, ...] instead of
 * "detections" for a classifier. A text detector (task "text_detect") gives
 * "detections" labelled "text", each with its four "points" (whole pixels,
 * clockwise from top-left; "box" bounds them) in reading order; a text
 * recogniser (task "text_recognize") gives "text" and "score" instead. W x H is the image's size in
 * its file; boxes are corners in its pixels (continuous, 0..W x 0..H), sorted by score; a box
 * wholly in the letterbox padding is left out. Scores are rounded to 6 decimals, corners to 0.01
 * px, timings to 1 us.
 *
 * Thread-safety: an answer_ws belongs to one thread at a time; the model_conf
 * it reads is shared read-only.
 */
#ifndef GLINT_MODEL_ANSWER_H
#define GLINT_MODEL_ANSWER_H

#include <jansson.h>
#include <stddef.h>

#include "glint/engine.h"
#include "model/model_conf.h"
#include "tasks/detect.h"
#include "vision/image.h"

/* What one answer may change of the model's settings (a request's query). */
typedef struct answer_params {
    detect_options detect; /* detect thresholds and limits */
    int top_k;             /* classify: classes per answer */
} answer_params;

/* Where the time of one image went, in ms; a negative entry is left out. */
typedef struct answer_timings {
    double decode, preprocess, queue, infer, post;
} answer_timings;

/* Scratch memory for answers of one model (NMS workspace, boxes, ranks). */
typedef struct answer_ws answer_ws;

/* The model's own answer settings. */
answer_params answer_params_of(const model_conf *c);

/* Creates scratch space for answers of at most max_det boxes / top_k classes
 * (grown on demand). NULL if out of memory. Free with answer_ws_destroy(). */
answer_ws *answer_ws_create(void);
void answer_ws_destroy(answer_ws *ws);

/* The "detections" or "classes" array (text_recognize: the {"text",
 * "score"} object) for image `b` of the outputs context
 * ctx just computed (model_conf c, transform tf from vision_prepare). Returns
 * a new reference, or NULL with a message in err. */
json_t *answer_items(answer_ws *ws, const model_conf *c, const answer_params *p,
                     const glint_context *ctx, int b, const vision_transform *tf, char *err,
                     size_t err_size);

/* The whole answer object around `items` (stolen; an object's members join
 * the answer's), led by "image": image
 * when that is not NULL. `t` may be NULL. Returns a new reference or NULL if
 * out of memory. */
json_t *answer_object(const model_conf *c, const char *image, const vision_transform *tf,
                      json_t *items, const answer_timings *t);

/* A JSON string of `s`; bytes that are not UTF-8 (a file name, a latin-1
 * label) become U+FFFD, since JSON text must be UTF-8. NULL if out of memory. */
json_t *answer_text(const char *s);

#endif
