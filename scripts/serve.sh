#!/usr/bin/env bash
# The main job: builds the wasm package and the demo scan, then serves the page on 127.0.0.1.
# Usage: scripts/serve.sh [--port N]
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
bash scripts/build-web.sh
bash scripts/demo-data.sh
exec node scripts/serve.mjs "$@"
