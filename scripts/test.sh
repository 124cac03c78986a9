#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install dependencies, build
# (Release, with the libFuzzer targets), run ctest. Its last line is ctest's summary.
# Runs as root: the sandbox tests prove behaviour both as root and as 'nobody'.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh all
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DBANGER_FUZZ=ON ${BANGER_CMAKE_ARGS:-}
cmake --build "$build_dir" -j"$(nproc)"
cd "$build_dir"
ctest --output-on-failure -j"$(nproc)" --timeout 600
