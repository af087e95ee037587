#!/bin/bash
# The studies of docs/study.md, across sessions and machines.
#
#   scripts/study.sh [STUDY] run     start (or resume) the study in the
#                                    background; a missing output folder is
#                                    first restored from the committed raw
#                                    results
#   scripts/study.sh [STUDY] sync    copy the raw results (journals,
#                                    summaries, top/ patterns, result.json
#                                    files; no checkpoints, states or logs)
#                                    into the committed folder and
#                                    regenerate its report from them
#   scripts/study.sh [STUDY] status  the study's last progress lines
#
# STUDY (default fashion-mnist):
#   fashion-mnist  configs/study/fashion-mnist.json: runs/study ->
#                  docs/study/runs, docs/study/report.md (with
#                  runs/study-randaugment's results, the RandAugment rows
#                  of docs/study/randaugment.sh)
#   uda            configs/study/uda-fashion-mnist.json:
#                  runs/uda-fashion-mnist -> docs/study/uda/runs,
#                  docs/study/uda/report.md
#   lm             configs/study/lm-kjv.json: runs/lm-kjv ->
#                  docs/study/lm/runs, docs/study/lm/report.md
#
# A study runs with its own copy of the binary (runs/STUDY-bin/, named so
# that no pkill of "autodropout" matches it), so rebuilding bin/autodropout
# while it runs changes nothing under it.
set -euo pipefail
cd "$(dirname "$0")/.."

STUDY=fashion-mnist
case "${1:-}" in run | sync | status) ;; *) STUDY="${1:-}"; shift || true ;; esac
case "$STUDY" in
fashion-mnist)
  CONFIG=configs/study/fashion-mnist.json OUT=runs/study LOG=runs/study/experiment.log
  RAW=docs/study/runs REPORT=docs/study/report.md BIN=runs/study-bin/autodropout ;;
uda)
  CONFIG=configs/study/uda-fashion-mnist.json OUT=runs/uda-fashion-mnist LOG=runs/uda-fashion-mnist.log
  RAW=docs/study/uda/runs REPORT=docs/study/uda/report.md BIN=runs/uda-bin/uda-trainer ;;
lm)
  CONFIG=configs/study/lm-kjv.json OUT=runs/lm-kjv LOG=runs/lm-kjv.log
  RAW=docs/study/lm/runs REPORT=docs/study/lm/report.md BIN=runs/lm-bin/lm-trainer ;;
*)
  echo "scripts/study.sh: unknown study \"$STUDY\": want fashion-mnist, uda or lm" >&2
  exit 2 ;;
esac

# copy_raw SRC DST copies the raw result files of SRC into DST.
copy_raw() {
  (cd "$1" && find . \( -path '*/trials' -prune \) -o -type f \
      \( -name journal.jsonl -o -name summary.json -o -name result.json -o -name spec.json -o -path '*/top/*.json' \) -print) |
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
  mkdir -p "$OUT" "$(dirname "$BIN")" "$(dirname "$LOG")"
  cp bin/autodropout "$BIN"
  nohup "$BIN" experiment --config "$CONFIG" --out "$OUT" --binary "$BIN" >>"$LOG" 2>&1 &
  echo "$STUDY study running in the background (pid $!); progress: scripts/study.sh $STUDY status"
  ;;
sync)
  [ -d "$OUT" ] || { echo "no $OUT to sync" >&2; exit 1; }
  build
  rm -rf "$RAW"
  mkdir -p "$RAW"
  copy_raw "$OUT" "$RAW"
  # The RandAugment rows (docs/study/randaugment.sh) train outside the
  # experiment; their results join the final comparison's folder.
  if [ "$STUDY" = fashion-mnist ] && [ -d runs/study-randaugment ]; then
    copy_raw runs/study-randaugment "$RAW/final"
  fi
  bin/autodropout report "$RAW" --out "$REPORT"
  du -sh "$RAW"
  ;;
status)
  grep -v 'running:' "$LOG" | tail -n 8
  tail -n 1 "$LOG" | grep 'running:' || true # what runs now, if anything
  echo
  grep '^experiment: ' "$LOG" | tail -n 1 || true
  ;;
*)
  echo "usage: scripts/study.sh [fashion-mnist|uda|lm] run|sync|status" >&2
  exit 2
  ;;
esac
