#!/bin/bash
# Learning curves of the study's final task (docs/study.md): no
# regularizer, and the grid's best Dropout and SpatialDropout, seed 1,
# validation and training accuracy after every epoch (train --curve).
# Resumable: a run with a result.json is skipped. Raw result.json files go
# to docs/study/curves/.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repository root
B=${B:-bin/autodropout}
run() { # name args...
  local name=$1; shift
  local out=runs/curves/$name
  [ -f $out/result.json ] || {
    mkdir -p $out
    $B train --model wrn-16-2 --data fashion-mnist --train-subset 2048 --epochs 30 --batch-size 64 --lr 0.05 \
      --augment=false --seed 1 --threads 1 --test=false --curve --progress 1m --out $out "$@" > $out/output.log 2>&1
  }
  mkdir -p docs/study/curves/$name && cp $out/result.json docs/study/curves/$name/
}
run none --regularizer none
run dropout-p0.1 --regularizer dropout --drop-rate 0.1
run spatial-p0.05 --regularizer spatial --drop-rate 0.05
$B report docs/study/curves --out docs/study/curves/report.md
