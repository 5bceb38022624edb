/* The operator list: the single source of every operator the engine knows.
 *
 * Each entry is X(name, infer, run, min_in, max_in, flags): `name` is the
 * ONNX op_type (and, as OP_<name>, the enum constant), `infer` and `run`
 * name the shape function eng_infer_<infer> and the reference kernel
 * eng_run_<run>, [min_in, max_in] bounds the inputs, flags are OPF_* bits.
 * ops.h expands it into the op_id enum, the declarations of every shape
 * function and kernel, and ops.c into the table. Element-wise families have
 * their own sub-lists so that their kernels can derive a kind enum from them
 * (ops_elementwise.c): add a unary operator to ENG_UNARY_OPS and the build
 * fails until its formula exists. */
#ifndef GLINT_OPS_LIST_H
#define GLINT_OPS_LIST_H

#define OPF_VIEW 1u       /* output is its input's bytes reinterpreted (Reshape...) */
#define OPF_SHAPE_ONLY 2u /* output depends on input shapes only (Shape, Size) */

/* one input, same shape (ops_elementwise.c: unary_apply) */
#define ENG_UNARY_OPS(X)                                                                           \
    X(Relu, unary, unary, 1, 1, 0)                                                                 \
    X(Sigmoid, unary, unary, 1, 1, 0)                                                              \
    X(Tanh, unary, unary, 1, 1, 0)                                                                 \
    X(Exp, unary, unary, 1, 1, 0)                                                                  \
    X(Sqrt, unary, unary, 1, 1, 0)                                                                 \
    X(Neg, unary, unary, 1, 1, 0)                                                                  \
    X(Abs, unary, unary, 1, 1, 0)                                                                  \
    X(Log, unary, unary, 1, 1, 0)                                                                  \
    X(Floor, unary, unary, 1, 1, 0)                                                                \
    X(Ceil, unary, unary, 1, 1, 0)                                                                 \
    X(Reciprocal, unary, unary, 1, 1, 0)                                                           \
    X(Erf, unary, unary, 1, 1, 0)                                                                  \
    X(Softplus, unary, unary, 1, 1, 0)                                                             \
    X(HardSigmoid, unary, unary, 1, 1, 0)                                                          \
    X(HardSwish, unary, unary, 1, 1, 0)                                                            \
    X(LeakyRelu, unary, unary, 1, 1, 0)                                                            \
    X(Elu, unary, unary, 1, 1, 0)                                                                  \
    X(Round, unary, unary, 1, 1, 0)                                                                \
    X(Sign, unary, unary, 1, 1, 0)                                                                 \
    X(Not, unary, unary, 1, 1, 0)                                                                  \
    X(Sin, unary, unary, 1, 1, 0)                                                                  \
    X(Cos, unary, unary, 1, 1, 0)                                                                  \
    X(Mish, unary, unary, 1, 1, 0)                                                                 \
    X(Selu, unary, unary, 1, 1, 0)                                                                 \
    X(Softsign, unary, unary, 1, 1, 0)                                                             \
    X(Gelu, unary, unary, 1, 1, 0)                                                                 \
    X(Tan, unary, unary, 1, 1, 0)                                                                  \
    X(Sinh, unary, unary, 1, 1, 0)                                                                 \
    X(Cosh, unary, unary, 1, 1, 0)                                                                 \
    X(Asin, unary, unary, 1, 1, 0)                                                                 \
    X(Acos, unary, unary, 1, 1, 0)                                                                 \
    X(Atan, unary, unary, 1, 1, 0)                                                                 \
    X(Asinh, unary, unary, 1, 1, 0)                                                                \
    X(Acosh, unary, unary, 1, 1, 0)                                                                \
    X(Atanh, unary, unary, 1, 1, 0)                                                                \
    X(ThresholdedRelu, unary, unary, 1, 1, 0)                                                      \
    X(Shrink, unary, unary, 1, 1, 0)                                                               \
    X(Celu, unary, unary, 1, 1, 0)

/* numpy-broadcasting binary and variadic (ops_elementwise.c: bin_f32...) */
#define ENG_BINARY_OPS(X)                                                                          \
    X(Add, binary, binary, 2, 2, 0)                                                                \
    X(Sub, binary, binary, 2, 2, 0)                                                                \
    X(Mul, binary, binary, 2, 2, 0)                                                                \
    X(Div, binary, binary, 2, 2, 0)                                                                \
    X(Pow, binary, binary, 2, 2, 0)                                                                \
    X(Min, binary, binary, 1, 16, 0)                                                               \
    X(Max, binary, binary, 1, 16, 0)                                                               \
    X(Equal, binary, binary, 2, 2, 0)                                                              \
    X(Less, binary, binary, 2, 2, 0)                                                               \
    X(Greater, binary, binary, 2, 2, 0)                                                            \
    X(LessOrEqual, binary, binary, 2, 2, 0)                                                        \
    X(GreaterOrEqual, binary, binary, 2, 2, 0)                                                     \
    X(And, binary, binary, 2, 2, 0)                                                                \
    X(Or, binary, binary, 2, 2, 0)                                                                 \
    X(Xor, binary, binary, 2, 2, 0)                                                                \
    X(Mod, binary, binary, 2, 2, 0)                                                                \
    X(PRelu, binary, binary, 2, 2, 0)                                                              \
    X(Sum, binary, binary, 1, 16, 0)                                                               \
    X(Mean, binary, mean2, 1, 16, 0)

#define ENG_OPS(X)                                                                                 \
    ENG_UNARY_OPS(X)                                                                               \
    ENG_BINARY_OPS(X)                                                                              \
    /* other element-wise (ops_elementwise.c) */                                                   \
    X(Where, where, where, 3, 3, 0)                                                                \
    X(Clip, clip, clip, 1, 3, 0)                                                                   \
    X(Cast, cast, cast, 1, 1, 0)                                                                   \
    X(CastLike, castlike, cast, 2, 2, 0)                                                           \
    /* views and shapes (ops_shape.c) */                                                           \
    X(Identity, same, copy, 1, 1, OPF_VIEW)                                                        \
    X(Dropout, dropout, copy, 1, 3, OPF_VIEW)                                                      \
    X(Reshape, reshape, copy, 2, 2, OPF_VIEW)                                                      \
    X(Flatten, flatten, copy, 1, 1, OPF_VIEW)                                                      \
    X(Squeeze, squeeze, copy, 1, 2, OPF_VIEW)                                                      \
    X(Unsqueeze, unsqueeze, copy, 1, 2, OPF_VIEW)                                                  \
    X(Shape, shape, shape, 1, 1, OPF_SHAPE_ONLY)                                                   \
    X(Size, size, size, 1, 1, OPF_SHAPE_ONLY)                                                      \
    X(Constant, constant, constant, 0, 0, 0)                                                       \
    X(ConstantOfShape, constant_of_shape, constant_of_shape, 1, 1, 0)                              \
    X(Range, range, range, 3, 3, 0)                                                                \
    /* data movement (ops_shape.c) */                                                              \
    X(Transpose, transpose, transpose, 1, 1, 0)                                                    \
    X(Concat, concat, concat, 1, 16, 0)                                                            \
    X(Split, split, split, 1, 2, 0)                                                                \
    X(Slice, slice, slice, 1, 5, 0)                                                                \
    X(Gather, gather, gather, 2, 2, 0)                                                             \
    /* selection by computed indices (ops_select.c) */                                             \
    X(TopK, TopK, TopK, 1, 2, 0)                                                                   \
    X(GatherElements, GatherElements, GatherElements, 2, 2, 0)                                     \
    X(GatherND, GatherND, GatherND, 2, 2, 0)                                                       \
    X(ScatterND, ScatterND, ScatterND, 3, 3, 0)                                                    \
    X(Compress, Compress, Compress, 2, 2, 0)                                                       \
    X(ScatterElements, ScatterElements, ScatterElements, 3, 3, 0)                                  \
    X(Scatter, ScatterElements, ScatterElements, 3, 3, 0)                                          \
    /* output shapes that depend on values (ops_dynamic.c) */                                      \
    X(NonZero, NonZero, NonZero, 1, 1, 0)                                                          \
    X(NonMaxSuppression, NonMaxSuppression, NonMaxSuppression, 2, 5, 0)                            \
    X(If, If, If, 1, 1, 0)                                                                         \
    X(Loop, Loop, Loop, 2, 16, 0)                                                                  \
    X(Expand, expand, expand, 2, 2, 0)                                                             \
    X(Tile, tile, tile, 2, 2, 0)                                                                   \
    X(Pad, pad, pad, 1, 4, 0)                                                                      \
    /* windowed operators and normalisation (ops_nn.c) */                                          \
    X(Conv, Conv, Conv, 2, 3, 0)                                                                   \
    X(ConvTranspose, ConvTranspose, ConvTranspose, 2, 3, 0)                                        \
    X(BatchNormalization, BatchNormalization, BatchNormalization, 5, 5, 0)                         \
    X(MaxPool, MaxPool, MaxPool, 1, 1, 0)                                                          \
    X(AveragePool, AveragePool, AveragePool, 1, 1, 0)                                              \
    X(GlobalAveragePool, GlobalAveragePool, GlobalAveragePool, 1, 1, 0)                            \
    X(GlobalMaxPool, GlobalMaxPool, GlobalMaxPool, 1, 1, 0)                                        \
    X(InstanceNormalization, InstanceNormalization, InstanceNormalization, 3, 3, 0)                \
    X(LayerNormalization, LayerNormalization, LayerNormalization, 2, 3, 0)                         \
    /* matrix products (ops_matrix.c) */                                                           \
    X(MatMul, MatMul, MatMul, 2, 2, 0)                                                             \
    X(Gemm, Gemm, Gemm, 2, 3, 0)                                                                   \
    X(Einsum, Einsum, Einsum, 1, 16, 0)                                                            \
    /* reductions along axes (ops_reduce.c) */                                                     \
    X(Softmax, Softmax, Softmax, 1, 1, 0)                                                          \
    X(LogSoftmax, LogSoftmax, LogSoftmax, 1, 1, 0)                                                 \
    X(ReduceMean, ReduceMean, ReduceMean, 1, 2, 0)                                                 \
    X(ReduceSum, ReduceSum, ReduceSum, 1, 2, 0)                                                    \
    X(ReduceMax, ReduceMax, ReduceMax, 1, 2, 0)                                                    \
    X(ReduceMin, ReduceMin, ReduceMin, 1, 2, 0)                                                    \
    X(ReduceProd, ReduceProd, ReduceProd, 1, 2, 0)                                                 \
    X(ReduceL1, ReduceL1, ReduceL1, 1, 2, 0)                                                       \
    X(ReduceL2, ReduceL2, ReduceL2, 1, 2, 0)                                                       \
    X(ReduceLogSum, ReduceLogSum, ReduceLogSum, 1, 2, 0)                                           \
    X(ReduceLogSumExp, ReduceLogSumExp, ReduceLogSumExp, 1, 2, 0)                                  \
    X(ReduceSumSquare, ReduceSumSquare, ReduceSumSquare, 1, 2, 0)                                  \
    X(ArgMax, argmax, argmax, 1, 1, 0)                                                             \
    X(ArgMin, argmax, argmax, 1, 1, 0)                                                             \
    /* resizing (ops_resize.c) */                                                                  \
    X(Resize, Resize, Resize, 1, 4, 0)                                                             \
    X(Upsample, Upsample, Upsample, 1, 2, 0)                                                       \
    X(GridSample, GridSample, GridSample, 2, 2, 0)                                                 \
    X(Trilu, Trilu, Trilu, 1, 2, 0)                                                                \
    X(CumSum, CumSum, CumSum, 2, 2, 0)                                                             \
    X(Hardmax, Hardmax, Hardmax, 1, 1, 0)                                                          \
    X(IsInf, IsInf, IsInf, 1, 1, 0)                                                                \
    X(IsNaN, IsNaN, IsNaN, 1, 1, 0)                                                                \
    X(DepthToSpace, DepthToSpace, DepthToSpace, 1, 1, 0)                                           \
    X(SpaceToDepth, SpaceToDepth, SpaceToDepth, 1, 1, 0)                                           \
    X(EyeLike, EyeLike, EyeLike, 1, 1, 0)                                                          \
    X(OneHot, OneHot, OneHot, 3, 3, 0)                                                             \
    /* quantized operators (ops_quant.c) */                                                        \
    X(QuantizeLinear, QuantizeLinear, QuantizeLinear, 2, 3, 0)                                     \
    X(DequantizeLinear, DequantizeLinear, DequantizeLinear, 2, 3, 0)                               \
    X(DynamicQuantizeLinear, DynamicQuantizeLinear, DynamicQuantizeLinear, 1, 1, 0)                \
    X(QLinearConv, QLinearConv, QLinearConv, 8, 9, 0)                                              \
    X(QLinearMatMul, QLinearMatMul, QLinearMatMul, 8, 8, 0)                                        \
    X(ConvInteger, ConvInteger, ConvInteger, 2, 4, 0)                                              \
    X(MatMulInteger, MatMulInteger, MatMulInteger, 2, 4, 0)                                        \
    /* glint's own, made by passes.c (ops_quant.c, ops_matrix.c, ops_reduce.c) */                  \
    X(GlintQConv, GlintQConv, GlintQConv, 2, 9, 0)                                                 \
    X(GlintMatMul, GlintMatMul, GlintMatMul, 2, 3, 0)                                              \
    X(GlintDFL, GlintDFL, GlintDFL, 1, 1, 0)

#endif
