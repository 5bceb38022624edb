/* model/reference: a model checked against reference input/output pairs,
 * the ONNX way (TensorProto files: input_N.pb / output_N.pb, as in ONNX's
 * backend tests and onnx_test_runner): used by glint check for whole test
 * folders and by glint serve before a pulled model version may serve.
 *
 * Thread-safety: reentrant.
 */
#ifndef GLINT_MODEL_REFERENCE_H
#define GLINT_MODEL_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "glint/engine.h"

/* Reads a TensorProto file into t (t->data malloc'd). GLINT_OK, or a status
 * with the reason in err. */
glint_status model_load_pb(const char *path, glint_tensor *t, char *err, size_t err_size);

/* How close an output must be: |got - want| <= atol + rtol * |want| per
 * element, or, with rel_l2 > 0, the relative L2 error of the whole. */
typedef struct model_tolerance {
    double rtol, atol, rel_l2;
} model_tolerance;

/* true if got matches want (type, shape, values within tol); else false
 * with the first difference in err. */
bool model_tensor_compare(const glint_tensor *got, const glint_tensor *want,
                          const model_tolerance *tol, char *err, size_t err_size);

/* Runs the model file onnx_path (one input, one output) on the tensor in
 * in_pb and compares its output with out_pb. 0, or -1 with the reason. */
int model_reference_check(const char *onnx_path, const char *in_pb, const char *out_pb,
                          const model_tolerance *tol, char *err, size_t err_size);

#endif
