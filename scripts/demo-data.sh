#!/usr/bin/env bash
# Writes the page's demo scan (a seeded cardiac phantom and its labels) to web/assets/demo/.
# Deterministic: the same seed gives the same bytes, so tests can rely on it.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
out=web/assets/demo
if [ -s "$out/demo.nii.gz" ] && [ "$out/demo.nii.gz" -nt crate/src/data/phantom/cardiac.rs ]; then
  exit 0
fi
say "generating the demo scan"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo run -q -p sss -- phantom --task cardiac --cases 1 --seed 2026 --out "$tmp"
mkdir -p "$out"
cp "$tmp"/patient001/patient001_frame01.nii.gz "$out/demo.nii.gz"
cp "$tmp"/patient001/patient001_frame01_gt.nii.gz "$out/demo_gt.nii.gz"
