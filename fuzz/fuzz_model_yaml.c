/* libFuzzer target for src/model/model_conf's model.yaml reading: the input
 * is a model.yaml. model_conf has no text entry point (model_conf_load reads
 * <folder of the .onnx>/model.yaml), so each input is written to model.yaml
 * in a private temporary folder and loaded against two committed models:
 * models/shapes (detect, fixed [?,3,128,128]) and tests/data/onnx/dynamic_hw
 * (classify, free H and W, Ultralytics metadata). Checks, beyond "no crash,
 * no leak, bounded time": a refusal says why and leaves the conf empty; an
 * accepted conf is within every limit model_conf.h states (tensor sides,
 * thresholds, std > 0, batch and serving ranges, rising preferred sizes at
 * most max_batch) and a fixed input keeps its size.
 * Seeds: fuzz/corpus/model_yaml/ (the committed model.yaml files and the
 * keys they do not use).
 *
 *   build-fuzz/fuzz_model_yaml -max_len=65536 work/ fuzz/corpus/model_yaml
 *
 * GLINT_SOURCE_DIR (environment) locates models/ and tests/ when the
 * fuzzer runs away from the tree it was built from.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glint/engine.h"
#include "model/model_conf.h"
#include "tasks/labels.h"

static char dir[64], yaml_path[128], onnx_path[128];
static glint_model *models[2];

static glint_model *load(const char *rel)
{
    const char *root = getenv("GLINT_SOURCE_DIR");
    char path[4096];
    if (root)
        snprintf(path, sizeof path, "%s/%s", root, rel);
    else /* this file is <root>/fuzz/fuzz_model_yaml.c */
        snprintf(path, sizeof path, "%.*s/../%s", (int)(strrchr(__FILE__, '/') - __FILE__),
                 __FILE__, rel);
    glint_model *m = NULL;
    if (glint_model_load(path, &m)) {
        fprintf(stderr, "fuzz_model_yaml: %s: %s (set GLINT_SOURCE_DIR)\n", path,
                glint_last_error());
        exit(1);
    }
    return m;
}

static void cleanup(void)
{
    unlink(yaml_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fuzz-model-yaml-XXXXXX");
    if (!mkdtemp(dir)) abort();
    snprintf(yaml_path, sizeof yaml_path, "%s/model.yaml", dir);
    snprintf(onnx_path, sizeof onnx_path, "%s/model.onnx", dir);
    atexit(cleanup);
    models[0] = load("models/shapes/model.onnx");
    models[1] = load("tests/data/onnx/dynamic_hw/model.onnx");
    return 0;
}

static void check(const model_conf *c, int fixed)
{
    const model_serving *s = &c->serving;
    if (!c->name || !c->name[0] || !c->yaml_path) abort();
    if (c->task != MODEL_TASK_DETECT && c->task != MODEL_TASK_CLASSIFY) abort();
    if (c->spec.width < 1 || c->spec.width > VISION_MAX_SIDE || c->spec.height < 1 ||
        c->spec.height > VISION_MAX_SIDE)
        abort();
    if (fixed && (c->spec.width != 128 || c->spec.height != 128)) abort();
    for (int i = 0; i < 3; i++)
        if (!(c->spec.std[i] > 0) || c->spec.mean[i] != c->spec.mean[i]) abort();
    if (!(c->detect.score_threshold >= 0 && c->detect.score_threshold <= 1)) abort();
    if (!(c->detect.iou_threshold >= 0 && c->detect.iou_threshold <= 1)) abort();
    if (c->detect.max_det < 1 || c->top_k < 1) abort();
    if (c->task == MODEL_TASK_DETECT && c->layout != DETECT_LAYOUT_V8 &&
        c->layout != DETECT_LAYOUT_V5)
        abort();
    if (s->max_batch < 0 || s->max_batch > MODEL_MAX_BATCH) abort();
    if (s->n_preferred < 0 || s->n_preferred > MODEL_MAX_BATCH) abort();
    for (int i = 0; i < s->n_preferred; i++) {
        if (s->preferred[i] < 1 || (i && s->preferred[i] <= s->preferred[i - 1])) abort();
        if (s->max_batch && s->preferred[i] > s->max_batch) abort();
    }
    if (s->instances < 0 || s->instances > MODEL_MAX_INSTANCES) abort();
    if (s->precision < MODEL_PRECISION_DEFAULT || s->precision > MODEL_PRECISION_BF16) abort();
    int n = task_labels_count(c->labels);
    if (n < 0 || n > TASK_LABELS_MAX_COUNT) abort();
    char buf[TASK_LABELS_NUM_BUF];
    if (n && !task_labels_name(c->labels, n - 1, buf, sizeof buf)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MODEL_CONF_MAX_BYTES) return 0;
    FILE *f = fopen(yaml_path, "wb");
    if (!f) abort();
    if (fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    for (int k = 0; k < 2; k++) {
        model_conf c;
        char err[MODEL_CONF_ERR_MAX] = "";
        if (model_conf_load(&c, onnx_path, models[k], err, sizeof err)) {
            if (!err[0] || c.name || c.labels || c.yaml_path) abort();
            continue;
        }
        check(&c, k == 0);
        model_conf_dispose(&c);
    }
    return 0;
}
