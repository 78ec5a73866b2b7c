#!/usr/bin/env bash
# Recomputes the medpy reference values of `crate/src/metrics.rs` (`matches_medpy_fixtures`)
# with medpy itself: creates (once) `.venv-reference/` at the repository root with medpy,
# numpy and scipy from PyPI, then runs medpy_metrics.py, which exits non-zero when a value in
# the Rust test differs from medpy's by more than 1e-9. Not part of the test command (it needs
# the package registry); run it when the metrics or their reference values change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-reference"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import medpy" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet medpy numpy scipy
fi
"$VENV/bin/python" -c "import medpy, numpy, scipy; print('medpy', __import__('importlib.metadata').metadata.version('medpy'), 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
exec "$VENV/bin/python" "$ROOT/tests/reference/medpy_metrics.py"
