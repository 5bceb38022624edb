/* Unit tests of src/serve/precision: which precision a model folder gets.
 * auto with a passing bf16 report on an export with free H and W (the
 * engine's dynamic_hw test model) times f32 and bf16 at the size it will
 * run and picks one, saying so; the reports that fail or are missing are
 * refused with the reason; a broken model.int8.onnx beside a passing
 * report is refused, not fatal; precision names round-trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glint/engine.h"
#include "model/model_conf.h"
#include "model/precision.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *const passing = "{\"chosen_report\": {\"passes\": true, \"f1\": 1.0}}";

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/glint-precision-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s/tests/data/onnx/dynamic_hw/model.onnx %s/", GLINT_SOURCE_DIR,
             dir);
    return system(cmd);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static glint_model *load(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    glint_model *m = NULL;
    assert_int_equal(glint_model_load(path, &m), GLINT_OK);
    return m;
}

static void test_auto_dynamic_hw(void **state)
{
    (void)state;
    write_file("model.bf16.report.json", passing);
    glint_model *m = load();
    char note[600] = "", err[256] = "";
    int chosen = -1;
    const int64_t dims[4] = {0, 3, 24, 32};
    assert_int_equal(precision_settle(dir, MODEL_PRECISION_AUTO, 1, dims, &m, &chosen, note,
                                      sizeof note, err, sizeof err),
                     0);
    assert_true(chosen == MODEL_PRECISION_F32 || chosen == MODEL_PRECISION_BF16);
    assert_non_null(strstr(note, "f32 ")); /* both timed, with their figures */
    assert_non_null(strstr(note, "bf16 "));
    assert_non_null(strstr(note, "no model.int8.onnx"));
    /* without the size, f32 itself cannot run: an error, not a choice */
    int chosen2 = -1;
    assert_int_equal(precision_settle(dir, MODEL_PRECISION_AUTO, 1, NULL, &m, &chosen2, note,
                                      sizeof note, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "timing failed"));
    glint_model_free(m);
}

static void test_auto_refusals(void **state)
{
    (void)state;
    write_file("model.bf16.report.json",
               "{\"chosen_report\": {\"passes\": false, \"f1\": 0.5, \"bar_f1\": 0.95}}");
    write_file("model.int8.onnx", "\x08\x07 not a model");
    write_file("model.int8.onnx.report.json", passing);
    glint_model *m = load(), *before = m;
    char note[600] = "", err[256] = "";
    int chosen = -1;
    const int64_t dims[4] = {0, 3, 24, 32};
    assert_int_equal(precision_settle(dir, MODEL_PRECISION_AUTO, 1, dims, &m, &chosen, note,
                                      sizeof note, err, sizeof err),
                     0);
    assert_int_equal(chosen, MODEL_PRECISION_F32);
    assert_ptr_equal(m, before);
    assert_non_null(strstr(note, "int8 refused: "));
    assert_non_null(strstr(note, "bf16 refused: agreement below the bar: detection F1 0.500"));
    /* asked for int8 outright, the broken file is an error */
    assert_int_equal(precision_settle(dir, MODEL_PRECISION_INT8, 1, dims, &m, &chosen, note,
                                      sizeof note, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "model.int8.onnx"));
    glint_model_free(m);
    char path[128];
    snprintf(path, sizeof path, "%s/model.int8.onnx", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.int8.onnx.report.json", dir);
    unlink(path);
}

static void test_names(void **state)
{
    (void)state;
    const char *names[] = {"f32", "int8", "bf16"};
    for (int i = 0; i < 3; i++)
        assert_string_equal(precision_name(precision_parse(names[i])), names[i]);
    assert_int_equal(precision_parse("auto"), MODEL_PRECISION_AUTO);
    assert_int_equal(precision_parse("fp16"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_dynamic_hw),
        cmocka_unit_test(test_auto_refusals),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
