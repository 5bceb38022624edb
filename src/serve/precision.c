/* A model folder's precision (see precision.h). */
#include "serve/precision.h"

#include "serve/model_conf.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The verdict of glint quantize's agreement report beside the int8 model:
 * 1 if it passes, else 0 with why. */
static int report_passes(const char *dir, char *why, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.int8.onnx.report.json", dir);
    json_t *r = json_load_file(path, 0, NULL);
    if (!r) {
        snprintf(why, size, "no agreement report %s (write it with glint quantize)", path);
        return 0;
    }
    const json_t *c = json_object_get(r, "chosen_report");
    int ok = json_is_true(json_object_get(c, "passes"));
    if (!ok && json_object_get(c, "f1"))
        snprintf(why, size, "agreement below the bar: detection F1 %.3f < %.2f",
                 json_number_value(json_object_get(c, "f1")),
                 json_number_value(json_object_get(c, "bar_f1")));
    else if (!ok)
        snprintf(why, size, "agreement below the bar: top-1 %.3f < %.2f",
                 json_number_value(json_object_get(c, "top1_agreement")),
                 json_number_value(json_object_get(c, "bar_top1")));
    json_decref(r);
    return ok;
}

/* Median ms of one batch-1 run of models a and b (interleaved, so that both
 * see the same machine), on `threads` threads. -1 on failure. */
static int time_models(glint_model *a, glint_model *b, int threads, double *ma, double *mb)
{
    enum { RUNS = 9 };
    glint_context_options o = {.threads = threads, .max_batch = 1};
    glint_context *ca = NULL, *cb = NULL;
    double ta[RUNS], tb[RUNS];
    int rc = -1;
    if (glint_context_create(a, &o, &ca) || glint_context_create(b, &o, &cb) ||
        glint_context_warm(ca) || glint_context_warm(cb))
        goto out;
    for (int i = 0; i < RUNS; i++) {
        uint64_t t0 = now_ns();
        if (glint_context_warm(ca)) goto out; /* one run on zeroed inputs */
        uint64_t t1 = now_ns();
        if (glint_context_warm(cb)) goto out;
        ta[i] = (double)(t1 - t0) / 1e6;
        tb[i] = (double)(now_ns() - t1) / 1e6;
    }
    qsort(ta, RUNS, sizeof *ta, cmp_double);
    qsort(tb, RUNS, sizeof *tb, cmp_double);
    *ma = ta[RUNS / 2];
    *mb = tb[RUNS / 2];
    rc = 0;
out:
    glint_context_free(ca);
    glint_context_free(cb);
    return rc;
}

int precision_settle(const char *dir, int prec, int threads, glint_model **model, int *chosen,
                     char *note, size_t note_size, char *err, size_t err_size)
{
    char path[4096];
    *chosen = MODEL_PRECISION_F32;
    if (prec != MODEL_PRECISION_INT8 && prec != MODEL_PRECISION_AUTO) {
        snprintf(note, note_size, "f32 as configured");
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.int8.onnx", dir);
    if (prec == MODEL_PRECISION_AUTO) {
        char why[512];
        struct stat st;
        if (stat(path, &st)) {
            snprintf(note, note_size, "auto: f32 (no model.int8.onnx)");
            return 0;
        }
        if (!report_passes(dir, why, sizeof why)) {
            snprintf(note, note_size, "auto: f32, int8 refused: %s", why);
            return 0;
        }
    }
    glint_model *q = NULL;
    if (glint_model_load(path, &q)) {
        snprintf(err, err_size, "precision int8: %s (write it with glint quantize)",
                 glint_last_error());
        return -1;
    }
    if (prec == MODEL_PRECISION_AUTO) {
        double f32_ms, int8_ms;
        if (time_models(*model, q, threads, &f32_ms, &int8_ms)) {
            snprintf(err, err_size, "precision auto: timing failed: %s", glint_last_error());
            glint_model_free(q);
            return -1;
        }
        int use = int8_ms < f32_ms;
        char thr[32] = "all cores";
        if (threads > 0) snprintf(thr, sizeof thr, "%d thread(s)", threads);
        snprintf(note, note_size,
                 "auto: %s (batch 1, %s: int8 %.2f ms, f32 %.2f ms; agreement report passes)",
                 use ? "int8" : "f32", thr, int8_ms, f32_ms);
        if (!use) {
            glint_model_free(q);
            return 0;
        }
    } else {
        snprintf(note, note_size, "int8 as configured");
    }
    glint_model_free(*model);
    *model = q;
    *chosen = MODEL_PRECISION_INT8;
    return 0;
}
