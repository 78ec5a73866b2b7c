# Shared settings for the scripts (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
# Build outputs live outside the clone so fresh clones reuse them; an empty directory works too.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sss-target}"
# Must equal the wasm-bindgen crate version pinned in crate/Cargo.toml.
WASM_BINDGEN_VERSION=0.2.130
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
