#!/usr/bin/env bash
# Builds the page's wasm package into pkg/: the sss crate with the `web-fusion` feature (the
# `web` feature set plus burn's kernel fusion) for wasm32-unknown-unknown, wasm-bindgen (ES module for the worker), then wasm-opt for size.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
say "building the wasm package (profile web, features ${SSS_WEB_FEATURES:-web-fusion})"
# simd128 speeds up the flex CPU fallback; every browser with WebGPU has it.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
# SSS_WEB_FEATURES picks another of the crate's web feature sets: `web` (no fusion: a quarter
# more GPU dispatches per slice, BENCHMARKS.md) or `web-fast` (fusion and autotune; see
# crate/Cargo.toml).
cargo rustc -p sss --lib --crate-type cdylib --target wasm32-unknown-unknown --profile web \
  --no-default-features --features "${SSS_WEB_FEATURES:-web-fusion}"
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/web/sss.wasm"
rm -rf pkg
wasm-bindgen --target web --out-dir pkg --out-name sss "$wasm"
if [ "${SSS_SKIP_WASM_OPT:-0}" != 1 ]; then
  say "optimising with wasm-opt"
  wasm-opt -Os --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals pkg/sss_bg.wasm -o pkg/sss_bg.opt.wasm
  mv pkg/sss_bg.opt.wasm pkg/sss_bg.wasm
fi
say "pkg/sss_bg.wasm: $(du -h pkg/sss_bg.wasm | cut -f1) ($(gzip -c pkg/sss_bg.wasm | wc -c | awk '{printf "%.1f MB gzipped", $1/1e6}'))"
