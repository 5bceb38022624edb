/* glint quantize: static post-training quantization of a model into ONNX's
 * QDQ form (include/glint/quant.h), calibrated on a folder of images that
 * are decoded and letterboxed/cropped exactly as serving does, with an
 * agreement report against the float model on held-out images.
 *
 * Agreement, per held-out image, int8 against f32 on the same input tensor:
 *   detect    boxes matched greedily (same class, IoU >= 0.5, best IoU
 *             first): precision, recall and F1 over all images, mean |score
 *             difference| of matched boxes;
 *   classify  top-1 agreement, largest |probability difference| of any class;
 *   both      relative L2 error of the answer tensor.
 * Bars: detect F1 >= 0.95, classify top-1 agreement >= 99%.
 *
 * --method auto writes min-max and percentile candidates, keeps the one that
 * agrees best, and says which and why. The same report is made for the
 * float model with its convolutions computed in bf16 (no calibration: the
 * report alone, <model>.bf16.report.json). --precision int8|bf16 makes only
 * one of them. Exit status: 0 written and passing, 3 written but a report
 * below the bar (auto precision would refuse it), 1 error, 2 usage.
 */
#include "cli/cli.h"
#include "glint/engine.h"
#include "glint/quant.h"
#include "model/model_conf.h"
#include "model/package.h"
#include "tasks/classify.h"
#include "tasks/detect.h"
#include "vision/image.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define QMAX_IMAGES 1024
#define QMAX_SKIP 64

typedef struct qopts {
    const char *model, *calib, *eval, *out;
    const char *method;    /* auto | minmax | percentile */
    const char *precision; /* all | int8 | bf16 */
    double percentile;
    int max_calib;
    int threads;
    const char *skip[QMAX_SKIP];
    int n_skip;
} qopts;

/* Agreement of one candidate (int8 by a calibration method, or bf16) with
 * the f32 model. */
typedef struct agreement {
    const char *method; /* minmax, percentile (+float-ends) or bf16 */
    const char *prec;   /* int8 or bf16 */
    int kept_float;     /* convolutions left float */
    int images;
    /* detect */
    long tp, n_f32, n_cand;
    double score_err_sum;
    /* classify */
    int top1_same;
    double max_prob_err;
    /* both */
    double rel_l2_max, rel_l2_sum;
} agreement;

static void usage(void)
{
    printf("usage: glint quantize --model M.onnx|DIR --calib DIR --eval DIR [options]\n"
           "Calibrates int8 quantization on the images of --calib (decoded and prepared as\n"
           "serving does), writes a QDQ ONNX model and its agreement report on the held-out\n"
           "images of --eval against the float model; then the agreement report of bf16\n"
           "convolutions (<name>.bf16.report.json beside the int8 model; no calibration).\n"
           "  --precision all|int8|bf16   which to make (default all; bf16 needs no --calib)\n"
           "  --out PATH          (default: beside the model, <name>.int8.onnx)\n"
           "  --method auto|minmax|percentile   (default auto: the one that agrees best)\n"
           "  --percentile P      tail cut in percent for percentile (default 0.01)\n"
           "  --max-calib N       calibration images used (default 32)\n"
           "  --skip NODE         keep this Conv (node or output name) in float; repeatable\n"
           "  --threads T         engine threads (default: usable CPUs)\n"
           "Exit status: 0 passing, 3 written but below the agreement bar, 1 error, 2 usage.\n");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The JPEG/PNG files of dir, sorted (malloc'ed paths); -1 on error. */
static int list_images(const char *dir, char **out, int max)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "glint quantize: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        const char *dot = strrchr(de->d_name, '.');
        if (!dot ||
            (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png")))
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        if (!(out[n] = malloc(len))) break;
        snprintf(out[n++], len, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, cmp_str);
    if (!n) fprintf(stderr, "glint quantize: %s holds no .jpg or .png image\n", dir);
    return n ? n : -1;
}

/* Decodes and prepares image `path` into `dst`. */
static int prepare(vision_decoder *dec, vision_image *img, const model_conf *c, const char *path,
                   float *dst, size_t floats)
{
    vision_error err;
    if (vision_load_file(dec, path, &c->spec, img, &err) ||
        vision_prepare(img, &c->spec, dst, floats, NULL, &err)) {
        fprintf(stderr, "glint quantize: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int make_context(glint_model *m, const model_conf *c, glint_backend b, int bf16, int threads,
                        glint_context **ctx)
{
    glint_context_options o = {.threads = threads, .max_batch = 1, .backend = b, .bf16 = bf16};
    o.input_dims[2] = c->spec.height;
    o.input_dims[3] = c->spec.width;
    if (glint_context_create(m, &o, ctx)) {
        fprintf(stderr, "glint quantize: %s\n", glint_last_error());
        return -1;
    }
    return 0;
}

/* ---- calibration ---- */

static int calibrate(const qopts *o, glint_model *m, const model_conf *c, glint_quant *q,
                     float *input, size_t floats)
{
    char *files[QMAX_IMAGES];
    int n = list_images(o->calib, files, o->max_calib);
    if (n < 0) return -1;
    glint_context *ctx = NULL;
    vision_decoder *dec = vision_decoder_create(NULL);
    vision_image img;
    vision_image_init(&img);
    int rc = dec && !make_context(m, c, GLINT_BACKEND_REF, 0, o->threads, &ctx) ? 0 : -1;
    if (!rc) glint_context_observe(ctx, glint_quant_observe, q);
    glint_tensor in = {.dtype = GLINT_F32,
                       .ndim = 4,
                       .dims = {1, 3, c->spec.height, c->spec.width},
                       .data = input};
    for (int i = 0; !rc && i < n; i++) {
        if (prepare(dec, &img, c, files[i], input, floats))
            rc = -1;
        else if (glint_context_run(ctx, &in, 1)) {
            fprintf(stderr, "glint quantize: %s: %s\n", files[i], glint_last_error());
            rc = -1;
        }
    }
    if (!rc) fprintf(stderr, "glint quantize: calibrated on %d image(s) of %s\n", n, o->calib);
    for (int i = 0; i < n; i++)
        free(files[i]);
    glint_context_free(ctx);
    vision_image_dispose(&img);
    vision_decoder_destroy(dec);
    return rc;
}

/* ---- agreement ---- */

static double rel_l2(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static int decode_boxes(const model_conf *c, const glint_tensor *t, detect_box *out, int cap)
{
    detect_shape s;
    detect_workspace *ws = NULL;
    int n = 0;
    if (detect_shape_from_dims(t->dims, t->ndim, c->layout, &s) ||
        (s.input_width = c->spec.width, s.input_height = c->spec.height,
         detect_workspace_create(s.num_boxes, s.num_classes, &ws)) ||
        detect_decode(ws, &s, t->data, &c->detect, NULL, out, cap, &n))
        n = -1;
    detect_workspace_destroy(ws);
    return n;
}

/* Greedy matching of the candidate's boxes q to f32 boxes f (same class,
 * IoU >= 0.5). */
static void match_boxes(const detect_box *f, int nf, const detect_box *q, int nq, agreement *a)
{
    char *used = calloc((size_t)nf + 1, 1);
    if (!used) return;
    for (int i = 0; i < nq; i++) {
        int best = -1;
        float best_iou = 0.5f;
        float qb[4] = {q[i].x1, q[i].y1, q[i].x2, q[i].y2};
        for (int j = 0; j < nf; j++) {
            if (used[j] || f[j].class_id != q[i].class_id) continue;
            float fb[4] = {f[j].x1, f[j].y1, f[j].x2, f[j].y2};
            float iou = detect_iou(qb, fb);
            if (iou >= best_iou) {
                best_iou = iou;
                best = j;
            }
        }
        if (best >= 0) {
            used[best] = 1;
            a->tp++;
            a->score_err_sum += fabs((double)q[i].score - f[best].score);
        }
    }
    a->n_f32 += nf;
    a->n_cand += nq;
    free(used);
}

static void compare_classes(const glint_tensor *f, const glint_tensor *q, agreement *a)
{
    int64_t n = 1;
    for (int d = 1; d < f->ndim; d++)
        n *= f->dims[d];
    task_rank *rf = malloc((size_t)n * sizeof *rf), *rq = malloc((size_t)n * sizeof *rq);
    double *pf = calloc((size_t)n, sizeof *pf);
    int nf = 0, nq = 0;
    if (rf && rq && pf && !classify_topk(f->data, (int)n, CLASSIFY_AUTO, (int)n, rf, &nf, NULL) &&
        !classify_topk(q->data, (int)n, CLASSIFY_AUTO, (int)n, rq, &nq, NULL) && nf && nq) {
        a->top1_same += rf[0].id == rq[0].id;
        for (int i = 0; i < nf; i++)
            pf[rf[i].id] = rf[i].score;
        for (int i = 0; i < nq; i++) {
            double e = fabs(pf[rq[i].id] - rq[i].score);
            a->max_prob_err = e > a->max_prob_err ? e : a->max_prob_err;
        }
    }
    free(rf);
    free(rq);
    free(pf);
}

/* Runs f32 (fctx) and the candidate (qctx) on every held-out image. */
static int evaluate(glint_context *fctx, glint_context *qctx, const model_conf *c, char **files,
                    int n, float *input, size_t floats, agreement *a)
{
    int rc = 0;
    vision_decoder *dec = vision_decoder_create(NULL);
    vision_image img;
    vision_image_init(&img);
    int cap = c->detect.max_det;
    detect_box *bf = malloc((size_t)cap * sizeof *bf), *bq = malloc((size_t)cap * sizeof *bq);
    if (!dec || !bf || !bq) rc = -1;
    glint_tensor in = {.dtype = GLINT_F32,
                       .ndim = 4,
                       .dims = {1, 3, c->spec.height, c->spec.width},
                       .data = input};
    for (int i = 0; !rc && i < n; i++) {
        glint_tensor tf, tq;
        if (prepare(dec, &img, c, files[i], input, floats) || glint_context_run(fctx, &in, 1) ||
            glint_context_run(qctx, &in, 1)) {
            fprintf(stderr, "glint quantize: %s: %s\n", files[i], glint_last_error());
            rc = -1;
            break;
        }
        glint_context_output(fctx, c->output, &tf);
        glint_context_output(qctx, c->output, &tq);
        int64_t count = 1;
        for (int d = 0; d < tf.ndim; d++)
            count *= tf.dims[d];
        double e = rel_l2(tq.data, tf.data, count);
        a->rel_l2_sum += e;
        a->rel_l2_max = e > a->rel_l2_max ? e : a->rel_l2_max;
        a->images++;
        if (c->task == MODEL_TASK_DETECT) {
            int nf = decode_boxes(c, &tf, bf, cap), nq = decode_boxes(c, &tq, bq, cap);
            if (nf < 0 || nq < 0)
                rc = -1;
            else
                match_boxes(bf, nf, bq, nq, a);
        } else {
            compare_classes(&tf, &tq, a);
        }
    }
    free(bf);
    free(bq);
    vision_image_dispose(&img);
    vision_decoder_destroy(dec);
    return rc;
}

/* The agreement of the QDQ model at `path`. */
static int evaluate_int8(const qopts *o, glint_context *fctx, const model_conf *c, const char *path,
                         char **files, int n, float *input, size_t floats, agreement *a)
{
    glint_model *qm = NULL;
    glint_context *qctx = NULL;
    if (glint_model_load(path, &qm)) {
        fprintf(stderr, "glint quantize: %s: %s\n", path, glint_last_error());
        return -1;
    }
    int rc = make_context(qm, c, GLINT_BACKEND_AUTO, 0, o->threads, &qctx) ||
             evaluate(fctx, qctx, c, files, n, input, floats, a);
    glint_context_free(qctx);
    glint_model_free(qm);
    return rc ? -1 : 0;
}

static double f1_of(const agreement *a)
{
    double p = a->n_cand ? (double)a->tp / (double)a->n_cand : 1.0;
    double r = a->n_f32 ? (double)a->tp / (double)a->n_f32 : 1.0;
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

/* The figure the bar is on: detect F1 or classify top-1 agreement. */
static double score_of(const model_conf *c, const agreement *a)
{
    return c->task == MODEL_TASK_DETECT ? f1_of(a)
           : a->images                  ? (double)a->top1_same / a->images
                                        : 0.0;
}

static int passes(const model_conf *c, const agreement *a)
{
    return score_of(c, a) >= (c->task == MODEL_TASK_DETECT ? 0.95 : 0.99);
}

static json_t *agreement_json(const model_conf *c, const agreement *a)
{
    json_t *j =
        json_pack("{s:s, s:i, s:f, s:f, s:b, s:i}", "method", a->method, "images", a->images,
                  "rel_l2_mean", a->images ? a->rel_l2_sum / a->images : 0.0, "rel_l2_max",
                  a->rel_l2_max, "passes", passes(c, a), "convs_kept_float", a->kept_float);
    if (c->task == MODEL_TASK_DETECT) {
        char boxes_key[32];
        snprintf(boxes_key, sizeof boxes_key, "boxes_%s", a->prec);
        json_t *d = json_pack("{s:f, s:f, s:f, s:I, s:I, s:I, s:f, s:f}", "f1", f1_of(a),
                              "precision", a->n_cand ? (double)a->tp / (double)a->n_cand : 1.0,
                              "recall", a->n_f32 ? (double)a->tp / (double)a->n_f32 : 1.0,
                              "boxes_f32", (json_int_t)a->n_f32, boxes_key, (json_int_t)a->n_cand,
                              "matched", (json_int_t)a->tp, "mean_score_error",
                              a->tp ? a->score_err_sum / (double)a->tp : 0.0, "bar_f1", 0.95);
        json_object_update(j, d);
        json_decref(d);
    } else {
        json_t *d = json_pack("{s:f, s:f, s:f}", "top1_agreement",
                              a->images ? (double)a->top1_same / a->images : 0.0,
                              "max_probability_error", a->max_prob_err, "bar_top1", 0.99);
        json_object_update(j, d);
        json_decref(d);
    }
    return j;
}

static void print_agreement(const model_conf *c, const agreement *a)
{
    if (c->task == MODEL_TASK_DETECT)
        printf("  %-10s F1 %.4f (precision %.4f, recall %.4f; %ld/%ld boxes matched), mean score "
               "error %.4f, rel L2 %.4f mean / %.4f max  %s\n",
               a->method, f1_of(a), a->n_cand ? (double)a->tp / a->n_cand : 1.0,
               a->n_f32 ? (double)a->tp / a->n_f32 : 1.0, a->tp, a->n_f32,
               a->tp ? a->score_err_sum / a->tp : 0.0, a->images ? a->rel_l2_sum / a->images : 0,
               a->rel_l2_max, passes(c, a) ? "PASS" : "below the bar (F1 >= 0.95)");
    else
        printf("  %-10s top-1 agreement %.4f (%d/%d), max probability error %.4f, rel L2 %.4f "
               "mean / %.4f max  %s\n",
               a->method, a->images ? (double)a->top1_same / a->images : 0.0, a->top1_same,
               a->images, a->max_prob_err, a->images ? a->rel_l2_sum / a->images : 0, a->rel_l2_max,
               passes(c, a) ? "PASS" : "below the bar (top-1 >= 99%)");
}

/* ---- command line ---- */

static int parse_args(int argc, char **argv, qopts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -2;
        if (!has) {
            fprintf(stderr, "glint quantize: %s needs a value (try --help)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--calib"))
            o->calib = v;
        else if (!strcmp(a, "--eval"))
            o->eval = v;
        else if (!strcmp(a, "--out"))
            o->out = v;
        else if (!strcmp(a, "--method"))
            o->method = v;
        else if (!strcmp(a, "--precision"))
            o->precision = v;
        else if (!strcmp(a, "--percentile"))
            o->percentile = cli_double(a, v, 1e-6, 10);
        else if (!strcmp(a, "--max-calib"))
            o->max_calib = (int)cli_int(a, v, 1, QMAX_IMAGES);
        else if (!strcmp(a, "--threads"))
            o->threads = (int)cli_int(a, v, 1, 1024);
        else if (!strcmp(a, "--skip") && o->n_skip < QMAX_SKIP)
            o->skip[o->n_skip++] = v;
        else {
            fprintf(stderr, "glint quantize: unknown option '%s' (try --help)\n", a);
            return -1;
        }
    }
    if (strcmp(o->precision, "all") && strcmp(o->precision, "int8") &&
        strcmp(o->precision, "bf16")) {
        fprintf(stderr, "glint quantize: --precision is all, int8 or bf16\n");
        return -1;
    }
    if (!o->model || !o->eval || (!o->calib && strcmp(o->precision, "bf16"))) {
        fprintf(stderr, "glint quantize: --model, --calib and --eval are required (--calib not "
                        "with --precision bf16; try --help)\n");
        return -1;
    }
    if (strcmp(o->method, "auto") && strcmp(o->method, "minmax") &&
        strcmp(o->method, "percentile")) {
        fprintf(stderr, "glint quantize: --method is auto, minmax or percentile\n");
        return -1;
    }
    return 0;
}

/* model path (a folder means its model.onnx) and the default output. */
static void resolve_paths(qopts *o, char *model, size_t msize, char *out, size_t osize)
{
    struct stat st;
    snprintf(model, msize, "%s%s", o->model,
             !stat(o->model, &st) && S_ISDIR(st.st_mode) ? "/model.onnx" : "");
    if (o->out) {
        snprintf(out, osize, "%s", o->out);
        return;
    }
    snprintf(out, osize, "%s", model);
    char *dot = strrchr(out, '.');
    if (dot && !strcmp(dot, ".onnx")) *dot = 0;
    size_t n = strlen(out);
    snprintf(out + n, osize - n, ".int8.onnx");
}

/* Writes path: the candidates' agreement and the one chosen. */
static int write_report(const char *path, const model_conf *c, const agreement *cand, int n,
                        int chosen, int calib_images)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, agreement_json(c, &cand[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o}", "model", c->name, "task",
                          model_task_name(c->task), "precision", cand[chosen].prec, "chosen",
                          cand[chosen].method, "calibration_images", calib_images, "candidates",
                          arr, "chosen_report", agreement_json(c, &cand[chosen]));
    int rc = j ? json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : -1;
    json_decref(j);
    if (rc)
        fprintf(stderr, "glint quantize: cannot write %s\n", path);
    else
        printf("report: %s\n", path);
    return rc;
}

/* Writes candidate a (its method and skip list) to out.<method>.tmp and
 * measures its agreement; 0 or -1 after a message. */
static int try_candidate(const qopts *o, glint_quant *q, const char *out, int percentile,
                         const char *const *skip, int n_skip, glint_context *fctx,
                         const model_conf *c, char **files, int n_eval, float *input, size_t floats,
                         agreement *a)
{
    glint_quant_options qo = {.method = percentile ? GLINT_CALIB_PERCENTILE : GLINT_CALIB_MINMAX,
                              .percentile = o->percentile,
                              .skip = skip,
                              .n_skip = n_skip};
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%s.tmp", out, a->method);
    a->prec = "int8";
    a->kept_float = n_skip;
    if (glint_quant_write(q, &qo, tmp) ||
        evaluate_int8(o, fctx, c, tmp, files, n_eval, input, floats, a)) {
        if (glint_last_error()[0]) fprintf(stderr, "glint quantize: %s\n", glint_last_error());
        remove(tmp);
        return -1;
    }
    return 0;
}

static int better(const model_conf *c, const agreement *a, const agreement *b)
{
    return score_of(c, a) > score_of(c, b) ||
           (score_of(c, a) == score_of(c, b) && a->rel_l2_sum < b->rel_l2_sum);
}

/* int8: calibrates, writes each method's QDQ model, keeps the one that
 * agrees best at out (report at out.report.json). When none passes the
 * bar, one more candidate keeps the network's ends float (the stem and the
 * convolutions that feed an output through no other Conv: mixed
 * precision) with the better method, chosen if it passes (else the faster
 * all-int8 one stays). 0 passing, 3 below the bar, 1 error. */
static int make_int8(const qopts *o, const char *model, const char *out, glint_model *m,
                     const model_conf *c, glint_context *fctx, char **files, int n_eval,
                     float *input, size_t floats)
{
    glint_quant *q = NULL;
    int rc = 1;
    if (glint_quant_create(model, &q)) {
        fprintf(stderr, "glint quantize: %s\n", glint_last_error());
        return 1;
    }
    if (calibrate(o, m, c, q, input, floats)) goto done;
    static const char *const methods[] = {"minmax", "percentile"};
    static const char *const ends_method[] = {"minmax+float-ends", "percentile+float-ends"};
    agreement cand[3];
    int n_cand = 0, best = -1, best_pct = 0;
    for (int k = 0; k < 2; k++) {
        if (strcmp(o->method, "auto") && strcmp(o->method, methods[k])) continue;
        agreement *a = &cand[n_cand];
        memset(a, 0, sizeof *a);
        a->method = methods[k];
        if (try_candidate(o, q, out, k, o->skip, o->n_skip, fctx, c, files, n_eval, input, floats,
                          a))
            goto done;
        if (best < 0 || better(c, a, &cand[best])) {
            best = n_cand;
            best_pct = k;
        }
        n_cand++;
    }
    if (!passes(c, &cand[best])) {
        const char *skip[QMAX_SKIP + 64];
        int n_skip = 0;
        for (int i = 0; i < o->n_skip; i++)
            skip[n_skip++] = o->skip[i];
        for (int i = 0; i < glint_quant_num_convs(q) && n_skip < QMAX_SKIP + 64; i++)
            if (glint_quant_conv_at_end(q, i)) skip[n_skip++] = glint_quant_conv_name(q, i);
        agreement *a = &cand[n_cand];
        memset(a, 0, sizeof *a);
        a->method = ends_method[best_pct];
        if (n_skip > o->n_skip) {
            if (try_candidate(o, q, out, best_pct, skip, n_skip, fctx, c, files, n_eval, input,
                              floats, a))
                goto done;
            if (passes(c, a)) best = n_cand; /* only to pass: it costs speed */
            n_cand++;
        }
    }
    printf("%s: %d Conv(s) quantized (%d kept float), %d calibration image(s), %d held-out "
           "image(s)\n",
           c->name, glint_quant_num_convs(q) - cand[best].kept_float, cand[best].kept_float,
           glint_quant_num_samples(q), n_eval);
    for (int k = 0; k < n_cand; k++)
        print_agreement(c, &cand[k]);
    for (int k = 0; k < n_cand; k++) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.%s.tmp", out, cand[k].method);
        if (k != best) {
            remove(tmp);
        } else if (rename(tmp, out)) {
            fprintf(stderr, "glint quantize: cannot write %s: %s\n", out, strerror(errno));
            goto done;
        }
    }
    printf("chose %s; wrote %s\n", cand[best].method, out);
    char path[4200];
    snprintf(path, sizeof path, "%s.report.json", out);
    if (write_report(path, c, cand, n_cand, best, glint_quant_num_samples(q))) goto done;
    rc = passes(c, &cand[best]) ? 0 : 3;
done:
    glint_quant_free(q);
    return rc;
}

/* bf16: the float model with bf16 convolutions against f32 (report at
 * path). 0 passing, 3 below the bar, 1 error. */
static int make_bf16(const qopts *o, const char *path, glint_model *m, const model_conf *c,
                     glint_context *fctx, char **files, int n_eval, float *input, size_t floats)
{
    glint_context *bctx = NULL;
    agreement a = {.method = "bf16", .prec = "bf16"};
    glint_context_options bo = {.threads = o->threads, .max_batch = 1, .bf16 = 1};
    bo.input_dims[2] = c->spec.height;
    bo.input_dims[3] = c->spec.width;
    glint_status st = glint_context_create(m, &bo, &bctx);
    if (st == GLINT_ERR_UNSUPPORTED && strcmp(o->precision, "bf16")) {
        /* not asked for by name: a CPU without bf16 kernels is no error */
        printf("%s: bf16 cannot run on this CPU (%s): no bf16 report written\n", c->name,
               glint_last_error());
        return 0;
    }
    if (st) {
        fprintf(stderr, "glint quantize: %s\n", glint_last_error());
        return 1;
    }
    if (evaluate(fctx, bctx, c, files, n_eval, input, floats, &a)) {
        glint_context_free(bctx);
        return 1;
    }
    glint_context_free(bctx);
    printf("%s: bf16 convolutions, %d held-out image(s)\n", c->name, n_eval);
    print_agreement(c, &a);
    if (write_report(path, c, &a, 1, 0, 0)) return 1;
    return passes(c, &a) ? 0 : 3;
}

static int quantize(qopts *o)
{
    char model[4096], out[4096], bf16_report[4200], err[MODEL_CONF_ERR_MAX];
    resolve_paths(o, model, sizeof model, out, sizeof out);
    /* beside the int8 model: <base>.bf16.report.json */
    snprintf(bf16_report, sizeof bf16_report, "%s", out);
    size_t len = strlen(bf16_report);
    if (len > 10 && !strcmp(bf16_report + len - 10, ".int8.onnx"))
        bf16_report[len - 10] = 0;
    else if (len > 5 && !strcmp(bf16_report + len - 5, ".onnx"))
        bf16_report[len - 5] = 0;
    len = strlen(bf16_report);
    snprintf(bf16_report + len, sizeof bf16_report - len, ".bf16.report.json");
    model_package pkg = {0};
    glint_context *fctx = NULL;
    float *input = NULL;
    char *files[QMAX_IMAGES];
    int n_eval = 0, rc = 1, rc_int8 = 0, rc_bf16 = 0;
    if (model_package_open(&pkg, o->model, err, sizeof err)) {
        fprintf(stderr, "glint quantize: %s\n", err);
        goto done;
    }
    glint_model *m = pkg.model; /* the float model: what is calibrated and compared */
    const model_conf *c = &pkg.conf;
    if (c->task != MODEL_TASK_DETECT && c->task != MODEL_TASK_CLASSIFY) {
        fprintf(stderr,
                "glint quantize: %s is a %s model; the agreement bars are defined for detect "
                "and classify models only\n",
                o->model, model_task_name(c->task));
        goto done;
    }
    size_t floats = (size_t)3 * (size_t)c->spec.width * (size_t)c->spec.height;
    if (!(input = malloc(floats * sizeof *input))) goto done;
    if ((n_eval = list_images(o->eval, files, QMAX_IMAGES)) < 0 ||
        make_context(m, c, GLINT_BACKEND_AUTO, 0, o->threads, &fctx))
        goto done;
    if (strcmp(o->precision, "bf16") &&
        (rc_int8 = make_int8(o, model, out, m, c, fctx, files, n_eval, input, floats)) == 1)
        goto done;
    if (strcmp(o->precision, "int8") &&
        (rc_bf16 = make_bf16(o, bf16_report, m, c, fctx, files, n_eval, input, floats)) == 1)
        goto done;
    rc = rc_int8 ? rc_int8 : rc_bf16;
done:
    for (int i = 0; i < n_eval; i++)
        free(files[i]);
    free(input);
    glint_context_free(fctx);
    model_package_close(&pkg);
    return rc;
}

int cmd_quantize(int argc, char **argv)
{
    qopts o = {.method = "auto", .precision = "all", .max_calib = 32};
    int rc = parse_args(argc, argv, &o);
    if (rc == -2) {
        usage();
        return 0;
    }
    return rc ? 2 : quantize(&o);
}
