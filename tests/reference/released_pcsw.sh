#!/usr/bin/env bash
# Recomputes the released-PCSW reference values of `crate/src/prompt/pcsw.rs`
# (`matches_the_released_python_on_random_volumes`) with the released Python itself:
# `models/pcsw.py` of AIGeeksGroup/SSS at a01f346 (removed from the repository by later commits).
#
#   tests/reference/released_pcsw.sh [CHECKOUT]
#
# CHECKOUT is a checkout of AIGeeksGroup/SSS at a01f346; without it the script clones one into
# `.venv-reference/SSS-a01f346` (needs github.com). Creates (once) `.venv-reference/` with
# numpy, scipy and torch from PyPI (the release imports torch; several GB), then runs
# released_pcsw.py, which exits non-zero when the release disagrees with the Rust test. Not part
# of the test command (it needs the network); run it when PCSW or its reference values change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-reference"
COMMIT=a01f346608f0f345749bfea7c8ae972e70b21d2c
RELEASE="${1:-$VENV/SSS-a01f346}"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import scipy, torch" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet numpy scipy torch
fi
if [[ ! -f "$RELEASE/models/pcsw.py" ]]; then
    if [[ $# -gt 0 ]]; then
        echo "$RELEASE/models/pcsw.py not found: pass a checkout of AIGeeksGroup/SSS at $COMMIT" >&2
        exit 2
    fi
    git clone --quiet https://github.com/AIGeeksGroup/SSS "$RELEASE"
    git -C "$RELEASE" checkout --quiet "$COMMIT"
fi
"$VENV/bin/python" -c "import numpy, scipy, torch; print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'torch', torch.__version__)"
exec "$VENV/bin/python" "$ROOT/tests/reference/released_pcsw.py" "$RELEASE"
