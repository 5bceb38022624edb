/* A model folder's precision: f32 (model.onnx), int8 (model.int8.onnx, the
 * QDQ model glint quantize writes beside it), bf16 (model.onnx with its
 * convolutions computed in bf16) or auto — the fastest of those whose
 * agreement report passes (f32 needs none; int8 reads
 * model.int8.onnx.report.json, bf16 model.bf16.report.json, both written by
 * glint quantize), measured here as the median of 9 interleaved batch-1
 * runs on the given threads. Shared by glint serve and glint run.
 * Reentrant.
 */
#ifndef GLINT_MODEL_PRECISION_H
#define GLINT_MODEL_PRECISION_H

#include <stddef.h>

#include "glint/engine.h"

/* `prec` is a model_precision (model_conf.h). *model holds the folder's
 * loaded model.onnx; when int8 is chosen it is replaced by model.int8.onnx
 * (the f32 model freed). input_dims (may be NULL) sizes the timing runs as
 * glint_context_options.input_dims does (an export with free H and W).
 * Sets *chosen (MODEL_PRECISION_F32, _INT8 or _BF16: create contexts with
 * options.bf16 = 1) and a one-line note saying how it was chosen (auto:
 * with the timings and each refusal; a candidate that cannot run here is
 * refused, not fatal). Returns 0, or -1 with err (int8 asked for and not
 * loadable, f32 cannot run); *model is then unchanged. */
int precision_settle(const char *dir, int prec, int threads, const int64_t *input_dims,
                     glint_model **model, int *chosen, char *note, size_t note_size, char *err,
                     size_t err_size);

/* Whether precision prec (f32, int8 or bf16) may serve the folder dir: f32
 * always; int8 with model.int8.onnx and its agreement report passing; bf16
 * with its report passing. 0 with why otherwise. */
int precision_allowed(const char *dir, int prec, char *why, size_t why_size);

/* "f32", "int8", "bf16" for a settled precision. */
const char *precision_name(int chosen);
/* The model_precision "f32", "int8", "bf16" or "auto" names, or -1. */
int precision_parse(const char *s);

#endif
