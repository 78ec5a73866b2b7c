#!/usr/bin/env bash
# Runs every test: formatting, clippy (inside the builds), the Rust tests (unit, CLI, parity),
# the wasm build, the demo data, the JavaScript's type check (tsc on JSDoc) and unit tests, and
# the browser tests in headless Debian Chromium (WebGPU on SwiftShader, and the CPU fallback).
# Installs what is missing first (see setup.sh).
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh --browser

say "cargo fmt --check"
cargo fmt --all --check
# Clippy (-D warnings) runs inside every build of the workspace's own crates below, as their
# compiler (clippy-driver, the compiler cargo clippy itself uses, in front of rustc), not as
# separate `cargo clippy` runs: those check every dependency a second time, natively and for
# wasm32 (on an empty build cache 10 and 21 minutes, 2026-12-01, partly beside another build;
# the whole test command cold: README). Covered: the
# library and binary (dev build below), the examples, the library's and binary's test builds and
# the integration tests (cargo test), sss-fuzz with and without libFuzzer (its tests, the short
# fuzz run's build) and the page's bindings for wasm32 (build-web.sh). A lint fails the build
# that meets it. Dependencies are compiled by plain rustc, as under cargo clippy.
say "builds below lint with clippy -D warnings"
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
say "cargo build (the CLI, its examples)"
cargo build -p sss --bins --examples
# The demo scan first: the default-weights test scores the page's own demo file.
bash scripts/demo-data.sh
say "cargo test"
# The wgpu tests must run here (setup.sh installs lavapipe): a missing adapter fails them.
export SSS_REQUIRE_WGPU=1
# CubeCL's autotune at its lowest level in the tests: on lavapipe it times candidate kernels
# on the CPU, which the parity checks do not need (they compare whichever kernel is chosen
# with flex). With the GPU stack's host code at opt-level 1 (Cargo.toml) wgpu_backend.rs took
# 404 s with it beside a training run on one core, 504 s without it beside one at the lowest
# priority (2026-12-01). The CLI and the page keep their defaults.
export CUBECL_AUTOTUNE_LEVEL=minimal
LOG="${TMPDIR:-/tmp}/sss-cargo-test.log"
# The library's unit tests run in parallel. burn's random generator is one per process, so
# every test that draws from it (a module's initial weights, a random input) does so inside
# crate::backend::seeded, which holds a process-wide lock: a test drawing while another
# initialises its seeded model would change that model (the fitting check once started from
# other weights that way and missed its bound, 2026-11-30, when these tests ran one at a time).
cargo test -p sss --lib 2>&1 | tee "$LOG"
cargo test -p sss --bins --test '*' 2>&1 | tee -a "$LOG"
cargo test -p sss --doc 2>&1 | tee -a "$LOG"
# The fuzz targets on their seeds and on every crash found so far (crate/fuzz/regressions).
cargo test -p sss-fuzz 2>&1 | tee -a "$LOG"
say "parity fixture sets compared"
cargo test -q -p sss --test parity parity_fixture_sets -- --nocapture 2>&1 | grep "parity fixture set"

say "short fuzz run"
# Every target for 300,000 executions from its seeds, coverage-guided over the project's own code
# on the build the tests already made (instrumenting every dependency too is a second full
# build: scripts/fuzz.sh does that for the long runs in RELIABILITY.md). A fixed seed and a
# fixed number of executions, not seconds: the run covers about the same inputs on a slow
# machine as on a fast one (libFuzzer's scheduling still varies a little from run to run:
# corpus sizes differ by a few percent). Until 2026-11-30 it ran 10 s a target, and CI, on
# another machine, met a finding that no run here had; new ground is for the long runs, whose
# findings become regressions replayed above.
FUZZ_INSTRUMENT=workspace FUZZ_SEED=1 FUZZ_RUNS=300000 FUZZ_CORPUS="${TMPDIR:-/tmp}/sss-fuzz-corpus-$$" \
  bash scripts/fuzz.sh 120

bash scripts/build-web.sh
say "type check and JS unit tests"
# JSDoc types (jsconfig.json): the page, the worker in its own global scope (against the
# pkg/sss.d.ts just built), the unit tests and the browser tests; then the unit tests, in Node.
npx tsc -p jsconfig.json
npx tsc -p jsconfig.worker.json
npx tsc -p tests/jsconfig.json
npx tsc -p tests/browser/jsconfig.json
node --test tests/unit/
say "browser tests"
# The native binary the Rust tests built: the page's label maps are compared with its own.
export SSS_BIN="$CARGO_TARGET_DIR/debug/sss"
# Two test files at a time (node's default on 2 cores is one): most of a browser test is the
# model's worker on one thread, so two share the machine.
node --test --test-concurrency=2 --test-reporter=spec tests/browser/
