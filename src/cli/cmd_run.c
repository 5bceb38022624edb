/* glint run: one-shot inference on image files.
 *
 * Loads a model and its configuration (model_conf.h), then reads, decodes
 * (DCT-scaled towards the tensor size) and prepares the images, runs them in
 * batches of up to RUN_MAX_BATCH through one context (one at a time if the
 * model's batch axis is fixed) and prints one JSON answer per image, in the
 * order given: JSON lines, or indented with --pretty. The answers are the
 * ones `glint serve` gives:
 *
 *   {"image": path, "width": W, "height": H, "model": name, "task": "detect",
 *    "detections": [{"label": "dog", "class_id": 16, "score": 0.87,
 *                    "box": {"x1": .., "y1": .., "x2": .., "y2": ..}}, ...],
 *    "timings_ms": {"decode": .., "preprocess": .., "infer": .., "post": ..}}
 *
 * with "classes": [{"label", "class_id", "score"}, ...] instead of
 * "detections" for a classifier. W x H is the image's size in its file; boxes
 * are corners in its pixels (continuous, 0..W x 0..H), sorted by score (a
 * box that lies wholly in the letterbox padding has no area there and is left
 * out);
 * classes are sorted by probability. Scores are rounded to 6 decimals, box
 * corners to 0.01 px, timings to 1 us. "infer" is the image's share of its
 * batch's run (run time / images in the batch); "decode" includes reading the
 * file. An image that cannot be answered gives {"image": path, "error": msg}
 * and the others go on.
 *
 * Exit status: 0 every image answered; 1 some image failed, or the model or
 * its config is bad (message on stderr); 2 usage error.
 *
 * Threads: everything runs on the calling thread; the engine uses --threads
 * OpenMP threads inside each run.
 */
#include "cli/cli.h"
#include "util/clock.h"
#include "model/answer.h"
#include "model/model_conf.h"
#include "model/package.h"
#include "model/precision.h"
#include "glint/engine.h"
#include "tasks/classify.h"
#include "tasks/detect.h"
#include "tasks/labels.h"
#include "tasks/task_status.h"
#include "vision/image.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RUN_MAX_BATCH 8
#define RUN_ERR_MAX 512
#define RUN_MAX_TOP 1000

typedef struct run_opts {
    const char *model;
    int threads;
    glint_backend backend;
    double score, iou; /* < 0: from the model's config */
    int max_det;       /* 0: from the model's config */
    int agnostic;
    int top; /* 0: from the model's config */
    int pretty;
    int precision; /* --precision: a model_precision (0: f32) */
} run_opts;

/* Everything a command needs to answer images, built once. */
typedef struct runner {
    model_package pkg; /* the model, its conf, the precision chosen */
    glint_context *ctx;
    vision_decoder *dec;
    vision_image img; /* decode buffer, reused */
    float *input;     /* max_batch prepared images */
    size_t image_floats;
    int max_batch;
    answer_ws *aw;
    answer_params params;
    size_t json_flags;
} runner;

/* One image of a batch. */
typedef struct run_item {
    const char *path;
    int slot; /* index in the batch tensor; -1: failed (err says why) */
    vision_transform tf;
    double decode_ms, prep_ms, infer_ms;
    char err[RUN_ERR_MAX];
} run_item;

static void usage(void)
{
    printf("usage: glint run --model M.onnx|DIR [options] IMAGE...\n"
           "Detects or classifies each JPEG/PNG image; prints one JSON answer per image.\n"
           "The model's settings come from model.yaml beside it, else from the model itself;\n"
           "a folder DIR means DIR/model.onnx.\n"
           "  --threads T          engine threads (default: usable CPUs)\n"
           "  --backend auto|ref   kernels (default auto)\n"
           "  --precision f32|int8|bf16|auto  int8: the folder's model.int8.onnx (glint\n"
           "                       quantize); bf16: convolutions computed in bf16; auto: the\n"
           "                       fastest whose agreement report (glint quantize) passes\n"
           "  --score S            detect: keep boxes scoring above S (default 0.25)\n"
           "  --iou I              detect: NMS IoU threshold (default 0.7 YOLOv8, 0.45 YOLOv5)\n"
           "  --max-det N          detect: most boxes per image (default 300)\n"
           "  --agnostic           detect: NMS across classes\n"
           "  --top K              classify: classes per image (default 5)\n"
           "  --pretty             indent the JSON\n"
           "Exit status: 0 all answered, 1 an image or the model failed, 2 usage.\n");
}

/* ---- setup ---- */

static void runner_close(runner *r)
{
    glint_context_free(r->ctx);
    vision_decoder_destroy(r->dec);
    vision_image_dispose(&r->img);
    free(r->input);
    answer_ws_destroy(r->aw);
    model_package_close(&r->pkg);
    memset(r, 0, sizeof *r);
}

static void apply_opts(model_conf *c, const run_opts *o)
{
    if (o->score >= 0) c->detect.score_threshold = (float)o->score;
    if (o->iou >= 0) c->detect.iou_threshold = (float)o->iou;
    if (o->max_det) c->detect.max_det = o->max_det;
    if (o->agnostic) c->detect.agnostic = 1;
    if (o->top) c->top_k = o->top;
}

/* Loads the model and its config and allocates everything the images need.
 * Prints the reason and returns -1 on failure (the runner is then empty). */
static int runner_open(runner *r, const run_opts *o, int n_images)
{
    memset(r, 0, sizeof *r);
    vision_image_init(&r->img);
    char err[MODEL_CONF_ERR_MAX];
    if (model_package_open(&r->pkg, o->model, err, sizeof err) ||
        model_package_settle(&r->pkg, o->precision ? o->precision : MODEL_PRECISION_F32, o->threads,
                             err, sizeof err)) {
        fprintf(stderr, "glint run: %s\n", err);
        goto fail;
    }
    if (o->precision == MODEL_PRECISION_AUTO)
        fprintf(stderr, "glint run: precision %s\n", r->pkg.precision_note);
    model_conf *c = &r->pkg.conf;
    apply_opts(c, o);
    r->max_batch = c->batch_free ? (n_images < RUN_MAX_BATCH ? n_images : RUN_MAX_BATCH) : 1;
    glint_context_options copt;
    model_package_context_options(&r->pkg, o->threads, r->max_batch, &copt);
    copt.backend = o->backend;
    if (glint_context_create(r->pkg.model, &copt, &r->ctx)) {
        fprintf(stderr, "glint run: %s: %s\n", r->pkg.onnx_path, glint_last_error());
        goto fail;
    }
    r->image_floats = (size_t)3 * (size_t)c->spec.width * (size_t)c->spec.height;
    r->input = malloc((size_t)r->max_batch * r->image_floats * sizeof *r->input);
    r->dec = vision_decoder_create(NULL);
    r->aw = answer_ws_create();
    r->params = answer_params_of(c);
    if (!r->input || !r->dec || !r->aw) {
        fprintf(stderr, "glint run: out of memory\n");
        goto fail;
    }
    /* first-touch the batch now, not in the first images' preprocess timings */
    memset(r->input, 0, (size_t)r->max_batch * r->image_floats * sizeof *r->input);
    r->json_flags = JSON_REAL_PRECISION(10) | (o->pretty ? JSON_INDENT(2) : 0);
    return 0;
fail:
    runner_close(r);
    return -1;
}

/* ---- per image ---- */

/* Reads and decodes item `it`; 0, or -1 with it->err set (it->slot -1). */
static int run_decode(runner *r, run_item *it)
{
    vision_error verr;
    double t0 = clock_now_ms();
    vision_status s = vision_load_file(r->dec, it->path, &r->pkg.conf.spec, &r->img, &verr);
    it->decode_ms = clock_now_ms() - t0;
    it->slot = -1;
    if (!s) return 0;
    /* vision_load_file prefixes the path; the answer names the image already */
    const char *msg = verr.msg;
    size_t n = strlen(it->path);
    if (!strncmp(msg, it->path, n) && !strncmp(msg + n, ": ", 2)) msg += n + 2;
    snprintf(it->err, sizeof it->err, "%s", *msg ? msg : vision_strerror(s));
    return -1;
}

/* Prepares the decoded image of item `it` with spec sp into batch slot
 * `slot` (slots are sp's tensor size apart). */
static void run_prepare(runner *r, run_item *it, const vision_spec *sp, int slot)
{
    vision_error verr;
    double t0 = clock_now_ms();
    size_t floats = (size_t)3 * (size_t)sp->width * (size_t)sp->height;
    vision_status s =
        vision_prepare(&r->img, sp, r->input + (size_t)slot * floats, floats, &it->tf, &verr);
    it->prep_ms = clock_now_ms() - t0;
    if (s) {
        snprintf(it->err, sizeof it->err, "%s", verr.msg[0] ? verr.msg : vision_strerror(s));
        return;
    }
    it->slot = slot;
}

/* The answer to one item whose image sits at slot it->slot of the output
 * just computed; NULL with it->err set if it cannot be given. */
static json_t *answer_json(runner *r, run_item *it)
{
    double t0 = clock_now_ms();
    json_t *items = answer_items(r->aw, &r->pkg.conf, &r->params, r->ctx, it->slot, &it->tf,
                                 it->err, sizeof it->err);
    if (!items) return NULL;
    answer_timings t = {it->decode_ms, it->prep_ms, -1, it->infer_ms, clock_now_ms() - t0};
    json_t *a = answer_object(&r->pkg.conf, it->path, &it->tf, items, &t);
    if (!a) snprintf(it->err, sizeof it->err, "out of memory");
    return a;
}

/* Prints one answer line (or indented object); 0 if written. */
static int print_json(const runner *r, json_t *j)
{
    int rc = j ? json_dumpf(j, stdout, r->json_flags) : -1;
    if (!rc) rc = fputc('\n', stdout) == EOF ? -1 : 0;
    return rc;
}

static int print_error(const runner *r, const run_item *it)
{
    json_t *j =
        json_pack("{s:o, s:o}", "image", answer_text(it->path), "error", answer_text(it->err));
    int rc = print_json(r, j);
    json_decref(j);
    return rc;
}

/* Runs the `good` images prepared at sp's size for items[0..n) as one
 * batch and prints every answer in order. Returns how many items failed, or
 * -1 if stdout could not be written. */
static int run_group(runner *r, run_item *items, int n, int good, const vision_spec *sp)
{
    int failed = 0;
    if (good > 0) {
        glint_tensor in = {.dtype = GLINT_F32,
                           .ndim = 4,
                           .dims = {good, 3, sp->height, sp->width},
                           .data = r->input};
        double t0 = clock_now_ms();
        glint_status s = glint_context_run(r->ctx, &in, 1);
        double per_image = (clock_now_ms() - t0) / good;
        for (int i = 0; i < n; i++) {
            if (items[i].slot < 0) continue;
            items[i].infer_ms = per_image;
            if (s) {
                snprintf(items[i].err, sizeof items[i].err, "inference: %s", glint_last_error());
                items[i].slot = -1;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        json_t *a = items[i].slot >= 0 ? answer_json(r, &items[i]) : NULL;
        int rc = a ? print_json(r, a) : print_error(r, &items[i]);
        json_decref(a);
        if (rc) return -1;
        failed += !a;
    }
    return failed;
}

/* Answers items[0..n) (n <= max_batch): decodes and prepares each, runs
 * the ones that decoded as one batch, or, for a rect letterbox whose tensor
 * follows the image (vision_spec_rect), one batch per run of images of one
 * tensor size; prints every answer in order. Returns how many items failed,
 * or -1 if stdout could not be written. */
static int run_batch(runner *r, run_item *items, int n)
{
    int failed = 0, start = 0, good = 0;
    vision_spec group = r->pkg.conf.spec;
    for (int i = 0; i < n; i++) {
        if (run_decode(r, &items[i])) continue;
        vision_spec sp = vision_spec_rect(&r->pkg.conf.spec, r->img.orig_width, r->img.orig_height);
        if (good > 0 && (sp.width != group.width || sp.height != group.height)) {
            int f = run_group(r, items + start, i - start, good, &group);
            if (f < 0) return -1;
            failed += f;
            start = i;
            good = 0;
        }
        group = sp;
        run_prepare(r, &items[i], &sp, good);
        if (items[i].slot >= 0) good++;
    }
    int f = run_group(r, items + start, n - start, good, &group);
    fflush(stdout);
    return f < 0 ? -1 : failed + f;
}

/* ---- command line ---- */

/* Parses options into *o and collects the image paths in images[]; returns
 * the image count, or -1 (usage error reported), or -2 for --help. */
static int parse_args(int argc, char **argv, run_opts *o, const char **images)
{
    int n = 0, only_images = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (only_images || a[0] != '-' || !a[1])
            images[n++] = a;
        else if (!strcmp(a, "--"))
            only_images = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return -2;
        else if (!strcmp(a, "--model") && has_val)
            o->model = argv[++i];
        else if (!strcmp(a, "--threads") && has_val)
            o->threads = (int)cli_int(a, argv[++i], 1, 1024);
        else if (!strcmp(a, "--score") && has_val)
            o->score = cli_double(a, argv[++i], 0, 1);
        else if (!strcmp(a, "--iou") && has_val)
            o->iou = cli_double(a, argv[++i], 0, 1);
        else if (!strcmp(a, "--max-det") && has_val)
            o->max_det = (int)cli_int(a, argv[++i], 1, DETECT_MAX_BOXES);
        else if (!strcmp(a, "--top") && has_val)
            o->top = (int)cli_int(a, argv[++i], 1, RUN_MAX_TOP);
        else if (!strcmp(a, "--agnostic"))
            o->agnostic = 1;
        else if (!strcmp(a, "--pretty"))
            o->pretty = 1;
        else if (!strcmp(a, "--precision") && has_val) {
            const char *p = argv[++i];
            if ((o->precision = precision_parse(p)) < 0) {
                fprintf(stderr, "glint run: --precision is f32, int8, bf16 or auto, got '%s'\n", p);
                return -1;
            }
        } else if (!strcmp(a, "--backend") && has_val) {
            const char *b = argv[++i];
            if (!strcmp(b, "ref"))
                o->backend = GLINT_BACKEND_REF;
            else if (!strcmp(b, "auto"))
                o->backend = GLINT_BACKEND_AUTO;
            else {
                fprintf(stderr, "glint run: unknown backend '%s' (auto or ref)\n", b);
                return -1;
            }
        } else {
            fprintf(stderr, "glint run: %s '%s' (try --help)\n",
                    has_val ? "unknown option" : "option needs a value or is unknown", a);
            return -1;
        }
    }
    if (!o->model) {
        fprintf(stderr, "glint run: --model is required (try --help)\n");
        return -1;
    }
    if (!n) {
        fprintf(stderr, "glint run: no images given (try --help)\n");
        return -1;
    }
    return n;
}

/* Answers every image; returns the exit status. */
static int run_images(runner *r, const char **images, int n, run_item *items)
{
    int rc = 0;
    for (int i = 0; i < n; i += r->max_batch) {
        int batch = n - i < r->max_batch ? n - i : r->max_batch;
        memset(items, 0, (size_t)batch * sizeof *items);
        for (int k = 0; k < batch; k++)
            items[k].path = images[i + k];
        int failed = run_batch(r, items, batch);
        if (failed < 0) {
            fprintf(stderr, "glint run: cannot write the answers\n");
            return 1;
        }
        if (failed) rc = 1;
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "glint run: cannot write the answers\n");
        return 1;
    }
    return rc;
}

int cmd_run(int argc, char **argv)
{
    run_opts o = {.score = -1, .iou = -1, .backend = GLINT_BACKEND_AUTO};
    const char **images = calloc((size_t)argc + 1, sizeof *images);
    run_item *items = calloc(RUN_MAX_BATCH, sizeof *items);
    int rc = 1;
    if (!images || !items) {
        fprintf(stderr, "glint run: out of memory\n");
        goto done;
    }
    int n = parse_args(argc, argv, &o, images);
    if (n < 0) {
        if (n == -2) usage();
        rc = n == -2 ? 0 : 2;
        goto done;
    }
    runner r;
    if (runner_open(&r, &o, n)) goto done;
    rc = run_images(&r, images, n, items);
    runner_close(&r);
done:
    free(images);
    free(items);
    return rc;
}
