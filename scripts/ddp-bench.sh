#!/bin/sh
# Scaling of data-parallel training on this machine: step time of the
# ConvNet on Fashion-MNIST-sized batches, 1 process of batch 128 against
# 2 processes of batch 64 (1 thread each), ours (autodropout train --nproc)
# and PyTorch's DistributedDataParallel with Gloo (scripts/ddp_pytorch.py)
# in the same run, alternating. Our step time is the difference of two
# runs' wall times (S and 2S steps) over S, which leaves out start-up and
# the first, slower steps; PyTorch's is the median after 5 warm-up steps.
#
#   go build -o bin/autodropout ./cmd/autodropout && scripts/ddp-bench.sh [S] [rounds]
set -e
S=${1:-30}
ROUNDS=${2:-2}
export OMP_NUM_THREADS=1
BIN=${BIN:-bin/autodropout}
PY=${PY:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ours NPROC BATCH STEPS: prints the run's wall seconds
ours() {
	n=$(($1 * $2 * $3))
	"$BIN" train --nproc "$1" --threads 1 --batch-size "$2" --train-subset "$n" --val-frac 0 --test=false \
		--augment=false --precision fp32 --epochs 1 --out "$tmp/r" >/dev/null
	"$PY" -c "import json; print(json.load(open('$tmp/r/result.json'))['wall_s'])"
}

step() { # NPROC BATCH: our step time (s)
	a=$(ours "$1" "$2" "$S")
	b=$(ours "$1" "$2" $((2 * S)))
	"$PY" -c "print(($b - $a) / $S)"
}

torch() { # NPROC BATCH
	"$PY" scripts/ddp_pytorch.py --nproc "$1" --batch "$2" --steps "$S" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['step_s'])"
}

echo "round ours_1x128_s ours_2x64_s torch_1x128_s torch_2x64_s"
i=1
while [ "$i" -le "$ROUNDS" ]; do
	o1=$(step 1 128)
	o2=$(step 2 64)
	t1=$(torch 1 128)
	t2=$(torch 2 64)
	echo "$i $o1 $o2 $t1 $t2"
	i=$((i + 1))
done | tee "$tmp/rows"
"$PY" - "$tmp/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split()[1:])) for l in open(sys.argv[1]) if l.strip()]
o1, o2, t1, t2 = (statistics.median(c) for c in zip(*rows))
print("medians: ours 1x128 %.3f s, 2x64 %.3f s; PyTorch 1x128 %.3f s, 2x64 %.3f s" % (o1, o2, t1, t2))
print("scaling (1-process step / 2-process step, same examples a step): ours %.2f, PyTorch %.2f" % (o1 / o2, t1 / t2))
print("ours/PyTorch step time: 1 process %.2f, 2 processes %.2f" % (o1 / t1, o2 / t2))
PY
