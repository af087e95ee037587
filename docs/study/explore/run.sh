#!/bin/bash
# Regime exploration for the study (docs/study.md): none, Dropout and
# DropBlock at two seeds in two candidate regimes. Resumable: a run with a
# result.json is skipped.
cd "$(dirname "$0")/../../.."  # the repository root
B=bin/autodropout
run() { # name seed args...
  local name=$1 seed=$2; shift 2
  local out=runs/explore/$name/seed-$seed
  [ -f $out/result.json ] && return
  mkdir -p $out
  $B train --data fashion-mnist --batch-size 64 --lr 0.05 --augment=false --seed $seed --threads 2 --progress 20s --out $out "$@" > $out/output.log 2>&1
  echo "$(date +%T) $name seed $seed: $(tail -1 $out/output.log)"
}
for seed in 1 2; do
  run a-wrn16-2-n2048-e30-none $seed --model wrn-16-2 --train-subset 2048 --epochs 30
  run a-wrn16-2-n2048-e30-dropout0.1 $seed --model wrn-16-2 --train-subset 2048 --epochs 30 --regularizer dropout --drop-rate 0.1
  run a-wrn16-2-n2048-e30-dropblock0.1b3 $seed --model wrn-16-2 --train-subset 2048 --epochs 30 --regularizer dropblock --drop-rate 0.1 --block-size 3
done
for seed in 1 2; do
  run b-wrn16-4-n1024-e40-none $seed --model wrn-16-4 --train-subset 1024 --epochs 40
  run b-wrn16-4-n1024-e40-dropout0.1 $seed --model wrn-16-4 --train-subset 1024 --epochs 40 --regularizer dropout --drop-rate 0.1
  run b-wrn16-4-n1024-e40-dropblock0.1b3 $seed --model wrn-16-4 --train-subset 1024 --epochs 40 --regularizer dropblock --drop-rate 0.1 --block-size 3
done
