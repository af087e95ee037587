#!/usr/bin/python3
"""torchvision's image transforms on PIL images, as a reference for data/.

Reads a JSON list of jobs on stdin, each
  {"path": FILE, "size": S, "resize": R}                    evaluation:
      pil_loader, Resize(R), CenterCrop(S)
  {"path": FILE, "size": S, "box": [x, y, w, h], "flip": B} training:
      pil_loader, F.resized_crop(img, y, x, h, w, [S, S]) (RandomResizedCrop
      with the crop given), then F.hflip when B
and writes each result's S*S*3 bytes (rows of interleaved RGB) to stdout,
one after another. data/stream_test.go compares its Go transforms with it.
"""
import json
import sys

from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torchvision.datasets.folder import pil_loader


def main():
    out = sys.stdout.buffer
    for job in json.load(sys.stdin):
        img = pil_loader(job["path"])  # Image.open(f).convert("RGB")
        s = job["size"]
        if "box" in job:
            x, y, w, h = job["box"]
            img = F.resized_crop(img, y, x, h, w, [s, s], interpolation=T.InterpolationMode.BILINEAR)
            if job.get("flip"):
                img = F.hflip(img)
        else:
            img = T.CenterCrop(s)(T.Resize(job["resize"], interpolation=T.InterpolationMode.BILINEAR)(img))
        assert img.size == (s, s) and img.mode == "RGB"
        out.write(img.tobytes())


if __name__ == "__main__":
    main()
