#!/usr/bin/python3
"""Small PyTorch modules exported to ONNX with torch's outputs, in ONNX's
backend-test layout (model.onnx + test_data_set_0/{input,output}_N.pb), under
tests/data/op_cases/. They exercise the shapes where glint's oneDNN backend
takes over from the reference kernels (NHWC convolutions with fused
activations and residuals, deconvolution, pooling, broadcasting on NHWC,
channel concat/split, nearest upsampling, strided softmax, matmul), checked
by `glint check` against PyTorch; and the transformer pieces (LayerNorm,
GELU, batched attention matmuls, a ConvNeXt block). Deterministic: rerunning
gives the same files. Run with Debian's python3 (python3-torch, python3-onnx);
an argument NAME[,NAME] writes only those cases."""
import os
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "op_cases")


class ConvAct(nn.Module):
    def __init__(self, ci, co, k, s=1, p=0, d=1, g=1, act=None):
        super().__init__()
        self.c = nn.Conv2d(ci, co, k, s, p, d, g)
        self.act = act

    def forward(self, x):
        y = self.c(x)
        return self.act(y) if self.act else y


class Residual(nn.Module):  # conv-silu-conv-silu + x (YOLO bottleneck), then relu
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, 1, 1)
        self.b = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        x = F.silu(self.a(x))
        return F.relu(x + F.silu(self.b(x)))


class C2fLike(nn.Module):  # split, bottleneck, concat along channels, upsample, maxpool
    def __init__(self, c):
        super().__init__()
        self.cv1 = nn.Conv2d(c, 2 * c, 1)
        self.m = nn.Conv2d(c, c, 3, 1, 1)
        self.cv2 = nn.Conv2d(3 * c, c, 1)

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        y = self.cv2(torch.cat([a, b, F.silu(self.m(b))], 1))
        return F.max_pool2d(F.interpolate(y, scale_factor=2.0, mode="nearest"), 5, 1, 2)


class SE(nn.Module):  # squeeze-excite with hardswish/hardsigmoid (MobileNetV3)
    def __init__(self, c):
        super().__init__()
        self.c = nn.Conv2d(c, c, 3, 1, 1, groups=c)
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.fc2 = nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        x = F.hardswish(self.c(x))
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * s


class Deconv(nn.Module):
    def __init__(self, ci, co, k, s, p, g=1):
        super().__init__()
        self.d = nn.ConvTranspose2d(ci, co, k, s, p, groups=g)

    def forward(self, x):
        return self.d(x)


class Head(nn.Module):  # DFL-like: softmax over a strided axis, then a 1x1 conv
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(16, 1, 1, bias=False)

    def forward(self, x):  # x [1, 64, 40]
        b, _, a = x.shape
        y = x.view(b, 4, 16, a).transpose(2, 1).softmax(1)
        return self.c(y).view(b, 4, a)


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(x), 1)).softmax(-1)


class MLPBlock(nn.Module):  # ViT: x + Linear(GELU(Linear(LayerNorm(x)))) on [B, T, C]
    def __init__(self, c):
        super().__init__()
        self.ln = nn.LayerNorm(c, eps=1e-6)
        self.fc1 = nn.Linear(c, 2 * c)
        self.fc2 = nn.Linear(2 * c, c)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.ln(x))))


class Attention(nn.Module):  # ViT self-attention block: LayerNorm, MHA, residual
    def __init__(self, c, heads):
        super().__init__()
        self.ln = nn.LayerNorm(c, eps=1e-6)
        self.mha = nn.MultiheadAttention(c, heads, batch_first=True)

    def forward(self, x):
        y = self.ln(x)
        return x + self.mha(y, y, y, need_weights=False)[0]


class ConvNeXtBlock(nn.Module):  # 7x7 depthwise, channels-last LayerNorm, MLP, layer scale
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, 1, 3, groups=c)
        self.ln = nn.LayerNorm(c, eps=1e-6)
        self.fc1 = nn.Linear(c, 4 * c)
        self.fc2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.ln(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class GridSampleHead(nn.Module):  # RT-DETR-style sampling at offsets a conv predicts
    def __init__(self, c):
        super().__init__()
        self.off = nn.Conv2d(c, 2, 3, 1, 1)

    def forward(self, x):
        grid = torch.tanh(self.off(x)).permute(0, 2, 3, 1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


CASES = [
    ("conv_k3x2_groups2", ConvAct(16, 32, (3, 2), 1, 1, 1, 2), (2, 16, 9, 7), 13),
    ("conv_stride2_silu", ConvAct(3, 16, 3, 2, 1, act=F.silu), (1, 3, 32, 32), 17),
    ("conv_dilated_relu6", ConvAct(16, 16, 3, 1, 2, 2, act=F.relu6), (1, 16, 20, 20), 11),
    ("conv_depthwise_hswish", ConvAct(32, 32, 3, 1, 1, 1, 32, act=F.hardswish), (1, 32, 15, 15), 14),
    ("conv_1x1_leaky", ConvAct(32, 48, 1, act=lambda y: F.leaky_relu(y, 0.1)), (2, 32, 10, 10), 13),
    ("conv_sigmoid_tanh", ConvAct(8, 24, 3, 1, 1, act=lambda y: torch.tanh(torch.sigmoid(y))), (1, 8, 12, 12), 13),
    ("residual_silu_relu", Residual(32), (2, 32, 16, 16), 13),
    ("c2f_concat_split_upsample", C2fLike(16), (1, 16, 12, 12), 17),
    ("se_hardswish_opset11", SE(32), (1, 32, 14, 14), 11),
    ("se_hardswish_opset14", SE(32), (1, 32, 14, 14), 14),
    ("deconv_k2s2", Deconv(32, 16, 2, 2, 0), (1, 32, 10, 10), 13),
    ("deconv_k4s2p1_groups", Deconv(32, 32, 4, 2, 1, 4), (1, 32, 9, 9), 13),
    ("dfl_softmax_axis1", Head(), (1, 64, 40), 17),
    ("avgpool_ceil_gemm_softmax", Linear(), (2, 32, 7, 7), 13),
    ("layernorm_gelu_mlp", MLPBlock(48), (2, 17, 48), 17),
    ("layernorm_gelu_mlp_opset13", MLPBlock(48), (2, 17, 48), 13),
    ("attention_mha", Attention(48, 4), (2, 17, 48), 14),
    ("convnext_block", ConvNeXtBlock(32), (1, 32, 14, 14), 17),
    ("grid_sample_offsets", GridSampleHead(16), (2, 16, 20, 24), 16),
]


# A case checks something only if its output depends on its input: for the
# input reversed (the same values in another order) the output must move by
# at least this relative L2 (tests/cli/sensitivity.py checks the committed
# cases the same way).
MIN_SENSITIVITY = 1e-2


def sensitivity(mod, x, y, name):
    """Relative L2 change of the output for x reversed; exits if too small."""
    with torch.no_grad():
        y2 = mod(x.flatten().flip(0).reshape(x.shape))
    s = float(((y2.double() - y.double()) ** 2).sum().sqrt() / (y.double() ** 2).sum().sqrt().clamp_min(1e-300))
    print(f"{name}: output sensitivity (input reversed) rel L2 {s:.3g}")
    if not s >= MIN_SENSITIVITY:
        raise SystemExit(f"gen_op_cases: {name}: the output hardly depends on the input (rel L2 {s:.3g})")


def main():
    import sys
    only = set(sys.argv[1].split(",")) if len(sys.argv) > 1 else None
    torch.manual_seed(0)
    for name, mod, shape, opset in CASES:
        if only and name not in only:
            continue
        torch.manual_seed(len(name))
        mod.eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            y = mod(x)
        sensitivity(mod, x, y, name)
        d = os.path.join(OUT, name)
        os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
        torch.onnx.export(mod, x, os.path.join(d, "model.onnx"), input_names=["x"],
                          output_names=["y"], opset_version=opset, do_constant_folding=True)
        for kind, name_, t in (("input", "x", x), ("output", "y", y)):
            tp = numpy_helper.from_array(t.numpy(), name_)
            with open(os.path.join(d, "test_data_set_0", kind + "_0.pb"), "wb") as f:
                f.write(tp.SerializeToString())
        print(name, tuple(y.shape))


if __name__ == "__main__":
    main()
