#!/usr/bin/env bash
# The GPU check (issue 31): the project's CUDA paths, run once on a machine
# with a GPU, PyTorch and g++ but no Go and no network.
#
#   scripts/gpu-check.sh OUT             on the GPU machine, from the repository root
#   scripts/gpu-check.sh --dry-run OUT   here, on the CPU: CUDA steps skipped (make gpu-check-dry)
#
# It needs what `make gpu-kit` puts in .build/gpu-kit (git-ignored: carry it
# along with the checkout): bin/autodropout, a static bin/gotchsetup and the
# C++ sources torchsrc/. It writes OUT/summary.json (one entry per step:
# name, status pass/fail/skip, seconds, detail) and OUT/log.txt (every
# command's output), plus each check's JSON report, and exits 1 when a step
# failed. Steps:
#   1 library   build the C++ library against the machine's PyTorch (the
#               dry run: this checkout's lib/, up to date) and check that
#               no binding on our CUDA, autocast or optimizer paths was replaced
#   2 version   autodropout env and version
#   3 train     WRN-16-2, 200 steps on synthetic Fashion-MNIST-shaped data,
#               bf16 autocast, then fp16 with the loss scaler: loss falls, finite
#   4 masks     pattern, Dropout and DropBlock masks on the GPU against the CPU's
#   5 forward   ResNet-50 forward against PyTorch's on the GPU, same weights
#   6 bench     ours/PyTorch on the GPU: WRN-28-10 batch 128, Transformer-XL
#   7 ddp       train --nproc 2 on the device (both ranks on GPU 0 when
#               there is one: Gloo's collectives on CUDA tensors, which
#               no GPU has run yet) over random CIFAR-10-format files
# Variables: PYTHON (python with torch; default python3, then /usr/bin/python3),
# GPU_KIT (default .build/gpu-kit), JOBS (compiler jobs; default all CPUs).
set -uo pipefail

dry=0
if [[ "${1:-}" == "--dry-run" ]]; then
	dry=1
	shift
fi
out="${1:-}"
if [[ -z "$out" || $# -ne 1 ]]; then
	echo "usage: scripts/gpu-check.sh [--dry-run] OUT" >&2
	exit 2
fi
cd "$(dirname "$0")/.." || exit 2
kit="${GPU_KIT:-.build/gpu-kit}"
for f in "$kit/bin/autodropout" "$kit/bin/gotchsetup" "$kit/torchsrc/torch_api.cpp"; do
	if [[ ! -e "$f" ]]; then
		echo "gpu-check: $f missing: run make gpu-kit here and carry $kit with the checkout" >&2
		exit 2
	fi
done
mkdir -p "$out" || exit 2
out="$(cd "$out" && pwd)"
log="$out/log.txt"
: >"$log"
steps="$out/.steps"
: >"$steps"
failed=0
start_all=$SECONDS
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"

say() { echo "gpu-check: $*" | tee -a "$log"; }

# json_str quotes a string for JSON.
json_str() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

# record NAME STATUS SECONDS DETAIL appends one step to the summary.
record() {
	printf '{"name": %s, "status": %s, "seconds": %s, "detail": %s}\n' \
		"$(json_str "$1")" "$(json_str "$2")" "$3" "$(json_str "$4")" >>"$steps"
	say "$1: $2 ($3 s) $4"
	[[ "$2" == fail ]] && failed=1
	return 0
}

# run NAME LIMIT CMD... runs a command with a time limit, its output to the
# log, and records pass or fail.
run() {
	local name=$1 limit=$2 t0=$SECONDS rc
	shift 2
	echo "+ $*" >>"$log"
	timeout "$limit" "$@" >>"$log" 2>&1
	rc=$?
	if ((rc == 0)); then
		record "$name" pass $((SECONDS - t0)) ""
	elif ((rc == 124)); then
		record "$name" fail $((SECONDS - t0)) "timed out after ${limit}s"
	else
		record "$name" fail $((SECONDS - t0)) "exit $rc: $(tail -n 1 "$log")"
	fi
	return $rc
}

# runjson NAME LIMIT FILE CMD... is run with the command's stdout (a JSON
# report) also saved in OUT/FILE.
runjson() {
	local name=$1 limit=$2 file=$3 t0=$SECONDS rc
	shift 3
	echo "+ $*" >>"$log"
	timeout "$limit" "$@" >"$out/$file" 2>"$out/.stderr"
	rc=$?
	cat "$out/$file" "$out/.stderr" >>"$log"
	if ((rc == 0)); then
		record "$name" pass $((SECONDS - t0)) "$file"
	elif ((rc == 124)); then
		record "$name" fail $((SECONDS - t0)) "timed out after ${limit}s"
	else
		record "$name" fail $((SECONDS - t0)) "exit $rc: $(tail -n 1 "$out/.stderr")"
	fi
	rm -f "$out/.stderr"
	return $rc
}

skip() { record "$1" skip 0 "$2"; }

# A python with torch: the reference side of steps 5 and 6.
python=""
for p in "${PYTHON:-python3}" /usr/bin/python3; do
	if "$p" -c 'import torch' >/dev/null 2>&1; then
		python="$p"
		break
	fi
done
say "$( ((dry)) && echo "dry run on the CPU" || echo "GPU run"), kit $kit, python ${python:-none}"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >>"$log" 2>&1
fi

# 1. The library, against the machine's PyTorch (dry run: this checkout's).
if ((dry)); then
	libdir="lib"
	lt=""
else
	libdir="$kit/lib"
	if [[ -z "$python" ]]; then
		record library fail 0 "no python with torch to find the libtorch (set PYTHON)"
		lt=""
	else
		lt="$("$python" -c 'import torch,os;print(os.path.dirname(torch.__file__))')"
	fi
fi
if [[ $dry -eq 1 || -n "$lt" ]]; then
	LIBTORCH="$lt" run library 330 "$kit/bin/gotchsetup" -lib-only -src "$kit/torchsrc" -lib "$libdir" -jobs "${JOBS:-0}"
fi
export AUTODROPOUT_TORCH_LIB="$PWD/$libdir/libautodropout_torch.so"
ad="$kit/bin/autodropout"
info="$libdir/libautodropout_torch.so.json"
if [[ -f "$info" ]]; then
	cp "$info" "$out/library.json"
	# Bindings on the paths we use on a GPU: CUDA, autocast and loss
	# scaling, the optimizer, and the ops of our training steps and masks.
	critical='cuda|cudnn|autocast|amp|^atc_|^ato_|^at_|^atg_(conv2d|convolution|batch_norm|native_batch_norm|linear|addmm|matmul|mm|bmm|cross_entropy_loss|log_softmax|nll_loss|softmax|relu_?|bernoulli_?|rand|randn|rand_like|uniform_|grid_sampler|affine_grid_generator|adaptive_avg_pool2d|max_pool2d|layer_norm|embedding|dropout|to|to1|to2|to3|to4|_to_copy|copy_|isfinite|isinf|isnan|abs|sum|mul_?|add_?|div_?|where|roll|gather)$'
	all="$(awk '/"replaced": \[/ {on=1} on {print} on && /\]/ {exit}' "$info" | grep -o '"[a-z]*_[A-Za-z0-9_]*"' | tr -d '"')"
	replaced="$(grep '^at' <<<"$all")"
	bad="$(grep -E "$critical" <<<"$replaced" | tr '\n' ' ')"
	n="$(grep -c . <<<"$replaced")"
	# Our own replaceable C++ (extra/cuda_memory.cpp, extra/distributed.cpp).
	own="$(grep '^ad' <<<"$all" | tr '\n' ' ')"
	if [[ -n "$bad" ]]; then
		record replaced fail 0 "bindings on our GPU paths were replaced: $bad"
	else
		record replaced pass 0 "$n bindings replaced, none on our CUDA, autocast or optimizer paths (library.json)${own:+; of our own C++ replaced: $own}"
	fi
else
	record replaced fail 0 "no $info: the library was not built"
fi

# 2. env and version.
run env 60 "$ad" env
runjson version 60 version.json "$ad" version --json

# 3-5. The checks (package gpucheck); the dry run runs them small on the CPU.
if ((dry)); then
	dev=cpu
	runjson train-bf16 240 train-bf16.json "$ad" gpucheck train --device cpu --precision bf16 --steps 30 --batch 16 --lr 0.1
	skip train-fp16 "fp16 autocast is CUDA only"
	runjson masks 120 masks.json "$ad" gpucheck masks --device cpu --planes 512
	fwd_args=(--batch 2 --size 64)
else
	dev=cuda
	runjson train-bf16 240 train-bf16.json "$ad" gpucheck train --device cuda --precision bf16 --steps 200 --batch 128
	runjson train-fp16 240 train-fp16.json "$ad" gpucheck train --device cuda --precision fp16 --steps 200 --batch 128
	runjson masks 120 masks.json "$ad" gpucheck masks --device cuda --planes 8192
	fwd_args=(--batch 8 --size 224)
fi
if [[ -n "$python" ]]; then
	if run forward-ref 180 "$python" scripts/gpu_check_ref.py --out "$out/ref" --device "$dev" "${fwd_args[@]}"; then
		runjson forward 180 forward.json "$ad" gpucheck forward --device "$dev" --weights "$out/ref/weights.pth" --ref "$out/ref/ref.pth"
	fi
	rm -f "$out/ref/weights.pth" # 100 MB: not worth keeping
else
	skip forward "no python with torch"
fi

# 6. bench against PyTorch on the GPU.
if ((dry)); then
	skip bench "CUDA step"
elif [[ -n "$python" ]]; then
	run bench-wrn 200 "$ad" bench --device cuda --pytorch --python "$python" --models wrn-28-10 --batch 128 \
		--variants dropout,pattern --steps 10 --warmup 3 --precision fp32,bf16 --skip mask,loader,controller,images --json "$out/bench-wrn.json"
	run bench-txl 150 "$ad" bench --device cuda --pytorch --python "$python" --models transformer-xl \
		--variants dropout,pattern --steps 10 --warmup 3 --precision fp32,bf16 --skip mask,loader,controller,images --json "$out/bench-txl.json"
else
	skip bench "no python with torch"
fi

# 7. Data-parallel training on two processes (Gloo; NCCL is not built),
# on random CIFAR-10-format files: 5 × 200 training and 200 test records.
cifar="$out/cifar-random"
if [[ -n "$python" ]] || command -v python3 >/dev/null; then
	"${python:-python3}" - "$cifar" <<'PY' >>"$log" 2>&1
import os, random, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = random.Random(1)
for name in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]:
    with open(os.path.join(d, name), "wb") as f:
        for _ in range(200):
            f.write(bytes([rng.randrange(10)]) + bytes(rng.randrange(256) for _ in range(3072)))
PY
	ddp_dev=cpu
	((dry)) || ddp_dev=cuda:0
	run ddp 240 "$ad" train --nproc 2 --device "$ddp_dev" --data cifar10 --data-dir "$cifar" --model convnet \
		--epochs 2 --batch-size 32 --threads 1 --out "$out/ddp"
	rm -rf "$cifar"
else
	skip ddp "no python to write the random data"
fi

# The summary.
gpu="null"
if command -v nvidia-smi >/dev/null; then
	gpu="$(json_str "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)")"
fi
{
	printf '{\n  "dry_run": %s,\n  "gpu": %s,\n  "ok": %s,\n  "seconds": %d,\n  "steps": [\n' \
		"$( ((dry)) && echo true || echo false)" "$gpu" "$( ((failed)) && echo false || echo true)" $((SECONDS - start_all))
	sed '$!s/$/,/; s/^/    /' "$steps"
	printf '  ]\n}\n'
} >"$out/summary.json"
rm -f "$steps"
say "summary in $out/summary.json ($( ((failed)) && echo FAILED || echo ok), $((SECONDS - start_all)) s)"
exit $failed
