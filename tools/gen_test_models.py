#!/usr/bin/python3
"""Writes the tiny ONNX models of the engine's unit tests to tests/data/onnx/.

Every model lives in its own directory, `tests/data/onnx/<name>/model.onnx`,
and where it computes something, `test_data_set_0/input_<i>.pb` and
`output_<i>.pb` hold an input and the output numpy computes for it (ONNX
backend-test layout), so that the C tests need no Python. The files are
committed; rerun this only when a model changes:

    /usr/bin/python3 tools/gen_test_models.py [--out DIR]

Use Debian's /usr/bin/python3 (python3-onnx 1.12, python3-numpy).

Weights and test inputs are not random: element i of a parameter with seed s
is `det(i, s)` below, a multiple of 1/32 (exact in float32), so that
tests/engine/ can rebuild them in C and check the engine against its own
straightforward convolution. Keep the two definitions in step
(tests/engine/etest.h: etest_det, etest_det_pos).
"""
import argparse
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


def det(n, seed):
    """n float32 values in [-14/32, 14/32], element i = ((37 i + 11 s) % 29 - 14) / 32."""
    i = np.arange(n, dtype=np.int64)
    return (((i * 37 + seed * 11) % 29) - 14).astype(np.float32) / np.float32(32)


def det_pos(n, seed):
    """n positive float32 values in [1/4, 7/4] (BatchNorm scales, variances)."""
    i = np.arange(n, dtype=np.int64)
    return (((i * 5 + seed * 3) % 7) + 1).astype(np.float32) / np.float32(4)


def param(shape, seed, positive=False):
    n = int(np.prod(shape))
    return (det_pos(n, seed) if positive else det(n, seed)).reshape(shape)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def vinfo(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def model(nodes, inputs, outputs, inits, opset, name):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    m = helper.make_model(g, producer_name="glint gen_test_models.py",
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7  # readable by every onnx >= 1.7
    return m


# ---- numpy references ----
def conv2d(x, w, b=None, pad=0):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.zeros((n, m, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + oh, j:j + ow]
            y += np.einsum("nchw,mc->nmhw", patch, w[:, :, i, j])
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


def bn(x, scale, bias, mean, var, eps=1e-5):
    sh = (1, -1, 1, 1)
    return (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps) * scale.reshape(sh) \
        + bias.reshape(sh)


def relu(x):
    return np.maximum(x, 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---- models ----
def conv_bn_relu():
    """Conv+BN+Relu, Conv+Relu, Conv+Relu, 1x1 Conv on a dynamic batch:
    x [N,3,8,8] -> y [N,4,8,8]. Seeds as in tests/engine/test_correct.c."""
    p = {
        "w1": param((8, 3, 3, 3), 1), "b1": param((8,), 2),
        "bn_scale": param((8,), 3, True), "bn_bias": param((8,), 4),
        "bn_mean": param((8,), 5), "bn_var": param((8,), 6, True),
        "w2": param((8, 8, 3, 3), 7), "b2": param((8,), 8),
        "w3": param((8, 8, 3, 3), 9),
        "w4": param((4, 8, 1, 1), 10), "b4": param((4,), 11),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                         ["n1"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["t1"], name="relu1"),
        helper.make_node("Conv", ["t1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["t2"], name="relu2"),
        helper.make_node("Conv", ["t2", "w3"], ["c3"], name="conv3", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c3"], ["t3"], name="relu3"),
        helper.make_node("Conv", ["t3", "w4", "b4"], ["y"], name="conv4"),
    ]
    m = model(nodes, [vinfo("x", F32, ["N", 3, 8, 8])], [vinfo("y", F32, ["N", 4, 8, 8])],
              [init(k, v) for k, v in p.items()], 13, "conv_bn_relu")

    def ref(x):
        t = relu(bn(conv2d(x, p["w1"], p["b1"], 1), p["bn_scale"], p["bn_bias"], p["bn_mean"],
                    p["bn_var"]))
        t = relu(conv2d(t, p["w2"], p["b2"], 1))
        t = relu(conv2d(t, p["w3"], None, 1))
        return [conv2d(t, p["w4"], p["b4"], 0)]

    return m, [param((2, 3, 8, 8), 100)], ref


def silu_residual():
    """Exercises every fusion: Conv·Sigmoid·Mul (SiLU), Conv + residual Add,
    Conv·LeakyRelu, Conv·Clip(0, 6). x [N,8,6,6] -> y [N,4,6,6]."""
    p = {
        "w1": param((8, 8, 3, 3), 21), "b1": param((8,), 22),
        "w2": param((8, 8, 3, 3), 23), "b2": param((8,), 24),
        "w3": param((8, 8, 1, 1), 25), "b3": param((8,), 26),
        "w4": param((4, 8, 3, 3), 27), "b4": param((4,), 28),
        "lo": np.array(0, np.float32), "hi": np.array(6, np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c1"], ["s1"], name="sig1"),
        helper.make_node("Mul", ["c1", "s1"], ["m1"], name="mul1"),
        helper.make_node("Conv", ["m1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["x", "c2"], ["a2"], name="residual"),
        helper.make_node("Conv", ["a2", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("LeakyRelu", ["c3"], ["l3"], name="leaky3", alpha=0.125),
        helper.make_node("Conv", ["l3", "w4", "b4"], ["c4"], name="conv4", pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c4", "lo", "hi"], ["y"], name="clip4"),
    ]
    m = model(nodes, [vinfo("x", F32, ["N", 8, 6, 6])], [vinfo("y", F32, ["N", 4, 6, 6])],
              [init(k, v) for k, v in p.items()], 13, "silu_residual")

    def ref(x):
        c1 = conv2d(x, p["w1"], p["b1"], 1)
        a2 = x + conv2d(c1 * sigmoid(c1), p["w2"], p["b2"], 1)
        c3 = conv2d(a2, p["w3"], p["b3"], 0)
        l3 = np.where(c3 >= 0, c3, 0.125 * c3)
        return [np.clip(conv2d(l3, p["w4"], p["b4"], 1), 0, 6)]

    return m, [param((2, 8, 6, 6), 101) * 4], ref


def c2f():
    """YOLOv8's C2f block as the int8 path sees it: Conv·SiLU (1x1) -> Split
    -> two bottlenecks (3x3 Conv·SiLU twice; the first adds its input back)
    -> Concat of the halves and both bottleneck outputs -> Conv·SiLU (1x1),
    then a second Concat of two Conv·SiLU outputs read by a last Conv.
    x [N,8,10,10] -> y [N,8,10,10]."""
    silu = lambda t: t * sigmoid(t)
    p = {
        "w1": param((8, 8, 1, 1), 61), "b1": param((8,), 62),
        "w2": param((4, 4, 3, 3), 63), "b2": param((4,), 64),
        "w3": param((4, 4, 3, 3), 65), "b3": param((4,), 66),
        "w4": param((4, 4, 3, 3), 67), "b4": param((4,), 68),
        "w5": param((4, 4, 3, 3), 69), "b5": param((4,), 70),
        "w6": param((8, 16, 1, 1), 71), "b6": param((8,), 72),
        "w7": param((8, 8, 3, 3), 73), "b7": param((8,), 74),
        "w8": param((8, 16, 1, 1), 75), "b8": param((8,), 76),
    }
    inits = [init(k, v) for k, v in p.items()] + [init("split", np.array([4, 4], np.int64))]

    def conv_silu(i, x, y, pad):
        return [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y + "_c"], name=f"conv{i}",
                                 pads=[pad] * 4),
                helper.make_node("Sigmoid", [y + "_c"], [y + "_s"], name=f"sig{i}"),
                helper.make_node("Mul", [y + "_c", y + "_s"], [y], name=f"silu{i}")]

    nodes = conv_silu(1, "x", "t1", 0)
    nodes += [helper.make_node("Split", ["t1", "split"], ["a", "b"], name="split", axis=1)]
    nodes += conv_silu(2, "b", "m0a", 1) + conv_silu(3, "m0a", "m0b", 1)
    nodes += [helper.make_node("Add", ["b", "m0b"], ["m0"], name="residual")]
    nodes += conv_silu(4, "m0", "m1a", 1) + conv_silu(5, "m1a", "m1", 1)
    nodes += [helper.make_node("Concat", ["a", "b", "m0", "m1"], ["cat"], name="c2f_cat", axis=1)]
    nodes += conv_silu(6, "cat", "t6", 0) + conv_silu(7, "t6", "t7", 1)
    nodes += [helper.make_node("Concat", ["t6", "t7"], ["cat2"], name="head_cat", axis=1),
              helper.make_node("Conv", ["cat2", "w8", "b8"], ["y"], name="conv8")]
    m = model(nodes, [vinfo("x", F32, ["N", 8, 10, 10])], [vinfo("y", F32, ["N", 8, 10, 10])],
              inits, 13, "c2f")

    def ref(x):
        cs = lambda t, i, pad: silu(conv2d(t, p[f"w{i}"], p[f"b{i}"], pad))
        t1 = cs(x, 1, 0)
        a, b = t1[:, :4], t1[:, 4:]
        m0 = b + cs(cs(b, 2, 1), 3, 1)
        m1 = cs(cs(m0, 4, 1), 5, 1)
        t6 = cs(np.concatenate([a, b, m0, m1], 1), 6, 0)
        t7 = cs(t6, 7, 1)
        return [conv2d(np.concatenate([t6, t7], 1), p["w8"], p["b8"], 0)]

    return m, [param((2, 8, 10, 10), 102) * 2], ref


def sppf_neck():
    """YOLOv8's SPPF and neck as the int8 path sees them: a strided
    Conv·SiLU, then SPPF (1x1 Conv·SiLU, three chained 5x5 MaxPools, Concat
    of all four, 1x1 Conv·SiLU = t2), a nearest x2 Resize of t2 concatenated
    with a skip Conv·SiLU of the input, a 1x1 Conv·SiLU (y), a strided
    Conv·SiLU of y concatenated with t2 again (so both Concats share t2),
    and a last 1x1 Conv. x [N,8,16,16] -> z [N,8,8,8]."""
    silu = lambda t: t * sigmoid(t)
    p = {
        "w1": param((8, 8, 3, 3), 81), "b1": param((8,), 82),
        "w2": param((4, 8, 1, 1), 83), "b2": param((4,), 84),
        "w3": param((8, 16, 1, 1), 85), "b3": param((8,), 86),
        "w4": param((8, 8, 1, 1), 87), "b4": param((8,), 88),
        "w5": param((8, 16, 1, 1), 89), "b5": param((8,), 90),
        "w6": param((8, 8, 3, 3), 91), "b6": param((8,), 92),
        "w7": param((8, 16, 1, 1), 93), "b7": param((8,), 94),
    }
    inits = [init(k, v) for k, v in p.items()] + [
        init("scales", np.array([1, 1, 2, 2], np.float32))]

    def conv_silu(i, x, y, pad, stride=1):
        return [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y + "_c"], name=f"conv{i}",
                                 pads=[pad] * 4, strides=[stride] * 2),
                helper.make_node("Sigmoid", [y + "_c"], [y + "_s"], name=f"sig{i}"),
                helper.make_node("Mul", [y + "_c", y + "_s"], [y], name=f"silu{i}")]

    pool = lambda x, y: helper.make_node("MaxPool", [x], [y], name="pool_" + y,
                                         kernel_shape=[5, 5], pads=[2] * 4)
    nodes = conv_silu(1, "x", "d", 1, 2) + conv_silu(2, "d", "t1", 0)
    nodes += [pool("t1", "m1"), pool("m1", "m2"), pool("m2", "m3"),
              helper.make_node("Concat", ["t1", "m1", "m2", "m3"], ["cat"], name="sppf_cat",
                               axis=1)]
    nodes += conv_silu(3, "cat", "t2", 0)
    nodes += [helper.make_node("Resize", ["t2", "", "scales"], ["u"], name="up", mode="nearest")]
    nodes += conv_silu(4, "x", "s", 0)
    nodes += [helper.make_node("Concat", ["u", "s"], ["cat2"], name="up_cat", axis=1)]
    nodes += conv_silu(5, "cat2", "y", 0) + conv_silu(6, "y", "d2", 1, 2)
    nodes += [helper.make_node("Concat", ["d2", "t2"], ["cat3"], name="down_cat", axis=1),
              helper.make_node("Conv", ["cat3", "w7", "b7"], ["z"], name="conv7")]
    m = model(nodes, [vinfo("x", F32, ["N", 8, 16, 16])], [vinfo("z", F32, ["N", 8, 8, 8])],
              inits, 13, "sppf_neck")

    def ref(x):
        cs = lambda t, i, pad, st=1: silu(conv2d(t, p[f"w{i}"], p[f"b{i}"], pad)[:, :, ::st, ::st])
        d = cs(x, 1, 1, 2)
        t1 = cs(d, 2, 0)
        m1 = maxpool_same(t1, 5)
        m2 = maxpool_same(m1, 5)
        m3 = maxpool_same(m2, 5)
        t2 = cs(np.concatenate([t1, m1, m2, m3], 1), 3, 0)
        u = t2.repeat(2, axis=2).repeat(2, axis=3)
        y = cs(np.concatenate([u, cs(x, 4, 0)], 1), 5, 0)
        return [conv2d(np.concatenate([cs(y, 6, 1, 2), t2], 1), p["w7"], p["b7"], 0)]

    return m, [param((2, 8, 16, 16), 103) * 2], ref


def dfl_head():
    """YOLOv8's DFL as exported: x [N, 64, L] -> Reshape [N, 4, 16, L] ->
    Transpose (0,2,1,3) -> Softmax (axis 1) -> 1x1 Conv with weights 0..15
    -> Reshape [N, 4, L] (the expected bin per side), which glint folds into
    GlintDFL; beside it the same chain with weights 0..15 doubled, which
    must stay as it is. Both are outputs. x [N, 64, 37]."""
    r = np.arange(16, dtype=np.float32)
    inits = [init("shape4", np.array([0, 4, 16, -1], np.int64)),
             init("shape3", np.array([0, 4, -1], np.int64)),
             init("w_dfl", r.reshape(1, 16, 1, 1)),
             init("w_two", (2 * r).reshape(1, 16, 1, 1))]
    nodes = [helper.make_node("Reshape", ["x", "shape4"], ["r4"], name="reshape4"),
             helper.make_node("Transpose", ["r4"], ["t"], name="transpose", perm=[0, 2, 1, 3]),
             helper.make_node("Softmax", ["t"], ["p"], name="softmax", axis=1),
             helper.make_node("Conv", ["p", "w_dfl"], ["e"], name="dfl"),
             helper.make_node("Reshape", ["e", "shape3"], ["y"], name="reshape3"),
             helper.make_node("Transpose", ["r4"], ["t2"], name="transpose2", perm=[0, 2, 1, 3]),
             helper.make_node("Softmax", ["t2"], ["p2"], name="softmax2", axis=1),
             helper.make_node("Conv", ["p2", "w_two"], ["e2"], name="not_dfl"),
             helper.make_node("Reshape", ["e2", "shape3"], ["y2"], name="reshape3b")]
    m = model(nodes, [vinfo("x", F32, ["N", 64, 37])],
              [vinfo("y", F32, ["N", 4, 37]), vinfo("y2", F32, ["N", 4, 37])], inits, 17,
              "dfl_head")

    def ref(x):
        t = x.astype(np.float64).reshape(x.shape[0], 4, 16, -1)
        e = np.exp(t - t.max(axis=2, keepdims=True))
        p = e / e.sum(axis=2, keepdims=True)
        y = (p * r.astype(np.float64)[None, None, :, None]).sum(axis=2)
        return [y, 2 * y]

    return m, [param((2, 64, 37), 111) * 4], ref


def input_as_output():
    """A graph input that is also a graph output, beside Relu(x): outputs
    [x, relu(x)]. x [N, 4, 6]."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    m = model(nodes, [vinfo("x", F32, ["N", 4, 6])],
              [vinfo("x", F32, ["N", 4, 6]), vinfo("y", F32, ["N", 4, 6])], [], 13,
              "input_as_output")
    return m, [param((2, 4, 6), 121) * 4], lambda x: [x, np.maximum(x, 0)]


def maxpool_same(x, k):
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    h, w = x.shape[2:]
    return np.max([xp[:, :, i:i + h, j:j + w] for i in range(k) for j in range(k)], axis=0)


def mini_yolo():
    """A YOLOv8-shaped toy: strided Conv·SiLU, Split / Conv / Concat (C2f),
    two MaxPools and a Concat (SPPF), nearest Resize x2, a strided Conv, a
    Reshape with 0 and -1, Softmax. x [N,3,16,16] -> y [N,6,64]."""
    silu = lambda t: t * sigmoid(t)
    p = {
        "w1": param((8, 3, 3, 3), 41), "b1": param((8,), 42),
        "w2": param((4, 4, 3, 3), 43), "b2": param((4,), 44),
        "w3": param((8, 24, 1, 1), 45), "b3": param((8,), 46),
        "w4": param((6, 8, 3, 3), 47), "b4": param((6,), 48),
    }
    inits = [init(k, v) for k, v in p.items()] + [
        init("split", np.array([4, 4], np.int64)),
        init("roi", np.array([], np.float32)),
        init("scales", np.array([1, 1, 2, 2], np.float32)),
        init("shape", np.array([0, 6, -1], np.int64)),
    ]

    def conv_silu(i, x, w, b, y, **kw):
        return [helper.make_node("Conv", [x, w, b], [y + "_c"], name=f"conv{i}", **kw),
                helper.make_node("Sigmoid", [y + "_c"], [y + "_s"], name=f"sig{i}"),
                helper.make_node("Mul", [y + "_c", y + "_s"], [y], name=f"silu{i}")]

    nodes = conv_silu(1, "x", "w1", "b1", "t1", pads=[1, 1, 1, 1], strides=[2, 2])
    nodes += [helper.make_node("Split", ["t1", "split"], ["a", "b"], name="split", axis=1)]
    nodes += conv_silu(2, "b", "w2", "b2", "b2o", pads=[1, 1, 1, 1])
    nodes += [
        helper.make_node("Concat", ["a", "b2o"], ["c"], name="c2f_cat", axis=1),
        helper.make_node("MaxPool", ["c"], ["m1"], name="pool1", kernel_shape=[5, 5],
                         pads=[2, 2, 2, 2]),
        helper.make_node("MaxPool", ["m1"], ["m2"], name="pool2", kernel_shape=[5, 5],
                         pads=[2, 2, 2, 2]),
        helper.make_node("Concat", ["c", "m1", "m2"], ["sp"], name="sppf_cat", axis=1),
    ]
    nodes += conv_silu(3, "sp", "w3", "b3", "d")
    nodes += [
        helper.make_node("Resize", ["d", "roi", "scales"], ["up"], name="up", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Conv", ["up", "w4", "b4"], ["e"], name="conv4", pads=[1, 1, 1, 1],
                         strides=[2, 2]),
        helper.make_node("Reshape", ["e", "shape"], ["r"], name="reshape"),
        helper.make_node("Softmax", ["r"], ["y"], name="softmax", axis=1),
    ]
    m = model(nodes, [vinfo("x", F32, ["N", 3, 16, 16])], [vinfo("y", F32, ["N", 6, 64])],
              inits, 13, "mini_yolo")

    def ref(x):
        t1 = silu(conv2d(x, p["w1"], p["b1"], 1)[:, :, ::2, ::2])
        a, b = t1[:, :4], t1[:, 4:]
        c = np.concatenate([a, silu(conv2d(b, p["w2"], p["b2"], 1))], axis=1)
        m1 = maxpool_same(c, 5)
        m2 = maxpool_same(m1, 5)
        d = silu(conv2d(np.concatenate([c, m1, m2], axis=1), p["w3"], p["b3"], 0))
        up = d.repeat(2, axis=2).repeat(2, axis=3)
        e = conv2d(up, p["w4"], p["b4"], 1)[:, :, ::2, ::2].reshape(x.shape[0], 6, -1)
        ex = np.exp(e - e.max(axis=1, keepdims=True))
        return [ex / ex.sum(axis=1, keepdims=True)]

    return m, [param((2, 3, 16, 16), 106) * 4], ref


def dynamic_hw():
    """Free batch, height and width (glint_context_options.input_dims fixes
    H and W), with Ultralytics-style metadata_props: x [N,3,H,W] ->
    Conv 3x3 + Relu -> GlobalAveragePool -> y [N,4,1,1]."""
    w, b = param((4, 3, 3, 3), 51), param((4,), 52)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["y"], name="gap"),
    ]
    m = model(nodes, [vinfo("x", F32, ["N", 3, "H", "W"])], [vinfo("y", F32, ["N", 4, 1, 1])],
              [init("w", w), init("b", b)], 13, "dynamic_hw")
    helper.set_model_props(m, {"imgsz": "[12, 20]", "task": "classify",
                               "names": "{0: 'cat', 1: 'dog'}"})
    return m, [param((1, 3, 12, 20), 107) * 2], \
        lambda x: [relu(conv2d(x, w, b, 1)).mean(axis=(2, 3), keepdims=True)]


def reshape_chain():
    """The flatten that exporters emit for a dynamic batch:
    Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])), then MatMul+Add.
    x [N,4,3,3] -> y [N,5]."""
    w, b = param((36, 5), 31), param((5,), 32)
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"], name="shape"),
        helper.make_node("Gather", ["shp", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus1"], ["tgt"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "tgt"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "w"], ["mm"], name="matmul"),
        helper.make_node("Add", ["mm", "b"], ["y"], name="bias"),
    ]
    inits = [init("zero", np.array(0, np.int64)), init("axes0", np.array([0], np.int64)),
             init("minus1", np.array([-1], np.int64)), init("w", w), init("b", b)]
    m = model(nodes, [vinfo("x", F32, ["N", 4, 3, 3])], [vinfo("y", F32, ["N", 5])], inits, 13,
              "reshape_chain")
    return m, [param((3, 4, 3, 3), 102)], lambda x: [x.reshape(x.shape[0], -1) @ w + b]


def upsample_opset9():
    """Opset 9 Upsample, scales as a constant input: x [1,2,3,4] -> y [1,2,6,12]
    (fixed batch)."""
    nodes = [helper.make_node("Upsample", ["x", "scales"], ["y"], name="up", mode="nearest")]
    m = model(nodes, [vinfo("x", F32, [1, 2, 3, 4])], [vinfo("y", F32, [1, 2, 6, 12])],
              [init("scales", np.array([1, 1, 2, 3], np.float32))], 9, "upsample_opset9")
    return m, [param((1, 2, 3, 4), 103)], \
        lambda x: [x.repeat(2, axis=2).repeat(3, axis=3)]


def upsample_slice_opset8():
    """Opset 8 forms with attributes: Upsample(scales=[1,1,2,2]) then
    Slice(starts, ends, axes). x [1,2,4,6] -> y [1,2,6,10]."""
    nodes = [
        helper.make_node("Upsample", ["x"], ["u"], name="up", mode="nearest",
                         scales=[1.0, 1.0, 2.0, 2.0]),
        helper.make_node("Slice", ["u"], ["y"], name="slice", starts=[1, 2], ends=[7, 1000],
                         axes=[2, 3]),
    ]
    m = model(nodes, [vinfo("x", F32, [1, 2, 4, 6])], [vinfo("y", F32, [1, 2, 6, 10])], [], 8,
              "upsample_slice_opset8")
    return m, [param((1, 2, 4, 6), 104)], \
        lambda x: [x.repeat(2, axis=2).repeat(2, axis=3)[:, :, 1:7, 2:]]


def slice_opset10():
    """Opset 10 Slice with starts/ends/axes/steps inputs, a negative step and
    an end below the axis: x [2,5,6] -> x[:, 1:5:2, 5::-2] = [2,2,3]."""
    inits = [init("starts", np.array([-1, 1], np.int64)),
             init("ends", np.array([-1000, 5], np.int64)),
             init("axes", np.array([2, 1], np.int64)),
             init("steps", np.array([-2, 2], np.int64))]
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"],
                              name="slice")]
    m = model(nodes, [vinfo("x", F32, [2, 5, 6])], [vinfo("y", F32, [2, 2, 3])], inits, 10,
              "slice_opset10")
    return m, [param((2, 5, 6), 105)], lambda x: [x[:, 1:5:2, 5::-2]]


def unsupported_op():
    """A Det node named 'find_det' (not an operator glint has)."""
    nodes = [helper.make_node("Det", ["x"], ["y"], name="find_det")]
    return model(nodes, [vinfo("x", F32, [3, 3])], [vinfo("y", F32, [])], [], 13,
                 "unsupported_op")


def undefined_input():
    """Relu 'relu_ghost' reads 'ghost', which nothing defines."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu_ok"),
             helper.make_node("Add", ["r", "ghost"], ["y"], name="add_ghost")]
    return model(nodes, [vinfo("x", F32, [1, 4])], [vinfo("y", F32, [1, 4])], [], 13,
                 "undefined_input")


def cycle():
    """Two Relus feeding each other ('loop_a' <-> 'loop_b')."""
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="loop_a"),
             helper.make_node("Relu", ["a"], ["b"], name="loop_b")]
    return model(nodes, [vinfo("x", F32, [1, 4])], [vinfo("a", F32, [1, 4])], [], 13, "cycle")


def reshape_by_input():
    """Reshape whose target shape is a graph input: run by the interpreter of
    run-time shapes, a planned step once glint_model_freeze_input() fixes it.
    x [12], shape [2]."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape_in"),
             helper.make_node("Relu", ["r"], ["y"], name="relu")]
    return model(nodes, [vinfo("x", F32, [12]), vinfo("shape", I64, [2])],
                 [vinfo("y", F32, ["a", "b"])], [], 13, "reshape_by_input")


def bad_models():
    """Small models each wrong in one way (tests/data/onnx/bad/<name>.onnx);
    the load or context-creation error each must give is in
    tests/engine/test_load.c."""
    x, y = vinfo("x", F32, [1, 4]), vinfo("y", F32, [1, 4])
    relu = [helper.make_node("Relu", ["x"], ["y"], name="relu")]

    def mk(nodes, inputs=(x,), outputs=(y,), inits=(), opset=13, domain=""):
        g = helper.make_graph(nodes, "bad", list(inputs), list(outputs), initializer=list(inits))
        m = helper.make_model(g, producer_name="glint gen_test_models.py",
                              opset_imports=[helper.make_opsetid(domain, opset)])
        m.ir_version = 7
        return m

    c = np.ones((1, 4), np.float32)
    return {
        "opset_future": mk(relu, opset=99),
        "domain": mk([helper.make_node("FusedGemm", ["x"], ["y"], name="ms_gemm",
                                       domain="com.microsoft")]),
        "dup_output": mk([helper.make_node("Relu", ["x"], ["y"], name="relu_a"),
                          helper.make_node("Sigmoid", ["x"], ["y"], name="sig_b")]),
        "dup_init": mk([helper.make_node("Add", ["x", "c"], ["y"], name="add")],
                       inits=[init("c", c), init("c", c)]),
        "no_outputs": mk(relu, outputs=()),
        "output_missing": mk(relu, outputs=(vinfo("nowhere", F32, [1, 4]),)),
        "arity": mk([helper.make_node("Relu", ["x", "x"], ["y"], name="relu2in")]),
        "declared_type": mk(relu, outputs=(vinfo("y", I64, [1, 4]),)),
        "no_shape": mk(relu, inputs=(helper.make_tensor_value_info("x", F32, None),)),
        "free_dim": mk(relu, inputs=(vinfo("x", F32, [1, "W"]),)),
        "string_input": mk(relu, inputs=(vinfo("x", TensorProto.STRING, [1, 4]),)),
    }


def hostile_models():
    """Valid protobufs whose values are chosen to overflow 64-bit size
    arithmetic or to read past small tensors (tests/data/onnx/hostile/,
    tests/engine/test_hostile.c). Each must be refused with a status, or, where
    the model is valid ONNX, computed correctly."""
    big = 2 ** 62
    x14 = vinfo("x", F32, [1, 4])

    def mk(nodes, inits, inputs=(x14,), out=vinfo("y", F32, None), opset=13):
        g = helper.make_graph(nodes, "hostile", list(inputs), [out], initializer=inits)
        m = helper.make_model(g, producer_name="glint gen_test_models.py",
                              opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7
        return m

    i64 = lambda name, v: init(name, np.array(v, np.int64))
    return {
        # shape product 2^80: overflows while checking the element count
        "reshape_overflow": mk([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")],
                               [i64("s", [2 ** 40, 2 ** 40])]),
        # valid: x[:, 0:5:2^62] is x[:, 0:1]; step x stride overflows
        "slice_huge_step": mk(
            [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"], name="slice")],
            [i64("st", [0]), i64("en", [5]), i64("ax", [1]), i64("sp", [big])],
            inputs=(vinfo("x", F32, [2, 5, 6]),)),
        # valid: starts past the end with a huge negative step
        "slice_huge_neg_step": mk(
            [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"], name="slice")],
            [i64("st", [2 ** 63 - 1]), i64("en", [-(2 ** 63)]), i64("ax", [1]),
             i64("sp", [-(2 ** 63) + 1])],
            inputs=(vinfo("x", F32, [2, 5, 6]),)),
        # Clip bounds must hold one value; an empty min is read as one
        "clip_empty_min": mk([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")],
                             [init("lo", np.zeros((0,), np.float32)),
                              init("hi", np.array(6, np.float32))]),
        # 4 x 2^62 overflows in the output shape
        "tile_overflow": mk([helper.make_node("Tile", ["x", "r"], ["y"], name="tile")],
                            [i64("r", [1, big])]),
        # 4 + (2^63 - 1) + 1 overflows
        "pad_overflow": mk([helper.make_node("Pad", ["x", "p"], ["y"], name="pad")],
                           [i64("p", [0, 2 ** 63 - 1, 0, 1])]),
        # the padded span overflows
        "maxpool_huge_pads": mk(
            [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[1, 1],
                              pads=[0, 0, 2 ** 63 - 1, 2 ** 63 - 1])],
            [], inputs=(vinfo("x", F32, [1, 1, 2, 2]),)),
        # (k - 1) x dilation overflows
        "conv_huge_dilation": mk(
            [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", dilations=[big, 1])],
            [init("w", np.ones((1, 1, 3, 1), np.float32))],
            inputs=(vinfo("x", F32, [1, 1, 4, 4]),)),
        # a required input given as "" (the ONNX spelling of an omitted optional one)
        "omitted_required": mk([helper.make_node("Sigmoid", [""], ["y"], name="sig_noinput")],
                               []),
        # bias of 4 for 5 output channels (ConvTranspose)
        "convtranspose_bias": mk(
            [helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="deconv")],
            [init("w", np.ones((3, 5, 3, 3), np.float32)), init("b", np.ones(4, np.float32))],
            inputs=(vinfo("x", F32, [1, 3, 4, 4]),)),
        # the minimum of no int64 values (the float identity +inf has no int64 value)
        "reduce_empty_int": mk(
            [helper.make_node("ReduceMin", ["e"], ["y"], name="rmin", keepdims=0)],
            [init("e", np.zeros((0,), np.int64))], inputs=(), out=vinfo("y", I64, None)),
        # a zero scale: x / 0 is +-inf or NaN before saturation (NaN -> 0)
        "quantize_zero_scale": mk(
            [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q")],
            [init("s", np.array(0, np.float32)), init("z", np.array(10, np.uint8))],
            out=vinfo("y", helper.TensorProto.UINT8, None)),
        # one zero point per row of A, but A has 2 rows and there are 5 zero points
        "matmulinteger_zp": mk(
            [helper.make_node("MatMulInteger", ["a", "b", "za"], ["y"], name="mmi")],
            [init("a", np.ones((2, 3), np.uint8)), init("b", np.ones((3, 2), np.uint8)),
             init("za", np.ones(5, np.uint8))], inputs=(),
            out=vinfo("y", helper.TensorProto.INT32, None)),
        # per-channel weight scales: 3 for 4 output channels
        "qlinearconv_scales": mk(
            [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                              ["y"], name="qconv")],
            [init("x", np.ones((1, 1, 3, 3), np.uint8)), init("xs", np.array(1, np.float32)),
             init("xz", np.array(0, np.uint8)), init("w", np.ones((4, 1, 1, 1), np.uint8)),
             init("ws", np.ones(3, np.float32)), init("wz", np.zeros(3, np.uint8)),
             init("ys", np.array(1, np.float32)), init("yz", np.array(0, np.uint8))], inputs=(),
            out=vinfo("y", helper.TensorProto.UINT8, None)),
        # ceil(3e68) does not fit an int64
        "range_huge": mk([helper.make_node("Range", ["a", "b", "c"], ["y"], name="range")],
                         [init("a", np.array(0, np.float32)), init("b", np.array(3e38, np.float32)),
                          init("c", np.array(1e-30, np.float32))], inputs=()),
    }


def ext_tiny(dirpath):
    """y = x + B with B [4] in external file ext_tiny.bin at offset 16, plus
    broken twins: location '../ext_tiny/ext_tiny.bin' (escape.onnx), an
    absolute location (absolute.onnx), a declared length that is not B's
    size (badlength.onnx), an offset past the end (badoffset.onnx)."""
    b = np.array([1.5, -2.0, 0.25, 8.0], np.float32)
    with open(os.path.join(dirpath, "ext_tiny.bin"), "wb") as f:
        f.write(b"\x00" * 16 + b.tobytes())

    def make(loc, offset="16", length="16"):
        t = TensorProto()
        t.name = "B"
        t.data_type = F32
        t.dims.extend([4])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", loc), ("offset", offset), ("length", length)):
            e = t.external_data.add()
            e.key, e.value = k, v
        nodes = [helper.make_node("Add", ["x", "B"], ["y"], name="add_ext")]
        return model(nodes, [vinfo("x", F32, [4])], [vinfo("y", F32, [4])], [t], 13, "ext_tiny")

    variants = {
        "model.onnx": make("ext_tiny.bin"),
        "escape.onnx": make("../ext_tiny/ext_tiny.bin"),
        "absolute.onnx": make("/tmp/ext_tiny.bin"),
        "badlength.onnx": make("ext_tiny.bin", length="8"),
        "badoffset.onnx": make("ext_tiny.bin", offset="24"),
        "hugeoffset.onnx": make("ext_tiny.bin", offset=str(2**63 - 8)),
        "dirloc.onnx": make("."),
    }
    for fname, m in variants.items():
        onnx.save(m, os.path.join(dirpath, fname))
    return b


def write_set(d, inputs, outputs, in_names, out_names):
    sd = os.path.join(d, "test_data_set_0")
    os.makedirs(sd, exist_ok=True)
    for i, (a, nm) in enumerate(zip(inputs, in_names)):
        with open(os.path.join(sd, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a), nm).SerializeToString())
    for i, (a, nm) in enumerate(zip(outputs, out_names)):
        with open(os.path.join(sd, f"output_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a, np.float32), nm).SerializeToString())


# A case checks something only if its outputs depend on its inputs: with each
# float input changed (an image flipped upside down, anything else reversed)
# every float output must move by at least this relative L2
# (tests/cli/sensitivity.py checks the committed cases the same way).
MIN_SENSITIVITY = 1e-2


def other_input(x):
    if not np.issubdtype(x.dtype, np.floating):
        return x
    if x.ndim == 4 and x.shape[2] > 1:
        return np.ascontiguousarray(x[:, :, ::-1, :])
    return np.ascontiguousarray(x.reshape(-1)[::-1].reshape(x.shape))


def sensitivity(name, ref, inputs, outs):
    """Reports the smallest relative L2 change of a float output when the
    inputs change; exits if it is below MIN_SENSITIVITY."""
    if not any(np.issubdtype(x.dtype, np.floating) for x in inputs):
        print(f"{name}: no float input, sensitivity not measured")
        return None
    outs2 = ref(*[other_input(x) for x in inputs])
    s = min(float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum() / max((b.astype(np.float64) ** 2).sum(), 1e-300)))
            for a, b in zip(outs2, outs) if np.issubdtype(np.asarray(b).dtype, np.floating))
    print(f"{name}: output sensitivity (inputs flipped or reversed) rel L2 {s:.3g}")
    if not s >= MIN_SENSITIVITY:
        raise SystemExit(f"gen_test_models: {name}: an output hardly depends on the inputs (rel L2 {s:.3g})")
    return s


def save(out, name, m, inputs=None, ref=None, external=False, check=True):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    if check:
        onnx.checker.check_model(m)
    path = os.path.join(d, "model.onnx")
    if external:
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
    else:
        onnx.save(m, path)
    if inputs is not None:
        outs = ref(*inputs)
        sensitivity(name, ref, inputs, outs)
        write_set(d, inputs, outs, [i.name for i in m.graph.input if i.name not in
                                    {t.name for t in m.graph.initializer}],
                  [o.name for o in m.graph.output])
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
    assert size < 50000, f"{name} is {size} bytes"
    print(f"{name}: {size} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "onnx"))
    out = os.path.normpath(ap.parse_args().out)
    os.makedirs(out, exist_ok=True)
    for name, fn in (("conv_bn_relu", conv_bn_relu), ("silu_residual", silu_residual),
                     ("reshape_chain", reshape_chain), ("upsample_opset9", upsample_opset9),
                     ("upsample_slice_opset8", upsample_slice_opset8),
                     ("slice_opset10", slice_opset10), ("mini_yolo", mini_yolo),
                     ("dynamic_hw", dynamic_hw), ("c2f", c2f), ("sppf_neck", sppf_neck),
                     ("dfl_head", dfl_head), ("input_as_output", input_as_output)):
        m, inputs, ref = fn()
        save(out, name, m, inputs, ref)
    m, inputs, ref = conv_bn_relu()
    save(out, "conv_bn_relu_ext", m, inputs, ref, external=True)
    for name, fn in (("unsupported_op", unsupported_op), ("undefined_input", undefined_input),
                     ("cycle", cycle), ("reshape_by_input", reshape_by_input)):
        save(out, name, fn(), check=name not in ("undefined_input", "cycle"))
    d = os.path.join(out, "ext_tiny")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    ext_tiny(d)
    print("ext_tiny: 7 models")
    d = os.path.join(out, "bad")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, m in bad_models().items():
        onnx.save(m, os.path.join(d, name + ".onnx"))
    print(f"bad: {len(bad_models())} models")
    d = os.path.join(out, "hostile")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, m in hostile_models().items():
        onnx.save(m, os.path.join(d, name + ".onnx"))
    print(f"hostile: {len(hostile_models())} models")


if __name__ == "__main__":
    main()
