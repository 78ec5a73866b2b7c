#!/usr/bin/env bash
# Parity fixtures from the official SAM-2 PyTorch code (PyPI `sam2` + `torch`, CPU).
# Usage: tests/parity/make_fixtures.sh [--config micro|tiny] [--full] [--out DIR] [--seed N]
#   micro (default) -> tests/parity/fixtures/micro/ (committed, compact tensor set)
#   tiny            -> tests/parity/fixtures/tiny/  (git-ignored; official sam2.1_hiera_t at 1024)
# The first run creates .venv-parity/ at the repository root (~5.5 GB, several minutes).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$(bash "$HERE/venv.sh")"
export PYTHONUNBUFFERED=1
exec "$PY" "$HERE/make_fixtures.py" "$@"
