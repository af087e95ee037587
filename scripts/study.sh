#!/bin/bash
# The study of docs/study.md, across sessions and machines.
#
#   scripts/study.sh run     start (or resume) the study in the background:
#                            runs/study, log in runs/study/experiment.log;
#                            a missing runs/study is first restored from the
#                            committed raw results in docs/study/runs
#   scripts/study.sh sync    copy the raw results (journals, summaries, top/
#                            patterns, result.json files; no checkpoints,
#                            states or logs) into docs/study/runs and
#                            regenerate docs/study/report.md from them
#                            (with runs/study-randaugment's results, the
#                            RandAugment rows of docs/study/randaugment.sh)
#   scripts/study.sh status  the study's last progress lines
#
# The study runs with its own copy of the binary (runs/study-bin), so
# rebuilding bin/autodropout while it runs changes nothing under it.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/study/fashion-mnist.json
OUT=runs/study
RAW=docs/study/runs

# copy_raw SRC DST copies the raw result files of SRC into DST.
copy_raw() {
  (cd "$1" && find . \( -path '*/trials' -prune \) -o -type f \
      \( -name journal.jsonl -o -name summary.json -o -name result.json -o -path '*/top/*.json' \) -print) |
    while read -r f; do
      mkdir -p "$2/$(dirname "$f")"
      cp -p "$1/$f" "$2/$f"
    done
}

case "${1:-}" in
run)
  make build
  if [ ! -d "$OUT" ] && [ -d "$RAW" ]; then
    echo "restoring $OUT from $RAW"
    mkdir -p "$OUT"
    copy_raw "$RAW" "$OUT"
  fi
  mkdir -p "$OUT" runs/study-bin
  cp bin/autodropout runs/study-bin/autodropout
  nohup runs/study-bin/autodropout experiment --config "$CONFIG" --out "$OUT" >>"$OUT/experiment.log" 2>&1 &
  echo "study running in the background (pid $!); progress: scripts/study.sh status"
  ;;
sync)
  [ -d "$OUT" ] || { echo "no $OUT to sync" >&2; exit 1; }
  make build
  rm -rf "$RAW"
  mkdir -p "$RAW"
  copy_raw "$OUT" "$RAW"
  # The RandAugment rows (docs/study/randaugment.sh) train outside the
  # experiment; their results join the final comparison's folder.
  if [ -d runs/study-randaugment ]; then copy_raw runs/study-randaugment "$RAW/final"; fi
  bin/autodropout report "$RAW" --out docs/study/report.md
  du -sh "$RAW"
  ;;
status)
  grep -v 'running:' "$OUT/experiment.log" | tail -n 8
  tail -n 1 "$OUT/experiment.log"
  grep '^experiment: ' "$OUT/experiment.log" | tail -n 1 || true
  ;;
*)
  echo "usage: scripts/study.sh run|sync|status" >&2
  exit 2
  ;;
esac
