#!/usr/bin/env bash
# Installs what building and testing need, skipping what is already there:
# the wasm target, the pinned wasm-bindgen CLI, npm dev dependencies, and with --browser
# Debian's Chromium (for the browser tests), Mesa's software Vulkan (native wgpu tests) and a
# C++ compiler (libFuzzer, for the short fuzz run).
source "$(dirname "$0")/env.sh"
cd "$ROOT"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Built at opt-level 1 without debug information: it only rewrites one wasm file per build,
  # and this is part of every cold set-up (README: the test command's cold time).
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if [ ! -x node_modules/.bin/wasm-opt ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dev dependencies"
  npm ci --no-audit --no-fund
fi
if [ "${1:-}" = "--browser" ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || missing+=(mesa-vulkan-drivers libvulkan1)
  # libFuzzer (scripts/fuzz.sh, run by the test command) is C++.
  command -v c++ >/dev/null || missing+=(g++)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (apt)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
