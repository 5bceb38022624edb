/* The edge config (see edge_config.h): YAML -> JSON document -> validated
 * struct. One validator serves the file and PUT /edge-config. */
#include "serve/edge/edge_config.h"

#include "serve/core/errmsg.h"
#include "serve/core/yaml_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- validation ---- */

/* Where a check is: "detectors[1]" etc., for messages. */
typedef struct vctx {
    const char *where;
    char *err;
    size_t err_size;
} vctx;

static int verr(const vctx *v, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int verr(const vctx *v, const char *key, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return errmsg_set(v->err, v->err_size, "%s%s%s: %s", v->where, v->where[0] ? "." : "", key,
                      msg);
}

/* Optional number in [lo, hi] (lo excluded when lo_open). */
static int get_num(const vctx *v, const json_t *o, const char *key, double lo, int lo_open,
                   double hi, double *out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return 0;
    if (!json_is_number(j)) return verr(v, key, "must be a number");
    double d = json_number_value(j);
    if (!(lo_open ? d > lo : d >= lo) || !(d <= hi))
        return verr(v, key, "%g is out of range %s%g, %g]", d, lo_open ? "(" : "[", lo, hi);
    *out = d;
    return 0;
}

static int get_int(const vctx *v, const json_t *o, const char *key, int lo, int hi, int *out)
{
    double d = *out;
    if (get_num(v, o, key, lo, 0, hi, &d)) return -1;
    if (d != floor(d)) return verr(v, key, "must be a whole number");
    *out = (int)d;
    return 0;
}

static int get_bool(const vctx *v, const json_t *o, const char *key, int *out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return 0;
    if (!json_is_boolean(j)) return verr(v, key, "must be true or false");
    *out = json_is_true(j);
    return 0;
}

static int get_str(const vctx *v, const json_t *o, const char *key, char *out, size_t size)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return 0;
    if (!json_is_string(j)) return verr(v, key, "must be a string");
    if (json_string_length(j) >= size) return verr(v, key, "longer than %zu bytes", size - 1);
    memcpy(out, json_string_value(j), json_string_length(j) + 1);
    return 0;
}

int edge_detector_id_valid(const char *s)
{
    if (strncmp(s, "det_", 4) || strlen(s) != 31) return 0;
    for (const char *p = s + 4; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

static const char *const MODE_NAMES[] = {"BINARY", "COUNT", "MULTI_CLASS", "BOUNDING_BOX"};

const char *edge_mode_name(edge_mode m)
{
    return MODE_NAMES[m];
}

static void preset_defaults(edge_preset *p, const char *name)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->enabled = 1;
    p->min_time_between_escalations = 2.0;
}

/* The four presets every config has (a file may redefine them). */
static void standard_presets(edge_config *c)
{
    static const char *const names[] = {"default", "edge_answers_with_escalation", "no_cloud",
                                        "disabled"};
    for (int i = 0; i < 4; i++)
        preset_defaults(&c->presets[i], names[i]);
    c->presets[1].always_return = 1;
    c->presets[2].always_return = c->presets[2].disable_escalation = 1;
    c->presets[3].enabled = 0;
    c->n_presets = 4;
}

static int preset_find(const edge_config *c, const char *name)
{
    for (int i = 0; i < c->n_presets; i++)
        if (!strcmp(c->presets[i].name, name)) return i;
    return -1;
}

static int parse_global(edge_config *c, const json_t *g, char *err, size_t err_size)
{
    vctx v = {"global_config", err, err_size};
    if (!g || json_is_null(g)) return 0;
    if (!json_is_object(g)) return errmsg_set(err, err_size, "global_config: must be a mapping");
    if (get_num(&v, g, "refresh_rate", 0, 1, 86400, &c->refresh_rate) ||
        get_num(&v, g, "confident_audit_rate", 0, 0, 1, &c->confident_audit_rate) ||
        get_str(&v, g, "upstream_endpoint", c->upstream, sizeof c->upstream) ||
        get_str(&v, g, "upstream_api_token", c->upstream_token, sizeof c->upstream_token) ||
        get_int(&v, g, "outbox_max_pending", 1, 10000000, &c->outbox_max_pending) ||
        get_num(&v, g, "outbox_retention_s", 0, 1, 365 * 86400.0, &c->outbox_retention_s) ||
        get_num(&v, g, "model_download_rate", 0, 0, 1e12, &c->model_download_rate) ||
        get_bool(&v, g, "model_updates", &c->model_updates) ||
        get_num(&v, g, "rollback_window_s", 0, 0, 86400 * 7, &c->rollback_window_s) ||
        get_int(&v, g, "rollback_min_requests", 1, 100000000, &c->rollback_min_requests) ||
        get_num(&v, g, "rollback_error_margin", 0, 0, 1, &c->rollback_error_margin) ||
        get_num(&v, g, "rollback_latency_margin", 0, 0, 1000, &c->rollback_latency_margin) ||
        get_int(&v, g, "calibration_samples", 2, 100000, &c->calibration_samples) ||
        get_int(&v, g, "calibration_min_samples", 2, 100000, &c->calibration_min_samples) ||
        get_num(&v, g, "calibration_max_bytes", 0, 1, 1e12, &c->calibration_max_bytes) ||
        get_num(&v, g, "calibration_sample_interval_s", 0, 0, 86400,
                &c->calibration_sample_interval_s) ||
        get_num(&v, g, "calibration_retention_s", 0, 1, 365 * 86400.0, &c->calibration_retention_s))
        return -1;
    if (c->upstream[0] && strncmp(c->upstream, "http://", 7) && strncmp(c->upstream, "https://", 8))
        return verr(&v, "upstream_endpoint", "'%s' is not an http:// or https:// URL", c->upstream);
    size_t n = strlen(c->upstream);
    while (n && c->upstream[n - 1] == '/') /* base URL: no trailing slash */
        c->upstream[--n] = 0;
    return 0;
}

static int parse_presets(edge_config *c, const json_t *ps, char *err, size_t err_size)
{
    if (!ps || json_is_null(ps)) return 0;
    if (!json_is_object(ps))
        return errmsg_set(err, err_size, "edge_inference_configs: must be a mapping of presets");
    const char *name;
    const json_t *p;
    json_object_foreach((json_t *)ps, name, p)
    {
        char where[EDGE_ID_MAX + 32];
        snprintf(where, sizeof where, "edge_inference_configs.%s", name);
        vctx v = {where, err, err_size};
        if (strlen(name) >= EDGE_ID_MAX || !name[0])
            return errmsg_set(err, err_size, "edge_inference_configs: bad preset name '%.64s'",
                              name);
        if (!json_is_object(p)) return errmsg_set(err, err_size, "%s: must be a mapping", where);
        int i = preset_find(c, name);
        if (i < 0) {
            if (c->n_presets == EDGE_MAX_PRESETS)
                return errmsg_set(err, err_size, "edge_inference_configs: more than %d presets",
                                  EDGE_MAX_PRESETS);
            i = c->n_presets++;
        }
        edge_preset *e = &c->presets[i];
        preset_defaults(e, name);
        if (get_bool(&v, p, "enabled", &e->enabled) ||
            get_str(&v, p, "api_token", e->api_token, sizeof e->api_token) ||
            get_bool(&v, p, "always_return_edge_prediction", &e->always_return) ||
            get_bool(&v, p, "disable_cloud_escalation", &e->disable_escalation) ||
            get_num(&v, p, "min_time_between_escalations", 0, 1, 1e9,
                    &e->min_time_between_escalations))
            return -1;
        if (e->disable_escalation && !e->always_return)
            return verr(&v, "disable_cloud_escalation",
                        "needs always_return_edge_prediction: true (an unconfident answer "
                        "must go somewhere)");
    }
    return 0;
}

static int get_mode(const vctx *v, const json_t *d, edge_mode *out)
{
    char s[32] = "";
    if (get_str(v, d, "mode", s, sizeof s)) return -1;
    if (!s[0]) return 0;
    for (int m = 0; m < 4; m++)
        if (!strcasecmp(s, MODE_NAMES[m])) {
            *out = (edge_mode)m;
            return 0;
        }
    return verr(v, "mode", "'%s' is not BINARY, COUNT, MULTI_CLASS or BOUNDING_BOX", s);
}

static int parse_detector(edge_config *c, int i, const json_t *d, char *err, size_t err_size)
{
    char where[32];
    snprintf(where, sizeof where, "detectors[%d]", i);
    vctx v = {where, err, err_size};
    if (!json_is_object(d)) return errmsg_set(err, err_size, "%s: must be a mapping", where);
    edge_detector *e = &c->detectors[i];
    memset(e, 0, sizeof *e);
    e->confidence_threshold = 0.9;
    e->patience_time = 30;
    e->box_score = -1;
    e->max_count = 10;
    e->max_num_bboxes = 10;
    char preset[EDGE_ID_MAX] = "default";
    if (!json_object_get(d, "detector_id")) return verr(&v, "detector_id", "missing");
    if (get_str(&v, d, "detector_id", e->id, sizeof e->id) ||
        get_str(&v, d, "edge_inference_config", preset, sizeof preset) ||
        get_str(&v, d, "model", e->model, sizeof e->model) ||
        get_str(&v, d, "name", e->name, sizeof e->name) ||
        get_str(&v, d, "query", e->query, sizeof e->query) || get_mode(&v, d, &e->mode) ||
        get_num(&v, d, "confidence_threshold", 0, 0, 1, &e->confidence_threshold) ||
        get_num(&v, d, "patience_time", 0, 0, 3600, &e->patience_time) ||
        get_str(&v, d, "class_name", e->class_name, sizeof e->class_name) ||
        get_num(&v, d, "box_score", 0, 0, 1, &e->box_score) ||
        get_int(&v, d, "max_count", 1, EDGE_MAX_COUNT, &e->max_count) ||
        get_int(&v, d, "max_num_bboxes", 1, EDGE_MAX_COUNT, &e->max_num_bboxes) ||
        get_bool(&v, d, "calibrate_from_traffic", &e->calibrate_from_traffic) ||
        get_str(&v, d, "oodd_model", e->oodd_model, sizeof e->oodd_model))
        return -1;
    if (!edge_detector_id_valid(e->id))
        return verr(&v, "detector_id", "'%s' is not det_ followed by 27 letters or digits", e->id);
    if ((e->preset = preset_find(c, preset)) < 0)
        return verr(&v, "edge_inference_config", "unknown preset '%s'", preset);
    for (int k = 0; k < i; k++)
        if (!strcasecmp(c->detectors[k].id, e->id))
            return verr(&v, "detector_id", "'%s' is also detectors[%d]", e->id, k);
    if (!e->name[0]) snprintf(e->name, sizeof e->name, "%s", e->id);
    return 0;
}

edge_config *edge_config_from_json(const json_t *doc, char *err, size_t err_size)
{
    if (err && err_size) err[0] = 0;
    if (!json_is_object(doc)) {
        errmsg_set(err, err_size, "the edge config must be a mapping");
        return NULL;
    }
    edge_config *c = edge_config_default();
    if (!c) {
        errmsg_set(err, err_size, "out of memory");
        return NULL;
    }
    if (parse_global(c, json_object_get(doc, "global_config"), err, err_size) ||
        parse_presets(c, json_object_get(doc, "edge_inference_configs"), err, err_size))
        goto fail;
    const json_t *ds = json_object_get(doc, "detectors");
    if (ds && !json_is_null(ds)) {
        if (!json_is_array(ds)) {
            errmsg_set(err, err_size, "detectors: must be a list");
            goto fail;
        }
        size_t n = json_array_size(ds);
        if (n > EDGE_MAX_DETECTORS) {
            errmsg_set(err, err_size, "detectors: more than %d", EDGE_MAX_DETECTORS);
            goto fail;
        }
        if (n && !(c->detectors = calloc(n, sizeof *c->detectors))) {
            errmsg_set(err, err_size, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            if (parse_detector(c, (int)i, json_array_get(ds, i), err, err_size)) goto fail;
        c->n_detectors = (int)n;
    }
    json_decref(c->doc);
    c->doc = json_deep_copy(doc);
    if (c->doc) return c;
    errmsg_set(err, err_size, "out of memory");
fail:
    edge_config_release(c);
    return NULL;
}

edge_config *edge_config_parse(const char *text, size_t len, char *err, size_t err_size)
{
    if (err && err_size) err[0] = 0;
    if (len > EDGE_CONFIG_MAX_BYTES) {
        errmsg_set(err, err_size, "larger than %zu bytes", EDGE_CONFIG_MAX_BYTES);
        return NULL;
    }
    json_t *doc = yaml_to_json(text, len, err, err_size);
    if (!doc) return NULL;
    edge_config *c = edge_config_from_json(doc, err, err_size);
    json_decref(doc);
    return c;
}

edge_config *edge_config_default(void)
{
    edge_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    c->refresh_rate = 60;
    c->model_updates = 1;
    c->rollback_window_s = 600;
    c->rollback_min_requests = 100;
    c->rollback_error_margin = 0.05;
    c->rollback_latency_margin = 1.0;
    c->calibration_samples = 200;
    c->calibration_min_samples = 32;
    c->calibration_max_bytes = 256.0 * (1 << 20);
    c->calibration_sample_interval_s = 1;
    c->calibration_retention_s = 7 * 86400.0;
    c->confident_audit_rate = 1e-5;
    c->outbox_max_pending = 10000;
    c->outbox_retention_s = 7 * 86400.0;
    standard_presets(c);
    if (!(c->doc = json_object())) {
        free(c);
        return NULL;
    }
    return c;
}

void edge_config_retain(edge_config *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void edge_config_release(edge_config *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
    free(c->detectors);
    json_decref(c->doc);
    free(c);
}

const edge_detector *edge_config_detector(const edge_config *c, const char *id)
{
    for (int i = 0; i < c->n_detectors; i++)
        if (!strcasecmp(c->detectors[i].id, id)) return &c->detectors[i];
    return NULL;
}
