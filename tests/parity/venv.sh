#!/usr/bin/env bash
# Creates (once) the parity virtual environment `.venv-parity/` at the repository root with the
# official SAM-2 PyTorch code from PyPI (`sam2`, Meta's package) and CPU-usable `torch`.
# Sourced by make_fixtures.sh and bench_torch.sh; prints the venv's python path on stdout.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO_ROOT/.venv-parity"
PY="$VENV/bin/python"
STAMP="$VENV/.parity-ready"
if [[ ! -f "$STAMP" ]]; then
    echo "[parity] creating $VENV (torch is large: ~5.5 GB, several minutes)" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip setuptools wheel >&2
    # torch first: sam2's setup.py imports it, so sam2 is built without build isolation.
    "$PY" -m pip install --quiet torch torchvision numpy safetensors \
        hydra-core iopath pillow tqdm >&2
    # SAM2_BUILD_CUDA=0: code only, no CUDA extension (CPU-only use).
    SAM2_BUILD_CUDA=0 SAM2_BUILD_ALLOW_ERRORS=1 \
        "$PY" -m pip install --quiet --no-build-isolation sam2 >&2
    "$PY" -c "import torch, sam2, safetensors; print('[parity] torch', torch.__version__)" >&2
    touch "$STAMP"
fi
echo "$PY"
