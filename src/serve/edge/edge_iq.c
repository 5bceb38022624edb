/* Groundlight JSON objects from glint answers (see edge_iq.h). */
#include "serve/edge/edge_iq.h"

#include "serve/core/errmsg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define KSUID_EPOCH 1400000000u /* KSUID's: 2014-05-13 */

void edge_new_id(const char *prefix, char *out)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t raw[20];
    uint32_t t = (uint32_t)time(NULL) - KSUID_EPOCH;
    raw[0] = (uint8_t)(t >> 24), raw[1] = (uint8_t)(t >> 16), raw[2] = (uint8_t)(t >> 8);
    raw[3] = (uint8_t)t;
    if (getrandom(raw + 4, 16, 0) != 16) { /* never short for 16 bytes; a fallback anyway */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)(uintptr_t)out;
        for (int i = 4; i < 20; i++, x = x * 6364136223846793005u + 1442695040888963407u)
            raw[i] = (uint8_t)(x >> 56);
    }
    /* 160-bit big-endian number -> 27 base-62 digits (long division) */
    char digits[27];
    for (int d = 26; d >= 0; d--) {
        uint32_t rem = 0;
        for (int i = 0; i < 20; i++) {
            uint32_t acc = rem << 8 | raw[i];
            raw[i] = (uint8_t)(acc / 62);
            rem = acc % 62;
        }
        digits[d] = b62[rem];
    }
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    memcpy(out + n, digits, 27);
    out[n + 27] = 0;
}

void edge_now_iso(char *out, size_t size)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%06ld+00:00", date, ts.tv_nsec / 1000);
}

const char *edge_result_type(edge_mode m)
{
    static const char *const names[] = {"binary_classification", "counting", "multi_classification",
                                        "bounding_box"};
    return names[m];
}

int edge_iq_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 4 || n > 63 || strncmp(s, "iq_", 3)) return 0;
    for (const char *p = s + 3; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '_'))
            return 0;
    return 1;
}

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Confidences are reported to 6 decimals like glint's scores. */
static double conf_round(double v)
{
    return round(clamp01(v) * 1e6) / 1e6;
}

/* YES/NO of a classifier's top class. */
static const char *binary_label(const char *label, json_int_t class_id)
{
    if (!strcasecmp(label, "YES") || !strcasecmp(label, "PASS")) return "YES";
    if (!strcasecmp(label, "NO") || !strcasecmp(label, "FAIL")) return "NO";
    return class_id == 0 ? "YES" : class_id == 1 ? "NO" : "UNCLEAR";
}

static int from_classes(const edge_detector *d, const json_t *classes, json_t *r, double *conf,
                        char *err, size_t err_size)
{
    const json_t *top = json_array_get(classes, 0);
    const char *label = json_string_value(json_object_get(top, "label"));
    if (!label) return errmsg_set(err, err_size, "the classifier gave no class");
    *conf = json_number_value(json_object_get(top, "score"));
    json_int_t id = json_integer_value(json_object_get(top, "class_id"));
    switch (d->mode) {
    case EDGE_MODE_BINARY:
        return json_object_set_new(r, "label", json_string(binary_label(label, id)));
    case EDGE_MODE_MULTI_CLASS:
        return json_object_set_new(r, "label", json_string(label));
    case EDGE_MODE_COUNT: {
        char *end;
        long n = strtol(label, &end, 10);
        if (*end || end == label || n < 0)
            return errmsg_set(err, err_size,
                              "COUNT on a classifier needs labels that are counts, "
                              "got '%.40s'",
                              label);
        int over = n > d->max_count;
        return json_object_set_new(r, "count", json_integer(over ? d->max_count : n)) ||
               json_object_set_new(r, "greater_than_max", json_boolean(over));
    }
    default:
        return errmsg_set(err, err_size, "mode BOUNDING_BOX needs a detection model");
    }
}

/* A Groundlight ROI of box b in an image of w x h pixels. */
static json_t *roi_json(const json_t *b, double w, double h)
{
    const json_t *box = json_object_get(b, "box");
    double l = json_number_value(json_object_get(box, "x1")) / w;
    double t = json_number_value(json_object_get(box, "y1")) / h;
    double rr = json_number_value(json_object_get(box, "x2")) / w;
    double bt = json_number_value(json_object_get(box, "y2")) / h;
    return json_pack("{s:O, s:f, s:{s:f, s:f, s:f, s:f, s:f, s:f}}", "label",
                     json_object_get(b, "label"), "score",
                     json_number_value(json_object_get(b, "score")), "geometry", "left", clamp01(l),
                     "top", clamp01(t), "right", clamp01(rr), "bottom", clamp01(bt), "x",
                     clamp01((l + rr) / 2), "y", clamp01((t + bt) / 2));
}

static int from_detections(const edge_detector *d, double box_score, const json_t *answer,
                           json_t *r, json_t **rois, double *conf, char *err, size_t err_size)
{
    if (d->mode == EDGE_MODE_MULTI_CLASS)
        return errmsg_set(err, err_size, "mode MULTI_CLASS needs a classifier model");
    const json_t *dets = json_object_get(answer, "detections");
    double w = (double)json_integer_value(json_object_get(answer, "width"));
    double h = (double)json_integer_value(json_object_get(answer, "height"));
    if (!(w > 0 && h > 0)) return errmsg_set(err, err_size, "the answer has no image size");
    int kept = 0;
    double kept_min = 1, kept_max = 0, dropped_max = 0;
    size_t i;
    const json_t *b;
    json_array_foreach(dets, i, b)
    {
        const char *label = json_string_value(json_object_get(b, "label"));
        if (d->class_name[0] && (!label || strcmp(label, d->class_name))) continue;
        double s = json_number_value(json_object_get(b, "score"));
        if (s < box_score) {
            dropped_max = s > dropped_max ? s : dropped_max;
            continue;
        }
        kept++;
        kept_min = s < kept_min ? s : kept_min;
        kept_max = s > kept_max ? s : kept_max;
        if (d->mode == EDGE_MODE_BOUNDING_BOX && kept <= d->max_num_bboxes) {
            if (!*rois && !(*rois = json_array())) return -1;
            if (json_array_append_new(*rois, roi_json(b, w, h))) return -1;
        }
    }
    *conf = (kept ? kept_min : 1) * (1 - dropped_max);
    if (d->mode == EDGE_MODE_BINARY) {
        *conf = kept ? kept_max : 1 - dropped_max;
        return json_object_set_new(r, "label", json_string(kept ? "YES" : "NO"));
    }
    if (d->mode == EDGE_MODE_COUNT) {
        int over = kept > d->max_count;
        return json_object_set_new(r, "count", json_integer(over ? d->max_count : kept)) ||
               json_object_set_new(r, "greater_than_max", json_boolean(over));
    }
    const char *label = !kept                      ? "NO_OBJECTS"
                        : kept > d->max_num_bboxes ? "GREATER_THAN_MAX"
                                                   : "BOUNDING_BOX";
    return json_object_set_new(r, "label", json_string(label));
}

int edge_result_from_answer(const edge_detector *d, double box_score, const json_t *answer,
                            json_t **result, json_t **rois, double *confidence, char *err,
                            size_t err_size)
{
    *result = *rois = NULL;
    *confidence = 0;
    json_t *r = json_object();
    if (!r) return errmsg_set(err, err_size, "out of memory");
    if (err && err_size) err[0] = 0;
    const json_t *classes = json_object_get(answer, "classes");
    int rc = classes ? from_classes(d, classes, r, confidence, err, err_size)
                     : from_detections(d, box_score, answer, r, rois, confidence, err, err_size);
    *confidence = conf_round(*confidence);
    if (!rc)
        rc = json_object_set_new(r, "confidence", json_real(*confidence)) ||
             json_object_set_new(r, "source", json_string("ALGORITHM")) ||
             json_object_set_new(r, "result_type", json_string(edge_result_type(d->mode))) ||
             json_object_set_new(r, "from_edge", json_true());
    if (rc) {
        if (err && !err[0]) errmsg_set(err, err_size, "out of memory");
        json_decref(r);
        json_decref(*rois);
        *rois = NULL;
        return -1;
    }
    *result = r;
    return 0;
}

static json_t *or_null(json_t *j)
{
    return j ? json_incref(j) : json_null();
}

json_t *edge_iq_json(const edge_iq *q)
{
    return json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:f, s:f, s:o, s:n, s:b}",
                     "metadata", or_null(q->metadata), "id", q->id, "type", "image_query",
                     "created_at", q->created_at, "query", q->det->query, "detector_id", q->det->id,
                     "result_type", edge_result_type(q->det->mode), "result", or_null(q->result),
                     "patience_time", q->patience_time, "confidence_threshold",
                     q->confidence_threshold, "rois", or_null(q->rois), "text", "done_processing",
                     q->done_processing);
}

/* Detector.mode_configuration for d's mode (a new reference or null);
 * labels: its model's class names, for MULTI_CLASS. */
static json_t *mode_configuration(const edge_detector *d, const task_labels *labels)
{
    const char *cls = d->class_name[0] ? d->class_name : NULL;
    switch (d->mode) {
    case EDGE_MODE_COUNT:
        return json_pack("{s:s?, s:i}", "class_name", cls, "max_count", d->max_count);
    case EDGE_MODE_BOUNDING_BOX:
        return json_pack("{s:s?, s:i}", "class_name", cls, "max_num_bboxes", d->max_num_bboxes);
    case EDGE_MODE_MULTI_CLASS: {
        int n = task_labels_count(labels);
        if (n <= 0) return json_null();
        json_t *names = json_array();
        for (int i = 0; i < n; i++) {
            char buf[TASK_LABELS_NUM_BUF];
            json_array_append_new(names, json_string(task_labels_name(labels, i, buf, sizeof buf)));
        }
        return json_pack("{s:o, s:i}", "class_names", names, "num_classes", n);
    }
    default:
        return json_null();
    }
}

json_t *edge_detector_json(const edge_detector *d, const task_labels *labels,
                           const char *created_at)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:n, s:s, s:o, s:s, s:s}", "id",
                     d->id, "type", "detector", "created_at", created_at, "name", d->name, "query",
                     d->query, "group_name", "glint", "confidence_threshold",
                     d->confidence_threshold, "patience_time", d->patience_time, "metadata", "mode",
                     edge_mode_name(d->mode), "mode_configuration", mode_configuration(d, labels),
                     "status", "ON", "escalation_type", "STANDARD");
}
