#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine: install dependencies, build,
# then run what banger can do today. Grows with each issue: once `image pull` lands
# (issue 6) this starts a loopback registry, pushes an image it builds, and pulls it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBANGER_BUILD_TESTS=OFF
cmake --build build -j"$(nproc)"

echo
echo "== banger system status: every helper started, locked down and checked from /proc"
./build/bin/banger system status
