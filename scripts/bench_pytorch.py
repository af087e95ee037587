#!/usr/bin/python3
"""PyTorch eager reference for `autodropout bench --pytorch` (optional).

It builds the models that autodropout's Go code trains, with the same
shapes, parameter names, regularizers, optimizer and thread count, and times
one training step (forward, loss, backward, optimizer step). Nothing in
autodropout depends on it; it needs Debian's python3-torch and
python3-torchvision (1.13.1 and 0.14.1, the same libtorch that gotch links).

Two ways to run it:

  # on its own: a table of median step times
  /usr/bin/python3 scripts/bench_pytorch.py --models wrn-16-2,wrn-28-2 --threads 2 --steps 10

  # driven by `autodropout bench --pytorch` (JSON lines on stdin/stdout), so
  # that our steps and PyTorch's alternate in one run:
  /usr/bin/python3 scripts/bench_pytorch.py --serve

Serve protocol: one JSON object per line each way. Requests:
  {"op": "hello"}                          -> {"ok": true, "torch": "...", "torchvision": "..."}
  {"op": "threads", "n": 2}                -> {"ok": true}
  {"op": "build", "id": "wrn-16-2/none", "spec": {...}}
                                           -> {"ok": true, "params": N}
  {"op": "run", "id": "...", "steps": k}   -> {"ok": true, "times": [seconds per step],
                                               "peak_bytes": GPU memory in tensors at most (0 on a CPU)}
  {"op": "mask", "spec": {...}, "reps": k} -> {"ok": true, "times": [...]}
  {"op": "drop", "id": "..."}              -> {"ok": true}
Errors answer {"ok": false, "error": "..."}. See make_spec for the spec.

A spec's "precision" is "fp32" (default) or "bf16": the forward pass and
the loss then run under torch.autocast(device, dtype=torch.bfloat16), as
`autodropout bench --precision bf16` runs ours. Its "device" is "cpu"
(default) or "cuda:N" (`autodropout bench --device`): the model and data
live there, and each step waits for the GPU before it is timed.

Regularizers: "dropout" is F.dropout; "dropblock" is torchvision's
drop_block2d; "pattern" is a direct port of autodropout's mask algorithm
(rows and columns in tiles, gathered through the rotated and sheared source
coordinates, planes that would drop everything kept whole, per-mask
rescaling); the Transformer pattern likewise.
"""

import argparse
import contextlib
import json
import math
import os
import re
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the Go side reads this line and skips the comparison
    print(json.dumps({"ok": False, "error": "no torch: %s" % e}), flush=True)
    sys.exit(3)

try:
    from torchvision.ops import drop_block2d
except ImportError:
    drop_block2d = None


# ---------------------------------------------------------------- regularizers

class Dropout:
    def __init__(self, p):
        self.p = p

    def __call__(self, x):
        return F.dropout(x, self.p, training=True)


class DropBlock:
    def __init__(self, p, block_size):
        if drop_block2d is None:
            raise RuntimeError("torchvision.ops.drop_block2d is not available")
        self.p, self.block = p, block_size

    def __call__(self, x):
        return drop_block2d(x, self.p, self.block, inplace=False, training=True)


_geometries = {}


def _geometry(h, w, rot, shx, shy):
    """Source rows and columns of every output cell (autodropout/mask.go)."""
    key = (h, w, rot % 360, shx, shy)
    g = _geometries.get(key)
    if g is not None:
        return g
    rad = (rot % 360) * math.pi / 180

    def snap(v):
        r = round(v)
        return float(r) if abs(v - r) < 1e-12 else v
    cos, sin = snap(math.cos(rad)), snap(math.sin(rad))
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy = (torch.arange(h, dtype=torch.float64) - cy).view(h, 1)
    xx = (torch.arange(w, dtype=torch.float64) - cx).view(1, w)
    a = xx * cos + yy * (-sin)
    b = xx * sin + yy * cos
    b = b - shy * a
    a = a - shx * b
    sy = torch.floor(b + cy + 0.5).long()
    sx = torch.floor(a + cx + 0.5).long()
    vy = torch.arange(int(sy.min()), int(sy.max()) + 1)
    vx = torch.arange(int(sx.min()), int(sx.max()) + 1)
    iy = (sy - int(sy.min())).reshape(1, 1, h * w)
    ix = (sx - int(sx.min())).reshape(1, 1, h * w)
    ly, lx = vy.numel(), vx.numel()
    count = torch.bincount((iy * lx + ix).reshape(-1), minlength=ly * lx).float().view(ly, lx)
    g = (vy, vx, iy, ix, count)
    _geometries[key] = g
    return g


def _axis_drop(v, origin, tile, stride, repeat):
    period = tile + stride
    extent = (repeat - 1) * period + tile
    d = v - origin
    inside = (d >= 0) & (d < extent)
    if stride > 0:
        inside = inside & (torch.remainder(d, period) < tile)
    return inside.float().view(1, 1, -1)


_bases = {}


def _base(p, h, w):
    """The pattern's rescaled base mask on an h×w map, centred, and the
    table of its every cyclic shift when small (autodropout/mask.go)."""
    th = p.get("height") or p["size"]
    tw = p.get("width") or p["size"]
    key = (h, w, p.get("rotate", 0) % 360, p.get("shear_x", 0), p.get("shear_y", 0), th, tw, p["stride"], p["repeat"])
    b = _bases.get(key)
    if b is not None:
        return b
    vy, vx, iy, ix, _ = _geometry(h, w, p.get("rotate", 0), p.get("shear_x", 0), p.get("shear_y", 0))
    eh = (p["repeat"] - 1) * (th + p["stride"]) + th
    ew = (p["repeat"] - 1) * (tw + p["stride"]) + tw
    dy = _axis_drop(vy, (h - eh) // 2, th, p["stride"], p["repeat"])
    dx = _axis_drop(vx, (w - ew) // 2, tw, p["stride"], p["repeat"])
    drop = (torch.gather(dy, 2, iy) * torch.gather(dx, 2, ix)).view(h, w)
    if bool((drop == 1).all()):
        drop = torch.zeros_like(drop)  # a pattern that covers the map is kept whole
    keep = 1 - drop
    scaled = keep * (h * w / keep.sum())
    b = {"keep": (keep, None), "scaled": (scaled, None)}
    if h * w * h * w <= 1 << 22:
        for k, m in list(b.items()):
            tiled = m[0].repeat(2, 2)
            b[k] = (m[0], tiled.as_strided((h, w, h, w), (2 * w, 1, 2 * w, 1)).reshape(h * w, h * w))
    _bases[key] = b
    return b


def _shifted(base, table, n, planes, h, w):
    """n×planes×h×w: each plane the base shifted by a uniform (dy, dx)."""
    dy = torch.randint(h, (n * planes,))
    dx = torch.randint(w, (n * planes,))
    if table is not None:
        return F.embedding(dy * w + dx, table).view(n, planes, h, w)
    cols = ((torch.arange(w).view(1, 1, w) + dx.view(-1, 1, 1)) % w).expand(n * planes, h, w)
    f = torch.gather(base.view(1, h, w).expand(n * planes, h, w), 2, cols)
    rows = ((torch.arange(h).view(1, h, 1) + dy.view(-1, 1, 1)) % h).expand(n * planes, h, w)
    return torch.gather(f, 1, rows).view(n, planes, h, w)


def pattern_mask(p, n, c, h, w):
    """keep mask (n×planes×h×w, {0,1}), as autodropout's Pattern.Mask."""
    planes = 1 if p.get("share_c") else c
    keep, table = _base(p, h, w)["keep"]
    return _shifted(keep, table, n, planes, h, w)


class PatternDropout:
    """Port of autodropout.PatternDropout: a uniformly random cyclic shift
    of the pattern's base mask per plane, looked up in the table of every
    shift (or gathered, on large maps)."""

    def __init__(self, p):
        self.p = p

    def __call__(self, x):
        n, c, h, w = x.shape
        with torch.no_grad():
            planes = 1 if self.p.get("share_c") else c
            scaled, table = _base(self.p, h, w)["scaled"]
            f = _shifted(scaled, table, n, planes, h, w).to(x.dtype)  # as autodropout: the factor in x's dtype
        return x * f


class TransformerDropout:
    """Port of autodropout.TransformerDropout (B×T×D inputs)."""

    def __init__(self, p):
        self.p = p

    def __call__(self, x):
        b, t, d = x.shape
        p = self.p
        with torch.no_grad():
            f = d if p.get("per_feature") else 1
            pos = torch.arange(t, dtype=torch.float32).view(1, t, 1)
            off = torch.randint(t, (b, 1, f)).float()
            rel = torch.remainder(pos - off, float(t))
            period = float(p["size"] + p["stride"])  # stride: unselected tokens between tiles
            sel = ((rel < p["repeat"] * period) & (torch.remainder(rel, period) < p["size"])).float()
            if p["noise"] == "gaussian":
                fac = torch.randn(sel.shape) * sel * p.get("sigma", 0) + 1
            else:
                keep = 1 - sel
                kept = keep.sum(1, keepdim=True).clamp_min(1)
                fac = keep * (t / kept)
            fac = fac.to(x.dtype)
        return x * fac


def autocast(precision, device="cpu"):
    """The forward pass's context: torch.autocast for bf16 (as autodropout's
    --precision bf16) and, on a GPU, fp16; nothing for fp32."""
    if precision in (None, "", "fp32"):
        return contextlib.nullcontext()
    kind = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(kind, dtype=torch.bfloat16)
    if precision == "fp16" and kind == "cuda":
        return torch.autocast(kind, dtype=torch.float16)
    raise ValueError("precision %r on %s: the script knows fp32, bf16 and (CUDA) fp16" % (precision, device))


def sync(device):
    """Waits for the device's queued work, so that a step's time is its own."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def make_reg(r):
    if r is None:
        return None
    kind = r["kind"]
    if kind == "dropout":
        return Dropout(r["rate"])
    if kind == "dropblock":
        return DropBlock(r["rate"], r["block_size"])
    if kind == "pattern":
        return PatternDropout(r["pattern"])
    if kind == "tpattern":
        return TransformerDropout(r["pattern"])
    raise ValueError("unknown regularizer %r" % kind)


class Sites:
    """Named dropout sites, as autodropout's nn.Sites: an empty site is the identity."""

    def __init__(self):
        self.mods = {}

    def __call__(self, name, x):
        m = self.mods.get(name)
        return x if m is None else m(x)


# ---------------------------------------------------------------- WRN-d-k

class WRNBlock(nn.Module):
    def __init__(self, cin, cout, stride, prefix, sites):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.convShortcut = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if cin != cout or stride != 1 else None
        self.prefix, self.sites = prefix, sites

    def forward(self, x):
        s, p = self.sites, self.prefix
        a = torch.relu_(s(p + ".bn1", self.bn1(x)))
        h = torch.relu_(s(p + ".bn2", self.bn2(self.conv1(a))))
        r = s(p + ".residual", self.conv2(h))
        return r + (self.convShortcut(a) if self.convShortcut is not None else x)


class WRNGroup(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layer = nn.Sequential(*layers)

    def forward(self, x):
        return self.layer(x)


class WRN(nn.Module):
    """WRN-depth-width with the reference implementation's names (conv1,
    block1.layer.0.bn1, …, convShortcut, bn1, fc), as autodropout's nn.WRN."""

    def __init__(self, depth, width, in_c, classes):
        super().__init__()
        n = (depth - 4) // 6
        ch = [16, 16 * width, 32 * width, 64 * width]
        self.sites = Sites()
        self.conv1 = nn.Conv2d(in_c, ch[0], 3, 1, 1, bias=False)
        cin = ch[0]
        for g in range(3):
            layers = []
            for i in range(n):
                stride = 1 if g == 0 or i > 0 else 2
                layers.append(WRNBlock(cin, ch[g + 1], stride, "block%d.layer.%d" % (g + 1, i), self.sites))
                cin = ch[g + 1]
            setattr(self, "block%d" % (g + 1), WRNGroup(layers))
        self.bn1 = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, classes)

    def site_names(self):
        out = []
        for g in range(3):
            for b in getattr(self, "block%d" % (g + 1)).layer:
                out += [b.prefix + ".bn1", b.prefix + ".bn2", b.prefix + ".residual"]
        return out + ["bn1"]

    def forward(self, x):
        h = self.conv1(x)
        h = self.block3(self.block2(self.block1(h)))
        a = torch.relu_(self.sites("bn1", self.bn1(h)))
        return self.fc(a.mean((2, 3)))


# ---------------------------------------------------------------- Transformer-XL

def rel_shift(x):
    b, h, t, k = x.shape
    p = F.pad(x, (1, 0)).view(b, h, k + 1, t)
    return p[:, :, 1:].contiguous().view(b, h, t, k)


class XLLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        hd = c["n_head"] * c["d_head"]
        self.dec_attn = nn.Module()
        self.dec_attn.qkv_net = nn.Linear(c["d_model"], 3 * hd, bias=False)
        self.dec_attn.r_net = nn.Linear(c["d_model"], hd, bias=False)
        self.dec_attn.o_net = nn.Linear(hd, c["d_model"], bias=False)
        self.dec_attn.r_w_bias = nn.Parameter(torch.randn(c["n_head"], c["d_head"]) * 0.02)
        self.dec_attn.r_r_bias = nn.Parameter(torch.randn(c["n_head"], c["d_head"]) * 0.02)
        self.dec_attn.layer_norm = nn.LayerNorm(c["d_model"])
        self.pos_ff = nn.Module()
        self.pos_ff.CoreNet = nn.Sequential(nn.Linear(c["d_model"], c["d_inner"]), nn.ReLU(inplace=True), nn.Identity(),
                                            nn.Linear(c["d_inner"], c["d_model"]))
        self.pos_ff.layer_norm = nn.LayerNorm(c["d_model"])


class TransformerXL(nn.Module):
    """Port of autodropout's nn.TransformerXL (post-norm, relative attention,
    tied output embedding, sites emb, layers.i.attn.{q,k,v,prob,attn_out},
    layers.i.ff.{hidden,out})."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.sites = Sites()
        self.word_emb = nn.Embedding(c["n_token"], c["d_model"])
        nn.init.normal_(self.word_emb.weight, 0, 0.02)
        self.crit = nn.Module()
        self.crit.bias = nn.Parameter(torch.zeros(c["n_token"]))
        self.layers = nn.ModuleList([XLLayer(c) for _ in range(c["n_layer"])])

    def site_names(self):
        out = ["emb"]
        for i in range(self.c["n_layer"]):
            out += ["layers.%d.%s" % (i, s) for s in ("attn.q", "attn.k", "attn.v", "attn.prob", "attn.attn_out", "ff.hidden", "ff.out")]
        return out

    def forward(self, x, mems):
        c, s = self.c, self.sites
        h = s("emb", self.word_emb(x) * math.sqrt(c["d_model"]))
        new_mems = []
        for i, l in enumerate(self.layers):
            mem = mems[i] if mems else None
            cat = torch.cat([mem, h], 1) if mem is not None else h
            if c["mem_len"] > 0:
                new_mems.append(cat[:, max(0, cat.shape[1] - c["mem_len"]):].detach())
            h = self.layer(i, l, h, cat)
        return F.linear(h, self.word_emb.weight, self.crit.bias), new_mems

    def layer(self, i, l, h, cat):
        c, s = self.c, self.sites
        name = "layers.%d." % i
        b, t = h.shape[0], h.shape[1]
        k = cat.shape[1]
        mlen = k - t
        nh, dh = c["n_head"], c["d_head"]
        hd = nh * dh
        a = l.dec_attn
        heads = a.qkv_net(cat)
        q = s(name + "attn.q", heads[:, mlen:, :hd].contiguous())
        kk = s(name + "attn.k", heads[:, :, hd:2 * hd].contiguous())
        v = s(name + "attn.v", heads[:, :, 2 * hd:].contiguous())
        qh = q.view(b, t, nh, dh)
        qw = (qh + a.r_w_bias).permute(0, 2, 1, 3)
        qr = (qh + a.r_r_bias).permute(0, 2, 1, 3)
        ac = torch.matmul(qw, kk.view(b, k, nh, dh).permute(0, 2, 3, 1))
        pos = torch.arange(k - 1, -1, -1.0)
        inv = 1 / (10000 ** (torch.arange(0, c["d_model"] // 2, dtype=torch.float64) * 2 / c["d_model"]))
        ang = pos.double()[:, None] * inv[None]
        pe = torch.cat([ang.sin(), ang.cos()], 1).float()
        r = a.r_net(pe).view(k, nh, dh).permute(1, 2, 0)
        bd = rel_shift(torch.matmul(qr, r))
        sc = (ac + bd) * (1 / math.sqrt(dh))
        mask = torch.ones(t, k).triu(1 + mlen).bool()
        sc = sc.masked_fill(mask, -1e30)
        prob = F.softmax(sc, -1)
        prob = s(name + "attn.prob", prob.view(b * nh, t, k)).view(b, nh, t, k)
        av = torch.matmul(prob, v.view(b, k, nh, dh).permute(0, 2, 1, 3))
        av = av.permute(0, 2, 1, 3).contiguous().view(b, t, hd)
        o = s(name + "attn.attn_out", a.o_net(av))
        out1 = a.layer_norm(h + o)
        ff = l.pos_ff.CoreNet
        f = s(name + "ff.hidden", torch.relu(ff[0](out1)))
        f2 = s(name + "ff.out", ff[3](f))
        return l.pos_ff.layer_norm(out1 + f2)


# ---------------------------------------------------------------- benchmarks

def count_params(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def assign(sites, names, regs):
    """regs: list of {"sites": regexp, ...regularizer}; first match wins, as
    later entries in autodropout only set sites still empty."""
    for r in regs:
        mod = make_reg(r)
        rx = re.compile(r["sites"])
        for n in names:
            if rx.search(n) and n not in sites.mods:
                sites.mods[n] = mod


class ClassifierBench:
    def __init__(self, spec):
        torch.manual_seed(spec.get("seed", 1))
        c, h, w = spec["input"]
        self.device = spec.get("device", "cpu")
        self.model = WRN(spec["depth"], spec["width"], c, spec["classes"])
        assign(self.model.sites, self.model.site_names(), spec.get("regularizers", []))
        self.model.to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
        n = spec["batch"]
        i = torch.arange(n * c * h * w)
        self.x = ((i % 97).float() / 48 - 1).view(n, c, h, w)
        self.y = torch.arange(n) % spec["classes"]
        self.precision = spec.get("precision", "fp32")
        autocast(self.precision, self.device)  # refuse an unknown precision at build
        self.model.train()

    def step(self):
        # Ours copies the batch in from host memory too.
        x, y = self.x.clone().to(self.device), self.y.clone().to(self.device)
        with autocast(self.precision, self.device):
            loss = F.cross_entropy(self.model(x), y)
        v = loss.item()
        if not math.isfinite(v):
            raise RuntimeError("loss is %r" % v)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


class LMBench:
    def __init__(self, spec):
        torch.manual_seed(spec.get("seed", 1))
        c = dict(spec["config"])
        self.device = spec.get("device", "cpu")
        self.model = TransformerXL(c)
        assign(self.model.sites, self.model.site_names(), spec.get("regularizers", []))
        self.model.to(self.device)
        if spec.get("optimizer", "adam") in ("", "adam"):
            self.opt = torch.optim.Adam(self.model.parameters(), lr=spec.get("lr", 1e-3))
        else:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=spec.get("lr", 1e-3))
        self.clip = spec.get("clip", 0)
        b, t = spec["batch"], c["tgt_len"]
        self.x = torch.randint(c["n_token"], (b, t)).to(self.device)
        self.y = torch.randint(c["n_token"], (b, t)).to(self.device)
        self.mems = None
        self.precision = spec.get("precision", "fp32")
        autocast(self.precision, self.device)
        self.model.train()

    def step(self):
        with autocast(self.precision, self.device):
            logits, self.mems = self.model(self.x, self.mems)
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), self.y.view(-1))
        v = loss.item()
        if not math.isfinite(v):
            raise RuntimeError("loss is %r" % v)
        self.opt.zero_grad()
        loss.backward()
        if self.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step()


def build(spec):
    if spec["kind"] == "classifier":
        return ClassifierBench(spec)
    if spec["kind"] == "lm":
        return LMBench(spec)
    raise ValueError("unknown bench kind %r" % spec["kind"])


def time_steps(b, k):
    """Times k steps; on a GPU also the peak memory in tensors over them."""
    dev = getattr(b, "device", "cpu")
    cuda = torch.device(dev).type == "cuda"
    out = []
    if cuda:
        sync(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    for _ in range(k):
        t0 = time.perf_counter()
        b.step()
        sync(dev)
        out.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(dev) if cuda else 0
    return out, peak


def time_masks(spec, reps):
    p, (n, c, h, w) = spec["pattern"], spec["shape"]
    out = []
    with torch.no_grad():
        for _ in range(reps):
            t0 = time.perf_counter()
            pattern_mask(p, n, c, h, w)
            out.append(time.perf_counter() - t0)
    return out


def serve():
    benches = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req["op"]
            if op == "hello":
                try:
                    import torchvision
                    tv = torchvision.__version__
                except ImportError:
                    tv = "none"
                resp = {"ok": True, "torch": torch.__version__, "torchvision": tv}
            elif op == "threads":
                torch.set_num_threads(int(req["n"]))
                resp = {"ok": True, "threads": torch.get_num_threads()}
            elif op == "build":
                b = build(req["spec"])
                benches[req["id"]] = b
                resp = {"ok": True, "params": count_params(b.model)}
            elif op == "run":
                times, peak = time_steps(benches[req["id"]], int(req["steps"]))
                resp = {"ok": True, "times": times, "peak_bytes": peak}
            elif op == "mask":
                resp = {"ok": True, "times": time_masks(req["spec"], int(req["reps"]))}
            elif op == "drop":
                benches.pop(req["id"], None)
                resp = {"ok": True}
            else:
                raise ValueError("unknown op %r" % op)
        except Exception as e:  # report, keep serving
            resp = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(resp), flush=True)


def standalone(args):
    torch.set_num_threads(args.threads)
    hand = {"sites": r"block\d\.layer\.\d+\.bn2$", "kind": "pattern",
            "pattern": {"size": 3, "stride": 2, "repeat": 8, "rotate": 30, "shear_x": 0.1, "shear_y": 0}}
    variants = {
        "none": [],
        "dropout": [dict(hand, kind="dropout", rate=0.1)],
        "dropblock": [dict(hand, kind="dropblock", rate=0.1, block_size=3)],
        "pattern": [hand],
    }
    print("torch %s, %d threads, batch %d, %s" % (torch.__version__, torch.get_num_threads(), args.batch, args.precision))
    for model in args.models.split(","):
        m = re.fullmatch(r"wrn-(\d+)-(\d+)", model)
        if not m:
            sys.exit("standalone mode knows wrn-D-K models only (the Go side drives transformer-xl)")
        inp = [1, 28, 28] if model == "wrn-16-2" else [3, 32, 32]
        bs = {k: build({"kind": "classifier", "depth": int(m.group(1)), "width": int(m.group(2)), "input": inp,
                        "classes": 10, "batch": args.batch, "regularizers": v, "precision": args.precision})
              for k, v in variants.items()}
        times = {k: [] for k in bs}
        for _ in range(args.warmup):
            for b in bs.values():
                b.step()
        for _ in range(args.steps):  # round robin: noise hits every variant alike
            for k, b in bs.items():
                times[k] += time_steps(b, 1)[0]
        base = sorted(times["none"])[len(times["none"]) // 2]
        print("%s (%d parameters)" % (model, count_params(bs["none"].model)))
        for k, t in times.items():
            med = sorted(t)[len(t) // 2]
            print("  %-10s %8.1f ms  %.2f× none" % (k, med * 1e3, med / base))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true", help="JSON lines on stdin/stdout (for autodropout bench --pytorch)")
    ap.add_argument("--models", default="wrn-16-2")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: all cores)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: the step's forward under torch.autocast")
    args = ap.parse_args()
    if args.serve:
        serve()
    else:
        standalone(args)


if __name__ == "__main__":
    main()
