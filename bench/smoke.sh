#!/usr/bin/env bash
# CI smoke test of the benchmark: builds ferry-bench (if needed), starts a fresh Ferry on a free
# loopback port and runs a few seconds of SQS send and cycle, SNS fanout, Kinesis stream and
# SubscribeToShard latency against it. Fails if a run reports errors (fanout: a missing delivery;
# stream: a record not read back) or no throughput. Usage: bench/smoke.sh [seconds per scenario,
# default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3}"
bench="$(bench/build.sh | tail -n 1)"
ferry="${FERRY_BIN:-$PWD/build/release/src/server/ferry}"
[ -x "$ferry" ] || scripts/build.sh release ferry

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$ferry" --host 127.0.0.1 --port "$port" --data-dir "$work/data" --log-level warn \
  >"$work/ferry.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/health', timeout=1)" \
    2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/ferry.log"; echo "smoke: ferry exited"; exit 1; }
  sleep 0.1
done

passed=0
failed=0
run() {
  local name="$1"
  shift
  local out
  if out="$("$bench" --endpoint "http://127.0.0.1:$port" --duration "$seconds" --warmup 0.5 \
    --connections "${conns:-8}" "$@")"; then
    echo "$out" | head -n -1
    echo "smoke: $name ok"
    passed=$((passed + 1))
  else
    echo "$out"
    echo "smoke: $name FAILED (errors or zero throughput)"
    failed=$((failed + 1))
  fi
}
run send --scenario send
run cycle --scenario cycle
run "cycle (query protocol)" --scenario cycle --protocol query
run "fanout (sns, 4 subscriptions, filter policies)" --scenario fanout --subscriptions 4 --filter \
  --drain 5
conns=4 run "stream (kinesis, 2 shards)" --scenario stream --shards 2
conns=2 run "efo-latency (kinesis SubscribeToShard)" --scenario efo-latency --rate 50
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
