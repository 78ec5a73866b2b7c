#!/usr/bin/env bash
# Benchmark (not a test): the RESULTS.md matrix of SSS vs supervised-only on the phantoms, in
# the protocol RESULTS.md measures with (2026-12-01 on): the foundation start, 2,000 steps,
# `--no-weak-aug`, checkpoints every 500 steps, every other setting `sss train`'s default (by
# modality: docs/DESIGN.md §3); each run scored on the validation split (where settings are
# chosen) and the test split (reported once), with the scoring fixed in advance per task.
#
# Groups:
#   cardiac1 cardiac3 cardiac7  cardiac phantom (100 patients, ACDC split 70/10/20) at 1, 3 and
#                               7 labeled: supervised-only vs SSS with the defaults, 3 seeds
#   ablation                    at 3 labeled, the method's parts with its own SAM-2 target:
#                               UniMatch-V2 alone (no DFE, no PCSW), +DFE, +PCSW, the method, 2 seeds
#   brain                       brain-CT phantom (200 scans; 9 labeled of 144 ≈ 5 %, the fewest
#                               holding every bleed type): supervised-only vs SSS, 3 seeds
# Scoring: cardiac fused with w = 0.25, as is and cut to each class's largest 3-D component
# (`eval-SPLIT.json`, `eval-SPLIT-lcc.json`); brain CT SAM-2's masks alone with PCSW's minimum
# object of 20 voxels, over the bleed types present (`--skip-both-empty`). Runs already scored
# are skipped, so the script can be re-run to finish an interrupted matrix;
# `scripts/results-table.mjs` turns the JSON into tables.
#
# Usage: scripts/results.sh [OUT_DIR] [GROUP ...]     (default OUT_DIR: results/, all groups)
# Environment: STEPS (default 2000), SEEDS (default "1 2 3"; the ablation takes the first two),
# SSS_BIN (a built `sss`; default: this checkout's release build). A run takes 15-90 min on
# one thread (RESULTS.md); `RAYON_NUM_THREADS=1` with two groups at once uses 2 cores best.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
out="${1:-results}"
shift || true
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(cardiac1 cardiac3 cardiac7 brain ablation)
steps="${STEPS:-2000}"
read -r -a seeds <<< "${SEEDS:-1 2 3}"

sss="${SSS_BIN:-}"
if [ -z "$sss" ]; then
  cargo build -q --release -p sss --bin sss
  sss="$CARGO_TARGET_DIR/release/sss"
fi
mkdir -p "$out/data" "$out/runs"

cardiac="$out/data/cardiac"
brain="$out/data/brain-200"
needs_cardiac=0
needs_brain=0
for group in "${groups[@]}"; do
  case "$group" in
    brain) needs_brain=1 ;;
    *) needs_cardiac=1 ;;
  esac
done
if [ "$needs_cardiac" = 1 ] && [ ! -d "$cardiac/patient100" ]; then
  "$sss" phantom --task cardiac --cases 100 --seed 7 --out "$cardiac"
fi
if [ "$needs_brain" = 1 ] && [ ! -d "$brain/imagesTs" ]; then
  "$sss" phantom --task brain-ct --cases 200 --seed 7 --out "$brain"
fi

# score DIR DATA DATASET SPLIT NAME [eval flags...]: one `sss eval` to DIR/NAME.json
score() {
  local dir="$1" data="$2" dataset="$3" split="$4" name="$5"
  shift 5
  "$sss" eval --weights "$dir" --data "$data" --dataset "$dataset" --split "$split" "$@" \
    --json "$dir/$name.tmp.json" > "$dir/$name.out" 2>&1 || return 1
  mv "$dir/$name.tmp.json" "$dir/$name.json"
}

# run NAME DATASET_DIR DATASET LABELED SEED [train flags...]
run() {
  local name="$1" data="$2" dataset="$3" labeled="$4" seed="$5"
  shift 5
  local dir="$out/runs/$name"
  if [ -f "$dir/run.json" ]; then
    say "$name: already trained and scored"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  say "$name: training ($steps steps)"
  local started=$SECONDS
  local task_flags=()
  [ "$dataset" = bhsd ] && task_flags+=(--coarse-loss-at low)
  if ! "$sss" train --data "$data" --dataset "$dataset" --labeled "$labeled" --image-size 128 \
    --steps "$steps" --checkpoint-every 500 --no-weak-aug --seed "$seed" "${task_flags[@]}" "$@" \
    --out "$dir" > "$out/runs/$name.train.out" 2>&1; then
    echo "$name: training failed, see $out/runs/$name.train.out" >&2
    exit 1
  fi
  local trained=$((SECONDS - started))
  for split in val test; do
    if [ "$dataset" = bhsd ]; then
      score "$dir" "$data" "$dataset" "$split" "eval-$split" --skip-both-empty --sam2-weight 1 \
        --pcsw-min-object 20 --post-process none
    else
      score "$dir" "$data" "$dataset" "$split" "eval-$split" --sam2-weight 0.25 --post-process none &&
        score "$dir" "$data" "$dataset" "$split" "eval-$split-lcc" --sam2-weight 0.25 \
          --post-process largest-component
    fi || {
      echo "$name: scoring failed, see $dir/eval-$split*.out" >&2
      exit 1
    }
  done
  printf '{"name":"%s","dataset":"%s","labeled":%s,"seed":%s,"steps":%s,"flags":"%s","train_seconds":%s}\n' \
    "$name" "$dataset" "$labeled" "$seed" "$steps" "$*" "$trained" > "$dir/run.json"
  say "$name: done in $((SECONDS - started)) s"
}

for group in "${groups[@]}"; do
  case "$group" in
    cardiac1 | cardiac3 | cardiac7)
      labeled="${group#cardiac}"
      for seed in "${seeds[@]}"; do
        run "cardiac-l$labeled-sup-s$seed" "$cardiac" acdc "$labeled" "$seed" --supervised-only
        run "cardiac-l$labeled-sss-s$seed" "$cardiac" acdc "$labeled" "$seed"
      done
      ;;
    brain)
      for seed in "${seeds[@]}"; do
        run "brain-l9-sup-s$seed" "$brain" bhsd 9 "$seed" --supervised-only
        run "brain-l9-sss-s$seed" "$brain" bhsd 9 "$seed"
      done
      ;;
    ablation)
      for seed in "${seeds[@]:0:2}"; do
        # The method's parts, with its own SAM-2 target (the MRI default is the coarse head's).
        run "cardiac-l3-unimatch-s$seed" "$cardiac" acdc 3 "$seed" --dfe off --no-pcsw --unlabeled-mask-target sam2
        run "cardiac-l3-dfe-s$seed" "$cardiac" acdc 3 "$seed" --dfe on --no-pcsw --unlabeled-mask-target sam2
        run "cardiac-l3-pcsw-s$seed" "$cardiac" acdc 3 "$seed" --dfe off --unlabeled-mask-target sam2
        run "cardiac-l3-method-s$seed" "$cardiac" acdc 3 "$seed" --dfe on --unlabeled-mask-target sam2
      done
      ;;
    *)
      echo "unknown group $group (cardiac1 cardiac3 cardiac7 brain ablation)" >&2
      exit 2
      ;;
  esac
done
node scripts/results-table.mjs "$out" > "$out/tables.md"
say "tables: $out/tables.md"
