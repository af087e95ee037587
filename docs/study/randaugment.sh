#!/bin/bash
# The study's RandAugment rows (docs/study.md, issue 29): no regularizer,
# the grid's SpatialDropout (p 0.05) and the study's best pattern (the one
# the autodropout-best final runs trained: search-rl-seed3's best), each
# with RandAugment (torchvision's, 2 ops at magnitude 9 of 31), 5 seeds, in
# the final runs' regime: WRN-16-2, 2,048 training images, 30 epochs,
# batch 64, lr 0.05, one thread, and no crop: RandAugment is the only
# augmentation, as the study trains without one.
#
# Two trainings at a time (J=2). Resumable: a run with a result.json is
# skipped, so rerunning the script finishes what is left. Runs go to
# runs/study-randaugment/ (with their model.ot and output.log); each
# result.json is copied to docs/study/runs/final/<label>/seed-N/, where the
# report labels it by its folder.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repository root
B=${B:-bin/autodropout}
J=${J:-2}
BEST=docs/study/runs/search-rl-seed3/top/01-0.7858.json
run() { # label seed args...
  local label=$1 seed=$2; shift 2
  local out=runs/study-randaugment/$label/seed-$seed
  [ -f $out/result.json ] || {
    mkdir -p $out
    $B train --model wrn-16-2 --data fashion-mnist --train-subset 2048 --epochs 30 --batch-size 64 --lr 0.05 \
      --augment=false --randaugment --ra-ops 2 --ra-magnitude 9 \
      --seed $seed --threads 1 --progress 1m --out $out "$@" > $out/output.log 2>&1
  }
  if [ -f $out/result.json ]; then # a run that was stopped is retrained next time
    mkdir -p docs/study/runs/final/$label/seed-$seed && cp $out/result.json docs/study/runs/final/$label/seed-$seed/
  else
    echo "$label seed $seed: no result.json (see $out/output.log)" >&2
  fi
}
jobs_list() {
  for seed in 1 2 3 4 5; do
    echo "none-randaugment $seed --regularizer none"
    echo "spatial-randaugment $seed --regularizer spatial --drop-rate 0.05"
    echo "autodropout-best-randaugment $seed --pattern $BEST --allow-outside-space"
  done
}
export -f run; export B BEST
jobs_list | xargs -P "$J" -L 1 bash -c 'run "$@"' _
[ "${REPORT:-1}" = 0 ] || $B report docs/study/runs --out docs/study/report.md
