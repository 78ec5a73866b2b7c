#!/usr/bin/env bash
# Writes the page's demo scans to web/assets/demo/: a seeded cardiac MRI phantom and its labels
# (demo.nii.gz, demo_gt.nii.gz: the page's default), and a seeded brain-CT phantom and its
# labels (demo-ct.nii.gz, demo-ct_gt.nii.gz: the browser tests open it to check that the page
# picks the CT weights), and the cardiac demo as a DICOM series (demo-dicom/: `sss to-dicom`,
# for the browser tests of the DICOM path).
# Deterministic: the same seed gives the same bytes, so tests can rely on it.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
out=web/assets/demo
if [ -s "$out/demo.nii.gz" ] && [ "$out/demo.nii.gz" -nt crate/src/data/phantom/cardiac.rs ] \
  && [ -s "$out/demo-ct.nii.gz" ] && [ "$out/demo-ct.nii.gz" -nt crate/src/data/phantom/brain_ct.rs ] \
  && [ -s "$out/demo-dicom/IM0001.dcm" ] && [ "$out/demo-dicom/IM0001.dcm" -nt crate/src/data/dicom_series.rs ]; then
  exit 0
fi
say "generating the demo scans"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo run -q -p sss -- phantom --task cardiac --cases 1 --seed 2026 --out "$tmp"
mkdir -p "$out"
cp "$tmp"/patient001/patient001_frame01.nii.gz "$out/demo.nii.gz"
cp "$tmp"/patient001/patient001_frame01_gt.nii.gz "$out/demo_gt.nii.gz"
cargo run -q -p sss -- phantom --task brain-ct --cases 1 --seed 2026 --out "$tmp/ct"
cp "$tmp"/ct/imagesTr/ID_001.nii.gz "$out/demo-ct.nii.gz"
cp "$tmp"/ct/labelsTr/ID_001.nii.gz "$out/demo-ct_gt.nii.gz"
rm -rf "$out/demo-dicom"
cargo run -q -p sss -- to-dicom "$out/demo.nii.gz" "$out/demo-dicom" --modality mr
