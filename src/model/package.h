/* model_package: one model as a folder (model.onnx, model.yaml, labels,
 * optional model.int8.onnx and agreement reports) or a bare .onnx file,
 * opened the same way by glint run, quantize, check and serve:
 *
 *   model_package p;
 *   model_package_open(&p, "models/yolov8n", err, sizeof err);   model + conf
 *   model_package_settle(&p, MODEL_PRECISION_AUTO, threads, ...); precision
 *   model_package_context_options(&p, threads, max_batch, &co);   contexts
 *   ...
 *   model_package_close(&p);
 *
 * The configuration is read once, from model.onnx's folder and metadata,
 * before the precision is chosen (an int8 form serves under the float
 * model's configuration).
 *
 * Thread-safety: a package belongs to one thread while it is opened and
 * settled; afterwards it is read-only (the engine model is shareable).
 */
#ifndef GLINT_MODEL_PACKAGE_H
#define GLINT_MODEL_PACKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "glint/engine.h"
#include "model/model_conf.h"

#define MODEL_PACKAGE_NOTE_MAX 320

typedef struct model_package {
    char *dir;          /* the folder (owned), or NULL for a bare .onnx file */
    char *onnx_path;    /* its model.onnx, or the file (owned) */
    glint_model *model; /* the engine model that runs (owned) */
    model_conf conf;
    int precision; /* MODEL_PRECISION_F32, _INT8 or _BF16 once settled (F32 before) */
    char precision_note[MODEL_PACKAGE_NOTE_MAX]; /* how it was chosen */
} model_package;

/* Opens `path` (a folder holding model.onnx, or an .onnx file): loads the
 * model and its configuration. 0, or -1 with err; *p is then closed. */
int model_package_open(model_package *p, const char *path, char *err, size_t err_size);

/* Chooses the precision that runs: `prec` is a model_precision
 * (MODEL_PRECISION_DEFAULT: what model.yaml says, f32 if nothing); `threads`
 * the engine threads precision auto times the candidates on. int8 and auto
 * need a folder. 0, or -1 with err (the package keeps its f32 model). */
int model_package_settle(model_package *p, int prec, int threads, char *err, size_t err_size);

/* Context options for the package: threads, max_batch, bf16 as settled, and
 * the configured input size for an export with free spatial axes. */
void model_package_context_options(const model_package *p, int threads, int max_batch,
                                   glint_context_options *co);

/* A number that changes when the package's files change (mtime, size and
 * inode of model.onnx, model.int8.onnx and model.yaml in dir). */
uint64_t model_package_sig(const char *dir);

/* Frees what the package holds. Accepts a zeroed or closed package. */
void model_package_close(model_package *p);

#endif
