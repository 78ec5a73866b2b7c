#!/usr/bin/env bash
# Benchmark (not a test): per-slice SAM-2 stage timings of our burn port on flex (CPU) and of the
# official PyTorch code on the same machine, in the same run, with the ratio burn / PyTorch; burn
# runs twice, with its fast flex kernels (the default) and with burn's reference operations
# (`sss bench --reference-kernels`).
# Prints a markdown table for BENCHMARKS.md. Needs the parity venv (tests/parity/venv.sh makes
# it: torch + sam2 from PyPI, ~5.5 GB, a few minutes the first time).
# `--ops` instead times the single operations the fast flex kernels replace (`sss bench --ops`,
# with and without them) beside PyTorch's.
# Usage: scripts/bench-sam2.sh [--configs micro,tiny] [--runs 5] [--ops]
source "$(dirname "$0")/env.sh"
cd "$ROOT"
configs=micro,tiny
runs=5
ops=0
while [ $# -gt 0 ]; do
  case "$1" in
    --configs) configs="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --ops) ops=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo build -q --release -p sss
if [ "$ops" = 1 ]; then
  say "burn (flex) single operations, fast and reference kernels"
  "$CARGO_TARGET_DIR/release/sss" bench --ops --iters "$runs" | sed -n '/^\[/,$p' > "$out/ops.json"
  say "PyTorch single operations"
  bash tests/parity/bench_torch.sh --ops --runs "$runs" --threads 2 > "$out/torch-ops.jsonl"
  python3 - "$out/ops.json" "$out/torch-ops.jsonl" <<'PY'
import json, subprocess, sys
torch = {}
for line in open(sys.argv[2]):
    if line.strip().startswith("{"):
        r = json.loads(line)
        torch[r["op"]] = r["median_ms"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {subprocess.check_output(['nproc']).decode().strip()} cores")
print("| operation | burn flex, fast kernels, ms | burn flex, reference, ms | PyTorch CPU ms "
      "| ratio fast/PyTorch | ratio reference/PyTorch |")
print("|---|---|---|---|---|---|")
for r in json.load(open(sys.argv[1])):
    t = torch[r["op"]]
    print(f"| {r['op']} | {r['fast_ms']:.1f} | {r['reference_ms']:.1f} | {t:.1f} "
          f"| {r['fast_ms'] / t:.2f} | {r['reference_ms'] / t:.2f} |")
PY
  exit 0
fi
say "burn (flex) timings"
"$CARGO_TARGET_DIR/release/sss" bench --configs "$configs" --iters "$runs" | sed -n '/^\[/,$p' > "$out/burn.json"
say "burn (flex) timings, reference kernels"
"$CARGO_TARGET_DIR/release/sss" bench --configs "$configs" --iters "$runs" --reference-kernels \
  | sed -n '/^\[/,$p' > "$out/burn-reference.json"
say "PyTorch timings"
bash tests/parity/bench_torch.sh --configs "$configs" --runs "$runs" --threads 2 > "$out/torch.jsonl"
python3 - "$out/burn.json" "$out/torch.jsonl" "$out/burn-reference.json" <<'PY'
import json, sys, platform, subprocess
burn = {r["config"]: r for r in json.load(open(sys.argv[1]))}
reference = {r["config"]: r for r in json.load(open(sys.argv[3]))}
torch = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        torch[(r["config"], r["stage"])] = r["median_ms"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {subprocess.check_output(['nproc']).decode().strip()} cores")
print("| config | stage | burn flex median ms | PyTorch CPU median ms | ratio burn/PyTorch "
      "| burn flex, reference kernels, ms | its ratio |")
print("|---|---|---|---|---|---|---|")
stages = [("image_encoder", "image_encoder_ms"), ("prompt_decoder", "prompt_and_decoder_ms"),
          ("propagation_step", "propagation_step_ms")]
for config, r in burn.items():
    for stage, key in stages:
        t = torch.get((config, stage))
        ratio = f"{r[key] / t:.2f}" if t else "n/a"
        ref = reference[config][key]
        ref_ratio = f"{ref / t:.2f}" if t else "n/a"
        print(f"| {config} | {stage} | {r[key]:.1f} | {t if t is not None else 'n/a'} | {ratio} "
              f"| {ref:.1f} | {ref_ratio} |")
PY
