#!/bin/sh
# Scaling of data-parallel training on this machine: the ConvNet's training
# step on random Fashion-MNIST-sized batches, 1 process of batch 128 against
# 2 processes of batch 64 (the same examples a step), 1 thread each; ours
# (go test ./train -bench DataParallelStep: c10d's Gloo and Reducer) and
# PyTorch's DistributedDataParallel with Gloo (scripts/ddp_pytorch.py) in
# the same run, alternating. Each number is rank 0's median step time
# after 5 warm-up steps.
#
#   scripts/ddp-bench.sh [steps] [rounds]      (defaults 30 and 3)
set -e
S=${1:-30}
ROUNDS=${2:-3}
export OMP_NUM_THREADS=1
PY=${PY:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/train.test" ./train

ours() { # SUB: median s/step
	"$tmp/train.test" -test.run XXX -test.bench "DataParallelStep/$1\$" -test.benchtime "${S}x" |
		awk '/s\/step/ { for (i = 1; i < NF; i++) if ($(i+1) == "s/step") print $i }'
}

torch() { # NPROC BATCH
	"$PY" scripts/ddp_pytorch.py --nproc "$1" --batch "$2" --steps "$S" |
		"$PY" -c "import json,sys; print(json.load(sys.stdin)['step_s'])"
}

echo "round ours_1x128_s ours_2x64_s torch_1x128_s torch_2x64_s"
i=1
while [ "$i" -le "$ROUNDS" ]; do
	echo "$i $(ours 1x128) $(ours 2x64) $(torch 1 128) $(torch 2 64)"
	i=$((i + 1))
done | tee "$tmp/rows"
"$PY" - "$tmp/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split()[1:])) for l in open(sys.argv[1]) if l.strip()]
o1, o2, t1, t2 = (statistics.median(c) for c in zip(*rows))
print("medians: ours 1x128 %.3f s, 2x64 %.3f s; PyTorch 1x128 %.3f s, 2x64 %.3f s" % (o1, o2, t1, t2))
print("scaling (1-process step / 2-process step): ours %.2f, PyTorch %.2f" % (o1 / o2, t1 / t2))
print("ours/PyTorch step time: 1 process %.2f, 2 processes %.2f" % (o1 / t1, o2 / t2))
PY
