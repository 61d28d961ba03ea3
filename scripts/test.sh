#!/usr/bin/env bash
# The whole test suite: set-up, C unit tests and fuzz-corpus replays under
# ASan+UBSan (ctest), then the end-to-end tests against the real control
# plane (pytest). Run as root on Debian 12.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/scripts/setup.sh"

step "unit tests and fuzz-corpus replays (ASan+UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
(cd "$REPO/build-asan" && ctest --output-on-failure -j2)
# The "timed" tests (BGP sessions with BIRD, watch time-outs and retries)
# spend their time waiting, the same in every build: once, above, is enough.
step "unit tests (release build; the \"timed\" ones ran above)"
(cd "$REPO/build" && ctest --output-on-failure -j2 -LE timed)
# A short libFuzzer pass over every target (clang, build-fuzz/); set
# FERRY_FUZZ_SECONDS for a longer campaign (docs/fuzzing.md).
step "libFuzzer: every target for ${FERRY_FUZZ_SECONDS:-5} s (fuzz/run)"
"$REPO/fuzz/run" "${FERRY_FUZZ_SECONDS:-5}"

# Prefer a python3 that has pytest; Debian's python3-pytest is the fallback.
PY=python3
$PY -c 'import pytest' 2>/dev/null || PY=/usr/bin/python3
step "end-to-end tests ($($PY --version), pytest $($PY -c 'import pytest; print(pytest.__version__)'))"
cd "$REPO/e2e"
# Leftovers of an interrupted run would break the first cluster.
./cluster down >/dev/null 2>&1 || true
set +e
FERRY_BIN="$REPO/build/src/ferry" $PY -m pytest -v -p no:cacheprovider --durations=15 "$@"
rc=$?
set -e
./cluster down >/dev/null 2>&1 || true
exit $rc
