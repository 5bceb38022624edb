/* A model folder's precision (see precision.h). */
#include "model/precision.h"
#include "util/clock.h"

#include "model/model_conf.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int precision_parse(const char *s)
{
    return !strcmp(s, "f32")    ? MODEL_PRECISION_F32
           : !strcmp(s, "int8") ? MODEL_PRECISION_INT8
           : !strcmp(s, "bf16") ? MODEL_PRECISION_BF16
           : !strcmp(s, "auto") ? MODEL_PRECISION_AUTO
                                : -1;
}

const char *precision_name(int chosen)
{
    return chosen == MODEL_PRECISION_INT8   ? "int8"
           : chosen == MODEL_PRECISION_BF16 ? "bf16"
                                            : "f32";
}

/* The verdict of glint quantize's agreement report `file` in dir: 1 if it
 * passes, else 0 with why. */
static int report_passes(const char *dir, const char *file, char *why, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
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

/* A precision auto may choose: the model it runs and how. */
typedef struct candidate {
    int prec;
    glint_model *m;
    int bf16;
    double ms;
} candidate;

/* Median ms of one batch-1 run of each candidate (interleaved, so that all
 * see the same machine), on `threads` threads at input_dims (NULL: as
 * declared). A candidate other than f32 whose context cannot be made or run
 * gets ms < 0 and the reason in why[k]; -1 when f32 itself fails. */
static int time_candidates(candidate *c, int n, int threads, const int64_t *input_dims,
                           char why[][256])
{
    enum { RUNS = 9 };
    glint_context *ctx[3] = {0};
    double t[3][RUNS];
    int rc = -1;
    for (int k = 0; k < n; k++) {
        glint_context_options o = {.threads = threads, .max_batch = 1, .bf16 = c[k].bf16};
        for (int d = 1; input_dims && d < 4; d++)
            o.input_dims[d] = input_dims[d];
        c[k].ms = 0;
        glint_context_stats st = {0};
        if (!glint_context_create(c[k].m, &o, &ctx[k])) glint_context_get_stats(ctx[k], &st);
        /* no plan: free dimensions and no size to time them at */
        if (ctx[k] && st.plans > 0 && !glint_context_warm(ctx[k])) continue;
        if (!k) goto out;
        snprintf(why[k], 256, "%s",
                 ctx[k] && !st.plans ? "free input dimensions and no size given"
                                     : glint_last_error());
        glint_context_free(ctx[k]);
        ctx[k] = NULL;
        c[k].ms = -1;
    }
    for (int i = 0; i < RUNS; i++)
        for (int k = 0; k < n; k++) {
            if (!ctx[k]) continue;
            uint64_t t0 = clock_now_ns();
            if (glint_context_warm(ctx[k])) goto out; /* one run on zeroed inputs */
            t[k][i] = (double)(clock_now_ns() - t0) / 1e6;
        }
    for (int k = 0; k < n; k++) {
        if (!ctx[k]) continue;
        qsort(t[k], RUNS, sizeof t[k][0], cmp_double);
        c[k].ms = t[k][RUNS / 2];
    }
    rc = 0;
out:
    for (int k = 0; k < n; k++)
        glint_context_free(ctx[k]);
    return rc;
}

static int load_int8(const char *dir, glint_model **q, char *err, size_t err_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.int8.onnx", dir);
    if (!glint_model_load(path, q)) return 0;
    snprintf(err, err_size, "precision int8: %s (write it with glint quantize)",
             glint_last_error());
    return -1;
}

/* auto: the fastest of f32 and the candidates whose reports pass. */
static int settle_auto(const char *dir, int threads, const int64_t *input_dims, glint_model **model,
                       int *chosen, char *note, size_t note_size, char *err, size_t err_size)
{
    candidate c[3] = {{MODEL_PRECISION_F32, *model, 0, 0}};
    int n = 1;
    char refused[1100] = "", why[512], path[4096];
    size_t used = 0;
    struct stat st;
    glint_model *q = NULL;
    snprintf(path, sizeof path, "%s/model.int8.onnx", dir);
    if (stat(path, &st))
        used += (size_t)snprintf(refused + used, sizeof refused - used, "; no model.int8.onnx");
    else if (!report_passes(dir, "model.int8.onnx.report.json", why, sizeof why))
        used += (size_t)snprintf(refused + used, sizeof refused - used, "; int8 refused: %s", why);
    else if (load_int8(dir, &q, why, sizeof why)) /* a broken optional file: refuse, serve on */
        used += (size_t)snprintf(refused + used, sizeof refused - used, "; int8 refused: %s", why);
    else
        c[n++] = (candidate){MODEL_PRECISION_INT8, q, 0, 0};
    if (used >= sizeof refused) used = sizeof refused - 1;
    if (!report_passes(dir, "model.bf16.report.json", why, sizeof why))
        snprintf(refused + used, sizeof refused - used, "; bf16 refused: %s", why);
    else
        c[n++] = (candidate){MODEL_PRECISION_BF16, *model, 1, 0};
    if (n == 1) {
        snprintf(note, note_size, "auto: f32%s", refused);
        return 0;
    }
    char failed[3][256] = {{0}};
    if (time_candidates(c, n, threads, input_dims, failed)) {
        snprintf(err, err_size, "precision auto: timing failed: %s", glint_last_error());
        glint_model_free(q);
        return -1;
    }
    int best = 0;
    for (int k = 1; k < n; k++)
        if (c[k].ms >= 0 && c[k].ms < c[best].ms) best = k;
    char thr[32] = "all cores", times[160] = "", cannot[600] = "";
    if (threads > 0) snprintf(thr, sizeof thr, "%d thread(s)", threads);
    for (int k = 0, u = 0, v = 0; k < n; k++) {
        if (c[k].ms < 0 && v < (int)sizeof cannot)
            v += snprintf(cannot + v, sizeof cannot - (size_t)v, "; %s cannot run here: %s",
                          precision_name(c[k].prec), failed[k]);
        else if (c[k].ms >= 0 && u < (int)sizeof times)
            u += snprintf(times + u, sizeof times - (size_t)u, "%s%s %.2f ms", k ? ", " : "",
                          precision_name(c[k].prec), c[k].ms);
    }
    snprintf(note, note_size, "auto: %s (batch 1, %s: %s; agreement reports pass%s%s)",
             precision_name(c[best].prec), thr, times, refused, cannot);
    *chosen = c[best].prec;
    if (c[best].prec == MODEL_PRECISION_INT8) {
        glint_model_free(*model);
        *model = q;
    } else {
        glint_model_free(q);
    }
    return 0;
}

int precision_settle(const char *dir, int prec, int threads, const int64_t *input_dims,
                     glint_model **model, int *chosen, char *note, size_t note_size, char *err,
                     size_t err_size)
{
    *chosen = MODEL_PRECISION_F32;
    if (prec == MODEL_PRECISION_AUTO)
        return settle_auto(dir, threads, input_dims, model, chosen, note, note_size, err, err_size);
    if (prec == MODEL_PRECISION_BF16) {
        snprintf(note, note_size, "bf16 as configured");
        *chosen = MODEL_PRECISION_BF16;
        return 0;
    }
    if (prec != MODEL_PRECISION_INT8) {
        snprintf(note, note_size, "f32 as configured");
        return 0;
    }
    glint_model *q = NULL;
    if (load_int8(dir, &q, err, err_size)) return -1;
    snprintf(note, note_size, "int8 as configured");
    glint_model_free(*model);
    *model = q;
    *chosen = MODEL_PRECISION_INT8;
    return 0;
}

int precision_allowed(const char *dir, int prec, char *why, size_t why_size)
{
    if (prec == MODEL_PRECISION_F32) return 1;
    if (prec == MODEL_PRECISION_BF16)
        return report_passes(dir, "model.bf16.report.json", why, why_size);
    if (prec != MODEL_PRECISION_INT8) {
        snprintf(why, why_size, "not a precision to serve");
        return 0;
    }
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/model.int8.onnx", dir);
    if (stat(path, &st)) {
        snprintf(why, why_size, "no %s (write it with glint quantize)", path);
        return 0;
    }
    return report_passes(dir, "model.int8.onnx.report.json", why, why_size);
}
