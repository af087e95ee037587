#!/bin/bash
# The UDA measurement of docs/study/uda.md (issue 30), across sessions.
#
#   scripts/uda-study.sh run     start (or resume) it in the background:
#                                runs/uda-fashion-mnist, log in
#                                runs/uda-fashion-mnist.log; a missing output
#                                folder is first restored from the committed
#                                raw results in docs/study/uda/runs
#   scripts/uda-study.sh sync    copy the raw results (result.json files; no
#                                checkpoints, states or logs) into
#                                docs/study/uda/runs and regenerate
#                                docs/study/uda/report.md from them
#   scripts/uda-study.sh status  its last progress lines
#
# It runs with its own copy of the binary (runs/uda-bin/uda-trainer: a
# name no pkill of "autodropout" matches), so rebuilding
# bin/autodropout while it runs changes nothing under it. Each training
# uses one thread, two at a time (the config's parallel).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/study/uda-fashion-mnist.json
OUT=runs/uda-fashion-mnist
LOG=runs/uda-fashion-mnist.log
RAW=docs/study/uda/runs

# copy_raw SRC DST copies the result.json files of SRC into DST.
copy_raw() {
  (cd "$1" && find . -type f -name result.json -print) |
    while read -r f; do
      mkdir -p "$2/$(dirname "$f")"
      cp -p "$1/$f" "$2/$f"
    done
}

build() { go build -o bin/autodropout ./cmd/autodropout; }

case "${1:-}" in
run)
  build
  if [ ! -d "$OUT" ] && [ -d "$RAW" ]; then
    echo "restoring $OUT from $RAW"
    mkdir -p "$OUT"
    copy_raw "$RAW" "$OUT"
  fi
  mkdir -p "$OUT" runs/uda-bin
  cp bin/autodropout runs/uda-bin/uda-trainer
  OMP_NUM_THREADS=1 nohup runs/uda-bin/uda-trainer experiment --config "$CONFIG" --out "$OUT" \
    --binary runs/uda-bin/uda-trainer >>"$LOG" 2>&1 &
  echo "UDA study running in the background (pid $!); progress: scripts/uda-study.sh status"
  ;;
sync)
  [ -d "$OUT" ] || { echo "no $OUT to sync" >&2; exit 1; }
  build
  rm -rf "$RAW"
  mkdir -p "$RAW"
  copy_raw "$OUT" "$RAW"
  bin/autodropout report "$RAW" --out docs/study/uda/report.md
  du -sh "$RAW"
  ;;
status)
  grep -v 'running:' "$LOG" | tail -n 8
  tail -n 1 "$LOG"
  ;;
*)
  echo "usage: scripts/uda-study.sh run|sync|status" >&2
  exit 2
  ;;
esac
