#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER for scripts/fuzz.sh's short run: adds LLVM's coverage instrumentation
# ($SSS_FUZZ_RUSTFLAGS) to the workspace's own crates only, so that the dependencies already
# built for the tests are reused. Version queries and the like pass through unchanged.
# $SSS_FUZZ_INNER_WRAPPER: the workspace wrapper this one stands in for (the test command's
# clippy-driver), so the fuzz build is linted as every other build there.
case " $* " in
  *" --crate-name "*) exec $SSS_FUZZ_INNER_WRAPPER "$@" $SSS_FUZZ_RUSTFLAGS ;;
  *) exec $SSS_FUZZ_INNER_WRAPPER "$@" ;;
esac
