/* Private to the operator files (ops*.c) and the backends that reuse their
 * geometry: helpers the shape functions and kernels share. The shape
 * functions and kernels themselves are declared by ops.h from ops_list.h. */
#ifndef GLINT_OPS_IMPL_H
#define GLINT_OPS_IMPL_H

#include "engine_impl.h"

/* Fails with a message naming the node. */
#define OP_FAIL(c, st, ...) eng_op_fail((c), (st), __VA_ARGS__)
glint_status eng_op_fail(const op_ctx *c, glint_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets out[i] to shape dims/ndim of dtype t. */
void eng_set_out(op_ctx *c, int i, glint_dtype t, int ndim, const int64_t *dims);
/* Normalises a possibly negative axis against rank; -1 if out of range. */
int eng_norm_axis(int64_t axis, int rank);
/* Requires in[i] to be present and constant (for shape inference); when it
 * is computed at run time, sets c->need_value and fails. */
glint_status eng_need_const(op_ctx *c, int i, const char *what);
/* Requires in[i] to be float32. */
glint_status eng_need_f32(const op_ctx *c, int i);
/* Whether t is an integer or bool type. */
bool eng_is_int_type(glint_dtype t);
/* Strides (elements) of t laid over an output of rank ndim/dims, 0 along
 * broadcast axes. */
void eng_bcast_strides(const glint_tensor *t, int ndim, const int64_t *dims, int64_t *st);

/* For a nearest-mode Resize/Upsample node: map[o] = the source index of
 * output index o along `axis` (map holds out->dims[axis] entries). False if
 * the node is not nearest-mode or its parameters are not constant. */
bool eng_resize_nearest_map(op_ctx *c, int axis, int64_t *map);

/* For a 2-D ConvTranspose node: the begin pads, strides and dilations ONNX
 * resolves (auto_pad, output_shape); false if not 2-D or invalid. */
bool eng_conv_transpose_geometry(op_ctx *c, int64_t *pad_begin, int64_t *stride, int64_t *dilation);

/* For a Slice node on a 4-D tensor that cuts only the channel axis (step 1):
 * the first channel kept. False otherwise. */
bool eng_slice_channel_range(op_ctx *c, int64_t *start);

/* Output shape of numpy's matmul(a, b) as dtype t (MatMul and its
 * quantized forms). */
glint_status eng_matmul_shape(op_ctx *c, const glint_tensor *a, const glint_tensor *b,
                              glint_dtype t);
/* Output shape of a Conv-like node (attributes of c->n, input 0 the data)
 * with weights `w`, as dtype `out`. */
glint_status eng_conv_shape(op_ctx *c, const glint_tensor *w, glint_dtype out);
/* Integer convolution (ConvInteger, QLinearConv) of input 0 by `w` (u8, i8
 * or i32 elements): for every output element i (of output channel m),
 * store(c, i, m, sum of (x - x_zp) * (w - w_zp[m])), exact. w_zp is NULL,
 * one value or one per output channel. With x_scale > 0, input 0 is float
 * and each value is quantized to u8 as it is read (QuantizeLinear with
 * x_scale and x_zp). */
typedef void (*conv_store_fn)(op_ctx *c, int64_t i, int64_t m, double acc);
glint_status eng_conv_int_run(op_ctx *c, const glint_tensor *w, double x_scale, double x_zp,
                              const glint_tensor *w_zp, conv_store_fn store);

#endif
