#!/usr/bin/python3
"""PyTorch DistributedDataParallel (Gloo) reference for scripts/ddp-bench.sh.

It trains autodropout's ConvNet (the same layers and shapes as nn/convnet.go:
conv 3×3 32 → batch norm → ReLU → max-pool, conv 3×3 64 → batch norm →
ReLU → max-pool, linear 128, linear 10) on Fashion-MNIST-shaped batches with
SGD (Nesterov momentum 0.9, weight decay 5e-4), one thread per process, and
prints the median step time (forward, loss, backward with DDP's all-reduce,
optimizer step) as one JSON line. The data are random: the step's cost does
not depend on the values. Nothing in autodropout depends on this script; it
needs Debian's python3-torch (1.13.1, the libtorch that gotch links).

  /usr/bin/python3 scripts/ddp_pytorch.py --nproc 2 --batch 64 --steps 40
  /usr/bin/python3 scripts/ddp_pytorch.py --nproc 1 --batch 128 --steps 40
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def worker(rank, args, port, out):
    torch.set_num_threads(1)
    torch.manual_seed(1)
    model = ConvNet()
    if args.nproc > 1:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        dist.init_process_group("gloo", rank=rank, world_size=args.nproc)
        # Batch-norm statistics stay per rank, as ours (which broadcasts
        # rank 0's before evaluating); DDP's default would broadcast them
        # before every forward pass.
        model = nn.parallel.DistributedDataParallel(model, broadcast_buffers=args.broadcast_buffers)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(rank)
    xs = [torch.randn(args.batch, 1, 28, 28, generator=g) for _ in range(8)]
    ys = [torch.randint(0, 10, (args.batch,), generator=g) for _ in range(8)]
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(xs[i % 8]), ys[i % 8])
        loss.backward()
        opt.step()
        loss.item()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    if args.nproc > 1:
        dist.barrier()
    if rank == 0:
        out.put(statistics.median(times))
    if args.nproc > 1:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64, help="examples per process and step")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--broadcast-buffers", action="store_true", help="DDP's default: rank 0's buffers before every forward")
    args = ap.parse_args()
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, args, port, out)) for r in range(args.nproc)]
    for p in procs:
        p.start()
    median = out.get()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit("rank exited with %d" % p.exitcode)
    print(json.dumps({"torch": torch.__version__, "nproc": args.nproc, "batch": args.batch,
                      "broadcast_buffers": args.broadcast_buffers,
                      "step_s": median, "examples_per_s": args.nproc * args.batch / median}))


if __name__ == "__main__":
    main()
