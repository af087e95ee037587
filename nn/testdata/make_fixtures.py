#!/usr/bin/python3
"""Regenerate the PyTorch reference fixtures of package nn.

Development only; the Go tests read the committed outputs and need no Python.

    apt-get install -y python3-torch python3-torchvision   # Debian 12: torch 1.13.1, torchvision 0.14.1
    cd nn/testdata && /usr/bin/python3 make_fixtures.py    # Debian's python, not a pyenv one

Writes, next to this script:

fixtures.json
    "models": torchvision's resnet18, resnet50 and efficientnet_b0 (10
    classes). Full weight files are far too big to commit, so instead every
    state-dict tensor is filled from libtorch's RNG, which Go reaches through
    the same libtorch (package libtorch's ManualSeed with ts.Randn/ts.Rand):
    torch.manual_seed(weight_seed), then for each key in sorted order
    (num_batches_tracked skipped, drawing nothing):
        *.running_mean          randn(shape) * 0.1
        *.running_var           rand(shape) + 0.5
        *.bias                  randn(shape) * 0.1
        other 1-D (BN weight)   rand(shape) + 0.5
        other (conv, linear)    randn(shape) * (gain * sqrt(1 / fan_in)),
                                fan_in = numel / shape[0]
    then torch.manual_seed(input_seed); x = randn(input_shape); and the
    eval-mode logits are recorded, together with every state-dict key and
    shape (the Go test checks our names against them). fill_state_dict in
    fixture_test.go mirrors this; change both together.

    "pth": a tiny torchvision EfficientNet (B0's stages at width 0.1, depth
    0.5, 10 classes; it has blocks with and without expansion, with and
    without skip connections) filled as above (seed 11, gain 1.62,
    num_batches_tracked = 3), saved with torch.save(model.state_dict()) to
    efficientnet_tiny.pth (zip format), and its eval logits. The Go test
    reads this file; it does not regenerate the weights.

    "mixed": a small state dict of assorted dtypes, a 0-dim counter, and
    views with strides and a storage offset into a shared storage, saved in
    both the zip (mixed_zip.pth) and the legacy (mixed_legacy.pth) formats,
    with the expected values.

The gains keep activations neither vanishing nor exploding, so the logits
depend clearly on the input (EfficientNet's stack of SiLU, SE gates and
random eval-mode batch norms is sensitive to them: 1.3 nearly loses the
input, 1.45 gives logits in the hundreds).
"""
import collections
import json
import math
import os

import torch
import torchvision
from torchvision.models import efficientnet as tv_efficientnet

HERE = os.path.dirname(os.path.abspath(__file__))

torch.set_num_threads(1)


def fill_state_dict(sd, seed, gain):
    torch.manual_seed(seed)
    for k in sorted(sd):
        t = sd[k]
        if k.endswith("num_batches_tracked"):
            continue
        shape = t.shape
        if k.endswith("running_mean"):
            v = torch.randn(shape) * 0.1
        elif k.endswith("running_var"):
            v = torch.rand(shape) + 0.5
        elif k.endswith("bias"):
            v = torch.randn(shape) * 0.1
        elif t.dim() == 1:
            v = torch.rand(shape) + 0.5
        else:
            fan_in = t.numel() // shape[0]
            v = torch.randn(shape) * (gain * math.sqrt(1.0 / fan_in))
        t.copy_(v)


def model_fixture(name, build, gain, weight_seed, input_seed, input_shape):
    m = build()
    sd = m.state_dict()
    with torch.no_grad():
        fill_state_dict(sd, weight_seed, gain)
    m.eval()
    torch.manual_seed(input_seed)
    x = torch.randn(input_shape)
    with torch.no_grad():
        y = m(x)
    print(f"{name}: logits std {y.std().item():.3g}, max |logit| {y.abs().max().item():.3g}")
    return {
        "name": name,
        "classes": y.shape[1],
        "gain": gain,
        "weight_seed": weight_seed,
        "input_seed": input_seed,
        "input_shape": list(input_shape),
        "keys": [[k, list(sd[k].shape)] for k in sorted(sd)],
        "logits": y.tolist(),
    }


def tiny_efficientnet(classes):
    settings, last = tv_efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.1, depth_mult=0.5)
    return tv_efficientnet.EfficientNet(settings, 0.2, num_classes=classes, last_channel=last)


def pth_fixture():
    m = tiny_efficientnet(10)
    sd = m.state_dict()
    with torch.no_grad():
        fill_state_dict(sd, 11, 1.62)
        for k, v in sd.items():
            if k.endswith("num_batches_tracked"):
                v.fill_(3)
    m.eval()
    torch.manual_seed(12)
    shape = (2, 3, 32, 32)
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    path = os.path.join(HERE, "efficientnet_tiny.pth")
    torch.save(m.state_dict(), path)
    print(f"efficientnet_tiny.pth: {os.path.getsize(path)} bytes, {sum(p.numel() for p in m.parameters())} parameters")
    return {
        "file": "efficientnet_tiny.pth",
        "width_mult": 0.1,
        "depth_mult": 0.5,
        "classes": 10,
        "input_seed": 12,
        "input_shape": list(shape),
        "logits": y.tolist(),
    }


def mixed_fixture():
    torch.manual_seed(21)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd = collections.OrderedDict(
        [
            ("a.weight", torch.randn(2, 3)),
            ("bn.num_batches_tracked", torch.tensor(7)),
            ("c.double", torch.randn(4, dtype=torch.float64)),
            ("d.half", torch.randn(3).half()),
            ("e.column", base[:, 1]),  # stride 4 into a shared storage
            ("f.row", base[1]),  # storage offset 4
            ("g.long", torch.tensor([1, -2, 3])),
            ("h.bool", torch.tensor([True, False, True])),
        ]
    )
    torch.save(sd, os.path.join(HERE, "mixed_zip.pth"))
    torch.save(sd, os.path.join(HERE, "mixed_legacy.pth"), _use_new_zipfile_serialization=False)
    return {
        "files": ["mixed_zip.pth", "mixed_legacy.pth"],
        "tensors": {
            k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "values": v.double().flatten().tolist()}
            for k, v in sd.items()
        },
    }


def whole_model_fixture():
    """whole_model.pth: a whole pickled model (torch.save(model), not its
    state_dict()), which LoadStateDict refuses with advice."""
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), os.path.join(HERE, "whole_model.pth"))


def main():
    whole_model_fixture()
    out = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "models": [
            model_fixture("resnet18", lambda: torchvision.models.resnet18(num_classes=10), 1.0, 1, 2, (2, 3, 64, 64)),
            model_fixture("resnet50", lambda: torchvision.models.resnet50(num_classes=10), 1.0, 3, 4, (2, 3, 64, 64)),
            model_fixture(
                "efficientnet_b0", lambda: torchvision.models.efficientnet_b0(num_classes=10), 1.35, 5, 6, (2, 3, 64, 64)
            ),
        ],
        "pth": pth_fixture(),
        "mixed": mixed_fixture(),
    }
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
