#!/usr/bin/env bash
# Builds banger (Release) and runs the pull benchmark; results go to bench/RESULTS.md.
# Extra arguments go to pull_bench.py (e.g. --quick, --rounds 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh all
dpkg-query -W -f='${Status}' isal 2>/dev/null | grep -q "install ok installed" ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends isal
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBANGER_BUILD_TESTS=OFF -DBANGER_FUZZ=OFF
cmake --build build-bench -j"$(nproc)"
/usr/bin/python3 bench/pull_bench.py --banger build-bench/bin/banger --results bench/RESULTS.md "$@"
