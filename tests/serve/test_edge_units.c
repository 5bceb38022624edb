/* Unit tests of the edge API's pure parts: the edge config (the original's
 * YAML, its rules and defaults, YAML hazards), reading glint answers as
 * Groundlight results (each mode, the confidence rules at their edges), the
 * ImageQuery keys, KSUID ids, and the recent-queries table (replace, evict,
 * request-id index). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/edge/edge_config.h"
#include "serve/edge/edge_policy.h"
#include "serve/edge/edge_iq.h"
#include "serve/edge/edge_recent.h"

#define DET "det_2bTqCredDiscBinary000000000"

static edge_config *parse(const char *yaml, char *err)
{
    return edge_config_parse(yaml, strlen(yaml), err, 256);
}

static void expect_error(const char *yaml, const char *want)
{
    char err[256];
    edge_config *c = parse(yaml, err);
    if (c || !strstr(err, want)) fail_msg("wanted an error with '%s', got '%s'", want, err);
}

static void test_original_yaml(void **state)
{
    (void)state;
    char err[256];
    edge_config *c = parse("global_config:\n"
                           "  refresh_rate: 15\n"
                           "  confident_audit_rate: 0.001\n"
                           "  upstream_endpoint: http://10.0.0.1:30101/\n"
                           "edge_inference_configs:\n"
                           "  fast:\n"
                           "    always_return_edge_prediction: true\n"
                           "    min_time_between_escalations: 0.5\n"
                           "  default:\n"
                           "    enabled: false\n"
                           "detectors:\n"
                           "  - detector_id: " DET "\n"
                           "    edge_inference_config: fast\n"
                           "    mode: count\n"
                           "    max_count: 50\n"
                           "    unknown_key: {a: 1}\n"
                           "  - detector_id: det_2bTqCsquaresCount0000000000\n",
                           err);
    assert_non_null(c);
    assert_true(c->refresh_rate == 15 && c->confident_audit_rate == 0.001);
    assert_string_equal(c->upstream, "http://10.0.0.1:30101"); /* trailing '/' dropped */
    assert_int_equal(c->n_presets, 5);                         /* four standard + fast */
    assert_int_equal(c->n_detectors, 2);
    const edge_detector *d = edge_config_detector(c, "DET_2BTQCREDDISCBINARY000000000");
    assert_non_null(d);
    assert_int_equal(d->mode, EDGE_MODE_COUNT);
    assert_int_equal(d->max_count, 50);
    const edge_preset *p = &c->presets[d->preset];
    assert_string_equal(p->name, "fast");
    assert_true(p->always_return && !p->disable_escalation && p->enabled);
    assert_true(p->min_time_between_escalations == 0.5);
    d = &c->detectors[1];
    assert_string_equal(c->presets[d->preset].name, "default"); /* unlisted -> default */
    assert_false(c->presets[d->preset].enabled);                /* ... as redefined */
    assert_true(d->confidence_threshold == 0.9 && d->patience_time == 30);
    assert_int_equal(d->mode, EDGE_MODE_BINARY);
    edge_config_release(c);
}

static void test_standard_presets(void **state)
{
    (void)state;
    edge_config *c = edge_config_default();
    assert_non_null(c);
    const char *names[] = {"default", "edge_answers_with_escalation", "no_cloud", "disabled"};
    int ar[] = {0, 1, 1, 0}, de[] = {0, 0, 1, 0}, en[] = {1, 1, 1, 0};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(c->presets[i].name, names[i]);
        assert_int_equal(c->presets[i].always_return, ar[i]);
        assert_int_equal(c->presets[i].disable_escalation, de[i]);
        assert_int_equal(c->presets[i].enabled, en[i]);
        assert_true(c->presets[i].min_time_between_escalations == 2.0);
    }
    assert_true(c->refresh_rate == 60 && c->confident_audit_rate == 1e-5);
    edge_config_release(c);
}

static void test_rules(void **state)
{
    (void)state;
    expect_error("edge_inference_configs: {x: {disable_cloud_escalation: true}}",
                 "edge_inference_configs.x.disable_cloud_escalation: needs");
    expect_error("detectors: [{detector_id: " DET "}, {detector_id: " DET "}]",
                 "detectors[1].detector_id: '" DET "' is also detectors[0]");
    expect_error("detectors: [{detector_id: " DET ", edge_inference_config: x}]",
                 "detectors[0].edge_inference_config: unknown preset 'x'");
    expect_error("detectors: [{detector_id: det_123}]", "detectors[0].detector_id");
    expect_error("detectors: [{detector_id: det_2bTqC-dash-000000000000000}]",
                 "detectors[0].detector_id");
    expect_error("detectors: [{edge_inference_config: default}]",
                 "detectors[0].detector_id: missing");
    expect_error("detectors: [{detector_id: " DET ", confidence_threshold: 1.5}]",
                 "detectors[0].confidence_threshold: 1.5 is out of range");
    expect_error("detectors: [{detector_id: " DET ", max_num_bboxes: 2.5}]",
                 "detectors[0].max_num_bboxes: must be a whole number");
    expect_error("detectors: [{detector_id: " DET ", mode: TEXT}]", "detectors[0].mode");
    expect_error("global_config: {refresh_rate: 86401}", "global_config.refresh_rate");
    expect_error("global_config: {refresh_rate: '60'}",
                 "global_config.refresh_rate: must be a number");
    expect_error("global_config: {upstream_endpoint: ftp://x}", "global_config.upstream_endpoint");
    expect_error("edge_inference_configs: {x: {min_time_between_escalations: 0}}",
                 "edge_inference_configs.x.min_time_between_escalations");
    expect_error("edge_inference_configs: {x: {enabled: 'yes'}}", "must be true or false");
    expect_error("detectors: {a: 1}", "detectors: must be a list");
    expect_error("- just\n- a list\n", "must be a mapping");
    expect_error("detectors: [", "YAML line");
}

static void test_yaml_hazards(void **state)
{
    (void)state;
    char err[256];
    /* a billion laughs: aliases multiply nodes; bounded, refused quickly */
    const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    assert_null(parse(laughs, err));
    assert_non_null(strstr(err, "too deeply"));
    /* JSON is accepted as it is (PUT /edge-config bodies saved to the file) */
    edge_config *c =
        parse("{\"detectors\": [{\"detector_id\": \"" DET "\", \"query\": \"q?\"}]}", err);
    assert_non_null(c);
    assert_string_equal(c->detectors[0].query, "q?");
    edge_config_release(c);
    /* an empty document is the default config */
    c = parse("", err);
    assert_non_null(c);
    assert_int_equal(c->n_detectors, 0);
    edge_config_release(c);
}

/* ---- answers -> results ---- */

static edge_detector detector(edge_mode mode, const char *cls)
{
    edge_detector d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", DET);
    snprintf(d.class_name, sizeof d.class_name, "%s", cls);
    d.mode = mode;
    d.max_count = 2;
    d.max_num_bboxes = 2;
    d.confidence_threshold = 0.9;
    return d;
}

static json_t *detections(const char *boxes)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"width\": 200, \"height\": 100, \"detections\": [%s]}", boxes);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

#define BOX(label, score, x1, x2)                                                                  \
    "{\"label\": \"" label "\", \"score\": " #score ", \"box\": {\"x1\": " #x1 ", \"y1\": 10, "    \
    "\"x2\": " #x2 ", \"y2\": 30}}"

static void read_result(const edge_detector *d, const json_t *a, json_t **r, json_t **rois,
                        double *conf)
{
    char err[256];
    if (edge_result_from_answer(d, 0.5, a, r, rois, conf, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(json_string_value(json_object_get(*r, "result_type")),
                        edge_result_type(d->mode));
    assert_string_equal(json_string_value(json_object_get(*r, "source")), "ALGORITHM");
    assert_true(json_is_true(json_object_get(*r, "from_edge")));
}

static void test_binary_from_boxes(void **state)
{
    (void)state;
    edge_detector d = detector(EDGE_MODE_BINARY, "red_disc");
    json_t *r, *rois, *a;
    double conf;
    a = detections(BOX("square", 0.99, 0, 10) "," BOX("red_disc", 0.7, 0, 10) "," BOX("red_disc",
                                                                                      0.8, 20, 40));
    read_result(&d, a, &r, &rois, &conf);
    assert_string_equal(json_string_value(json_object_get(r, "label")), "YES");
    assert_true(conf == 0.8); /* the best box of the class */
    json_decref(r), json_decref(a);
    a = detections(BOX("square", 0.99, 0, 10) "," BOX("red_disc", 0.3, 0, 10));
    read_result(&d, a, &r, &rois, &conf);
    assert_string_equal(json_string_value(json_object_get(r, "label")), "NO");
    assert_true(fabs(conf - 0.7) < 1e-9); /* 1 - the best dropped score */
    json_decref(r), json_decref(a);
    a = detections("");
    read_result(&d, a, &r, &rois, &conf);
    assert_true(conf == 1.0);
    json_decref(r), json_decref(a);
}

static void test_count_and_boxes(void **state)
{
    (void)state;
    edge_detector d = detector(EDGE_MODE_COUNT, "square");
    json_t *r, *rois, *a;
    double conf;
    a = detections(BOX("square", 0.9, 0, 10) "," BOX("square", 0.6, 20, 40) "," BOX(
        "square", 0.2, 50, 60) "," BOX("red_disc", 0.95, 0, 10));
    read_result(&d, a, &r, &rois, &conf);
    assert_int_equal(json_integer_value(json_object_get(r, "count")), 2);
    assert_true(json_is_false(json_object_get(r, "greater_than_max")));
    assert_true(fabs(conf - 0.6 * 0.8) < 1e-6); /* min kept x (1 - max dropped) */
    json_decref(r), json_decref(a);
    a = detections(
        BOX("square", 0.9, 0, 10) "," BOX("square", 0.9, 20, 40) "," BOX("square", 0.9, 50, 60));
    read_result(&d, a, &r, &rois, &conf);
    assert_int_equal(json_integer_value(json_object_get(r, "count")), 2); /* clamped */
    assert_true(json_is_true(json_object_get(r, "greater_than_max")));
    json_decref(r);
    d = detector(EDGE_MODE_BOUNDING_BOX, "square");
    read_result(&d, a, &r, &rois, &conf);
    assert_string_equal(json_string_value(json_object_get(r, "label")), "GREATER_THAN_MAX");
    assert_int_equal(json_array_size(rois), 2);
    const json_t *g = json_object_get(json_array_get(rois, 1), "geometry");
    assert_true(json_real_value(json_object_get(g, "left")) == 0.1);  /* 20 / 200 */
    assert_true(json_real_value(json_object_get(g, "right")) == 0.2); /* 40 / 200 */
    assert_true(json_real_value(json_object_get(g, "top")) == 0.1);   /* 10 / 100 */
    assert_true(fabs(json_real_value(json_object_get(g, "x")) - 0.15) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(g, "y")) - 0.2) < 1e-12);
    json_decref(r), json_decref(rois), json_decref(a);
    a = detections(BOX("red_disc", 0.9, 0, 10));
    read_result(&d, a, &r, &rois, &conf);
    assert_string_equal(json_string_value(json_object_get(r, "label")), "NO_OBJECTS");
    assert_null(rois);
    json_decref(r), json_decref(a);
}

static void test_classifier_modes(void **state)
{
    (void)state;
    json_t *a = json_loads("{\"width\": 8, \"height\": 8, \"classes\": [{\"label\": \"NO\", "
                           "\"class_id\": 1, \"score\": 0.75}]}",
                           0, NULL);
    json_t *r, *rois;
    double conf;
    edge_detector d = detector(EDGE_MODE_BINARY, "");
    read_result(&d, a, &r, &rois, &conf);
    assert_string_equal(json_string_value(json_object_get(r, "label")), "NO");
    assert_true(conf == 0.75);
    json_decref(r);
    d = detector(EDGE_MODE_MULTI_CLASS, "");
    read_result(&d, a, &r, &rois, &conf);
    assert_string_equal(json_string_value(json_object_get(r, "label")), "NO");
    json_decref(r);
    char err[256];
    d = detector(EDGE_MODE_COUNT, "");
    assert_int_equal(edge_result_from_answer(&d, 0.5, a, &r, &rois, &conf, err, sizeof err), -1);
    assert_non_null(strstr(err, "labels that are counts"));
    d = detector(EDGE_MODE_BOUNDING_BOX, "");
    assert_int_equal(edge_result_from_answer(&d, 0.5, a, &r, &rois, &conf, err, sizeof err), -1);
    json_decref(a);
    /* class index convention when labels say nothing: 0 = YES */
    a = json_loads("{\"classes\": [{\"label\": \"cat\", \"class_id\": 0, \"score\": 0.6}]}", 0,
                   NULL);
    d = detector(EDGE_MODE_BINARY, "");
    read_result(&d, a, &r, &rois, &conf);
    assert_string_equal(json_string_value(json_object_get(r, "label")), "YES");
    json_decref(r), json_decref(a);
}

static void test_iq_json_and_ids(void **state)
{
    (void)state;
    char id[64], when[40];
    edge_new_id("iq_", id);
    assert_int_equal(strlen(id), EDGE_IQ_ID_LEN);
    assert_int_equal(
        strspn(id + 3, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), 27);
    assert_true(edge_iq_id_valid(id));
    char id2[64];
    edge_new_id("iq_", id2);
    assert_string_not_equal(id, id2);
    assert_false(edge_iq_id_valid("iq_"));
    assert_false(edge_iq_id_valid("iq_a-b"));
    assert_false(edge_iq_id_valid("xx_abc"));
    edge_now_iso(when, sizeof when);
    edge_detector d = detector(EDGE_MODE_COUNT, "square");
    edge_iq q = {id, when, &d, 0.8, 30, NULL, NULL, NULL, 0};
    json_t *j = edge_iq_json(&q);
    const char *keys[] = {
        "metadata",    "id",          "type",           "created_at",    "query",
        "detector_id", "result_type", "result",         "patience_time", "confidence_threshold",
        "rois",        "text",        "done_processing"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(j, keys[i])) fail_msg("ImageQuery lacks %s", keys[i]);
    assert_string_equal(json_string_value(json_object_get(j, "result_type")), "counting");
    assert_true(json_is_null(json_object_get(j, "result")));
    assert_true(json_is_real(json_object_get(j, "patience_time")));
    json_decref(j);
    j = edge_detector_json(&d, NULL, when);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "COUNT");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "mode_configuration"), "max_count")),
        2);
    json_decref(j);
    /* MULTI_CLASS: its model's class names, as the SDK's get_detector needs them */
    edge_detector mc = detector(EDGE_MODE_MULTI_CLASS, "");
    const char *names[] = {"circle", "square", "triangle"};
    task_labels *labels = NULL;
    assert_int_equal(task_labels_create(names, 3, &labels), TASK_OK);
    j = edge_detector_json(&mc, labels, when);
    const json_t *conf = json_object_get(j, "mode_configuration");
    const json_t *cn = json_object_get(conf, "class_names");
    assert_int_equal(json_array_size(cn), 3);
    assert_string_equal(json_string_value(json_array_get(cn, 2)), "triangle");
    assert_int_equal(json_integer_value(json_object_get(conf, "num_classes")), 3);
    json_decref(j);
    j = edge_detector_json(&mc, NULL, when); /* no model to name them */
    assert_true(json_is_null(json_object_get(j, "mode_configuration")));
    json_decref(j);
    task_labels_destroy(labels);
}

/* The original's OODD weighing: p_out * chance + (1 - p_out) * confidence. */
static void test_oodd_weighing(void **state)
{
    (void)state;
    assert_float_equal(edge_policy_oodd(0.99, 0.0, 0.5), 0.99, 1e-12); /* in the domain */
    assert_float_equal(edge_policy_oodd(0.99, 1.0, 0.5), 0.5, 1e-12);  /* out: chance */
    assert_float_equal(edge_policy_oodd(0.9, 0.5, 0.25), 0.575, 1e-12);
    assert_float_equal(edge_policy_oodd(0.8, 1.0, 0.0), 0.0, 1e-12); /* boxes: no chance */
    assert_float_equal(edge_policy_oodd(0.8, 1.7, 0.5), 0.5, 1e-12); /* clamped */
    assert_float_equal(edge_policy_oodd(1.4, -2.0, 0.5), 1.0, 1e-12);
}

static void test_recent(void **state)
{
    (void)state;
    edge_recent *t = edge_recent_create(4);
    assert_non_null(t);
    char id[16], req[16], js[32];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "iq_%d", i);
        snprintf(req, sizeof req, "req_%d", i);
        snprintf(js, sizeof js, "{\"n\": %d}", i);
        assert_int_equal(edge_recent_put(t, id, req, js), 0);
    }
    assert_null(edge_recent_get(t, "iq_0")); /* evicted: capacity 4 */
    assert_null(edge_recent_get_by_request(t, "req_1"));
    char *s = edge_recent_get(t, "iq_5");
    assert_string_equal(s, "{\"n\": 5}");
    free(s);
    s = edge_recent_get_by_request(t, "req_2");
    assert_string_equal(s, "{\"n\": 2}");
    free(s);
    assert_int_equal(edge_recent_update(t, "iq_2", "{\"n\": 22}"), 1);
    assert_int_equal(edge_recent_update(t, "iq_0", "{}"), 0);
    s = edge_recent_get_by_request(t, "req_2");
    assert_string_equal(s, "{\"n\": 22}");
    free(s);
    /* put of a held id replaces it (one entry, new request id) */
    assert_int_equal(edge_recent_put(t, "iq_3", "req_new", "{\"n\": 33}"), 0);
    assert_null(edge_recent_get_by_request(t, "req_3"));
    s = edge_recent_get_by_request(t, "req_new");
    assert_string_equal(s, "{\"n\": 33}");
    free(s);
    assert_null(edge_recent_get(t, ""));
    edge_recent_destroy(t);
    edge_recent_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_original_yaml),
        cmocka_unit_test(test_standard_presets),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_yaml_hazards),
        cmocka_unit_test(test_binary_from_boxes),
        cmocka_unit_test(test_count_and_boxes),
        cmocka_unit_test(test_classifier_modes),
        cmocka_unit_test(test_iq_json_and_ids),
        cmocka_unit_test(test_recent),
        cmocka_unit_test(test_oodd_weighing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
