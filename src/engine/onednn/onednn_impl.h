/* Private to the oneDNN backend (src/engine/onednn/): the CPU engine, the
 * per-plan state, the generic primitive kernel and the functions the files
 * of the folder share. Everything here is named eng_onednn_*; nothing
 * outside this folder includes it (the planner sees only the table,
 * eng_backend_onednn). */
#ifndef GLINT_ONEDNN_IMPL_H
#define GLINT_ONEDNN_IMPL_H

#include "backend.h"
#include "kernels_nhwc.h"
#include "ops_impl.h"

#include <oneapi/dnnl/dnnl.h>

/* The CPU engine, created once by the first plan (backend.c). */
extern dnnl_engine_t eng_onednn_engine;

/* Per-plan state: the stream every kernel of the plan runs on. */
typedef struct onednn_state {
    dnnl_stream_t stream;
} onednn_state;

/* Runs a oneDNN call; on failure sets s and jumps to `fail` (the caller
 * declares both). */
#define DN(call)                                                                                   \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            s = eng_fail(GLINT_ERR_BACKEND, "oneDNN: %s failed (status %d)", #call, (int)st_);     \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* A oneDNN primitive bound to one step: its args, with the src/dst (and
 * binary src1) memories rebound to the step's tensors at every run. */
typedef struct prim_k {
    dnnl_primitive_t prim;
    dnnl_primitive_desc_t pd; /* until plan_finish makes prim of it (eng_onednn_create_prims) */
    int nthr;                 /* ... with OpenMP at these threads (those pd was made with) */
    dnnl_stream_t stream;
    int n_args;
    dnnl_exec_arg_t args[5];
    int src_arg, dst_arg;  /* indices into args of the bound tensors */
    int src_in;            /* ctx input bound to src_arg (0 unless swapped) */
    int src1_arg, src1_in; /* second bound input (binary), src1_arg < 0: none */
    bool copy_sum;         /* copy the residual (ctx.sum) into dst first */
    int sum_arg;           /* >= 0: args index of a binary post-op's src1 bound to
                            * ctx.sum (a residual added after an activation) */
    size_t sum_bytes;
} prim_k;

/* ---- common.c: engine, stream, primitive kernels ---- */
/* Makes the primitive of every step of p whose kernel holds only its
 * descriptor (prim_k.pd), the usable CPUs each generating some: oneDNN's
 * JIT is most of a plan's build time (YOLOv8n: 43 of 50 ms on AVX-512). */
glint_status eng_onednn_create_prims(plan *p);
/* The stream of plan p (its per-plan state). */
dnnl_stream_t eng_onednn_stream(plan *p);
/* The 4-D md of t (f32, or u8 when t is u8) in layout l. */
void eng_onednn_md_4d(dnnl_memory_desc_t *md, const glint_tensor *t, layout l);
/* The primitive descriptor of desc (attributes pattr, or NULL) into *pd
 * with its implementation's name, unless oneDNN cannot make one or offers
 * only its reference kernel: then false and *pd NULL (the step stays on
 * glint's own kernel). */
bool eng_onednn_pd_fast(const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t pattr,
                        dnnl_primitive_desc_t *pd, const char **impl);
/* Whether pd is a oneDNN reference kernel; *name: its implementation. */
bool eng_onednn_impl_is_ref(dnnl_primitive_desc_t pd, const char **name);
/* The destroy and run functions of a prim_k kernel. */
void eng_onednn_prim_free(void *p);
glint_status eng_onednn_prim_run(step *st);
/* Creates the primitive of pd and memory objects for its args; takes
 * ownership of pd. */
glint_status eng_onednn_prim_make(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl);
/* Adds a memory of md at data (DNNL_MEMORY_NONE: bound at run time) as arg. */
glint_status eng_onednn_add_mem(prim_k *k, int arg, const dnnl_memory_desc_t *md, void *data);
/* Adds the memories of a weighted primitive (convolution, deconvolution,
 * matmul): bound src and dst, constant weights and optional bias (bias NULL:
 * none). */
glint_status eng_onednn_weighted_args(prim_k *k, const dnnl_memory_desc_t *src,
                                      const dnnl_memory_desc_t *w, const void *wdata,
                                      const dnnl_memory_desc_t *b, const void *bdata,
                                      const dnnl_memory_desc_t *dst);
/* eng_onednn_prim_make then eng_onednn_weighted_args: a weighted primitive
 * as the step's kernel (takes ownership of pd). On failure the step is left
 * without a kernel. */
glint_status eng_onednn_prim_weighted(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                      const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *w,
                                      const void *wdata, const dnnl_memory_desc_t *b,
                                      const void *bdata, const dnnl_memory_desc_t *dst);
/* Builds a primitive that reads one bound tensor and writes another
 * (pooling, reorder, eltwise, softmax); takes ownership of pd. On failure
 * the step is left without a kernel. */
glint_status eng_onednn_prim_unary(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                   int src_arg, const dnnl_memory_desc_t *src, int dst_arg,
                                   const dnnl_memory_desc_t *dst);

/* ---- weights.c: per-model weight cache ---- */
/* Frees a model's weight cache (the backend's model_cache_free). */
void eng_onednn_wcache_free(void *p);
/* backend_iface.model_cache_unpack over the weight cache. */
bool eng_onednn_wcache_unpack(void *cache, int v, const value *gv, void *dst);
/* Returns weights of node `ni` reordered into `want` (from plain `have` at
 * src), reordering them on first use; NULL on failure. */
void *eng_onednn_cached_weights(plan *p, int ni, const dnnl_memory_desc_t *have, const void *src,
                                const dnnl_memory_desc_t *want);

/* ---- conv.c: f32 convolution, deconvolution ---- */
/* Appends node n's fused post-ops to po; a residual sum reads the output
 * buffer as oq says (u8 with a scale and zero point) when oq->sum_u8. A
 * residual after another post-op (x + act(conv(x)), which oneDNN's
 * AVX2 kernels refuse as a sum) is a binary add of a tensor of sum_md,
 * bound at run time (eng_onednn_sum_binary); with sum_md NULL (the bf16
 * and int8 kernels) it is a sum post-op like a first one, which AVX-512
 * kernels take. */
bool eng_onednn_post_ops(const node *n, const qout *oq, const dnnl_memory_desc_t *sum_md,
                         dnnl_post_ops_t po);
/* Whether node n's residual sum is a binary post-op (not its first). */
bool eng_onednn_sum_binary(const node *n);
/* The post-op index of node n's residual sum. */
int eng_onednn_sum_index(const node *n);
/* Strides, dilations (oneDNN counts from 0) and begin/end pads of a 2-D
 * Conv node from its attributes and shapes: out = (in + pl + pr - ek) / s + 1. */
void eng_onednn_conv_geom(const node *n, const glint_tensor *x, const glint_tensor *w,
                          const glint_tensor *y, dnnl_dims_t strides, dnnl_dims_t dil,
                          dnnl_dims_t pl, dnnl_dims_t pr);
/* Weight descriptors of a 2-D convolution of type t: any (for the primitive)
 * and plain (oihw, or goihw with groups). */
void eng_onednn_conv_weight_mds(const glint_tensor *w, int64_t G, dnnl_data_type_t t,
                                dnnl_memory_desc_t *any, dnnl_memory_desc_t *plain);
/* The descriptor of 2-D Conv node n reading src_md with weights of type wt
 * (*w_plain: their plain oihw/goihw md), an optional f32 bias (*b_md) and
 * NHWC output of type dt (*dst_md). False when oneDNN cannot express it. */
bool eng_onednn_conv_desc(const node *n, const glint_tensor *x, const glint_tensor *w,
                          const glint_tensor *y, bool bias, const dnnl_memory_desc_t *src_md,
                          dnnl_data_type_t wt, dnnl_data_type_t dt, dnnl_convolution_desc_t *cd,
                          dnnl_memory_desc_t *w_plain, dnnl_memory_desc_t *b_md,
                          dnnl_memory_desc_t *dst_md);
/* The primitive of convolution cd on the attributes pattr plus node n's
 * post-ops (then, with oq, the quantization y / scale + zp of a u8 output),
 * and n's weights (plain md w_plain at wsrc) reordered once into the layout
 * it asks for (model cache). *pd stays NULL, without an error, when oneDNN
 * cannot express it or offers only a reference kernel. */
glint_status eng_onednn_conv_primitive(plan *p, const node *n, const dnnl_convolution_desc_t *cd,
                                       dnnl_primitive_attr_t pattr, const qout *oq,
                                       const dnnl_memory_desc_t *sum_md,
                                       const dnnl_memory_desc_t *w_plain, const void *wsrc,
                                       dnnl_primitive_desc_t *pd, const char **impl, void **wdata,
                                       dnnl_memory_desc_t *w_md);
/* Builds the convolution of st (Conv, or GlintQConv through qconv_make)
 * reading its input in src_lay; a GlintQConv writes u8 as oq says when
 * oq->on. *taken = false (and no error) when oneDNN offers only a reference
 * kernel or cannot express the node. */
glint_status eng_onednn_conv_make(plan *p, step *st, layout src_lay, const qout *oq, bool *taken);
/* ConvTranspose (2-D, f32, no post-ops) as a oneDNN deconvolution on NHWC. */
glint_status eng_onednn_deconv_make(plan *p, step *st, bool *taken);

/* ---- qconv.c: int8 and bf16 convolution ---- */
/* The run function of the int8 / bf16 convolution kernel (its state starts
 * with a prim_k). */
glint_status eng_onednn_qconv_run(step *st);
/* The int8 convolution of GlintQConv step st (see conv_make). */
glint_status eng_onednn_qconv_make(plan *p, step *st, layout src_lay, const qout *oq, bool *taken);
/* The bf16 convolution (plan.bf16): the qconv_k kernel without quantization: a reorder rounds the
 * f32 input into a bf16 NHWC scratch, then a bf16 convolution (weights rounded to bf16 once, f32
 * bias, the node's post-ops) accumulates and writes f32 NHWC. */
glint_status eng_onednn_bf16_kernel(plan *p, step *st, dnnl_primitive_desc_t pd, const char *impl,
                                    const dnnl_memory_desc_t *x_md,
                                    const dnnl_memory_desc_t *conv_src,
                                    const dnnl_memory_desc_t *w_md, void *wdata,
                                    const dnnl_memory_desc_t *b_md, const void *bias,
                                    const dnnl_memory_desc_t *dst_md);

/* ---- pool.c ---- */
/* MaxPool / AveragePool / GlobalAveragePool on NHWC. */
glint_status eng_onednn_pool_make(plan *p, step *st, bool *taken);

/* ---- eltwise.c: element-wise, softmax ---- */
/* The oneDNN algorithm of unary node n (and its alpha, beta); false: none. */
bool eng_onednn_eltwise_alg(const node *n, dnnl_alg_kind_t *alg, float *a, float *b);
/* A unary op as a oneDNN eltwise over the flat element count (any layout). */
glint_status eng_onednn_eltwise_make(plan *p, step *st, bool *taken);
/* Softmax / LogSoftmax on a plain tensor. */
glint_status eng_onednn_softmax_make(plan *p, step *st, bool *taken);

/* Transpose of a plain tensor as a reorder. */
glint_status eng_onednn_transpose_make(plan *p, step *st, bool *taken);

/* ---- norm.c ---- */
/* LayerNormalization over a plain tensor with constant Scale (and B). */
glint_status eng_onednn_layernorm_make(plan *p, step *st, bool *taken);

/* ---- matmul.c ---- */
/* Gemm / MatMul with constant 2-D weights as a oneDNN matmul (plain). */
glint_status eng_onednn_matmul_make(plan *p, step *st, bool *taken);

/* ---- binary.c ---- */
/* The oneDNN algorithm of Add/Sub/Mul/Div, and whether it commutes. */
bool eng_onednn_binary_alg(op_id op, dnnl_alg_kind_t *alg, bool *commutes);
/* Add/Sub/Mul/Div with numpy broadcasting of one side; `lay` is the layout
 * the step runs in (both inputs are in it, or layout-invariant). */
glint_status eng_onednn_binary_make(plan *p, step *st, layout lay, bool *taken);

#endif
