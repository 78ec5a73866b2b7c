#!/usr/bin/env bash
# The page's long soak (RELIABILITY.md, "Soak: the page"): tests/browser/soak.test.mjs (the wasm
# CPU backend) and tests/browser/soak-webgpu.mjs (WebGPU on SwiftShader) with many cycles of open
# a scan, segment, stop, re-run, in headless Debian Chromium. The test command runs the CPU soak
# with 5 cycles and not the WebGPU one (minutes a cycle on SwiftShader; its file is not named as
# a test file, so `node --test tests/browser/` leaves it out rather than skipping it).
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
  node --test --test-reporter=spec tests/browser/soak.test.mjs tests/browser/soak-webgpu.mjs
