#!/usr/bin/env bash
# Benchmark (not a test): the page's SAM-2 stages per slice (image encoder, prompt encoder + mask
# decoder, one propagation step; first run and median) on the wasm CPU backend and on WebGPU, the
# demo volume segmented first and warm, and the same stages natively (`sss bench --manifest`,
# flex on one thread and on all cores) in the same run, with the wasm / native ratio; written to
# BENCHMARKS.md ("Page: SAM-2 stages per slice"). Headless Debian Chromium; WebGPU runs on
# SwiftShader here (CPU emulation: counts, not speed; on a machine with a GPU, Chromium's flags
# in tests/browser/harness.mjs decide which adapter it gets).
# Builds first (`sss` in the native profile, the wasm package, demo data) unless --no-build.
# --native-profile dev times the test build's `sss` (dependencies at opt-level 3, the sss crate
# at 1; no release build needed) instead of the release one; the table says which ran.
#
# Usage: scripts/bench-page.sh [--no-build] [--native-profile release|dev] [--iters N] [--warmup N]
#        [--gpu-iters N] [--no-webgpu] [--print]
source "$(dirname "$0")/env.sh"
cd "$ROOT"
build=1
profile=release
iters=10
warmup=2
page_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift ;;
    --native-profile) profile="$2"; shift 2 ;;
    --iters) iters="$2"; page_args+=(--iters "$2"); shift 2 ;;
    --warmup) warmup="$2"; page_args+=(--warmup "$2"); shift 2 ;;
    --gpu-iters) page_args+=(--gpu-iters "$2"); shift 2 ;;
    --no-webgpu|--print) page_args+=("$1"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
manifest=web/assets/weights/sss-cardiac.json
if [ "$build" = 1 ]; then
  bash scripts/setup.sh --browser
  bash scripts/demo-data.sh
  bash scripts/build-web.sh
  cargo build -q --profile "$profile" -p sss --bin sss
fi
case "$profile" in
  release) bin="$CARGO_TARGET_DIR/release/sss" ;;
  dev) bin="$CARGO_TARGET_DIR/debug/sss" ;;
  *) echo "--native-profile is release or dev, not $profile" >&2; exit 2 ;;
esac
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bench() {
  "$bin" bench --manifest "$manifest" --iters "$iters" --warmup "$warmup" \
    | sed -n '/^\[/,$p' | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)[0]))'
}
say "native flex, one thread"
one="$(RAYON_NUM_THREADS=1 bench)"
say "native flex, all cores"
all="$(bench)"
printf '{"profile": "%s", "threads": {"1": %s, "all": %s}}\n' "$profile" "$one" "$all" > "$out/native.json"
say "the page (headless Chromium): CPU, then WebGPU"
node tests/browser/bench-page.mjs "$out/native.json" "${page_args[@]}"
