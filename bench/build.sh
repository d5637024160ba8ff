#!/usr/bin/env bash
# Builds ferry-bench if needed and prints its path (the last line of stdout). Inside the root
# project's release build once the root CMakeLists.txt has `add_subdirectory(bench)`; on its own
# under build/bench otherwise. FERRY_BENCH_BIN overrides both.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${FERRY_BENCH_BIN:-}" ]; then
  echo "$FERRY_BENCH_BIN"
  exit 0
fi
if grep -q '^[[:space:]]*add_subdirectory(bench)' CMakeLists.txt; then
  scripts/build.sh release ferry-bench >&2
  echo "$PWD/build/release/bench/ferry-bench"
else
  [ -f build/bench/build.ninja ] ||
    cmake -S bench -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
  cmake --build build/bench --target ferry-bench >&2
  echo "$PWD/build/bench/ferry-bench"
fi
