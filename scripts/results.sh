#!/usr/bin/env bash
# Benchmark (not a test): the RESULTS.md matrix of SSS vs supervised-only on the phantoms.
# Cardiac phantom (100 patients, ACDC split 70/10/20) at 3 and 7 labeled: supervised-only vs
# SSS with the defaults (on MRI: no DFE, SAM-2 taught by the coarse head; docs/DESIGN.md §3),
# 3 seeds each; at 3 labeled the method's ablations UniMatch-V2 alone (no DFE, no PCSW), +DFE,
# +PCSW and the method itself (DFE, PCSW, SAM-2 taught by its teacher), 2 seeds each;
# brain-CT phantom (60 scans, 3 labeled ≈ 5 %): supervised-only vs SSS, 3 seeds. Every run is `sss train` then one `sss eval` that reports the full pipeline and
# the coarse head alone. Runs already evaluated are skipped, so the script can be re-run to
# finish an interrupted matrix; `scripts/results-table.mjs` turns the JSON into tables.
#
# Usage: scripts/results.sh [OUT_DIR] [GROUP ...]     (default OUT_DIR: results/, all groups)
# Groups: cardiac3 cardiac7 brain ablation. STEPS (default 500) sets the training length.
# Hours of CPU on 2 cores; `RAYON_NUM_THREADS` and running two groups at once trade as usual.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
out="${1:-results}"
shift || true
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(cardiac3 cardiac7 brain ablation)
steps="${STEPS:-500}"
warmup=$((steps / 5))
ramp=$((steps * 3 / 10))

cargo build -q --release -p sss --bin sss
sss="$CARGO_TARGET_DIR/release/sss"
mkdir -p "$out/data" "$out/runs"

cardiac="$out/data/cardiac"
brain="$out/data/brain-ct"
[ -d "$cardiac/patient100" ] || "$sss" phantom --task cardiac --cases 100 --seed 7 --out "$cardiac"
[ -d "$brain/imagesTs" ] || "$sss" phantom --task brain-ct --cases 60 --seed 7 --out "$brain"

# run NAME DATASET_DIR DATASET LABELED SEED [train flags...]
run() {
  local name="$1" data="$2" dataset="$3" labeled="$4" seed="$5"
  shift 5
  local dir="$out/runs/$name"
  if [ -f "$dir/eval.json" ]; then
    say "$name: already evaluated"
    return
  fi
  rm -rf "$dir"
  say "$name: training ($steps steps)"
  local started=$SECONDS
  "$sss" train --data "$data" --dataset "$dataset" --labeled "$labeled" --config micro \
    --image-size 128 --steps "$steps" --checkpoint-every "$steps" --supervised-warmup "$warmup" \
    --ramp-up "$ramp" --seed "$seed" --log-every 50 --out "$dir" "$@" > "$dir.train.out" 2>&1
  local trained=$((SECONDS - started))
  local eval_flags=()
  [ "$dataset" = bhsd ] && eval_flags+=(--skip-both-empty)
  "$sss" eval --weights "$dir" --data "$data" --dataset "$dataset" "${eval_flags[@]}" \
    --json "$dir/eval.tmp.json" > "$dir.eval.out" 2>&1
  printf '{"name":"%s","dataset":"%s","labeled":%s,"seed":%s,"steps":%s,"flags":"%s","train_seconds":%s}\n' \
    "$name" "$dataset" "$labeled" "$seed" "$steps" "$*" "$trained" > "$dir/run.json"
  mv "$dir/eval.tmp.json" "$dir/eval.json"
  say "$name: done in $((SECONDS - started)) s"
}

for group in "${groups[@]}"; do
  case "$group" in
    cardiac3 | cardiac7)
      labeled="${group#cardiac}"
      for seed in 1 2 3; do
        run "cardiac-l$labeled-sup-s$seed" "$cardiac" acdc "$labeled" "$seed" --supervised-only
        run "cardiac-l$labeled-sss-s$seed" "$cardiac" acdc "$labeled" "$seed"
      done
      ;;
    brain)
      for seed in 1 2 3; do
        run "brain-l3-sup-s$seed" "$brain" bhsd 3 "$seed" --supervised-only
        run "brain-l3-sss-s$seed" "$brain" bhsd 3 "$seed"
      done
      ;;
    ablation)
      for seed in 1 2; do
        # The method's parts, with its own SAM-2 target (the MRI default is the coarse head's).
        run "cardiac-l3-unimatch-s$seed" "$cardiac" acdc 3 "$seed" --dfe off --no-pcsw --unlabeled-mask-target sam2
        run "cardiac-l3-dfe-s$seed" "$cardiac" acdc 3 "$seed" --dfe on --no-pcsw --unlabeled-mask-target sam2
        run "cardiac-l3-pcsw-s$seed" "$cardiac" acdc 3 "$seed" --dfe off --unlabeled-mask-target sam2
        run "cardiac-l3-method-s$seed" "$cardiac" acdc 3 "$seed" --dfe on --unlabeled-mask-target sam2
      done
      ;;
    *)
      echo "unknown group $group (cardiac3 cardiac7 brain ablation)" >&2
      exit 2
      ;;
  esac
done
node scripts/results-table.mjs "$out" > "$out/tables.md"
say "tables: $out/tables.md"
