/* A model folder's precision: f32 (model.onnx), int8 (model.int8.onnx, the
 * QDQ model glint quantize writes beside it) or auto — int8 only when its
 * agreement report (model.int8.onnx.report.json) passes its bar and int8
 * measures faster than f32 here (median of 9 interleaved batch-1 runs on
 * the given threads), else f32 with the reason. Shared by glint serve and
 * glint run. Reentrant.
 */
#ifndef GLINT_SERVE_PRECISION_H
#define GLINT_SERVE_PRECISION_H

#include <stddef.h>

#include "glint/engine.h"

/* `prec` is a model_precision (model_conf.h). *model holds the folder's
 * loaded model.onnx; when int8 is chosen it is replaced by model.int8.onnx
 * (the f32 model freed). Sets *chosen (MODEL_PRECISION_F32 or _INT8) and
 * a one-line note saying how it was chosen (auto: with the timings).
 * Returns 0, or -1 with err (int8 asked for and not loadable, timing
 * failed); *model is then unchanged. */
int precision_settle(const char *dir, int prec, int threads, glint_model **model, int *chosen,
                     char *note, size_t note_size, char *err, size_t err_size);

#endif
