/* Unit tests of src/model/model_conf: model.yaml (every key, its range and
 * type checks, unknown keys, nulls, empty and over-size files, labels inline
 * and from a file, precision), the defaults a model gets without model.yaml,
 * the Ultralytics metadata route (task, imgsz, names; byte-patched copies of
 * the committed dynamic_hw export for the hostile values) and
 * model_conf_parse_names on valid and hostile Python dict literals.
 *
 * The models are loaded once: models/shapes (detect, [?,3,128,128] ->
 * [?,7,256]), models/red_disc (classify, [?,2]), tests/data/onnx/dynamic_hw
 * (free H and W, metadata task classify, imgsz [12, 20], names cat/dog) and
 * the OCR pair models/ocr_det ([?,3,?,?] -> [?,1,?,?]) and models/ocr_rec
 * ([?,3,48,?] -> [?,?,38]: 36 characters, the space and CTC's blank).
 * model_conf_load reads model.yaml from the folder of the path it is given,
 * so every test writes its model.yaml into one temporary folder and passes
 * "<tmp>/model.onnx" (which need not exist) with an already loaded model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glint/engine.h"
#include "model/model_conf.h"
#include "tasks/labels.h"

static char dir[64];
static char onnx[128]; /* dir/model.onnx: the path model_conf_load is given */
static glint_model *shapes, *red_disc, *dyn, *ocr_det, *ocr_rec;
static unsigned char *dyn_bytes; /* dynamic_hw/model.onnx, for patched copies */
static size_t dyn_len;

static glint_model *load_model(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", GLINT_SOURCE_DIR, rel);
    glint_model *m = NULL;
    if (glint_model_load(path, &m)) return NULL;
    return m;
}

static unsigned char *read_all(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", GLINT_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/glint-model-conf-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(onnx, sizeof onnx, "%s/model.onnx", dir);
    shapes = load_model("models/shapes/model.onnx");
    red_disc = load_model("models/red_disc/model.onnx");
    dyn = load_model("tests/data/onnx/dynamic_hw/model.onnx");
    dyn_bytes = read_all("tests/data/onnx/dynamic_hw/model.onnx", &dyn_len);
    ocr_det = load_model("models/ocr_det/model.onnx");
    ocr_rec = load_model("models/ocr_rec/model.onnx");
    return shapes && red_disc && dyn && dyn_bytes && ocr_det && ocr_rec ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    glint_model_free(shapes);
    glint_model_free(red_disc);
    glint_model_free(dyn);
    glint_model_free(ocr_det);
    glint_model_free(ocr_rec);
    free(dyn_bytes);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* Writes `len` bytes as dir/name (len (size_t)-1: strlen). */
static void write_file(const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len == (size_t)-1) len = strlen(text);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* model_conf_load of `m` with `yaml` as model.yaml (NULL: no model.yaml). */
static int load_with(const glint_model *m, const char *yaml, model_conf *c, char *err)
{
    remove_file("model.yaml");
    if (yaml) write_file("model.yaml", yaml, (size_t)-1);
    err[0] = 0;
    return model_conf_load(c, onnx, m, err, 256);
}

static void expect_ok(const glint_model *m, const char *yaml, model_conf *c)
{
    char err[256];
    if (load_with(m, yaml, c, err))
        fail_msg("model.yaml '%s' refused: %s", yaml ? yaml : "(none)", err);
}

static void expect_error(const glint_model *m, const char *yaml, const char *want)
{
    char err[256];
    model_conf c;
    int rc = load_with(m, yaml, &c, err);
    if (rc != -1 || !strstr(err, want))
        fail_msg("model.yaml '%s': wanted -1 and an error with '%s', got %d '%s'", yaml, want, rc,
                 err);
    /* a refused conf is empty */
    assert_null(c.name);
    assert_null(c.labels);
    assert_null(c.yaml_path);
}

static void assert_label(const task_labels *l, int id, const char *want)
{
    char buf[TASK_LABELS_NUM_BUF];
    assert_string_equal(task_labels_name(l, id, buf, sizeof buf), want);
}

static void assert_close(float got, double want)
{
    if (fabs(got - want) > 1e-6) fail_msg("got %.9g, wanted %.9g", got, want);
}

/* ---- model.yaml ---- */

/* PaddleOCR's shapes: the tasks found from the outputs, their preprocessing
 * and post-processing settings, the recogniser's characters. */
static void test_text_tasks(void **state)
{
    (void)state;
    model_conf c;
    expect_ok(ocr_det, NULL, &c);
    assert_int_equal(c.task, MODEL_TASK_TEXT_DETECT);
    assert_string_equal(model_task_name(c.task), "text_detect");
    assert_int_equal(c.spec.mode, VISION_STRETCH);
    assert_int_equal(c.spec.stride, 32); /* free H and W: DetResizeForTest */
    assert_int_equal(c.spec.width, 960);
    assert_int_equal(c.spec.height, 960);
    assert_int_equal(c.spec.bgr, 1);
    assert_close(c.spec.mean[0], 0.485);
    assert_close(c.spec.std[2], 0.225);
    assert_close(c.text.threshold, 0.3);
    assert_close(c.text.box_threshold, 0.6);
    assert_close(c.text.unclip_ratio, 1.5);
    assert_int_equal(c.detect.max_det, 1000);
    vision_spec r = vision_spec_rect(&c.spec, 1280, 720);
    assert_int_equal(r.width, 960); /* 720 * 0.75 = 540 -> 544 */
    assert_int_equal(r.height, 544);
    r = vision_spec_rect(&c.spec, 100, 48); /* not scaled up; 48 / 32 = 1.5 -> 2 (half to even) */
    assert_int_equal(r.width, 96);
    assert_int_equal(r.height, 64);
    r = vision_spec_rect(&c.spec, 10, 5); /* at least one stride */
    assert_int_equal(r.width, 32);
    assert_int_equal(r.height, 32);
    model_conf_dispose(&c);
    expect_ok(ocr_det,
              "threshold: 0.2\nbox_threshold: 0.5\nunclip_ratio: 2\nchannels: rgb\n"
              "max_detections: 50\nwidth: 640\nheight: 640\n",
              &c);
    assert_close(c.text.threshold, 0.2);
    assert_close(c.text.box_threshold, 0.5);
    assert_close(c.text.unclip_ratio, 2.0);
    assert_int_equal(c.spec.bgr, 0);
    assert_int_equal(c.detect.max_det, 50);
    assert_int_equal(vision_spec_rect(&c.spec, 1280, 720).width, 640);
    model_conf_dispose(&c);
    expect_error(ocr_det, "threshold: 1", "threshold: expected a number in [0, 0.999]");
    expect_error(ocr_det, "channels: cmyk", "channels: expected rgb or bgr");
    expect_error(ocr_det, "unclip_ratio: -1", "unclip_ratio: expected a number in [0, 100]");

    /* the recogniser: characters one a line, spaces and UTF-8 kept, \r\n read */
    expect_error(ocr_rec, NULL, "needs its characters: characters_file:");
    char chars[36 * 5 + 16] = "";
    for (int i = 0; i < 36; i++)
        strcat(chars, i == 0 ? " \r\n" : i == 1 ? "\xc3\xa9\n" : "x\n");
    write_file("dict.txt", chars, (size_t)-1);
    expect_ok(ocr_rec, "characters_file: dict.txt\n", &c);
    assert_int_equal(c.task, MODEL_TASK_TEXT_RECOGNIZE);
    assert_int_equal(c.spec.mode, VISION_TEXTLINE);
    assert_int_equal(c.spec.height, 48);
    assert_int_equal(c.spec.width, 320);
    assert_int_equal(c.spec.stride, 1); /* free width */
    assert_close(c.spec.mean[1], 0.5);
    assert_close(c.spec.std[1], 0.5);
    assert_int_equal(c.use_space, 1);
    assert_int_equal(task_labels_count(c.labels), 36);
    assert_label(c.labels, 0, " ");
    assert_label(c.labels, 1, "\xc3\xa9");
    assert_int_equal(vision_spec_rect(&c.spec, 200, 48).width, 320); /* at least 320 */
    assert_int_equal(vision_spec_rect(&c.spec, 500, 30).width, 800); /* int(48 * 500 / 30) */
    int mh, mw;
    model_conf_max_hw(&c, &mh, &mw); /* the batch room: 10 x width by default */
    assert_int_equal(mh, 48);
    assert_int_equal(mw, 3200);
    assert_int_equal(vision_spec_rect(&c.spec, 100000, 30).width, 3200); /* squeezed into it */
    model_conf_dispose(&c);
    expect_ok(ocr_rec, "characters_file: dict.txt\nmax_width: 640\n", &c);
    model_conf_max_hw(&c, &mh, &mw);
    assert_int_equal(mw, 640);
    model_conf_dispose(&c);
    expect_error(ocr_rec, "characters_file: dict.txt\nmax_width: 9000\n",
                 "max_width: expected an integer in [1, 8192]");
    expect_error(ocr_rec, "characters_file: dict.txt\nuse_space_char: false\n",
                 "has 38 classes per step; 36 characters and CTC's blank make 37");
    expect_error(ocr_rec, "characters_file: nope.txt\n", "line 1: characters_file");
    write_file("dict.txt", "a\nb\n", (size_t)-1);
    expect_error(ocr_rec, "characters_file: dict.txt\n", "2 characters, the space and CTC's blank");
    remove_file("dict.txt");
    expect_error(ocr_rec, "task: classify\n", "is not class scores"); /* the yaml's task wins */
}

static void test_yaml_every_key(void **state)
{
    (void)state;
    model_conf c;
    expect_ok(shapes,
              "# every key model_conf accepts\n"
              "name: my-shapes\n"
              "task: detect\n"
              "layout: yolov8\n"
              "input: images\n"
              "width: 128\n"
              "height: 128\n"
              "resize: crop\n"
              "resize_short: 150\n"
              "mean: [0.1, 0.2, 0.3]\n"
              "std: [0.5, 0.5, 0.25]\n"
              "score_threshold: 0.3\n"
              "iou_threshold: 0.6\n"
              "max_detections: 7\n"
              "labels: [red_disc, other_disc, square]\n"
              "max_batch: 4\n"
              "max_queue_delay_us: 1500\n"
              "preferred_batch_sizes: [2, 4]\n"
              "instances: 2\n"
              "threads: 3\n"
              "max_queue: 64\n"
              "timeout_ms: 5000\n"
              "precision: int8\n",
              &c);
    assert_string_equal(c.name, "my-shapes");
    assert_int_equal(c.task, MODEL_TASK_DETECT);
    assert_int_equal(c.layout, DETECT_LAYOUT_V8);
    assert_int_equal(c.input, 0);
    assert_int_equal(c.output, 0);
    assert_int_equal(c.batch_free, 1);
    assert_int_equal(c.spec.width, 128);
    assert_int_equal(c.spec.height, 128);
    assert_int_equal(c.spec.mode, VISION_CROP);
    assert_int_equal(c.spec.resize_short, 150);
    const double mean[3] = {0.1, 0.2, 0.3}, sd[3] = {0.5, 0.5, 0.25};
    for (int i = 0; i < 3; i++) {
        assert_close(c.spec.mean[i], (float)mean[i]);
        assert_close(c.spec.std[i], (float)sd[i]);
    }
    assert_close(c.detect.score_threshold, 0.3f);
    assert_close(c.detect.iou_threshold, 0.6f);
    assert_int_equal(c.detect.max_det, 7);
    assert_int_equal(task_labels_count(c.labels), 3);
    assert_label(c.labels, 0, "red_disc");
    assert_label(c.labels, 2, "square");
    assert_int_equal(c.serving.max_batch, 4);
    assert_int_equal(c.serving.max_queue_delay_us, 1500);
    assert_int_equal(c.serving.n_preferred, 2);
    assert_int_equal(c.serving.preferred[0], 2);
    assert_int_equal(c.serving.preferred[1], 4);
    assert_int_equal(c.serving.instances, 2);
    assert_int_equal(c.serving.threads, 3);
    assert_int_equal(c.serving.max_queue, 64);
    assert_int_equal(c.serving.timeout_ms, 5000);
    assert_int_equal(c.serving.precision, MODEL_PRECISION_INT8);
    char want[128];
    snprintf(want, sizeof want, "%s/model.yaml", dir);
    assert_string_equal(c.yaml_path, want);
    model_conf_dispose(&c);
    /* dispose zeroes, and takes an all-zero conf and NULL */
    assert_null(c.name);
    assert_null(c.labels);
    model_conf_dispose(&c);
    model_conf_dispose(NULL);
}

/* The committed model.yaml files load as written. */
static void test_yaml_committed(void **state)
{
    (void)state;
    model_conf c;
    char err[256], path[512];
    snprintf(path, sizeof path, "%s/models/shapes/model.onnx", GLINT_SOURCE_DIR);
    assert_int_equal(model_conf_load(&c, path, shapes, err, sizeof err), 0);
    assert_string_equal(c.name, "shapes");
    assert_int_equal(c.spec.mode, VISION_LETTERBOX);
    assert_int_equal(c.spec.pad_value, 114);
    assert_close(c.detect.score_threshold, 0.5f);
    assert_close(c.detect.iou_threshold, 0.45f);
    assert_int_equal(c.detect.max_det, 50);
    assert_label(c.labels, 1, "other_disc");
    assert_int_equal(c.serving.precision, MODEL_PRECISION_AUTO);
    model_conf_dispose(&c);
    snprintf(path, sizeof path, "%s/models/red_disc/model.onnx", GLINT_SOURCE_DIR);
    assert_int_equal(model_conf_load(&c, path, red_disc, err, sizeof err), 0);
    assert_int_equal(c.task, MODEL_TASK_CLASSIFY);
    assert_int_equal(c.spec.mode, VISION_LETTERBOX); /* resize: letterbox on a classifier */
    assert_int_equal(task_labels_count(c.labels), 2);
    assert_label(c.labels, 0, "YES");
    assert_int_equal(c.top_k, 5);
    model_conf_dispose(&c);
}

static void test_yaml_enums(void **state)
{
    (void)state;
    static const char *const layouts[] = {"yolov8", "yolo11", "yolov11", "v8",
                                          "yolov5", "yolov7", "v5"};
    model_conf c;
    char yaml[64];
    for (int i = 0; i < 7; i++) {
        /* V5 reads [1,7,256] as 7 boxes of 251 classes: a label-count warning, not an error */
        snprintf(yaml, sizeof yaml, "layout: %s\n", layouts[i]);
        expect_ok(shapes, yaml, &c);
        assert_int_equal(c.layout, i < 4 ? DETECT_LAYOUT_V8 : DETECT_LAYOUT_V5);
        /* YOLOv5's detect.py IoU when the layout is V5 and nothing else is said */
        assert_close(c.detect.iou_threshold, i < 4 ? 0.7f : 0.45f);
        model_conf_dispose(&c);
    }
    static const char *const precs[] = {"f32", "int8", "bf16", "auto"};
    static const int prec_v[] = {MODEL_PRECISION_F32, MODEL_PRECISION_INT8, MODEL_PRECISION_BF16,
                                 MODEL_PRECISION_AUTO};
    for (int i = 0; i < 4; i++) {
        snprintf(yaml, sizeof yaml, "precision: %s\n", precs[i]);
        expect_ok(shapes, yaml, &c);
        assert_int_equal(c.serving.precision, prec_v[i]);
        model_conf_dispose(&c);
    }
    expect_ok(shapes, "resize: letterbox\ntask: detect\n", &c);
    assert_int_equal(c.spec.mode, VISION_LETTERBOX);
    model_conf_dispose(&c);
    /* task: classify on the classifier; resize: crop with the torchvision short side */
    expect_ok(red_disc, "task: classify\nresize: crop\n", &c);
    assert_int_equal(c.task, MODEL_TASK_CLASSIFY);
    assert_int_equal(c.spec.mode, VISION_CROP);
    assert_int_equal(c.spec.resize_short, 146); /* round(128 * 256 / 224) */
    model_conf_dispose(&c);
    /* quoted scalars are strings like plain ones */
    expect_ok(shapes, "precision: 'bf16'\nname: \"q\"\n", &c);
    assert_int_equal(c.serving.precision, MODEL_PRECISION_BF16);
    assert_string_equal(c.name, "q");
    model_conf_dispose(&c);
}

/* mean/std: one number for all channels; any value above 1 means 0..255 units. */
static void test_yaml_mean_std(void **state)
{
    (void)state;
    model_conf c;
    expect_ok(red_disc, "mean: 0.5\nstd: 0.25\n", &c);
    for (int i = 0; i < 3; i++) {
        assert_close(c.spec.mean[i], 0.5);
        assert_close(c.spec.std[i], 0.25);
    }
    model_conf_dispose(&c);
    expect_ok(red_disc, "mean: [123.675, 116.28, 103.53]\nstd: [58.395, 57.12, 57.375]\n", &c);
    assert_close(c.spec.mean[0], 123.675f / 255.0f);
    assert_close(c.spec.mean[2], 103.53f / 255.0f);
    assert_close(c.spec.std[1], 57.12f / 255.0f);
    model_conf_dispose(&c);
    /* a std above 1 scales the mean too */
    expect_ok(red_disc, "mean: [0.5, 0.5, 0.5]\nstd: [2, 2, 2]\n", &c);
    assert_close(c.spec.mean[0], 0.5f / 255.0f);
    assert_close(c.spec.std[0], 2.0f / 255.0f);
    model_conf_dispose(&c);
    /* only mean given: std stays the classifier default (ImageNet, not Ultralytics) */
    expect_ok(red_disc, "mean: [0, 0, 0]\n", &c);
    assert_close(c.spec.mean[0], 0.0);
    assert_close(c.spec.std[0], 0.229f);
    model_conf_dispose(&c);
    expect_error(red_disc, "mean: [1, 2]\n",
                 "line 1: mean: expected a list of 3 numbers (one per channel, R, G, B)");
    expect_error(red_disc, "mean: [1, 2, 3, 4]\n", "mean: expected a list of 3 numbers");
    expect_error(red_disc, "mean: {r: 1}\n", "mean: expected a list of 3 numbers");
    expect_error(red_disc, "mean: [1, x, 3]\n",
                 "mean: expected a number in [-1e+06, 1e+06], got 'x'");
    expect_error(red_disc, "mean: 2e6\n", "mean: expected a number in [-1e+06, 1e+06], got '2e6'");
    expect_error(red_disc, "mean: nan\n", "got 'nan'");
    expect_error(red_disc, "std: [1, 0, 1]\n", "line 1: std: every value must be above 0");
    expect_error(red_disc, "std: -1\n", "std: every value must be above 0");
}

static void test_yaml_out_of_range(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"width: 0", "line 1: width: expected an integer in [1, 8192], got '0'"},
        {"width: 8193", "width: expected an integer in [1, 8192], got '8193'"},
        {"height: -1", "height: expected an integer in [1, 8192], got '-1'"},
        {"resize_short: 0", "resize_short: expected an integer in [1, 32768], got '0'"},
        {"resize_short: 32769", "resize_short: expected an integer in [1, 32768]"},
        {"score_threshold: 1.5", "score_threshold: expected a number in [0, 1], got '1.5'"},
        {"iou_threshold: -0.1", "iou_threshold: expected a number in [0, 1], got '-0.1'"},
        {"max_detections: 0", "max_detections: expected an integer in [1, 1048576], got '0'"},
        {"max_batch: 33", "max_batch: expected an integer in [1, 32], got '33'"},
        {"max_batch: 0", "max_batch: expected an integer in [1, 32], got '0'"},
        {"max_queue_delay_us: 10000001",
         "max_queue_delay_us: expected an integer in [0, 10000000]"},
        {"max_queue_delay_us: -1", "max_queue_delay_us: expected an integer in [0, 10000000]"},
        {"instances: 17", "instances: expected an integer in [1, 16], got '17'"},
        {"threads: 1025", "threads: expected an integer in [1, 1024], got '1025'"},
        {"max_queue: 0", "max_queue: expected an integer in [1, 1000000], got '0'"},
        {"timeout_ms: 3600001", "timeout_ms: expected an integer in [1, 3600000]"},
        {"width: 99999999999999999999999", "width: expected an integer in [1, 8192]"},
        {"preferred_batch_sizes: [4, 2]",
         "preferred_batch_sizes: batch sizes must rise (2 after 4)"},
        {"preferred_batch_sizes: [2, 2]", "batch sizes must rise (2 after 2)"},
        {"preferred_batch_sizes: [0]",
         "preferred_batch_sizes: expected an integer in [1, 32], got '0'"},
        {"preferred_batch_sizes: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
         "25,26,27,28,29,30,31,32,33]",
         "preferred_batch_sizes: expected a list of at most 32 batch sizes"},
        {"preferred_batch_sizes: 4", "preferred_batch_sizes: expected a list of at most 32"},
        /* the checks against the model */
        {"width: 64", "width: 64, but the model's input 'images' is fixed at 128"},
        {"height: 256", "height: 256, but the model's input 'images' is fixed at 128"},
        {"input: data", "input: the model has no input 'data' (its input is 'images')"},
        {"max_batch: 4\npreferred_batch_sizes: [2, 8]",
         "preferred batch size 8 is above max_batch 4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(shapes, cases[i].yaml, cases[i].want);
    /* the limits themselves are accepted */
    model_conf c;
    expect_ok(shapes,
              "score_threshold: 0\niou_threshold: 1\nmax_detections: 1048576\nmax_batch: 32\n"
              "max_queue_delay_us: 0\ninstances: 16\nthreads: 1024\nmax_queue: 1000000\n"
              "timeout_ms: 3600000\nresize: crop\nresize_short: 32768\n"
              "preferred_batch_sizes: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,"
              "23,24,25,26,27,28,29,30,31,32]\n",
              &c);
    assert_close(c.detect.score_threshold, 0.0);
    assert_close(c.detect.iou_threshold, 1.0);
    assert_int_equal(c.detect.max_det, 1048576);
    assert_int_equal(c.serving.max_batch, 32);
    assert_int_equal(c.serving.n_preferred, 32);
    assert_int_equal(c.serving.preferred[31], 32);
    assert_int_equal(c.serving.instances, 16);
    assert_int_equal(c.serving.threads, 1024);
    assert_int_equal(c.serving.timeout_ms, 3600000);
    assert_int_equal(c.spec.resize_short, 32768);
    model_conf_dispose(&c);
    /* an empty preferred list is "none" */
    expect_ok(shapes, "preferred_batch_sizes: []\n", &c);
    assert_int_equal(c.serving.n_preferred, 0);
    model_conf_dispose(&c);
}

static void test_yaml_wrong_types(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"width: abc", "width: expected an integer in [1, 8192], got 'abc'"},
        {"width: 1.5", "width: expected an integer in [1, 8192], got '1.5'"},
        {"width: 0x80", "width: expected an integer in [1, 8192], got '0x80'"},
        {"width: [128]", "width: expected an integer in [1, 8192], got ''"},
        {"score_threshold: high", "score_threshold: expected a number in [0, 1], got 'high'"},
        {"max_batch: {a: 1}", "max_batch: expected an integer in [1, 32]"},
        {"task: segment",
         "task: expected detect, classify, text_detect or text_recognize, got 'segment'"},
        {"task: [detect]",
         "task: expected detect, classify, text_detect or text_recognize, got '(not a scalar)'"},
        {"layout: yolov9", "layout: expected yolov8, yolov5 or yolov10, got 'yolov9'"},
        {"resize: squash", "resize: expected letterbox, crop or stretch, got 'squash'"},
        {"precision: fp16", "precision: expected f32, int8, bf16 or auto, got 'fp16'"},
        {"precision: F32", "precision: expected f32, int8, bf16 or auto, got 'F32'"},
        {"name: [a, b]", "name: expected a non-empty string"},
        {"name: ''", "name: expected a non-empty string"},
        {"input: {a: b}", "input: expected a non-empty string"},
        {"labels_file: [a]", "labels_file: expected a non-empty string"},
        {"labels: 5", "labels: expected a list of class names"},
        {"labels: [a, [b]]", "labels: item 1 is not a plain name"},
        {"labels: {x: a}", "labels: expected an integer in [0, 999999], got 'x'"},
        {"labels: {1000000: a}", "labels: expected an integer in [0, 999999], got '1000000'"},
        {"labels: {-1: a}", "labels: expected an integer in [0, 999999], got '-1'"},
        {"labels: {0: [a]}", "labels: the name of class 0 is not a plain name"},
        /* the document's shape */
        {"- width: 128", "expected a mapping of keys (name: ..., task: ...)"},
        {"hello", "expected a mapping of keys"},
        {"[a]: 1", "line 1: keys must be plain names"},
        {"width: 128\nwidth: 128", "line 2: width: given twice"},
        {"labels: [a]\nlabels_file: l.txt", "give labels or labels_file, not both"},
        {"width: [1, 2", "model.yaml: line"},
        {"a: b: c", "model.yaml: line 1: mapping values are not allowed in this context"},
        {"name: \"\\x00\"", "name: expected a non-empty string"}, /* NUL inside a scalar */
        {"task: detect\n\tname: x", "model.yaml: line 2"},        /* tab indentation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(shapes, cases[i].yaml, cases[i].want);
    /* every message names the file */
    char err[256], want[128];
    model_conf c;
    snprintf(want, sizeof want, "%s/model.yaml: line 3: width:", dir);
    assert_int_equal(load_with(shapes, "name: a\n\nwidth: x\n", &c, err), -1);
    assert_non_null(strstr(err, want));
    /* task: classify on a detection output is refused by the output check */
    expect_error(shapes, "task: classify",
                 "output 'output0' [?,7,256] is not class scores ([B,C])");
}

static void test_yaml_unknown_and_null(void **state)
{
    (void)state;
    model_conf c;
    expect_ok(shapes,
              "colour: blue\nnested: {a: [1, 2, {b: c}]}\nlist: [x, y]\nname: known\n"
              "Width: 5\n", /* keys are case-sensitive: 'Width' is unknown, ignored */
              &c);
    assert_string_equal(c.name, "known");
    assert_int_equal(c.spec.width, 128);
    model_conf_dispose(&c);
    /* an unknown key may repeat; a null value counts as not given */
    expect_ok(shapes, "x: 1\nx: 2\nwidth:\nname: ~\nlabels: null\nprecision: NULL\nmean: Null\n",
              &c);
    assert_non_null(strstr(c.name, "glint-model-conf-")); /* the folder's name */
    assert_null(c.labels);
    assert_int_equal(c.serving.precision, MODEL_PRECISION_DEFAULT);
    model_conf_dispose(&c);
    /* a quoted '~' is a string, not a null */
    expect_error(shapes, "width: '~'", "width: expected an integer in [1, 8192], got '~'");
    /* a key given null and again is still given twice */
    expect_error(shapes, "width:\nwidth: 128", "width: given twice");
}

/* An empty or comment-only model.yaml, a null document: the defaults. */
static void test_yaml_empty(void **state)
{
    (void)state;
    static const char *const docs[] = {"",      "\n\n", "# nothing here\n",
                                       "---\n", "~\n",  "---\n...\n"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        model_conf c;
        expect_ok(shapes, docs[i], &c);
        assert_non_null(c.yaml_path); /* the file was read */
        assert_int_equal(c.task, MODEL_TASK_DETECT);
        assert_int_equal(c.spec.width, 128);
        assert_int_equal(c.serving.max_batch, 0);
        assert_null(c.labels);
        model_conf_dispose(&c);
    }
    /* a second document is not read (libyaml's loader stops after the first) */
    model_conf c;
    expect_ok(shapes, "name: a\n---\nname: b\n", &c);
    assert_string_equal(c.name, "a");
    model_conf_dispose(&c);
}

static void test_yaml_huge(void **state)
{
    (void)state;
    size_t n = MODEL_CONF_MAX_BYTES;
    char *big = malloc(n + 2);
    assert_non_null(big);
    /* exactly the limit: a valid file padded with a comment */
    const char *head = "name: big\n#";
    memcpy(big, head, strlen(head));
    memset(big + strlen(head), 'x', n - strlen(head) - 1);
    big[n - 1] = '\n';
    write_file("model.yaml", big, n);
    model_conf c;
    char err[256];
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), 0);
    assert_string_equal(c.name, "big");
    model_conf_dispose(&c);
    /* one byte more */
    big[n] = '\n';
    write_file("model.yaml", big, n + 1);
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), -1);
    assert_non_null(strstr(err, "model.yaml: larger than the 1048576-byte limit"));
    /* a long list of labels inside the limit: 100000 names, ~880 kB */
    size_t len = (size_t)snprintf(big, n, "labels:\n");
    for (int i = 0; i < 100000 && len < n; i++)
        len += (size_t)snprintf(big + len, n - len, "- c%d\n", i);
    assert_true(len < n);
    write_file("model.yaml", big, len);
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), 0);
    assert_int_equal(task_labels_count(c.labels), 100000);
    assert_label(c.labels, 99999, "c99999");
    model_conf_dispose(&c);
    /* a very long name */
    memcpy(big, "name: ", 6);
    memset(big + 6, 'n', 100000);
    big[100006] = '\n';
    write_file("model.yaml", big, 100007);
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), 0);
    assert_int_equal(strlen(c.name), 100000);
    model_conf_dispose(&c);
    free(big);
    /* model.yaml that is a folder */
    remove_file("model.yaml");
    char path[256];
    snprintf(path, sizeof path, "%s/model.yaml", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), -1);
    assert_non_null(strstr(err, "model.yaml: Is a directory"));
    rmdir(path);
}

/* Nesting is bounded before libyaml loads the document: its scanner is
 * quadratic in the flow depth (200000 '[' took 65 s; the 1 MB a model.yaml
 * may hold, half an hour). 32 levels, the root mapping included, pass. */
static void test_yaml_deep(void **state)
{
    (void)state;
    size_t depth = 200000;
    char *s = malloc(2 * depth + 16);
    assert_non_null(s);
    memcpy(s, "junk: ", 6);
    memset(s + 6, '[', depth);
    memset(s + 6 + depth, ']', depth);
    strcpy(s + 6 + 2 * depth, "\n");
    write_file("model.yaml", s, (size_t)-1);
    model_conf c;
    char err[256];
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), -1);
    assert_non_null(strstr(err, "model.yaml: line 1: nested deeper than 32 levels"));
    /* block style and mappings count the same */
    size_t len = 0;
    for (int i = 0; i < 40; i++)
        len += (size_t)sprintf(s + len, "%*sk%d:\n", 2 * i, "", i);
    len += (size_t)sprintf(s + len, "%*sv\n", 80, "");
    write_file("model.yaml", s, len);
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), -1);
    if (!strstr(err, "model.yaml: line 33: nested deeper than 32 levels")) fail_msg("%s", err);
    /* 32 levels in all: accepted; 33: refused */
    for (int extra = 0; extra < 2; extra++) {
        int n = 31 + extra;
        len = (size_t)sprintf(s, "name: deep\njunk: ");
        memset(s + len, '[', (size_t)n);
        memset(s + len + n, ']', (size_t)n);
        len += 2 * (size_t)n;
        s[len++] = '\n';
        write_file("model.yaml", s, len);
        int rc = model_conf_load(&c, onnx, shapes, err, sizeof err);
        if (extra) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, "model.yaml: line 2: nested deeper than 32 levels"));
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(c.name, "deep");
            model_conf_dispose(&c);
        }
    }
    /* a syntax error is still the loader's message */
    write_file("model.yaml", "junk: [[[\n", (size_t)-1);
    assert_int_equal(model_conf_load(&c, onnx, shapes, err, sizeof err), -1);
    assert_null(strstr(err, "nested"));
    assert_non_null(strstr(err, "model.yaml: line 2: "));
    free(s);
}

static void test_yaml_labels(void **state)
{
    (void)state;
    model_conf c;
    /* inline mapping with a gap and a quoted key: missing ids are numbered */
    expect_ok(shapes, "labels: {0: a, 2: c, '1': b, 5: f}\n", &c);
    assert_int_equal(task_labels_count(c.labels), 6);
    assert_label(c.labels, 1, "b");
    assert_label(c.labels, 3, "3");
    assert_label(c.labels, 5, "f");
    model_conf_dispose(&c);
    /* block list with spaces and quoted names; numbers are names too */
    expect_ok(shapes, "labels:\n  - traffic light\n  - 'a: b'\n  - 7\n", &c);
    assert_int_equal(task_labels_count(c.labels), 3);
    assert_label(c.labels, 0, "traffic light");
    assert_label(c.labels, 1, "a: b");
    assert_label(c.labels, 2, "7");
    model_conf_dispose(&c);
    /* an empty list: zero labels, classes numbered */
    expect_ok(shapes, "labels: []\n", &c);
    assert_int_equal(task_labels_count(c.labels), 0);
    model_conf_dispose(&c);
    /* labels_file relative to the yaml's folder, with CRLF and a BOM */
    write_file("names.txt", "\xEF\xBB\xBFzero\r\none  \r\n\r\nthree\n", (size_t)-1);
    expect_ok(shapes, "labels_file: names.txt\n", &c);
    assert_int_equal(task_labels_count(c.labels), 4);
    assert_label(c.labels, 0, "zero");
    assert_label(c.labels, 1, "one");
    assert_label(c.labels, 2, "2"); /* an empty line keeps its id */
    assert_label(c.labels, 3, "three");
    model_conf_dispose(&c);
    /* and absolute */
    char yaml[256];
    snprintf(yaml, sizeof yaml, "name: x\nlabels_file: %s/names.txt\n", dir);
    expect_ok(shapes, yaml, &c);
    assert_label(c.labels, 3, "three");
    model_conf_dispose(&c);
    remove_file("names.txt");
    /* missing: the file, the line and the reason */
    expect_error(shapes, "name: x\n\nlabels_file: nowhere.txt\n",
                 "model.yaml: line 3: labels_file: ");
    /* a NUL byte in the labels file */
    write_file("nul.txt", "a\nb\0c\n", 6);
    expect_error(shapes, "labels_file: nul.txt\n", "labels_file: ");
    remove_file("nul.txt");
    /* the committed labels.txt of resnet18 (1000 ImageNet classes) */
    snprintf(yaml, sizeof yaml, "labels_file: %s/models/resnet18/labels.txt\n", GLINT_SOURCE_DIR);
    expect_ok(red_disc, yaml, &c);
    assert_int_equal(task_labels_count(c.labels), 1000);
    model_conf_dispose(&c);
    /* labels take precedence over metadata names */
    expect_ok(dyn, "labels: [x, y]\n", &c);
    assert_label(c.labels, 0, "x");
    model_conf_dispose(&c);
}

/* ---- without model.yaml ---- */

static void test_defaults_detect(void **state)
{
    (void)state;
    model_conf c;
    expect_ok(shapes, NULL, &c);
    assert_null(c.yaml_path);
    assert_string_equal(c.name,
                        dir + 5); /* "/tmp/" + the folder: the name of model.onnx's folder */
    assert_int_equal(c.task, MODEL_TASK_DETECT);
    assert_int_equal(c.batch_free, 1);
    assert_int_equal(c.layout, DETECT_LAYOUT_V8); /* 7 rows < 256 columns */
    assert_int_equal(c.spec.mode, VISION_LETTERBOX);
    assert_int_equal(c.spec.width, 128);
    assert_int_equal(c.spec.height, 128);
    assert_int_equal(c.spec.pad_value, 114);
    for (int i = 0; i < 3; i++) {
        assert_close(c.spec.mean[i], 0.0);
        assert_close(c.spec.std[i], 1.0);
    }
    assert_close(c.detect.score_threshold, 0.25);
    assert_close(c.detect.iou_threshold, 0.7f);
    assert_int_equal(c.detect.max_det, 300);
    assert_int_equal(c.top_k, 5);
    assert_null(c.labels);
    model_serving zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&c.serving, &zero, sizeof zero);
    assert_string_equal(model_task_name(c.task), "detect");
    model_conf_dispose(&c);
    assert_string_equal(model_task_name(MODEL_TASK_CLASSIFY), "classify");
    assert_string_equal(model_task_name(MODEL_TASK_NONE), "none");
}

static void test_defaults_classify(void **state)
{
    (void)state;
    model_conf c;
    expect_ok(red_disc, NULL, &c);
    assert_int_equal(c.task, MODEL_TASK_CLASSIFY);
    assert_int_equal(c.spec.mode, VISION_CROP);
    assert_int_equal(c.spec.resize_short, 146); /* round(128 * 256 / 224) */
    const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f};
    for (int i = 0; i < 3; i++) {
        assert_close(c.spec.mean[i], m[i]);
        assert_close(c.spec.std[i], s[i]);
    }
    assert_int_equal(c.top_k, 5);
    model_conf_dispose(&c);
}

/* The name: the file's stem, the folder for model.onnx, never "." or "..". */
static void test_default_names(void **state)
{
    (void)state;
    static const struct {
        const char *path, *name;
    } cases[] = {
        {"/nowhere-glint/a/yolo11s.onnx", "yolo11s"}, {"/nowhere-glint/cam/model.onnx", "cam"},
        {"/nowhere-glint/./model.onnx", "model"},     {"/nowhere-glint/../model.onnx", "model"},
        {"/nowhere-glint/..x/model.onnx", "..x"},     {"/nowhere-glint/weights", "weights"},
        {"/nowhere-glint/x/.onnx", ".onnx"},          {"/model.onnx", "model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_conf c;
        char err[256] = "";
        if (model_conf_load(&c, cases[i].path, shapes, err, sizeof err))
            fail_msg("%s: %s", cases[i].path, err);
        if (strcmp(c.name, cases[i].name))
            fail_msg("%s: name '%s', wanted '%s'", cases[i].path, c.name, cases[i].name);
        model_conf_dispose(&c);
    }
}

/* ---- Ultralytics metadata ---- */

static void test_metadata_classify(void **state)
{
    (void)state;
    assert_string_equal(glint_model_metadata(dyn, "task"), "classify");
    assert_string_equal(glint_model_metadata(dyn, "imgsz"), "[12, 20]");
    model_conf c;
    expect_ok(dyn, NULL, &c);
    assert_int_equal(c.task, MODEL_TASK_CLASSIFY);
    assert_int_equal(c.spec.height, 12); /* imgsz is [h, w] */
    assert_int_equal(c.spec.width, 20);
    /* an Ultralytics classifier: short side max(W, H), mean 0, std 1 */
    assert_int_equal(c.spec.mode, VISION_CROP);
    assert_int_equal(c.spec.resize_short, 20);
    assert_close(c.spec.mean[0], 0.0);
    assert_close(c.spec.std[0], 1.0);
    assert_int_equal(task_labels_count(c.labels), 2);
    assert_label(c.labels, 0, "cat");
    assert_label(c.labels, 1, "dog");
    model_conf_dispose(&c);
    /* model.yaml wins over imgsz on free axes, and over the metadata task */
    expect_ok(dyn, "width: 32\nheight: 24\n", &c);
    assert_int_equal(c.spec.width, 32);
    assert_int_equal(c.spec.height, 24);
    assert_int_equal(c.spec.resize_short, 32);
    model_conf_dispose(&c);
    expect_error(dyn, "task: detect\n", "is not a YOLO detection output");
}

static void test_metadata_detect(void **state)
{
    (void)state;
    glint_model *y = load_model("models/yolov8n/model.onnx");
    assert_non_null(y);
    assert_string_equal(glint_model_metadata(y, "task"), "detect");
    model_conf c;
    expect_ok(y, NULL, &c);
    assert_int_equal(c.task, MODEL_TASK_DETECT);
    assert_int_equal(c.spec.width, 640);
    assert_int_equal(c.spec.height, 640);
    assert_int_equal(task_labels_count(c.labels), 80);
    assert_label(c.labels, 0, "person");
    assert_label(c.labels, 79, "toothbrush");
    assert_int_equal(c.layout, DETECT_LAYOUT_V8); /* 84 = 4 + 80 rows */
    assert_close(c.detect.iou_threshold, 0.7f);
    model_conf_dispose(&c);
    glint_model_free(y);
}

/* dynamic_hw with a metadata value replaced by one of the same length. */
static glint_model *patched(const char *from, const char *to)
{
    size_t n = strlen(from);
    assert_int_equal(strlen(to), n);
    unsigned char *b = malloc(dyn_len);
    assert_non_null(b);
    memcpy(b, dyn_bytes, dyn_len);
    unsigned char *at = memmem(b, dyn_len, from, n);
    assert_non_null(at);
    memcpy(at, to, n);
    glint_model *m = NULL;
    assert_int_equal(glint_model_load_buffer(b, dyn_len, NULL, &m), GLINT_OK);
    free(b);
    return m;
}

static void test_metadata_hostile(void **state)
{
    (void)state;
    model_conf c;
    char err[256];
    static const struct {
        const char *imgsz;
        int h, w;
    } sizes[] = {
        {"(7,9)   ", 7, 9},     {"16      ", 16, 16},   {"[99999] ", 224, 224},
        {"[0, 20] ", 224, 224}, {"-5      ", 224, 224}, {"abc     ", 224, 224},
        {"[8, 8193", 224, 224}, /* 8193 > VISION_MAX_SIDE: the whole imgsz is ignored */
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        glint_model *m = patched("[12, 20]", sizes[i].imgsz);
        assert_int_equal(model_conf_load(&c, "/nowhere-glint/model.onnx", m, err, sizeof err), 0);
        if (c.spec.height != sizes[i].h || c.spec.width != sizes[i].w)
            fail_msg("imgsz '%s': %dx%d, wanted %dx%d", sizes[i].imgsz, c.spec.height, c.spec.width,
                     sizes[i].h, sizes[i].w);
        model_conf_dispose(&c);
        glint_model_free(m);
    }
    /* a task glint does not run */
    glint_model *m = patched("classify", "segment_");
    assert_int_equal(model_conf_load(&c, "/nowhere-glint/model.onnx", m, err, sizeof err), -1);
    assert_non_null(
        strstr(err, "Ultralytics task 'segment_' is not supported (detect and classify are)"));
    glint_model_free(m);
    /* broken names: a warning, classes numbered, the model still loads */
    static const char *const names[] = {
        "{0: 'cat', 1: 'dog' ", "{0: 'cat', 1: dog  }",  "[0: 'cat', 1: 'dog']",
        "{0: 'cat', -1: 'dg'}", "{0: 'cat', 1: 'd\\x'}",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        m = patched("{0: 'cat', 1: 'dog'}", names[i]);
        assert_int_equal(model_conf_load(&c, "/nowhere-glint/model.onnx", m, err, sizeof err), 0);
        if (c.labels)
            fail_msg("names \"%s\" gave %d labels", names[i], task_labels_count(c.labels));
        model_conf_dispose(&c);
        glint_model_free(m);
    }
    /* a duplicate id: the last one wins, as in Python */
    m = patched("{0: 'cat', 1: 'dog'}", "{0: 'cat', 0: 'dog'}");
    assert_int_equal(model_conf_load(&c, "/nowhere-glint/model.onnx", m, err, sizeof err), 0);
    assert_int_equal(task_labels_count(c.labels), 1);
    assert_label(c.labels, 0, "dog");
    model_conf_dispose(&c);
    glint_model_free(m);
}

/* ---- model_conf_parse_names ---- */

static task_labels *names_ok(const char *s, int count)
{
    task_labels *l = (task_labels *)1;
    char err[256] = "";
    if (model_conf_parse_names(s, &l, err, sizeof err)) fail_msg("\"%s\" refused: %s", s, err);
    assert_non_null(l);
    if (task_labels_count(l) != count)
        fail_msg("\"%.60s\": %d names, wanted %d", s, task_labels_count(l), count);
    return l;
}

static void names_error(const char *s, const char *want)
{
    task_labels *l = (task_labels *)1;
    char err[256] = "";
    int rc = model_conf_parse_names(s, &l, err, sizeof err);
    if (rc != -1 || l || !strstr(err, want))
        fail_msg("\"%.60s\": wanted -1 and '%s', got %d '%s'", s, want, rc, err);
}

static void test_names_valid(void **state)
{
    (void)state;
    task_labels *l = names_ok("{0: 'person', 1: \"teddy's bear\", 2: 'say \"hi\"'}", 3);
    assert_label(l, 0, "person");
    assert_label(l, 1, "teddy's bear");
    assert_label(l, 2, "say \"hi\"");
    task_labels_destroy(l);
    /* spaces, newlines, tabs, a trailing comma, quoted keys (JSON style) */
    l = names_ok(" \n{ 0 :\t'a' ,\r\n '1':\"b\", \"2\" : 'c d',\n}\n ", 3);
    assert_label(l, 0, "a");
    assert_label(l, 1, "b");
    assert_label(l, 2, "c d");
    task_labels_destroy(l);
    /* a list, with a trailing comma */
    l = names_ok("['x', \"y\",]", 2);
    assert_label(l, 1, "y");
    task_labels_destroy(l);
    /* empty containers and an empty name */
    l = names_ok("{}", 0);
    task_labels_destroy(l);
    l = names_ok("[ ]", 0);
    task_labels_destroy(l);
    l = names_ok("{0: '', 1: 'b'}", 2);
    assert_label(l, 0, "0"); /* an empty name falls back to the number */
    task_labels_destroy(l);
    /* gaps and order: ids need not be sorted; missing ones are numbered */
    l = names_ok("{3: 'd', 0: 'a'}", 4);
    assert_label(l, 0, "a");
    assert_label(l, 1, "1");
    assert_label(l, 3, "d");
    task_labels_destroy(l);
    /* the largest id */
    l = names_ok("{999999: 'last'}", 1000000);
    assert_label(l, 999999, "last");
    assert_label(l, 0, "0");
    task_labels_destroy(l);
    /* leading zeros are the same id */
    l = names_ok("{007: 'bond'}", 8);
    assert_label(l, 7, "bond");
    task_labels_destroy(l);
    /* duplicate ids: the last wins (a Python dict literal does the same) */
    l = names_ok("{0: 'a', 1: 'b', 0: 'c'}", 2);
    assert_label(l, 0, "c");
    task_labels_destroy(l);
    /* the committed yolov8n metadata */
    glint_model *y = load_model("models/yolov8n/model.int8.onnx");
    assert_non_null(y);
    l = names_ok(glint_model_metadata(y, "names"), 80);
    assert_label(l, 9, "traffic light");
    assert_label(l, 77, "teddy bear");
    task_labels_destroy(l);
    glint_model_free(y);
}

static void test_names_escapes(void **state)
{
    (void)state;
    task_labels *l =
        names_ok("{0: 'a\\'b', 1: \"q\\\"x\", 2: 'tab\\there', 3: '\\x41\\u00e9\\U0001F600',"
                 " 4: 'back\\\\slash', 5: 'unk\\qx', 6: 'nl\\nx\\r', 7: 'cont\\\nd',"
                 " 8: '\\ud800', 9: 'caf\xc3\xa9', 10: '\\xff'}",
                 11);
    assert_label(l, 0, "a'b");
    assert_label(l, 1, "q\"x");
    assert_label(l, 2, "tab\there");
    assert_label(l, 3, "A\xc3\xa9\xf0\x9f\x98\x80");
    assert_label(l, 4, "back\\slash");
    assert_label(l, 5, "unk\\qx"); /* Python keeps unknown escapes */
    assert_label(l, 6, "nl\nx\r");
    assert_label(l, 7, "contd");        /* backslash-newline continues the line */
    assert_label(l, 8, "\xef\xbf\xbd"); /* a lone surrogate becomes U+FFFD */
    assert_label(l, 9, "caf\xc3\xa9");  /* raw UTF-8 passes through */
    assert_label(l, 10, "\xc3\xbf");    /* \xff is the code point U+00FF */
    task_labels_destroy(l);
    /* the other quote inside a string needs no escape */
    l = names_ok("[\"it's\", 'say \"x\"']", 2);
    assert_label(l, 0, "it's");
    task_labels_destroy(l);
}

static void test_names_hostile(void **state)
{
    (void)state;
    static const struct {
        const char *s, *want;
    } cases[] = {
        /* not a dict or list */
        {"", "expected '{' or '['"},
        {"   ", "expected '{' or '['"},
        {"person", "expected '{' or '['"},
        {"None", "expected '{' or '['"},
        {"(0, 'a')", "expected '{' or '['"},
        {"42", "expected '{' or '['"},
        /* unterminated */
        {"{", "expected a class id in 0..999999 at offset 1"},
        {"{0: 'abc", "unterminated string at offset 8"},
        {"{0: 'abc\\", "unterminated string at offset 9"},
        {"{0: \"abc'}", "unterminated string at offset 10"},
        {"{0: 'a'", "expected ',' or '}' at offset 7"},
        {"{0: 'a',", "expected a class id in 0..999999 at offset 8"},
        {"['a'", "expected ',' or ']' at offset 4"},
        {"{'1 : 'a'}", "unterminated key at offset 3"},
        /* ids */
        {"{-1: 'a'}", "expected a class id in 0..999999 at offset 1"},
        {"{+1: 'a'}", "expected a class id in 0..999999 at offset 1"},
        {"{1000000: 'a'}", "expected a class id in 0..999999 at offset 1"},
        {"{99999999999999999999999: 'a'}", "expected a class id in 0..999999 at offset 1"},
        {"{0x10: 'a'}", "expected ':' at offset 2"},
        {"{1.5: 'a'}", "expected ':' at offset 2"},
        {"{a: 'a'}", "expected a class id in 0..999999 at offset 1"},
        {"{'': 'a'}", "expected a class id in 0..999999 at offset 2"},
        /* structure */
        {"{0 'a'}", "expected ':' at offset 3"},
        {"{0: person}", "expected a quoted name at offset 4"},
        {"{0: 'a' 'b'}", "expected ',' or '}' at offset 8"},
        {"{0: 'a',, 1: 'b'}", "expected a class id in 0..999999 at offset 8"},
        {"{0: 'a'}]", "unexpected text at offset 8"},
        {"{0: 'a'} x", "unexpected text at offset 9"},
        {"['a']['b']", "unexpected text at offset 5"},
        {"{0: 'a']", "expected ',' or '}' at offset 7"},
        {"[0: 'a']", "expected a quoted name at offset 1"},
        {"{0: ['a']}", "expected a quoted name at offset 4"},
        {"[[[[[[[[[[[[[[[[", "expected a quoted name at offset 1"},
        {"{{{{{{{{{{{{{{{{", "expected a class id in 0..999999 at offset 1"},
        /* escapes: the offset is the backslash's */
        {"{0: '\\x4'}", "bad \\x escape at offset 5"},
        {"{0: '\\x00'}", "bad \\x escape at offset 5"},
        {"{0: 'ab\\u12'}", "bad \\u escape at offset 7"},
        {"{0: '\\U00110000'}", "bad \\U escape at offset 5"},
        {"{0: '\\UFFFFFFFF'}", "bad \\U escape at offset 5"},
        {"{0: '\\xg0'}", "bad \\x escape at offset 5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        names_error(cases[i].s, cases[i].want);
    /* a NUL byte ends the C string the metadata arrives as: what follows is never seen */
    const char nul[] = "{0: 'a\0b'}";
    names_error(nul, "unterminated string at offset 6");
}

static void test_names_big(void **state)
{
    (void)state;
    /* a very long name */
    size_t n = 1 << 20;
    char *s = malloc(n + 16);
    assert_non_null(s);
    s[0] = '[';
    s[1] = '\'';
    memset(s + 2, 'z', n);
    strcpy(s + 2 + n, "']");
    task_labels *l = names_ok(s, 1);
    char buf[TASK_LABELS_NUM_BUF];
    assert_int_equal(strlen(task_labels_name(l, 0, buf, sizeof buf)), n);
    task_labels_destroy(l);
    /* deep junk: a megabyte of '[' is refused at the second byte */
    memset(s, '[', n);
    s[n] = 0;
    names_error(s, "expected a quoted name at offset 1");
    free(s);
    /* a list of 1000000 names is the most; one more is refused */
    size_t cap = 1000001 * 4 + 4;
    s = malloc(cap);
    assert_non_null(s);
    size_t len = 0;
    s[len++] = '[';
    for (int i = 0; i < 1000000; i++) {
        memcpy(s + len, "'',", 3);
        len += 3;
    }
    s[len] = ']';
    s[len + 1] = 0;
    l = names_ok(s, 1000000);
    task_labels_destroy(l);
    memcpy(s + len, "'']", 4);
    names_error(s, "more than 1000000 names");
    free(s);
    /* err may be NULL */
    assert_int_equal(model_conf_parse_names("x", &l, NULL, 0), -1);
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_every_key),   cmocka_unit_test(test_text_tasks),
        cmocka_unit_test(test_yaml_committed),   cmocka_unit_test(test_yaml_enums),
        cmocka_unit_test(test_yaml_mean_std),    cmocka_unit_test(test_yaml_out_of_range),
        cmocka_unit_test(test_yaml_wrong_types), cmocka_unit_test(test_yaml_unknown_and_null),
        cmocka_unit_test(test_yaml_empty),       cmocka_unit_test(test_yaml_huge),
        cmocka_unit_test(test_yaml_deep),        cmocka_unit_test(test_yaml_labels),
        cmocka_unit_test(test_defaults_detect),  cmocka_unit_test(test_defaults_classify),
        cmocka_unit_test(test_default_names),    cmocka_unit_test(test_metadata_classify),
        cmocka_unit_test(test_metadata_detect),  cmocka_unit_test(test_metadata_hostile),
        cmocka_unit_test(test_names_valid),      cmocka_unit_test(test_names_escapes),
        cmocka_unit_test(test_names_hostile),    cmocka_unit_test(test_names_big),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
