#!/usr/bin/env bash
# CPU timings of the official SAM-2 PyTorch code, JSON lines on stdout (see bench_torch.py).
# Usage: tests/parity/bench_torch.sh [--configs micro,tiny] [--runs 5] [--threads 2]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$(bash "$HERE/venv.sh")"
export PYTHONUNBUFFERED=1
# On a shared, oversubscribed machine (2 cores here, several busy builds), OpenMP's default
# spin-then-wait barriers stall every op until both torch threads get a core: measured 1028 ms
# vs 16.9 ms (PASSIVE) for the micro image encoder at 2 threads under load ~6. PASSIVE is set
# unless the caller chooses otherwise.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec "$PY" "$HERE/bench_torch.py" "$@"
