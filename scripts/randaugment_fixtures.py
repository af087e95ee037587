#!/usr/bin/python3
"""Reference outputs of torchvision's RandAugment ops for data/randaugment_test.go.

The Go tests compare data.RandAugment's 14 operations with torchvision 0.14's
(Debian's python3-torchvision, on the same libtorch 1.13 as gotch) on real
images. This script writes the fixtures they read; the tests never run Python.

    /usr/bin/python3 scripts/randaugment_fixtures.py            # rewrite the fixtures
    /usr/bin/python3 scripts/randaugment_fixtures.py --check    # compare, write nothing

Inputs
  * Fashion-MNIST training images 0 and 1 (1×28×28), from Debian's
    dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
  * photo.png, a 3×26×40 RGB photograph: golang.org/x/image's
    testdata/video-001.png (150×103, BSD licence) resized to 40×26 with
    Pillow's bilinear filter. --photo-source rebuilds it from that file.
  * ramps, a synthetic 3×12×16 image whose channels span ranges of 141, 7
    and 159 levels: there AutoContrast's float32 scale, 255·(1/range), and
    255/range truncate the top value (or a third of the range) differently.

Each case applies torchvision.transforms.autoaugment._apply_op, the function
RandAugment.forward calls, to one image with one op at one magnitude bin of
the 31 (the magnitude RandAugment would pick, negated for the "-" sign), with
fill None (zeros, RandAugment's default) or a given fill. The magnitude tables
of _augmentation_space (float32, from torch.linspace) are written too, for
several bin counts and image sizes, so that the Go test checks its own tables
bit for bit.

Outputs (data/testdata/randaugment/)
  cases.json     the images and cases: names, shapes, op, bin, sign, fill and
                 the byte offset of each output in pixels.bin.gz
  tables.json.gz _augmentation_space's magnitudes for TABLE_BINS bin counts
                 (TranslateX/Y for each of TABLE_SIZES)
  pixels.bin.gz  the input images and then every case's output, uint8 C×H×W
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import RandAugment, _apply_op

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "testdata", "randaugment")
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

OPS = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
       "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
       "AutoContrast", "Equalize"]
SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
          "Brightness", "Color", "Contrast", "Sharpness"}
UNSIGNED_BINS = ["Posterize", "Solarize"]

# (bin, negate) pairs per kind of op.
SIGNED_CASES = [(9, False), (9, True), (30, False), (30, True), (20, False)]
UNSIGNED_CASES = [(9, False), (30, False), (20, False), (0, False)]

# Cases with a fill (image name, op, bin, negate, fill).
FILL_CASES = [
    ("photo", "Rotate", 30, False, [10, 200, 30]),
    ("photo", "TranslateY", 30, True, [255]),
    ("fmnist0", "ShearX", 30, True, [128]),
]

TABLE_BINS = [2, 3, 5, 10, 11, 16, 17, 31, 32, 33, 64, 100]
TABLE_SIZES = [(28, 28), (26, 40), (32, 32), (224, 224), (375, 500), (331, 331)]


def fmnist_images(indices):
    with gzip.open(FMNIST, "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    pix = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, h, w)
    return [torch.from_numpy(pix[i].copy()) for i in indices]


def photo(source):
    path = os.path.join(OUT, "photo.png")
    if source:
        im = Image.open(source).convert("RGB").resize((40, 26), Image.BILINEAR)
        os.makedirs(OUT, exist_ok=True)
        im.save(path, optimize=True)
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def ramps():
    """3×12×16: channel c cycles through lo_c..lo_c+range_c."""
    lows, ranges = [10, 0, 50], [141, 7, 159]
    idx = torch.arange(12 * 16).reshape(12, 16)
    planes = [(lo + (idx * 37) % (r + 1)) for lo, r in zip(lows, ranges)]
    return torch.stack(planes).to(torch.uint8)


# Ops applied to ramps (a value-only image: no geometric ops).
RAMPS_CASES = [("AutoContrast", 0, False), ("Equalize", 0, False), ("Contrast", 9, True),
               ("Solarize", 20, False), ("Posterize", 30, False)]


def tables():
    """_augmentation_space's magnitudes, float32 values as Python floats.

    One row per bin count: the ops whose magnitudes do not depend on the
    image's size, and TranslateX/TranslateY for each size in TABLE_SIZES.
    """
    out = []
    for bins in TABLE_BINS:
        row = {"bins": bins, "ops": {}, "translate": []}
        for i, (h, w) in enumerate(TABLE_SIZES):
            space = RandAugment(num_magnitude_bins=bins)._augmentation_space(bins, (h, w))
            vals = {name: [int(v) if name == "Posterize" else float(v) for v in mags.tolist()]
                    for name, (mags, _) in space.items() if mags.ndim > 0}
            row["translate"].append({"h": h, "w": w, "x": vals.pop("TranslateX"), "y": vals.pop("TranslateY")})
            if i == 0:
                row["ops"] = vals
        out.append(row)
    return out


def magnitude(name, bins, b, negate, h, w):
    mags, signed = RandAugment(num_magnitude_bins=bins)._augmentation_space(bins, (h, w))[name]
    m = float(mags[b].item()) if mags.ndim > 0 else 0.0
    if negate:
        assert signed, name
        m = -m
    return m


def build(source):
    images = {}
    images["fmnist0"], images["fmnist1"] = fmnist_images([0, 1])
    images["photo"] = photo(source)
    images["ramps"] = ramps()
    blob = bytearray()
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "images": [], "cases": []}
    for name, img in images.items():
        meta["images"].append({"name": name, "c": img.shape[0], "h": img.shape[1],
                               "w": img.shape[2], "offset": len(blob)})
        blob += img.numpy().tobytes()
    cases = []
    for name in ["fmnist0", "fmnist1", "photo"]:
        for op in OPS:
            if op in SIGNED:
                cases += [(name, op, b, neg, None) for b, neg in SIGNED_CASES]
            elif op in UNSIGNED_BINS:
                cases += [(name, op, b, neg, None) for b, neg in UNSIGNED_CASES]
            else:
                cases.append((name, op, 0, False, None))
    cases += FILL_CASES
    cases += [("ramps", op, b, neg, None) for op, b, neg in RAMPS_CASES]
    for (name, op, b, neg, fill) in cases:
        img = images[name]
        c, h, w = img.shape
        m = magnitude(op, 31, b, neg, h, w)
        tv_fill = None if fill is None else [float(v) for v in (fill * c if len(fill) == 1 else fill)]
        out = _apply_op(img, op, m, interpolation=InterpolationMode.NEAREST, fill=tv_fill)
        assert out.dtype == torch.uint8 and tuple(out.shape) == tuple(img.shape), (op, out.dtype, out.shape)
        meta["cases"].append({"image": name, "op": op, "bin": b, "negate": neg,
                              "fill": fill, "magnitude": m, "offset": len(blob)})
        blob += out.contiguous().numpy().tobytes()
    return meta, tables(), bytes(blob)


def dumps_lines(meta):
    """JSON with one image or case per line, for readable diffs."""
    head = {k: v for k, v in meta.items() if k not in ("images", "cases")}
    out = json.dumps(head)[:-1]
    for key in ("images", "cases"):
        rows = ",\n  ".join(json.dumps(r) for r in meta[key])
        out += f', "{key}": [\n  {rows}\n]'
    return out + "}\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed fixtures; write nothing")
    ap.add_argument("--photo-source", default="", help="rebuild photo.png from this image (golang.org/x/image testdata/video-001.png)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    meta, tabs, blob = build(args.photo_source)
    cases_path = os.path.join(OUT, "cases.json")
    tables_path = os.path.join(OUT, "tables.json.gz")
    pix_path = os.path.join(OUT, "pixels.bin.gz")
    if args.check:
        with gzip.open(pix_path, "rb") as f:
            old = f.read()
        with open(cases_path) as f:
            old_meta = json.load(f)
        with gzip.open(tables_path, "rt") as f:
            old_tabs = json.load(f)
        same = old == blob and old_meta["cases"] == meta["cases"] and old_tabs == tabs
        print("fixtures match" if same else "fixtures differ")
        sys.exit(0 if same else 1)
    with open(cases_path, "w") as f:
        f.write(dumps_lines(meta))
    with gzip.GzipFile(tables_path, "wb", compresslevel=9, mtime=0) as f:
        f.write(json.dumps(tabs, separators=(",", ":")).encode())
    with gzip.GzipFile(pix_path, "wb", compresslevel=9, mtime=0) as f:
        f.write(blob)
    sizes = {p: os.path.getsize(p) for p in (cases_path, tables_path, pix_path)}
    print(f"{len(meta['cases'])} cases, {len(blob)} bytes of pixels; " +
          ", ".join(f"{os.path.basename(p)} {n} bytes" for p, n in sizes.items()))


if __name__ == "__main__":
    main()
