/* The edge config of glint's Groundlight-compatible endpoint: which
 * detectors exist, which model answers each, and when to escalate.
 *
 * The file is the original edge endpoint's YAML (or the same document as
 * JSON, which PUT /edge-config sends and glint writes back):
 *
 *   global_config:
 *     refresh_rate: 60              model files are checked this often (s)
 *     confident_audit_rate: 1e-5    share of confident answers escalated
 *     upstream_endpoint: http://..  (glint) the service escalations go to
 *     upstream_api_token: ...       (glint) its x-api-token
 *     outbox_max_pending: 10000     (glint) undelivered escalations before 503
 *     outbox_retention_s: 604800    (glint) delivered escalations kept this long
 *     model_updates: true           (glint) pull detectors' models from the upstream
 *     model_download_rate: 0        (glint) bytes/s a model download may use (0: any)
 *     rollback_window_s: 600        (glint) a pulled version is watched this long
 *     rollback_min_requests: 100    (glint)   after this many requests, and rolled
 *     rollback_error_margin: 0.05   (glint)   back when its error share exceeds the
 *     rollback_latency_margin: 1.0  (glint)   previous one's + this, or its run time
 *                                             the previous one's x (1 + this)
 *     calibration_samples: 200      (glint) query images kept per calibrating detector
 *     calibration_min_samples: 32   (glint)   needed to calibrate a new version
 *     calibration_max_bytes: 256 MB (glint)   their bytes at most
 *     calibration_sample_interval_s: 1  (glint) at most one image kept this often
 *     calibration_retention_s: 604800   (glint) an image is kept this long at most
 *   edge_inference_configs:         presets; the four standard ones exist
 *     <name>: {enabled, api_token, always_return_edge_prediction,
 *              disable_cloud_escalation, min_time_between_escalations}
 *   detectors:
 *     - detector_id: det_<27 letters/digits>
 *       edge_inference_config: <preset>
 *       model: <model folder>       (glint) the model of the repository
 *       name, query                 shown in the Detector JSON
 *       mode: BINARY | COUNT | MULTI_CLASS | BOUNDING_BOX
 *       confidence_threshold: 0.9   default of image queries (0..1)
 *       patience_time: 30           (s)
 *       class_name: X               detection models: the class that counts
 *                                   (BINARY, COUNT, BOUNDING_BOX; default any)
 *       box_score: 0.5              detection models: a box counts from this
 *                                   score (default the model's threshold)
 *       max_count: 10               COUNT (1..50)
 *       max_num_bboxes: 10          BOUNDING_BOX (1..50)
 *       calibrate_from_traffic: false  (glint) keep a sample of its query images
 *                                   and calibrate int8 for each pulled version
 *       oodd_model: <model folder>  (glint) its out-of-domain model: a classifier
 *                                   whose class 1 means "not this detector's kind
 *                                   of picture"; it weighs every answer's confidence
 *
 * Rules (as the original's, plus glint's keys): refresh_rate in (0, 86400];
 * confident_audit_rate in [0, 1]; min_time_between_escalations > 0;
 * disable_cloud_escalation needs always_return_edge_prediction; detector ids
 * unique and well formed; presets must exist; unknown keys are ignored. An
 * error names the field: "detectors[1].edge_inference_config: unknown
 * preset 'x'".
 *
 * Thread-safety: parsing is reentrant; a parsed edge_config is immutable
 * and may be read by any thread while a reference is held.
 */
#ifndef GLINT_SERVE_EDGE_CONFIG_H
#define GLINT_SERVE_EDGE_CONFIG_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#define EDGE_CONFIG_MAX_BYTES ((size_t)1 << 20)
#define EDGE_ID_MAX 64    /* detector ids, names of presets and models */
#define EDGE_TEXT_MAX 512 /* name, query */
#define EDGE_MAX_DETECTORS 1024
#define EDGE_MAX_PRESETS 64
#define EDGE_MAX_COUNT 50

typedef enum edge_mode {
    EDGE_MODE_BINARY,
    EDGE_MODE_COUNT,
    EDGE_MODE_MULTI_CLASS,
    EDGE_MODE_BOUNDING_BOX
} edge_mode;

typedef struct edge_preset {
    char name[EDGE_ID_MAX];
    int enabled;
    char api_token[EDGE_TEXT_MAX]; /* "" if none */
    int always_return;             /* always_return_edge_prediction */
    int disable_escalation;        /* disable_cloud_escalation */
    double min_time_between_escalations;
} edge_preset;

typedef struct edge_detector {
    char id[EDGE_ID_MAX];
    char model[EDGE_ID_MAX]; /* "" if the detector has no local model */
    char name[EDGE_TEXT_MAX];
    char query[EDGE_TEXT_MAX];
    edge_mode mode;
    double confidence_threshold;
    double patience_time;
    char class_name[EDGE_ID_MAX]; /* "" = any class */
    double box_score;             /* < 0: the model's score threshold */
    int max_count, max_num_bboxes;
    int calibrate_from_traffic;   /* keep a sample of its images; int8 for pulled versions */
    char oodd_model[EDGE_ID_MAX]; /* its out-of-domain model, "" if none */
    int preset;                   /* index into edge_config.presets */
} edge_detector;

typedef struct edge_config {
    atomic_int refs;
    double refresh_rate, confident_audit_rate;
    char upstream[EDGE_TEXT_MAX]; /* base URL, "" if none */
    char upstream_token[EDGE_TEXT_MAX];
    int outbox_max_pending;
    double outbox_retention_s;
    double model_download_rate; /* bytes/s, 0 unlimited */
    int model_updates;          /* pull models from the upstream */
    double rollback_window_s;   /* automatic rollback: the watch (0: none) */
    int rollback_min_requests;
    double rollback_error_margin, rollback_latency_margin;
    int calibration_samples, calibration_min_samples;
    double calibration_max_bytes, calibration_sample_interval_s, calibration_retention_s;
    edge_preset presets[EDGE_MAX_PRESETS];
    int n_presets;
    edge_detector *detectors;
    int n_detectors;
    json_t *doc; /* the document as given (GET /edge-config) */
} edge_config;

/* Parses and validates YAML (or JSON) text. Returns a config with one
 * reference (release with edge_config_release), or NULL with the message
 * in err. */
edge_config *edge_config_parse(const char *text, size_t len, char *err, size_t err_size);

/* Validates a JSON document (borrowed). Same contract as edge_config_parse. */
edge_config *edge_config_from_json(const json_t *doc, char *err, size_t err_size);

/* A config with the four standard presets and no detectors (one reference). */
edge_config *edge_config_default(void);

void edge_config_retain(edge_config *c);
void edge_config_release(edge_config *c);

/* The detector with id `id` (case-insensitive), or NULL. */
const edge_detector *edge_config_detector(const edge_config *c, const char *id);

const char *edge_mode_name(edge_mode m);

/* 1 if s is det_ + 27 letters or digits. */
int edge_detector_id_valid(const char *s);

#endif
