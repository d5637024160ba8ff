#!/usr/bin/env bash
# Builds the fuzz targets (the "fuzz" CMake preset: clang++, libFuzzer, ASan, UBSan) and runs
# each for N seconds (default 30) on a temporary copy of its seed corpus, so inputs the fuzzer
# finds never land in the repository. Crash inputs are kept in <build dir>/fuzz-artifacts/.
#
#   tests/fuzz/run.sh [seconds]
#
# Environment: FERRY_FUZZ_BUILD_DIR (default build/fuzz), FERRY_FUZZ_SOURCE_DIR (a source tree
# other than this checkout, configured with the same options as the preset), JOBS (build
# parallelism, default 2).
set -euo pipefail

seconds="${1:-30}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source_dir="${FERRY_FUZZ_SOURCE_DIR:-$repo}"
build_dir="${FERRY_FUZZ_BUILD_DIR:-$repo/build/fuzz}"

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  if [[ "$source_dir" == "$repo" ]]; then
    (cd "$repo" && cmake --preset fuzz -B "$build_dir")
  else
    cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_CXX_COMPILER=clang++ -DFERRY_BUILD_TESTS=OFF -DFERRY_BUILD_FUZZERS=ON
  fi
fi
cmake --build "$build_dir" --target fuzz_query fuzz_json fuzz_cbor fuzz_event_stream fuzz_sqs_fast_input \
  fuzz_pattern_compile fuzz_pattern_match \
  -j "${JOBS:-2}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"

status=0
# name:corpus directory (relative to tests/fuzz):binary directory (relative to the build dir)
for spec in query:corpus/query:tests/fuzz json:corpus/json:tests/fuzz cbor:corpus/cbor:tests/fuzz \
    event_stream:corpus/event_stream:tests/fuzz sqs_fast_input:corpus/sqs_fast:tests/fuzz \
    pattern_compile:pattern/corpus/compile:tests/fuzz/pattern \
    pattern_match:pattern/corpus/match:tests/fuzz/pattern; do
  IFS=: read -r name corpus bindir <<<"$spec"
  cp -r "$here/$corpus" "$work/$name"
  echo "== fuzz_$name: ${seconds}s on $(ls "$work/$name" | wc -l) seeds"
  if ! "$build_dir/$bindir/fuzz_$name" "$work/$name" \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/fuzz_$name-"; then
    echo "!! fuzz_$name failed; reproducer(s) in $artifacts" >&2
    status=1
  fi
done
exit "$status"
