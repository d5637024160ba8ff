#!/usr/bin/env bash
# Runs Ferry's end-to-end suites with real clients and prints one closing line
# "N passed, N failed, N skipped" summed over all of them. Exits non-zero if anything failed.
#
#   tests/e2e/run.sh                 # python, cli and node suites against build/release ferry
#   tests/e2e/run.sh python node     # only some suites
#   FERRY_BIN=/path/to/ferry tests/e2e/run.sh
#   FERRY_TEST_TARGET=moto tests/e2e/run.sh      # against moto's SQS emulator
#   FERRY_ENDPOINT=http://127.0.0.1:4566 tests/e2e/run.sh   # against a running server
#
# Each Python test module starts its own server (unless FERRY_ENDPOINT is set); the Node suite
# gets one through harness/with_server.py. See tests/e2e/README.md.
set -uo pipefail

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$E2E/../.."

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(python cli node)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

total_pass=0 total_fail=0 total_skip=0
add() { # pass fail skip
  total_pass=$((total_pass + $1)); total_fail=$((total_fail + $2)); total_skip=$((total_skip + $3))
}

run_unittest_suite() {
  local suite="$1" sum="$tmp/$1.sum"
  echo "=== $suite suite ($(ferry_target))"
  python3 "$E2E/harness/run_unittest.py" "$suite" --summary-file "$sum"
  if [ -s "$sum" ]; then
    read -r p f s < "$sum"
    add "$p" "$f" "$s"
  else
    echo "run.sh: the $suite suite did not report its results" >&2
    add 0 1 0
  fi
}

run_node_suite() {
  echo "=== node suite ($(ferry_target))"
  if ! command -v node >/dev/null; then
    echo "run.sh: node is not installed" >&2
    add 0 1 0
    return
  fi
  if [ ! -d "$E2E/node/node_modules" ]; then
    if ! (cd "$E2E/node" && npm ci --no-audit --no-fund --loglevel=error); then
      echo "run.sh: npm ci failed in tests/e2e/node" >&2
      add 0 1 0
      return
    fi
  fi
  local tap="$tmp/node.tap"
  python3 "$E2E/harness/with_server.py" -- \
    node --test --test-reporter=tap --test-timeout=180000 "$E2E/node/" | tee "$tap"
  local rc=${PIPESTATUS[0]}
  local p f c s
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -1)
  c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$tap" | tail -1)
  s=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$tap" | tail -1)
  if [ -z "$p" ] || [ -z "$f" ]; then
    echo "run.sh: the node suite did not report its results (exit $rc)" >&2
    add 0 1 0
    return
  fi
  f=$((f + ${c:-0}))
  # A failure outside any test (e.g. the server did not stop cleanly) still counts.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "node: $p passed, $f failed, ${s:-0} skipped"
  add "$p" "$f" "${s:-0}"
}

ferry_target() {
  if [ -n "${FERRY_ENDPOINT:-}" ]; then echo "endpoint $FERRY_ENDPOINT"
  elif [ "${FERRY_TEST_TARGET:-ferry}" = moto ]; then echo "moto"
  else echo "ferry ${FERRY_BIN:-build/release/src/server/ferry}"
  fi
}

for suite in "${suites[@]}"; do
  case "$suite" in
    python|cli) run_unittest_suite "$suite" ;;
    node) run_node_suite ;;
    *) echo "run.sh: unknown suite '$suite' (python, cli, node)" >&2; add 0 1 0 ;;
  esac
done

echo
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
