#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER for scripts/fuzz.sh's short run: adds LLVM's coverage instrumentation
# ($SSS_FUZZ_RUSTFLAGS) to the workspace's own crates only, so that the dependencies already
# built for the tests are reused. Version queries and the like pass through unchanged.
case " $* " in
  *" --crate-name "*) exec "$@" $SSS_FUZZ_RUSTFLAGS ;;
  *) exec "$@" ;;
esac
