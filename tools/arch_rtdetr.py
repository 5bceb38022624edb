"""RT-DETR, written from the public architecture (lyuwenyu/RT-DETR's
rtdetr_pytorch: ResNet-vd backbone, HybridEncoder = AIFI transformer layer on
the stride-32 map + CCFM (CSPRep FPN/PAN), decoder with query selection by
TopK over the encoder's class scores and multi-scale deformable attention by
grid_sample), ending as Ultralytics' RTDETRDecoder export does: one output
[B, 300, 4 + nc] of cx, cy, w, h (fractions of the input) and sigmoid class
scores; no NMS. Used by tools/gen_models.py (models/rtdetr)."""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class ConvNorm(nn.Module):
    def __init__(self, cin, cout, k, s, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, (k - 1) // 2, bias=False)
        self.norm = nn.BatchNorm2d(cout)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class RepVggBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = ConvNorm(c, c, 3, 1, act=False)
        self.conv2 = ConvNorm(c, c, 1, 1, act=False)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.conv1(x) + self.conv2(x))


class CSPRepLayer(nn.Module):
    def __init__(self, cin, cout, n=3, expansion=1.0):
        super().__init__()
        h = int(cout * expansion)
        self.conv1 = ConvNorm(cin, h, 1, 1)
        self.conv2 = ConvNorm(cin, h, 1, 1)
        self.bottlenecks = nn.Sequential(*[RepVggBlock(h) for _ in range(n)])
        self.conv3 = ConvNorm(h, cout, 1, 1) if h != cout else nn.Identity()

    def forward(self, x):
        return self.conv3(self.bottlenecks(self.conv1(x)) + self.conv2(x))


class EncoderLayer(nn.Module):
    def __init__(self, d, nhead, ffn):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, src, pos):
        q = k = src + pos
        src = self.norm1(src + self.self_attn(q, k, value=src)[0])
        return self.norm2(src + self.linear2(F.gelu(self.linear1(src))))


def sincos_2d(w, h, dim, temperature=10000.0):
    gw, gh = torch.meshgrid(torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32),
                            indexing="ij")
    pos_dim = dim // 4
    omega = 1.0 / temperature ** (torch.arange(pos_dim, dtype=torch.float32) / pos_dim)
    out_w = gw.flatten()[..., None] @ omega[None]
    out_h = gh.flatten()[..., None] @ omega[None]
    return torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], 1)[None]


class HybridEncoder(nn.Module):
    def __init__(self, in_ch=(128, 256, 512), hidden=128, nhead=8, ffn=512, expansion=0.5):
        super().__init__()
        self.hidden = hidden
        self.input_proj = nn.ModuleList(nn.Sequential(nn.Conv2d(c, hidden, 1, bias=False),
                                                      nn.BatchNorm2d(hidden)) for c in in_ch)
        self.encoder = EncoderLayer(hidden, nhead, ffn)
        n = len(in_ch)
        self.lateral_convs = nn.ModuleList(ConvNorm(hidden, hidden, 1, 1) for _ in range(n - 1))
        self.fpn_blocks = nn.ModuleList(CSPRepLayer(2 * hidden, hidden, 3, expansion) for _ in range(n - 1))
        self.downsample_convs = nn.ModuleList(ConvNorm(hidden, hidden, 3, 2) for _ in range(n - 1))
        self.pan_blocks = nn.ModuleList(CSPRepLayer(2 * hidden, hidden, 3, expansion) for _ in range(n - 1))

    def forward(self, feats):
        proj = [p(f) for p, f in zip(self.input_proj, feats)]
        h, w = proj[2].shape[2:]
        src = proj[2].flatten(2).permute(0, 2, 1)
        mem = self.encoder(src, sincos_2d(w, h, self.hidden))
        proj[2] = mem.permute(0, 2, 1).reshape(-1, self.hidden, h, w)
        n = len(proj)
        inner = [proj[-1]]
        for idx in range(n - 1, 0, -1):
            high = self.lateral_convs[n - 1 - idx](inner[0])
            inner[0] = high
            up = F.interpolate(high, scale_factor=2.0, mode="nearest")
            inner.insert(0, self.fpn_blocks[n - 1 - idx](torch.cat([up, proj[idx - 1]], 1)))
        outs = [inner[0]]
        for idx in range(n - 1):
            down = self.downsample_convs[idx](outs[-1])
            outs.append(self.pan_blocks[idx](torch.cat([down, inner[idx + 1]], 1)))
        return outs


class MLP(nn.Module):
    def __init__(self, cin, h, cout, n):
        super().__init__()
        dims = [cin] + [h] * (n - 1) + [cout]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, l in enumerate(self.layers):
            x = l(x) if i == len(self.layers) - 1 else F.relu(l(x))
        return x


class MSDeformableAttention(nn.Module):
    def __init__(self, d, nhead, levels, points):
        super().__init__()
        self.nhead, self.levels, self.points, self.head_dim = nhead, levels, points, d // nhead
        self.sampling_offsets = nn.Linear(d, nhead * levels * points * 2)
        self.attention_weights = nn.Linear(d, nhead * levels * points)
        self.value_proj, self.output_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, query, ref, value, shapes):
        bs, lq = query.shape[:2]
        lv = value.shape[1]
        value = self.value_proj(value).reshape(bs, lv, self.nhead, self.head_dim)
        off = self.sampling_offsets(query).reshape(bs, lq, self.nhead, self.levels, self.points, 2)
        aw = self.attention_weights(query).reshape(bs, lq, self.nhead, self.levels * self.points)
        aw = F.softmax(aw, -1).reshape(bs, lq, self.nhead, self.levels, self.points)
        loc = ref[:, :, None, :, None, :2] + off / self.points * ref[:, :, None, :, None, 2:] * 0.5
        grids = 2 * loc - 1
        vals = value.split([h * w for h, w in shapes], dim=1)
        samples = []
        for lvl, (h, w) in enumerate(shapes):
            v = vals[lvl].flatten(2).permute(0, 2, 1).reshape(bs * self.nhead, self.head_dim, h, w)
            g = grids[:, :, :, lvl].permute(0, 2, 1, 3, 4).flatten(0, 1)
            samples.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
        aw = aw.permute(0, 2, 1, 3, 4).reshape(bs * self.nhead, 1, lq, self.levels * self.points)
        out = (torch.stack(samples, dim=-2).flatten(-2) * aw).sum(-1).reshape(bs, self.nhead * self.head_dim, lq)
        return self.output_proj(out.permute(0, 2, 1))


class DecoderLayer(nn.Module):
    def __init__(self, d, nhead, ffn, levels, points):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.cross_attn = MSDeformableAttention(d, nhead, levels, points)
        self.linear1, self.linear2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, tgt, ref, memory, shapes, pos):
        q = k = tgt + pos
        tgt = self.norm1(tgt + self.self_attn(q, k, value=tgt)[0])
        tgt = self.norm2(tgt + self.cross_attn(tgt + pos, ref, memory, shapes))
        return self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))


def inverse_sigmoid(x, eps=1e-5):
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class RTDETRDecoder(nn.Module):
    def __init__(self, nc=80, hidden=128, queries=300, strides=(8, 16, 32), nhead=8, layers=3, ffn=512,
                 points=4, size=640, eps=1e-2):
        super().__init__()
        self.nc, self.queries, self.hidden = nc, queries, hidden
        self.input_proj = nn.ModuleList(nn.Sequential(nn.Conv2d(hidden, hidden, 1, bias=False),
                                                      nn.BatchNorm2d(hidden)) for _ in strides)
        self.layers = nn.ModuleList(DecoderLayer(hidden, nhead, ffn, len(strides), points) for _ in range(layers))
        self.query_pos_head = MLP(4, 2 * hidden, hidden, 2)
        self.enc_output = nn.Sequential(nn.Linear(hidden, hidden), nn.LayerNorm(hidden))
        self.enc_score_head = nn.Linear(hidden, nc)
        self.enc_bbox_head = MLP(hidden, hidden, 4, 3)
        self.dec_score_head = nn.ModuleList(nn.Linear(hidden, nc) for _ in range(layers))
        self.dec_bbox_head = nn.ModuleList(MLP(hidden, hidden, 4, 3) for _ in range(layers))
        anchors = []
        for lvl, s in enumerate(strides):
            h = w = size // s
            gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                    indexing="ij")
            xy = (torch.stack([gx, gy], -1) + 0.5) / torch.tensor([w, h], dtype=torch.float32)
            wh = torch.ones_like(xy) * 0.05 * (2.0 ** lvl)
            anchors.append(torch.cat([xy, wh], -1).reshape(-1, h * w, 4))
        anchors = torch.cat(anchors, 1)
        valid = ((anchors > eps) & (anchors < 1 - eps)).all(-1, keepdim=True)
        anchors = torch.log(anchors / (1 - anchors))
        self.register_buffer("anchors", torch.where(valid, anchors, torch.full_like(anchors, float("inf"))))
        self.register_buffer("valid_mask", valid.to(torch.float32))

    def forward(self, feats):
        proj = [p(f) for p, f in zip(self.input_proj, feats)]
        shapes = [tuple(f.shape[2:]) for f in proj]
        memory = torch.cat([f.flatten(2).permute(0, 2, 1) for f in proj], 1)
        out_mem = self.enc_output(self.valid_mask * memory)
        enc_cls = self.enc_score_head(out_mem)
        enc_coord = self.enc_bbox_head(out_mem) + self.anchors
        topk = torch.topk(enc_cls.max(-1).values, self.queries, dim=1).indices
        ref_unact = enc_coord.gather(1, topk.unsqueeze(-1).repeat(1, 1, 4))
        target = out_mem.gather(1, topk.unsqueeze(-1).repeat(1, 1, self.hidden))
        ref = ref_unact.sigmoid()
        out = target
        for i, layer in enumerate(self.layers):
            out = layer(out, ref.unsqueeze(2), memory, shapes, self.query_pos_head(ref))
            box = torch.sigmoid(self.dec_bbox_head[i](out) + inverse_sigmoid(ref))
            if i == len(self.layers) - 1:
                return torch.cat([box, self.dec_score_head[i](out).sigmoid()], -1)
            ref = box


class BasicBlock(nn.Module):
    """ResNet's basic block; a strided one shortcuts through avg-pool + 1x1 (ResNet-vd, as RT-DETR's)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.branch2a = ConvNorm(cin, cout, 3, stride)
        self.branch2b = ConvNorm(cout, cout, 3, 1, act=False)
        self.short = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.AvgPool2d(2, 2, 0, ceil_mode=True) if stride == 2 else nn.Identity(),
            ConvNorm(cin, cout, 1, 1, act=False))

    def forward(self, x):
        return F.relu(self.branch2b(self.branch2a(x)) + self.short(x))


class RTDETR(nn.Module):
    """RT-DETR-r18's layout at half width: a ResNet18-vd backbone (C3-C5: 64, 128, 256
    channels), HybridEncoder (AIFI + CCFM) and decoder at hidden 128; output
    [B, queries, 4 + nc]: cx, cy, w, h (0..1 of the input), class scores."""

    def __init__(self, nc=80, queries=300):
        super().__init__()
        w = (32, 64, 128, 256)
        self.stem = nn.Sequential(ConvNorm(3, 16, 3, 2), ConvNorm(16, 16, 3, 1), ConvNorm(16, 32, 3, 1),
                                  nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 32
        for i, c in enumerate(w):
            stages.append(nn.Sequential(BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.encoder = HybridEncoder(in_ch=w[1:])
        self.decoder = RTDETRDecoder(nc=nc, queries=queries)

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for i, st in enumerate(self.stages):
            x = st(x)
            if i > 0:
                feats.append(x)
        return self.decoder(self.encoder(feats))
