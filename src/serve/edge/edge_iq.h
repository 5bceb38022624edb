/* Groundlight's JSON objects, built from glint's answers: the ImageQuery
 * (with its result per detector mode), the Detector, and their ids.
 *
 * An edge answer comes from the answer glint gives for the image (answer.h:
 * "detections" of a detection model, "classes" of a classifier) read by the
 * detector's mode:
 *   classifier, BINARY:      top class; label YES/PASS -> YES, NO/FAIL -> NO,
 *                            else class 0 = YES, 1 = NO; confidence = its
 *                            probability;
 *   classifier, MULTI_CLASS: top class's label and probability;
 *   classifier, COUNT:       top class's label read as the count;
 *   detections, BINARY:      YES if a box of class_name scores >= box_score
 *                            (confidence: the best such score), else NO
 *                            (confidence: 1 - the best score below it);
 *   detections, COUNT:       boxes of class_name >= box_score, clamped to
 *                            max_count (greater_than_max);
 *   detections, BOUNDING_BOX: those boxes as rois (at most max_num_bboxes,
 *                            else GREATER_THAN_MAX), NO_OBJECTS if none;
 *   COUNT and BOUNDING_BOX confidence: (lowest kept score, 1 if none) x
 *   (1 - highest dropped score), as the original computes it.
 *
 * Reentrant; ids use getrandom().
 */
#ifndef GLINT_SERVE_EDGE_IQ_H
#define GLINT_SERVE_EDGE_IQ_H

#include <jansson.h>
#include <stddef.h>

#include "serve/edge/edge_config.h"
#include "tasks/labels.h"

#define EDGE_IQ_ID_LEN 30 /* "iq_" + 27 */

/* An ImageQuery's fields. Strings and JSON values are borrowed. */
typedef struct edge_iq {
    const char *id;
    const char *created_at;
    const edge_detector *det;
    double confidence_threshold, patience_time;
    json_t *result;   /* NULL: null (async, not answered yet) */
    json_t *rois;     /* NULL: null */
    json_t *metadata; /* NULL: null */
    int done_processing;
} edge_iq;

/* Writes prefix + a 27-character KSUID (time-ordered, 128 random bits) and
 * a NUL into out (at least strlen(prefix) + 28 bytes). */
void edge_new_id(const char *prefix, char *out);

/* The current UTC time as ISO-8601 with microseconds into out (>= 40). */
void edge_now_iso(char *out, size_t size);

/* The Groundlight result_type of a mode. */
const char *edge_result_type(edge_mode m);

/* Reads glint's answer (answer.h object, borrowed) as detector d's result.
 * box_score is the score from which a box counts (d->box_score or the
 * model's). Sets *result (new reference: confidence, source ALGORITHM,
 * result_type, from_edge true, mode fields), *rois (new reference or NULL)
 * and *confidence. Returns 0, or -1 with a message (the model cannot answer
 * this mode). */
int edge_result_from_answer(const edge_detector *d, double box_score, const json_t *answer,
                            json_t **result, json_t **rois, double *confidence, char *err,
                            size_t err_size);

/* The ImageQuery JSON (new reference, NULL if out of memory). */
json_t *edge_iq_json(const edge_iq *q);

/* The Detector JSON of d (new reference); labels: the class names of the
 * model answering it (a MULTI_CLASS detector's mode_configuration), or NULL. */
json_t *edge_detector_json(const edge_detector *d, const task_labels *labels,
                           const char *created_at);

/* 1 if s looks like an image query id a client may choose: iq_ followed by
 * 1..60 letters, digits or '_'. */
int edge_iq_id_valid(const char *s);

#endif
