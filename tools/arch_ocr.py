"""PaddleOCR's PP-OCRv3 text detector and recogniser, written in PyTorch from
the public architecture (PaddleOCR's ppocr/modeling: det_mobilenet_v3.py,
rse_fpn.py, det_db_head.py; rec_mv1_enhance.py, rnn.py EncoderWithSVTR,
rec_ctc_head.py), so that tools/train_ocr.py can train and export them in the
shape PaddleOCR's ONNX exports have:

  detector    x [B, 3, H, W] (H, W free, multiples of 32) -> the DB head's
              probability map [B, 1, H, W] (sigmoid)
  recogniser  x [B, 3, 48, W] (W free) -> per time step class probabilities
              [B, W / 8, n_classes] (softmax; class 0 is CTC's blank)

Paddle's hardsigmoid (slope 0.2, offset 0.5) and swish (x * sigmoid(x)) are
written out; BatchNorm folds into the convolutions at export.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_divisible(v, divisor=8, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def hardsigmoid(x):
    """Paddle's F.hardsigmoid: clip(0.2 x + 0.5, 0, 1)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def act_fn(name, x):
    if name == "relu":
        return F.relu(x)
    if name == "hardswish":
        return F.hardswish(x)
    if name == "swish":
        return x * torch.sigmoid(x)
    return x


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, s=1, p=None, groups=1, act=None):
        super().__init__()
        p = (k - 1) // 2 if p is None else p
        self.conv = nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        return act_fn(self.act, self.bn(self.conv(x)))


class SE(nn.Module):
    """Squeeze-excitation: avg pool, 1x1 conv c -> c/4, relu, 1x1 conv, hardsigmoid."""

    def __init__(self, c, r=4):
        super().__init__()
        self.c1 = nn.Conv2d(c, c // r, 1)
        self.c2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        a = F.adaptive_avg_pool2d(x, 1)
        return x * hardsigmoid(self.c2(F.relu(self.c1(a))))


class ResidualUnit(nn.Module):
    def __init__(self, cin, mid, cout, k, s, use_se, act):
        super().__init__()
        self.expand = ConvBN(cin, mid, 1, act=act)
        self.dw = ConvBN(mid, mid, k, s, groups=mid, act=act)
        self.se = SE(mid) if use_se else None
        self.linear = ConvBN(mid, cout, 1)
        self.shortcut = s == 1 and cin == cout

    def forward(self, x):
        y = self.dw(self.expand(x))
        if self.se is not None:
            y = self.se(y)
        y = self.linear(y)
        return x + y if self.shortcut else y


# MobileNetV3-large: kernel, expansion, out, SE, activation, stride
MV3_LARGE = [
    [3, 16, 16, False, "relu", 1], [3, 64, 24, False, "relu", 2],
    [3, 72, 24, False, "relu", 1], [5, 72, 40, True, "relu", 2],
    [5, 120, 40, True, "relu", 1], [5, 120, 40, True, "relu", 1],
    [3, 240, 80, False, "hardswish", 2], [3, 200, 80, False, "hardswish", 1],
    [3, 184, 80, False, "hardswish", 1], [3, 184, 80, False, "hardswish", 1],
    [3, 480, 112, True, "hardswish", 1], [3, 672, 112, True, "hardswish", 1],
    [5, 672, 160, True, "hardswish", 2], [5, 960, 160, True, "hardswish", 1],
    [5, 960, 160, True, "hardswish", 1],
]


class DetMobileNetV3(nn.Module):
    """PaddleOCR's det_mobilenet_v3 (large): four stages at strides 4, 8, 16, 32;
    PP-OCRv3's detector uses scale 0.5 with the SE blocks disabled."""

    def __init__(self, scale=0.5, disable_se=True):
        super().__init__()
        inplanes = make_divisible(16 * scale)
        self.conv = ConvBN(3, inplanes, 3, 2, act="hardswish")
        self.stages, self.out_channels, blocks = nn.ModuleList(), [], []
        for i, (k, e, c, se, act, s) in enumerate(MV3_LARGE):
            if s == 2 and i > 2:
                self.out_channels.append(inplanes)
                self.stages.append(nn.Sequential(*blocks))
                blocks = []
            blocks.append(ResidualUnit(inplanes, make_divisible(scale * e), make_divisible(scale * c),
                                       k, s, se and not disable_se, act))
            inplanes = make_divisible(scale * c)
        last = make_divisible(scale * 960)
        blocks.append(ConvBN(inplanes, last, 1, act="hardswish"))
        self.stages.append(nn.Sequential(*blocks))
        self.out_channels.append(last)

    def forward(self, x):
        x, outs = self.conv(x), []
        for st in self.stages:
            x = st(x)
            outs.append(x)
        return outs


class RSELayer(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.se = SE(cout)

    def forward(self, x):
        x = self.conv(x)
        return x + self.se(x)


class RSEFPN(nn.Module):
    """PP-OCRv3's neck: SE-weighted lateral convs, top-down nearest 2x
    upsampling and adds, each level to out/4 channels by a 3x3 conv,
    upsampled to stride 4 and concatenated."""

    def __init__(self, in_channels, out=96):
        super().__init__()
        self.ins = nn.ModuleList(RSELayer(c, out, 1) for c in in_channels)
        self.inp = nn.ModuleList(RSELayer(out, out // 4, 3) for _ in in_channels)

    def forward(self, xs):
        c2, c3, c4, c5 = xs
        in5, in4, in3, in2 = (self.ins[i](x) for i, x in ((3, c5), (2, c4), (1, c3), (0, c2)))
        out4 = in4 + F.interpolate(in5, scale_factor=2, mode="nearest")
        out3 = in3 + F.interpolate(out4, scale_factor=2, mode="nearest")
        out2 = in2 + F.interpolate(out3, scale_factor=2, mode="nearest")
        p5 = F.interpolate(self.inp[3](in5), scale_factor=8, mode="nearest")
        p4 = F.interpolate(self.inp[2](out4), scale_factor=4, mode="nearest")
        p3 = F.interpolate(self.inp[1](out3), scale_factor=2, mode="nearest")
        p2 = self.inp[0](out2)
        return torch.cat([p5, p4, p3, p2], 1)


class DBHead(nn.Module):
    """DB's probability branch (what inference runs): 3x3 conv, BN, relu,
    two 2x2 stride-2 transposed convs back to the input size, sigmoid."""

    def __init__(self, cin):
        super().__init__()
        self.conv1 = ConvBN(cin, cin // 4, 3, act="relu")
        self.up1 = nn.ConvTranspose2d(cin // 4, cin // 4, 2, 2)
        self.bn2 = nn.BatchNorm2d(cin // 4)
        self.up2 = nn.ConvTranspose2d(cin // 4, 1, 2, 2)

    def logits(self, x):
        x = F.relu(self.bn2(self.up1(self.conv1(x))))
        return self.up2(x)

    def forward(self, x):
        return torch.sigmoid(self.logits(x))


class TextDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = DetMobileNetV3()
        self.neck = RSEFPN(self.backbone.out_channels)
        self.head = DBHead(96)

    def logits(self, x):
        return self.head.logits(self.neck(self.backbone(x)))

    def forward(self, x):
        return torch.sigmoid(self.logits(x))


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin, f1, f2, groups, stride, scale, dw=3, use_se=False):
        super().__init__()
        self.dw = ConvBN(cin, int(f1 * scale), dw, stride, dw // 2, groups=int(groups * scale),
                         act="hardswish")
        self.se = SE(int(f1 * scale)) if use_se else None
        self.pw = ConvBN(int(f1 * scale), int(f2 * scale), 1, act="hardswish")

    def forward(self, x):
        x = self.dw(x)
        if self.se is not None:
            x = self.se(x)
        return self.pw(x)


class MobileNetV1Enhance(nn.Module):
    """PP-OCRv3's recognition backbone: height 48 -> 1 (strides (2, 1) keep
    the width), width / 8 time steps after the last 2x2 average pool."""

    def __init__(self, scale=0.5):
        super().__init__()
        s = scale
        self.conv1 = ConvBN(3, int(32 * s), 3, 2, act="hardswish")
        cfg = [(32, 32, 64, 32, 1, 3, False), (64, 64, 128, 64, 1, 3, False),
               (128, 128, 128, 128, 1, 3, False), (128, 128, 256, 128, (2, 1), 3, False),
               (256, 256, 256, 256, 1, 3, False), (256, 256, 512, 256, (2, 1), 3, False)]
        cfg += [(512, 512, 512, 512, 1, 5, False)] * 5
        cfg += [(512, 512, 1024, 512, (2, 1), 5, True), (1024, 1024, 1024, 1024, (1, 2), 5, True)]
        self.blocks = nn.Sequential(*[DepthwiseSeparable(int(c * s), f1, f2, g, st, s, dw, se)
                                      for c, f1, f2, g, st, dw, se in cfg])
        self.out_channels = int(1024 * s)

    def forward(self, x):
        return F.avg_pool2d(self.blocks(self.conv1(x)), 2, 2)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-2, -1), -1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, c))


class SVTRBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=2.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.mixer = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x):
        x = x + self.mixer(self.norm1(x))
        return x + self.fc2(act_fn("swish", self.fc1(self.norm2(x))))


class EncoderWithSVTR(nn.Module):
    """PP-OCRv3's SVTR neck: convs to hidden width, two global-attention
    blocks over the time steps, back to the input width, concatenated with
    the input (the guide) and reduced to `dims`."""

    def __init__(self, cin, dims=64, depth=2, hidden=120, heads=8):
        super().__init__()
        self.conv1 = ConvBN(cin, cin // 8, 3, act="swish")
        self.conv2 = ConvBN(cin // 8, hidden, 1, act="swish")
        self.blocks = nn.ModuleList(SVTRBlock(hidden, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden, eps=1e-6)
        self.conv3 = ConvBN(hidden, cin, 1, act="swish")
        self.conv4 = ConvBN(2 * cin, cin // 8, 3, act="swish")
        self.conv1x1 = ConvBN(cin // 8, dims, 1, act="swish")
        self.out_channels = dims

    def forward(self, x):
        h = x
        z = self.conv2(self.conv1(x))
        b, c, hh, ww = z.shape
        z = z.flatten(2).transpose(1, 2)
        for blk in self.blocks:
            z = blk(z)
        z = self.norm(z)
        z = z.reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        z = self.conv3(z)
        return self.conv1x1(self.conv4(torch.cat([h, z], 1)))


class TextRecognizer(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.backbone = MobileNetV1Enhance()
        self.neck = EncoderWithSVTR(self.backbone.out_channels)
        self.fc = nn.Linear(self.neck.out_channels, n_classes)

    def logits(self, x):
        z = self.neck(self.backbone(x))  # [B, C, 1, T]
        z = z.squeeze(2).permute(0, 2, 1)  # Im2Seq: [B, T, C]
        return self.fc(z)

    def forward(self, x):
        return torch.softmax(self.logits(x), 2)


def count_params(m):
    return sum(p.numel() for p in m.parameters())


if __name__ == "__main__":
    d, r = TextDetector().eval(), TextRecognizer(64).eval()
    print("det", count_params(d), d(torch.zeros(1, 3, 320, 480)).shape)
    print("rec", count_params(r), r(torch.zeros(2, 3, 48, 320)).shape, math.nan)
