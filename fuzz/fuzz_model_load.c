/* libFuzzer target for the engine's model loader: ONNX protobuf parsing,
 * graph building, the load-time passes (BN folding, fusion) and batch-1
 * planning, then, for a model that loads and whose inputs are small, a
 * reference-backend context and one run on zero-filled inputs.
 * Seeds: fuzz/corpus/model_load/ (the test models and small ONNX node tests).
 *
 *   scripts/fuzz.sh build-fuzz 600
 *   build-fuzz/fuzz_model_load -max_len=2000000 work/ fuzz/corpus/model_load
 *   build-fuzz/fuzz_model_load crash-file        (reproduce one input)
 *
 * No external data is resolved (base_dir NULL): the fuzzer never opens files.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glint/engine.h"

#define MAX_RUN_ELEMS 100000 /* run only models whose inputs hold at most this many */

static char sentinel[128];

/* Sets the thread's last error to a known message, so that a failure that
 * forgets to set its own is caught (it would leave this one in place). */
static void mark_error(void)
{
    glint_tensor t;
    glint_tensor_parse("\xff", 1, &t, NULL);
    if (!sentinel[0]) {
        snprintf(sentinel, sizeof sentinel, "%s", glint_last_error());
        if (!sentinel[0]) __builtin_trap();
    }
}

/* True if the last failure described itself. */
static int said_why(void)
{
    return glint_last_error()[0] && strcmp(glint_last_error(), sentinel) != 0;
}

/* Element count of an input at batch 1, or -1 if it is too large to run. */
static int64_t input_elems(const glint_io_info *info)
{
    int64_t n = 1;
    for (int d = 0; d < info->ndim; d++) {
        int64_t v = info->dims[d] < 0 ? 1 : info->dims[d];
        if (v > MAX_RUN_ELEMS || n * v > MAX_RUN_ELEMS) return -1;
        n *= v;
    }
    return n;
}

/* Runs m once on zeros if its inputs are small; frees what it allocates. */
static void run_once(glint_model *m)
{
    int n = glint_model_num_inputs(m);
    if (n > 64) return;
    glint_tensor in[64];
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        glint_io_info info;
        glint_model_input_info(m, i, &info);
        int64_t e = input_elems(&info);
        size_t es = glint_dtype_size(info.dtype);
        if (e < 0 || es == 0 || (total += e) > MAX_RUN_ELEMS) return;
        in[i] = (glint_tensor){.dtype = info.dtype, .ndim = info.ndim};
        for (int d = 0; d < info.ndim; d++)
            in[i].dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
    }
    static uint8_t zeros[MAX_RUN_ELEMS * 8 + 8]; /* read-only use: inputs are copied */
    for (int i = 0; i < n; i++)
        in[i].data = zeros;

    glint_context_options opt = {.threads = 1, .max_batch = 1, .backend = GLINT_BACKEND_REF};
    if (n > 0) { /* free spatial axes of input 0 run at size 1, as its zeros do */
        glint_io_info info;
        glint_model_input_info(m, 0, &info);
        for (int d = 1; d < info.ndim; d++)
            if (info.dims[d] < 0) opt.input_dims[d] = 1;
    }
    glint_context *c = NULL;
    mark_error();
    if (glint_context_create(m, &opt, &c) != GLINT_OK) {
        if (c || !said_why()) __builtin_trap(); /* failures say why */
        return;
    }
    mark_error();
    if (glint_context_run(c, in, n) == GLINT_OK) {
        for (int i = 0; i < glint_model_num_outputs(m); i++) {
            glint_tensor out;
            glint_context_output(c, i, &out);
            if (out.ndim < 0 || out.ndim > GLINT_MAX_DIMS) __builtin_trap();
        }
    } else if (!said_why()) {
        __builtin_trap();
    }
    glint_context_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    glint_model *m = NULL;
    mark_error();
    if (glint_model_load_buffer(data, size, NULL, &m) != GLINT_OK) {
        if (m || !said_why()) __builtin_trap(); /* failures say why, own nothing */
        return 0;
    }
    if (!m || glint_model_num_outputs(m) < 1) __builtin_trap();
    run_once(m);
    glint_model_free(m);
    return 0;
}
