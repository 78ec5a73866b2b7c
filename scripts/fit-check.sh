#!/usr/bin/env bash
# Benchmark (not a test): the fitting check of the SAM-2 branch (RESULTS.md). Any correct
# promptable segmenter fits the volumes it is trained on: one labeled cardiac phantom patient
# (its two frames), SAM-2 (micro-wide) at 128², supervised only, then `sss eval --split labeled
# --gt-prompts` on those same volumes — one ground-truth prompt per class on one slice (PCSW
# on the labels), SAM-2 propagated through the whole volume, as the product does. The target
# is ≥ 0.90 Dice per class (RV / Myo / LV) within 1,000 steps. CONFIG (default micro-wide)
# names the SAM-2 config; rows of RESULTS.md before 2026-11-29 20:30 used CONFIG=micro. SAM-2
# starts from a fresh model (--from-scratch), not from the built-in foundation weights.
#
# Usage: scripts/fit-check.sh OUT_DIR [sss train flags ...]     (STEPS, default 1000)
# Writes OUT_DIR/run (train.log: every step's loss terms, JSON lines) and OUT_DIR/eval.json.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
out="${1:?usage: scripts/fit-check.sh OUT_DIR [train flags ...]}"
shift
steps="${STEPS:-1000}"

cargo build -q --release -p sss --bin sss
sss="$CARGO_TARGET_DIR/release/sss"
data="${FIT_DATA:-results/data/fit-cardiac}"
[ -d "$data/patient005" ] || "$sss" phantom --task cardiac --cases 5 --seed 3 --out "$data"

if [ ! -f "$out/run/model.json" ]; then
  rm -rf "$out/run"
  start=$(date +%s)
  "$sss" train --data "$data" --dataset acdc --labeled 1 --config "${CONFIG:-micro-wide}" --image-size 128 \
    --steps "$steps" --checkpoint-every "$steps" --supervised-only --no-dfe --seed 1 --from-scratch \
    --log-every 50 --out "$out/run" "$@"
  echo "trained in $(( $(date +%s) - start )) s"
fi
"$sss" eval --weights "$out/run" --data "$data" --dataset acdc --split labeled --labeled 1 \
  --gt-prompts --json "$out/eval.json"
