#!/usr/bin/env bash
# Fuzzes every reader of outside data (crate/fuzz: nifti, dicom, manifest, burnpack, prompts,
# checkpoint, raster) with libFuzzer, coverage-guided, on the stable toolchain.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     each target for SECONDS (all targets by default)
#   FUZZ_CORPUS=DIR   keep and grow the corpus there (default: results/fuzz/corpus)
#   FUZZ_RUNS=N       stop a target after N executions even before SECONDS
#   FUZZ_SEED=N       libFuzzer's random seed (default: a new one each run)
#   FUZZ_INSTRUMENT=all        every crate instrumented for coverage, in a build directory
#                              of its own ($FUZZ_TARGET_DIR; the default, for long runs)
#   FUZZ_INSTRUMENT=workspace  only sss and sss-fuzz instrumented, on the tests' build (the
#                              test command's short run: no second build of the dependencies,
#                              so coverage inside them, e.g. the nifti crate, is not seen)
#
# Why not cargo-fuzz: it needs a nightly toolchain (for -Zsanitizer), which CI machines do not
# have. libFuzzer itself only needs LLVM's coverage instrumentation, which stable rustc gives
# through -Cpasses=sancov-module; libfuzzer-sys builds libFuzzer with the system C++ compiler.
# What is lost is AddressSanitizer, which matters little for safe Rust: panics, aborts,
# overflows (-Coverflow-checks), timeouts and runaway allocations are caught: each target's
# binary counts its live heap and aborts past a bound of its own (sss_fuzz::HeapLimit), since
# -malloc_limit_mb needs the sanitizers' malloc hooks; -rss_limit_mb stays as a backstop.
#
# Per target it prints executions, executions per second, corpus size and crashes; a crash
# (or a leak of the limits) stops the script with the input saved under results/fuzz/crashes/
# — replay it with `cargo test -p sss-fuzz` after copying it to crate/fuzz/regressions/TARGET/.
source "$(dirname "$0")/env.sh"
cd "$ROOT"

SECONDS_EACH="${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}"
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(nifti dicom manifest burnpack prompts checkpoint raster)
CORPUS="${FUZZ_CORPUS:-$ROOT/results/fuzz/corpus}"
CRASHES="$ROOT/results/fuzz/crashes"
RUNS="${FUZZ_RUNS:--1}"
SEED="${FUZZ_SEED:-0}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
# A separate build directory: every crate is instrumented, so nothing is shared with the
# normal build.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/sss-fuzz-target}"

command -v c++ >/dev/null || { echo "fuzz.sh: a C++ compiler is needed (apt-get install g++)" >&2; exit 1; }

INSTRUMENT="${FUZZ_INSTRUMENT:-all}"
say "seed corpus"
mkdir -p "$CORPUS" "$CRASHES"
cargo run -q -p sss-fuzz --bin seed-corpus -- "$CORPUS" "${TARGETS[@]}"

BINS=$(printf -- '--bin fuzz_%s ' "${TARGETS[@]}")
SANCOV="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
SANCOV+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
SANCOV+=" -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
SANCOV+=" --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
if [ "$INSTRUMENT" = all ]; then
  say "building the libFuzzer targets (every crate instrumented, $FUZZ_TARGET_DIR)"
  # --target keeps the flags off build scripts and proc macros.
  RUSTFLAGS="$SANCOV" CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" \
    cargo build -q --release -p sss-fuzz --features libfuzzer --target "$HOST" $BINS
  BIN="$FUZZ_TARGET_DIR/$HOST/release"
elif [ "$INSTRUMENT" = workspace ]; then
  say "building the libFuzzer targets (sss and sss-fuzz instrumented, on the tests' build)"
  SSS_FUZZ_RUSTFLAGS="$SANCOV" SSS_FUZZ_INNER_WRAPPER="${RUSTC_WORKSPACE_WRAPPER:-}" \
    RUSTC_WORKSPACE_WRAPPER="$ROOT/scripts/fuzz-rustc.sh" \
    cargo build -q -p sss-fuzz --features libfuzzer $BINS
  BIN="$CARGO_TARGET_DIR/debug"
else
  echo "fuzz.sh: FUZZ_INSTRUMENT is all or workspace, not $INSTRUMENT" >&2
  exit 2
fi

status=0
printf '%-11s %12s %10s %8s %8s\n' target executions "exec/s" corpus found
for t in "${TARGETS[@]}"; do
  log="$CRASHES/../$t.log"
  mkdir -p "$CRASHES/$t"
  started="$CRASHES/../$t.started"
  touch "$started"
  # -rss_limit_mb / -malloc_limit_mb: a reader that allocates what a header claims, before
  # checking it against the file, is a finding. -timeout: one input may not take 10 s.
  set +e
  "$BIN/fuzz_$t" "$CORPUS/$t" -max_total_time="$SECONDS_EACH" -runs="$RUNS" -seed="$SEED" \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$CRASHES/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # Inputs saved by this run only (crashes, timeouts, out-of-memory, slow units).
  found=$(find "$CRASHES/$t" -type f -newer "$started" | wc -l)
  printf '%-11s %12s %10s %8s %8s\n' "$t" "${execs:-?}" "${speed:-?}" \
    "$(find "$CORPUS/$t" -type f | wc -l)" "$found"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: $t stopped with status $rc; the input is under $CRASHES/$t/ and the log in $log:" >&2
    grep -E "panicked|ERROR|SUMMARY|out-of-memory|timeout" "$log" | head -5 >&2
    status=1
  fi
done
exit $status
