/* Hand-written CPU kernels that use no kernel library: channel Concat and
 * Split, channel Slice and nearest Resize on NHWC tensors (f32, u8 where
 * noted), NHWC -> plain conversion, per-tensor Quantize/Dequantize on any
 * layout, YOLOv8's DFL and a Softmax over a strided axis on plain tensors.
 * The layout planner and any CPU backend use them. Each *_run matches the
 * kernel signature (plan.h); their state, if any, is made by the *_make
 * function beside them and freed by the kernel's destroy. */
#ifndef GLINT_KERNELS_NHWC_H
#define GLINT_KERNELS_NHWC_H

#include "backend.h"

/* State of eng_nhwc_quantize_run / eng_nhwc_dequantize_run. */
typedef struct qdq_k {
    float scale;
    int32_t zp;
} qdq_k;

/* Concat along channels of NHWC inputs (skipping those in place, st->in_place). */
glint_status eng_nhwc_concat_run(step *st);
/* The same written plain (each input transposed into its channel planes). */
glint_status eng_nhwc_concat_plain_run(step *st);
/* Split along channels of an NHWC input (outputs may be channel slots,
 * st->out_stride). */
glint_status eng_nhwc_split_run(step *st);
/* A step whose output is a view of its input (the planner aliased them):
 * nothing to do. */
glint_status eng_nhwc_view_run(step *st);
/* A channel range of an NHWC f32 tensor; state: int64 first channel. */
glint_status eng_nhwc_slice_run(step *st);
/* Makes st's Slice kernel when st cuts only channels of f32 data. */
bool eng_nhwc_slice_make(step *st);
/* Nearest Resize on NHWC (f32 or u8); state made by eng_nhwc_resize_make. */
glint_status eng_nhwc_resize_run(step *st);
bool eng_nhwc_resize_make(step *st);
/* f32 NHWC -> plain (a conversion step; honours st->plane_stride). */
glint_status eng_nhwc_to_plain_run(step *st);
/* f32 plain -> NHWC (a conversion step; dense output). Needs AVX2. */
glint_status eng_plain_to_nhwc_run(step *st);
/* u8 NHWC -> f32 NHWC, (x - zp) * scale; state: a malloc'ed qout. */
glint_status eng_nhwc_dequant_run(step *st);
/* GlintDFL on plain f32 (AVX2). */
glint_status eng_nhwc_dfl_run(step *st);
/* Per-tensor QuantizeLinear (f32 -> u8) and DequantizeLinear (u8 -> f32)
 * on any layout; state: qdq_k. */
glint_status eng_nhwc_quantize_run(step *st);
glint_status eng_nhwc_dequantize_run(step *st);
/* Whether st is a QuantizeLinear / DequantizeLinear with one constant scale
 * and u8 zero point; with k, also makes its kernel. */
bool eng_nhwc_qdq_make(const plan *p, const step *st, kernel *k);
/* Makes st's kernel for a Softmax over a non-innermost axis of a plain f32
 * tensor (AVX2 when the CPU has it). */
void eng_nhwc_softmax_strided_make(step *st);

#endif
