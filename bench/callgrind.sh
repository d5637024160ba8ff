#!/usr/bin/env bash
# Server instructions per message, counted by callgrind: steadier than throughput on a noisy
# machine, and what docs/benchmarks.md compares commits by.
#
#   bench/callgrind.sh BIN fill-batch [N]   # SendMessageBatch of 10, N messages (20000)
#   bench/callgrind.sh BIN fill-single [N]  # one message per request, N messages (5000)
#   bench/callgrind.sh BIN cycle [SECONDS]  # send batches, receive, delete (10 s)
#   bench/callgrind.sh BIN fanout [SECONDS] # Publish to 10 raw SQS subscriptions + consumers
#
# BIN is a ferry binary (copy build/release/src/server/ferry aside first); ferry-bench is
# FERRY_BENCH or build/release/bench/ferry-bench. The server runs under valgrind with
# --durability relaxed; counters are zeroed after a warm-up and dumped after the measured part.
# KEEP=file keeps the profile for callgrind_annotate.
set -euo pipefail
bin="$1" scenario="$2" arg="${3:-}"
bench="${FERRY_BENCH:-$(cd "$(dirname "$0")/.." && pwd)/build/release/bench/ferry-bench}"
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" --host 127.0.0.1 \
  --port "$port" --data-dir "$work/data" --log-level warn --durability relaxed >"$work/log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.5; done
endpoint="http://127.0.0.1:$port"
case "$scenario" in
  fill-batch | fill-single)
    batch=10 n="${arg:-20000}"
    [ "$scenario" = fill-single ] && batch=1 n="${arg:-5000}"
    "$bench" --target sqs -s fill -n 2000 -e "$endpoint" -c 8 --json >/dev/null  # warm-up
    callgrind_control -z "$server" >/dev/null 2>&1
    "$bench" --target sqs -s fill -b "$batch" -n "$n" -e "$endpoint" -c 8 --json >/dev/null
    count="$n" unit=message ;;
  cycle)
    "$bench" --target sqs -s cycle -e "$endpoint" -c 8 -d 2 -w 1 -q warm --json >/dev/null
    callgrind_control -z "$server" >/dev/null 2>&1
    out="$("$bench" --target sqs -s cycle -e "$endpoint" -c 8 -d "${arg:-10}" -w 0 --json | tail -1)"
    count="$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(int(d['deleted_per_s']*d['duration_s']))" "$out")"
    unit=message ;;
  fanout)
    callgrind_control -z "$server" >/dev/null 2>&1
    out="$("$bench" --target sns -s fanout --subscriptions 10 -e "$endpoint" -c 8 -d "${arg:-10}" -w 0 --drain 30 --json | tail -1)"
    count="$(python3 -c "import json,sys; print(int(json.loads(sys.argv[1])['requests'])*10)" "$out")"
    unit=delivery ;;
  *) echo "unknown scenario: $scenario" >&2; exit 2 ;;
esac
callgrind_control -d "$server" >/dev/null 2>&1
sleep 1
kill "$server"; wait "$server" 2>/dev/null || true
total="$(callgrind_annotate "$work/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "$(basename "$bin") $scenario: $count ${unit}s, $((total / count)) instructions per $unit"
[ -n "${KEEP:-}" ] && cp "$work/cg.out.1" "$KEEP"
exit 0
