#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install dependencies, build
# with sanitizers and run the fast tests, then build Release (with the libFuzzer targets)
# and run everything. Its last line is ctest's summary.
# Runs as root: the sandbox tests prove behaviour both as root and as 'nobody'.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh all
jobs=$(nproc)

# First pass: AddressSanitizer + UndefinedBehaviorSanitizer, every test not labelled slow.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBANGER_SANITIZE=ON -DBANGER_FUZZ=OFF -DBANGER_BUILD_TESTS=ON
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure -j"$jobs" --timeout 600 -LE slow)

# Second pass, whose summary closes the run: the Release build, every test, fuzzers included.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBANGER_FUZZ=ON -DBANGER_BUILD_TESTS=ON
cmake --build build -j"$jobs"
cd build
ctest --output-on-failure -j"$jobs" --timeout 600
