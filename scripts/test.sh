#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: unit tests (ctest), the
# end-to-end suites with real clients (boto3, aws CLI v2 and v1, AWS SDK for JavaScript v3), the
# durability test, and each fuzzer for a short fixed time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-node

echo "== format"
scripts/check-format.sh

scripts/build.sh release

echo "== unit tests"
ctest --test-dir build/release --output-on-failure -j2

echo "== fuzzers (${FERRY_FUZZ_SECONDS:-20}s each)"
tests/fuzz/run.sh "${FERRY_FUZZ_SECONDS:-20}"

echo "== benchmark smoke"
FERRY_BIN="$PWD/build/release/src/server/ferry" bench/smoke.sh

echo "== end-to-end"
FERRY_BIN="$PWD/build/release/src/server/ferry" tests/e2e/run.sh
