#!/usr/bin/env bash
# One SAM-2 training step (two-slice clip, 3 objects, forward + backward + AdamW) timed in burn
# (`sss bench --train`, crate/src/cli/bench_train.rs) and in official SAM-2 on PyTorch
# (tests/parity/bench_torch_train.py) in the same run, for BENCHMARKS.md. Each part runs under
# its own time limit and prints its JSON, or says why it failed; a failure does not stop the
# other parts.
#
# Usage: scripts/bench-train.sh [SPECS]     (default micro@128,tiny@512,tiny@1024)
# Environment:
#   SSS            the sss binary (default: target/release/sss, built if missing)
#   BURN_DEVICES   burn devices to time (default "flex wgpu"; empty: none)
#   PY             python with torch and sam2 (default: the parity venv, tests/parity/venv.sh)
#   TORCH_DEVICES  torch devices (default "cpu", plus "cuda" when torch sees a GPU; "none")
#   RUNS, WARMUP   timed and untimed steps per spec (default 5 and 2)
#   THREADS        CPU threads for torch (default: all cores)
#   LIMIT          seconds per part (default 600)
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPECS="${1:-micro@128,tiny@512,tiny@1024}"
RUNS="${RUNS:-5}"
WARMUP="${WARMUP:-2}"
LIMIT="${LIMIT:-600}"
THREADS="${THREADS:-$(nproc)}"
BURN_DEVICES="${BURN_DEVICES-flex wgpu}"
if [[ -z "${SSS:-}" ]]; then
    # shellcheck source=/dev/null
    source "$REPO/scripts/env.sh"
    SSS="$CARGO_TARGET_DIR/release/sss"
    [[ -x "$SSS" ]] || cargo build --release -p sss --manifest-path "$REPO/Cargo.toml" >&2
fi
if [[ "${TORCH_DEVICES:-}" != none && -z "${PY:-}" ]]; then
    PY="$(bash "$REPO/tests/parity/venv.sh")"
fi
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

part() {  # name, command...: runs one part under LIMIT, says how it ended
    local name="$1"
    shift
    echo "## $name" >&2
    local t0=$SECONDS
    timeout "$LIMIT" "$@"
    local rc=$?
    echo "## $name: exit $rc after $((SECONDS - t0)) s" >&2
}

echo "## machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" >&2
command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2
for d in $BURN_DEVICES; do
    part "burn $d" "$SSS" bench --train --device "$d" --train-configs "$SPECS" \
        --iters "$RUNS" --warmup "$WARMUP"
done
if [[ "${TORCH_DEVICES:-}" == none ]]; then
    TORCH_DEVICES=""
elif [[ -z "${TORCH_DEVICES:-}" ]]; then
    TORCH_DEVICES=cpu
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null &&
        TORCH_DEVICES="cpu cuda"
fi
for d in $TORCH_DEVICES; do
    part "torch $d f32" "$PY" "$REPO/tests/parity/bench_torch_train.py" --specs "$SPECS" \
        --device "$d" --runs "$RUNS" --warmup "$WARMUP" --threads "$THREADS"
    if [[ "$d" == cuda ]]; then
        part "torch $d bf16" "$PY" "$REPO/tests/parity/bench_torch_train.py" --specs "$SPECS" \
            --device "$d" --runs "$RUNS" --warmup "$WARMUP" --threads "$THREADS" --bf16
    fi
done
