/* Unit tests of src/model/package: model_package_open/settle/close on the
 * committed models/red_disc folder (model.onnx, model.yaml saying precision
 * auto, model.int8.onnx with a passing agreement report), on a bare .onnx
 * file, on a missing path, on a folder without model.onnx and on folders
 * with a broken model.yaml; settle f32, int8, bf16 and auto (auto's choice
 * depends on timing: only the candidates, the note's content and the model
 * that runs are asserted), int8 and auto on a bare file refused, int8
 * without model.int8.onnx refused with the f32 model kept; context options
 * and the package signature. Temporary folders hold symlinks to the
 * committed model.onnx. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glint/engine.h"
#include "model/model_conf.h"
#include "model/package.h"
#include "model/precision.h"
#include "tasks/labels.h"

static char tmp[64];
static char red_disc[512]; /* the committed folder */

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/glint-package-XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    snprintf(red_disc, sizeof red_disc, "%s/models/red_disc", GLINT_SOURCE_DIR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    return system(cmd);
}

/* Makes tmp/name (fresh) holding a symlink model.onnx -> red_disc's, and
 * model.yaml with `yaml` unless NULL. Returns the folder's path (static). */
static const char *make_folder(const char *name, const char *yaml)
{
    static char path[256];
    char cmd[600], file[512], target[600];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", path, path);
    assert_int_equal(system(cmd), 0);
    snprintf(file, sizeof file, "%s/model.onnx", path);
    snprintf(target, sizeof target, "%s/model.onnx", red_disc);
    assert_int_equal(symlink(target, file), 0);
    if (yaml) {
        snprintf(file, sizeof file, "%s/model.yaml", path);
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fputs(yaml, f);
        fclose(f);
    }
    return path;
}

static void assert_contains(const char *s, const char *want)
{
    if (!strstr(s, want)) fail_msg("'%s' does not hold '%s'", s, want);
}

static void assert_closed(const model_package *p)
{
    assert_null(p->dir);
    assert_null(p->onnx_path);
    assert_null(p->model);
    assert_null(p->conf.name);
    assert_null(p->conf.labels);
}

static void test_open_folder(void **state)
{
    (void)state;
    model_package p;
    char err[256] = "";
    assert_int_equal(model_package_open(&p, red_disc, err, sizeof err), 0);
    assert_string_equal(p.dir, red_disc);
    char want[600];
    snprintf(want, sizeof want, "%s/model.onnx", red_disc);
    assert_string_equal(p.onnx_path, want);
    assert_non_null(p.model);
    assert_int_equal(p.precision, MODEL_PRECISION_F32); /* before settle */
    /* the configuration is model.yaml's */
    assert_string_equal(p.conf.name, "red_disc");
    assert_int_equal(p.conf.task, MODEL_TASK_CLASSIFY);
    assert_int_equal(p.conf.spec.width, 128);
    assert_int_equal(p.conf.spec.mode, VISION_LETTERBOX);
    assert_int_equal(task_labels_count(p.conf.labels), 2);
    assert_int_equal(p.conf.serving.precision, MODEL_PRECISION_AUTO);
    snprintf(want, sizeof want, "%s/model.yaml", red_disc);
    assert_string_equal(p.conf.yaml_path, want);
    /* context options: the settled precision and the configured size */
    glint_context_options co;
    model_package_context_options(&p, 3, 8, &co);
    assert_int_equal(co.threads, 3);
    assert_int_equal(co.max_batch, 8);
    assert_int_equal(co.bf16, 0);
    assert_int_equal(co.input_dims[2], 128);
    assert_int_equal(co.input_dims[3], 128);
    model_package_close(&p);
    assert_closed(&p);
    model_package_close(&p); /* twice, and NULL */
    model_package_close(NULL);
}

static void test_settle_f32_int8(void **state)
{
    (void)state;
    model_package p;
    char err[256] = "";
    assert_int_equal(model_package_open(&p, red_disc, err, sizeof err), 0);
    glint_model *f32 = p.model;
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_F32, 1, err, sizeof err), 0);
    assert_int_equal(p.precision, MODEL_PRECISION_F32);
    assert_string_equal(p.precision_note, "f32 as configured");
    assert_ptr_equal(p.model, f32);
    model_package_close(&p);

    assert_int_equal(model_package_open(&p, red_disc, err, sizeof err), 0);
    f32 = p.model;
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_INT8, 1, err, sizeof err), 0);
    assert_int_equal(p.precision, MODEL_PRECISION_INT8);
    assert_string_equal(p.precision_note, "int8 as configured");
    /* the model that runs is model.int8.onnx (loaded while the f32 one was
     * still held, so a different pointer), and it runs */
    assert_non_null(p.model);
    assert_ptr_not_equal(p.model, f32);
    glint_context_options co;
    model_package_context_options(&p, 1, 1, &co);
    assert_int_equal(co.bf16, 0);
    glint_context *ctx = NULL;
    assert_int_equal(glint_context_create(p.model, &co, &ctx), GLINT_OK);
    assert_int_equal(glint_context_warm(ctx), GLINT_OK);
    glint_context_free(ctx);
    /* the configuration stays the float model's */
    assert_string_equal(p.conf.name, "red_disc");
    assert_int_equal(task_labels_count(p.conf.labels), 2);
    model_package_close(&p);
    assert_closed(&p);

    /* bf16 in a folder: model.onnx, contexts made with bf16 */
    assert_int_equal(model_package_open(&p, red_disc, err, sizeof err), 0);
    f32 = p.model;
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_BF16, 1, err, sizeof err), 0);
    assert_int_equal(p.precision, MODEL_PRECISION_BF16);
    assert_string_equal(p.precision_note, "bf16 as configured");
    assert_ptr_equal(p.model, f32);
    model_package_context_options(&p, 1, 1, &co);
    assert_int_equal(co.bf16, 1);
    model_package_close(&p);
}

/* precision auto (red_disc's model.yaml says so: DEFAULT follows it). */
static void test_settle_auto(void **state)
{
    (void)state;
    model_package p;
    char err[256] = "";
    assert_int_equal(model_package_open(&p, red_disc, err, sizeof err), 0);
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_DEFAULT, 1, err, sizeof err), 0);
    const char *note = p.precision_note;
    print_message("note: %s\n", note);
    assert_true(p.precision == MODEL_PRECISION_F32 || p.precision == MODEL_PRECISION_INT8 ||
                p.precision == MODEL_PRECISION_BF16);
    /* "auto: <chosen> (batch 1, 1 thread(s): f32 x ms, int8 y ms[, bf16 z ms]; ...)" */
    char head[64];
    snprintf(head, sizeof head, "auto: %s (batch 1, 1 thread(s): f32 ",
             precision_name(p.precision));
    if (strncmp(note, head, strlen(head))) fail_msg("note '%s' does not start '%s'", note, head);
    assert_contains(note, ", int8 "); /* its report passes: int8 was timed */
    assert_contains(note, "agreement reports pass");
    /* bf16's report passes too: either timed, or refused because it cannot run here */
    if (!strstr(note, ", bf16 ")) {
        assert_contains(note, "bf16 cannot run here: ");
        assert_int_not_equal(p.precision, MODEL_PRECISION_BF16);
    }
    /* the model follows the choice: a context of it runs */
    glint_context_options co;
    model_package_context_options(&p, 1, 1, &co);
    assert_int_equal(co.bf16, p.precision == MODEL_PRECISION_BF16);
    glint_context *ctx = NULL;
    assert_int_equal(glint_context_create(p.model, &co, &ctx), GLINT_OK);
    assert_int_equal(glint_context_warm(ctx), GLINT_OK);
    glint_context_free(ctx);
    model_package_close(&p);
}

/* auto in a folder with nothing beside model.onnx: f32, saying why. */
static void test_settle_auto_alone(void **state)
{
    (void)state;
    const char *dir = make_folder("alone", NULL);
    model_package p;
    char err[256] = "";
    assert_int_equal(model_package_open(&p, dir, err, sizeof err), 0);
    assert_null(p.conf.yaml_path);
    assert_string_equal(p.conf.name, "alone");
    assert_int_equal(p.conf.serving.precision, MODEL_PRECISION_DEFAULT);
    glint_model *f32 = p.model;
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_AUTO, 1, err, sizeof err), 0);
    assert_int_equal(p.precision, MODEL_PRECISION_F32);
    assert_ptr_equal(p.model, f32);
    char want[512];
    snprintf(want, sizeof want,
             "auto: f32; no model.int8.onnx; bf16 refused: no agreement report "
             "%s/model.bf16.report.json (write it with glint quantize)",
             dir);
    assert_string_equal(p.precision_note, want);
    /* DEFAULT with no model.yaml is f32 */
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_DEFAULT, 1, err, sizeof err), 0);
    assert_string_equal(p.precision_note, "f32 as configured");
    model_package_close(&p);
}

/* int8 asked for (by model.yaml) in a folder without model.int8.onnx. */
static void test_settle_int8_missing(void **state)
{
    (void)state;
    const char *dir = make_folder("no_int8", "precision: int8\n");
    model_package p;
    char err[256] = "";
    assert_int_equal(model_package_open(&p, dir, err, sizeof err), 0);
    assert_int_equal(p.conf.serving.precision, MODEL_PRECISION_INT8);
    glint_model *f32 = p.model;
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_DEFAULT, 1, err, sizeof err), -1);
    assert_contains(err, "precision int8: ");
    assert_contains(err, "model.int8.onnx");
    assert_contains(err, "(write it with glint quantize)");
    /* the package keeps its f32 model and can still settle */
    assert_ptr_equal(p.model, f32);
    assert_int_equal(p.precision, MODEL_PRECISION_F32);
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_F32, 1, err, sizeof err), 0);
    assert_string_equal(p.precision_note, "f32 as configured");
    model_package_close(&p);
}

static void test_bare_file(void **state)
{
    (void)state;
    char file[256], cmd[1200];
    snprintf(file, sizeof file, "%s/disc.onnx", tmp);
    snprintf(cmd, sizeof cmd, "cp %s/model.onnx %s", red_disc, file);
    assert_int_equal(system(cmd), 0);
    model_package p;
    char err[256] = "";
    assert_int_equal(model_package_open(&p, file, err, sizeof err), 0);
    assert_null(p.dir);
    assert_string_equal(p.onnx_path, file);
    assert_string_equal(p.conf.name, "disc"); /* the file's stem */
    assert_null(p.conf.yaml_path);
    assert_int_equal(p.conf.task, MODEL_TASK_CLASSIFY);
    assert_int_equal(p.conf.spec.mode, VISION_CROP); /* no model.yaml: torchvision defaults */
    /* int8 and auto need a folder: refused, f32 kept */
    glint_model *f32 = p.model;
    static const int refused[] = {MODEL_PRECISION_INT8, MODEL_PRECISION_AUTO};
    for (int i = 0; i < 2; i++) {
        err[0] = 0;
        assert_int_equal(model_package_settle(&p, refused[i], 1, err, sizeof err), -1);
        char want[512];
        snprintf(want, sizeof want,
                 "%s: precision int8 and auto need a model folder (with model.int8.onnx from "
                 "glint quantize)",
                 file);
        assert_string_equal(err, want);
        assert_ptr_equal(p.model, f32);
        assert_int_equal(p.precision, MODEL_PRECISION_F32);
    }
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_BF16, 1, err, sizeof err), 0);
    assert_int_equal(p.precision, MODEL_PRECISION_BF16);
    assert_string_equal(p.precision_note, "bf16 as configured");
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_F32, 1, err, sizeof err), 0);
    assert_int_equal(p.precision, MODEL_PRECISION_F32);
    assert_string_equal(p.precision_note, "f32 as configured");
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_DEFAULT, 1, err, sizeof err), 0);
    assert_string_equal(p.precision_note, "f32 as configured");
    model_package_close(&p);
    assert_closed(&p);
    unlink(file);
}

/* A model.onnx opened as a file beside a model.yaml that says precision
 * auto: the default settles f32 (the folder's int8 form is not this file's),
 * asking for auto is still refused. */
static void test_bare_file_beside_auto_yaml(void **state)
{
    (void)state;
    char file[300], err[256] = "";
    snprintf(file, sizeof file, "%s/model.onnx", red_disc);
    model_package p;
    assert_int_equal(model_package_open(&p, file, err, sizeof err), 0);
    assert_null(p.dir);
    assert_int_equal(p.conf.serving.precision, MODEL_PRECISION_AUTO);
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_DEFAULT, 1, err, sizeof err), 0);
    assert_int_equal(p.precision, MODEL_PRECISION_F32);
    assert_string_equal(p.precision_note,
                        "f32: model.yaml's auto applies to the folder, not to a bare file");
    assert_int_equal(model_package_settle(&p, MODEL_PRECISION_AUTO, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "need a model folder"));
    model_package_close(&p);
}

static void test_open_errors(void **state)
{
    (void)state;
    model_package p;
    char err[256] = "", path[300];
    /* a missing path */
    snprintf(path, sizeof path, "%s/nowhere", tmp);
    assert_int_equal(model_package_open(&p, path, err, sizeof err), -1);
    char want[400];
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    assert_string_equal(err, want);
    assert_closed(&p);
    /* a folder without model.onnx */
    snprintf(path, sizeof path, "%s/empty", tmp);
    assert_int_equal(mkdir(path, 0700), 0);
    err[0] = 0;
    assert_int_equal(model_package_open(&p, path, err, sizeof err), -1);
    assert_contains(err, "model.onnx");
    assert_closed(&p);
    rmdir(path);
    /* a file that is not a model */
    snprintf(path, sizeof path, "%s/junk.onnx", tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a model", f);
    fclose(f);
    err[0] = 0;
    assert_int_equal(model_package_open(&p, path, err, sizeof err), -1);
    assert_true(err[0] != 0);
    assert_closed(&p);
    unlink(path);
}

/* A broken model.yaml fails the open with the file, line and key. */
static void test_broken_yaml(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"width: 0\n", "model.yaml: line 1: width: expected an integer in [1, 8192], got '0'"},
        {"name: x\nprecision: fp16\n",
         "model.yaml: line 2: precision: expected f32, int8, bf16 or auto, got 'fp16'"},
        {"task: [\n", "model.yaml: line 2: "},
        {"- a\n- b\n", "model.yaml: expected a mapping of keys"},
        {"labels_file: missing.txt\n", "model.yaml: line 1: labels_file: "},
        {"width: 64\n", "model.yaml: width: 64, but the model's input 'input' is fixed at 128"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = make_folder("broken", cases[i].yaml);
        char want[512];
        snprintf(want, sizeof want, "%s/%s", dir, cases[i].want);
        model_package p;
        char err[256] = "";
        assert_int_equal(model_package_open(&p, dir, err, sizeof err), -1);
        if (strncmp(err, want, strlen(want)))
            fail_msg("model.yaml '%s': error '%s', wanted '%s'", cases[i].yaml, err, want);
        assert_closed(&p);
    }
}

/* The signature changes with model.yaml and model.int8.onnx, not otherwise. */
static void test_sig(void **state)
{
    (void)state;
    const char *dir = make_folder("sig", "name: a\n");
    char d[256], file[300];
    snprintf(d, sizeof d, "%s", dir);
    uint64_t s1 = model_package_sig(d);
    assert_int_not_equal(s1, 0);
    assert_int_equal(model_package_sig(d), s1);
    snprintf(file, sizeof file, "%s/model.yaml", d);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("name: longer\n", f);
    fclose(f);
    uint64_t s2 = model_package_sig(d);
    assert_int_not_equal(s2, s1);
    snprintf(file, sizeof file, "%s/model.int8.onnx", d);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_not_equal(model_package_sig(d), s2);
    /* files that are not the package's do not count */
    uint64_t s3 = model_package_sig(d);
    snprintf(file, sizeof file, "%s/notes.txt", d);
    f = fopen(file, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
    assert_int_equal(model_package_sig(d), s3);
    snprintf(file, sizeof file, "%s/nothing-here", tmp);
    assert_int_equal(model_package_sig(file), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_folder),
        cmocka_unit_test(test_settle_f32_int8),
        cmocka_unit_test(test_settle_auto),
        cmocka_unit_test(test_settle_auto_alone),
        cmocka_unit_test(test_settle_int8_missing),
        cmocka_unit_test(test_bare_file),
        cmocka_unit_test(test_bare_file_beside_auto_yaml),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_broken_yaml),
        cmocka_unit_test(test_sig),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
