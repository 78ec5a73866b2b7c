#!/usr/bin/env bash
# The page's long soak (RELIABILITY.md, "Soak: the page"): tests/browser/soak.test.mjs with many
# cycles of open a scan, segment, stop, re-run, in headless Debian Chromium on the wasm CPU
# backend and on WebGPU (SwiftShader). The test command runs the same test with 5 CPU cycles
# and skips the WebGPU part (minutes a cycle on SwiftShader).
# Builds the page first (wasm package, demo scans), as scripts/test.sh does, unless --no-build.
#
# Usage: scripts/soak-page.sh [--no-build] [CPU_CYCLES [WEBGPU_CYCLES]]   (defaults: 50 and 3)
source "$(dirname "$0")/env.sh"
cd "$ROOT"
build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
cpu="${1:-50}"
gpu="${2:-3}"
if [ "$build" = 1 ]; then
  bash scripts/setup.sh --browser
  bash scripts/demo-data.sh
  bash scripts/build-web.sh
fi
say "page soak: $cpu cycles on the CPU, $gpu on WebGPU (SwiftShader)"
SSS_PAGE_SOAK_CYCLES="$cpu" SSS_PAGE_SOAK_GPU_CYCLES="$gpu" \
  node --test --test-reporter=spec tests/browser/soak.test.mjs
