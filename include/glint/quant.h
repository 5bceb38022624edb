/* glint quantization: static post-training quantization of an ONNX model
 * into ONNX's QDQ form.
 *
 * The data input of every Conv whose weights are constant is quantized to
 * u8 with a zero point (QuantizeLinear -> DequantizeLinear before the Conv),
 * its range calibrated on real inputs; the weights become s8, symmetric, one
 * scale per output channel (per tensor below opset 13, which has no per-axis
 * DequantizeLinear). Biases and everything else stay float. The result is a
 * standard ONNX file that any runtime with QDQ support runs, glint included;
 * its arithmetic is exactly what an int8 kernel computes.
 *
 * Use: glint_quant_create() on the float model; run calibration inputs
 * through a GLINT_BACKEND_REF context of that model with
 * glint_context_observe(ctx, glint_quant_observe, q); then
 * glint_quant_write() once per method or skip list to try.
 *
 * Thread-safety: one glint_quant per thread.
 */
#ifndef GLINT_QUANT_H
#define GLINT_QUANT_H

#include "glint/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum glint_calib_method {
    GLINT_CALIB_MINMAX = 0,     /* the whole observed range */
    GLINT_CALIB_PERCENTILE = 1, /* [p, 100 - p] percentiles of the observed values */
} glint_calib_method;

typedef struct glint_quant_options {
    glint_calib_method method;
    double percentile;       /* PERCENTILE: tail cut in percent (default 0.01) */
    const char *const *skip; /* names of Conv nodes (or their output tensors) kept float */
    int n_skip;
} glint_quant_options;

typedef struct glint_quant glint_quant;

/* Reads the ONNX file at `path` and lists what it will quantize. Returns
 * GLINT_OK and *out (free with glint_quant_free), or an error: unreadable
 * or corrupt file, no Conv with constant float weights, weights stored as
 * external data. */
glint_status glint_quant_create(const char *path, glint_quant **out);
void glint_quant_free(glint_quant *q);

/* Number of Conv nodes it quantizes (before any skip list), and the name of
 * node i (lives as long as q). */
int glint_quant_num_convs(const glint_quant *q);
const char *glint_quant_conv_name(const glint_quant *q, int i);
/* Whether Conv i is at an end of the network: it reads a graph input (the
 * stem), or its output reaches a graph output through no other Conv (a
 * detector's box and class outputs, a classifier's last layer) — the
 * layers to keep float first when int8 hurts agreement. */
int glint_quant_conv_at_end(const glint_quant *q, int i);

/* A glint_observer: records the values of the tensors to calibrate (`user`
 * is the glint_quant). Plain layouts only: observe a REF context. */
void glint_quant_observe(void *user, const char *name, const glint_tensor *t);

/* Calibration inputs observed so far (one per observed run of the first
 * quantized tensor). */
int glint_quant_num_samples(const glint_quant *q);

/* Writes the QDQ model to `out_path` (weights inline). Fails if a tensor to
 * quantize was never observed. `o` may be NULL (min-max, no skips). */
glint_status glint_quant_write(glint_quant *q, const glint_quant_options *o, const char *out_path);

#ifdef __cplusplus
}
#endif

#endif
