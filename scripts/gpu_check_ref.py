#!/usr/bin/env python3
"""Reference for `autodropout gpucheck forward` (scripts/gpu-check.sh).

Builds a ResNet-50 with torchvision's parameter names (torchvision's own
when it is installed, else the definition below, which has the same names
and shapes), initializes it randomly from --seed, and writes to --out:

  weights.pth  its state dict (torch.save(model.state_dict()))
  ref.pth      {"x": input, "y_fp32": output, "y_bf16": output under
               bfloat16 autocast}, in evaluation mode, on --device, as
               float32 CPU tensors

TF32 is left at PyTorch's defaults, as autodropout leaves libtorch's.

  python3 scripts/gpu_check_ref.py --out DIR [--device cuda] [--batch 8] [--size 224]
"""

import argparse
import collections
import os
import sys

import torch
import torch.nn as nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class ResNet50(nn.Module):
    """torchvision.models.resnet50's structure and names."""

    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
            layers = []
            for b in range(blocks):
                s = stride if b == 0 else 1
                down = None
                if b == 0 and (s != 1 or cin != width * 4):
                    down = nn.Sequential(nn.Conv2d(cin, width * 4, 1, s, bias=False), nn.BatchNorm2d(width * 4))
                layers.append(Bottleneck(cin, width, s, down))
                cin = width * 4
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(seed):
    torch.manual_seed(seed)
    try:
        import torchvision
        model = torchvision.models.resnet50()
    except ImportError:
        model = ResNet50()
    # Random but not degenerate batch-norm statistics, so that evaluation
    # mode exercises them.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.0)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    model = build(a.seed).eval()
    torch.save(model.state_dict(), os.path.join(a.out, "weights.pth"))
    dev = torch.device(a.device)
    model = model.to(dev)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=torch.Generator().manual_seed(a.seed + 1))
    with torch.no_grad():
        y32 = model(x.to(dev)).float().cpu()
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            y16 = model(x.to(dev)).float().cpu()
    torch.save(collections.OrderedDict(x=x, y_fp32=y32, y_bf16=y16), os.path.join(a.out, "ref.pth"))
    print("gpu_check_ref: torch %s, %s, batch %d at %d×%d, |y| %.3g" % (torch.__version__, dev, a.batch, a.size, a.size, y32.norm().item()))


if __name__ == "__main__":
    sys.exit(main())
