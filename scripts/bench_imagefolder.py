#!/usr/bin/python3
"""torchvision's ImageFolder + DataLoader, timed: the reference for the
image-loader section of `autodropout bench` (bench/images.go).

  bench_imagefolder.py --dir ROOT [--train] [--size 224] [--batch 64] [--workers 0]

ROOT holds one folder per class. Training: RandomResizedCrop(size),
RandomHorizontalFlip, ToTensor, Normalize(ImageNet); evaluation:
Resize(size*256/224), CenterCrop(size), ToTensor, Normalize. With
--workers 0 (the default) the main process decodes, on one thread
(torch.set_num_threads(1)): images per second per core. Prints one JSON
line: {"torchvision": version, "images": n, "seconds": s, "cpu_seconds": c,
"images_per_s": n/s, "images_per_cpu_s": n/c} (process CPU time of the loop,
which with --workers > 0 leaves out the workers').
"""
import argparse
import json
import time

import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision import datasets
import torchvision.transforms as T

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    if a.train:
        tf = [T.RandomResizedCrop(a.size), T.RandomHorizontalFlip()]
    else:
        tf = [T.Resize(a.size * 256 // 224), T.CenterCrop(a.size)]
    ds = datasets.ImageFolder(a.dir, T.Compose(tf + [T.ToTensor(), T.Normalize(MEAN, STD)]))
    dl = DataLoader(ds, batch_size=a.batch, shuffle=a.train, num_workers=a.workers)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    for x, y in dl:
        n += len(y)
    s, c = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"torchvision": torchvision.__version__, "images": n, "seconds": s, "cpu_seconds": c,
                      "images_per_s": n / s, "images_per_cpu_s": n / c}))


if __name__ == "__main__":
    main()
