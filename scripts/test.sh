#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install dependencies, build
# with sanitizers and run the fast tests, then build Release (with the libFuzzer targets)
# and run everything. Its last line is ctest's summary.
# Runs as root: the sandbox tests prove behaviour both as root and as 'nobody'.
# A test that cannot run here fails; BANGER_ALLOW_SKIPS=1 makes it a skip instead, and
# ctest's summary then names every skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: run it as root (sudo bash scripts/test.sh): the sandbox, loop-mount and boot tests need it" >&2
  exit 1
fi
if [ -n "${BANGER_ALLOW_SKIPS:-}" ] && [ "${BANGER_ALLOW_SKIPS}" != "1" ]; then
  echo "scripts/test.sh: BANGER_ALLOW_SKIPS is '${BANGER_ALLOW_SKIPS}'; it is either 1 or unset" >&2
  exit 1
fi

# How long each phase took, on stderr, so a slow CI run says where its time went.
phase_start=$SECONDS
phase_done() {
  echo "scripts/test.sh: $1 took $((SECONDS - phase_start)) s" >&2
  phase_start=$SECONDS
}

bash scripts/install-deps.sh all
phase_done "installing dependencies"
jobs=$(nproc)

# Fails the run on a skipped test unless skips were asked for; ctest's summary stays last.
run_ctest() {
  local log
  log=$(mktemp)
  local status=0
  ctest "$@" 2>&1 | tee "$log" || status=$?
  if [ "$status" -eq 0 ] && [ "${BANGER_ALLOW_SKIPS:-}" != "1" ] && grep -q '(Skipped)\|\*\*\*Not Run' "$log"; then
    echo "scripts/test.sh: tests were skipped, and skips fail unless BANGER_ALLOW_SKIPS=1" >&2
    grep '(Skipped)\|\*\*\*Not Run' "$log" >&2
    status=1
  fi
  rm -f "$log"
  return "$status"
}

# Both builds link with mold (GNU ld takes seconds per test binary), and the sanitizer build
# keeps line tables only (-g1): all a sanitizer's report needs, for a tenth less compile time.
link_with_mold=-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=mold

# First pass: AddressSanitizer + UndefinedBehaviorSanitizer, every test not labelled slow.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 "$link_with_mold" \
  -DBANGER_SANITIZE=ON -DBANGER_FUZZ=OFF -DBANGER_BUILD_TESTS=ON
cmake --build build-asan -j"$jobs"
phase_done "the sanitizer build"
(cd build-asan && run_ctest --output-on-failure -j"$jobs" --timeout 600 -LE slow)
phase_done "the sanitizer tests"

# Second pass, whose summary closes the run: the Release build, every test, fuzzers included.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$link_with_mold" -DBANGER_FUZZ=ON -DBANGER_BUILD_TESTS=ON
cmake --build build -j"$jobs"
phase_done "the Release build"
cd build
run_ctest --output-on-failure -j"$jobs" --timeout 600
