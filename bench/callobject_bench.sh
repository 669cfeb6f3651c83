#!/usr/bin/env bash
# CallObject throughput and latency of one node on loopback, plus its idle
# resident memory, at a few concurrency levels.
#
# Usage: bench/callobject_bench.sh [build-dir]
# Env:   DURATION (seconds per phase, default 10), REPEAT (default 2)
# Every phase is bounded by DURATION and by callobject_load's -n cap.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$SRC/build}"
BIN="$BUILD/pprofgate"
LOAD="$BUILD/bench/callobject_load"
DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-2}"
TMP="$(mktemp -d)"
NODE=""
cleanup() {
	[ -n "$NODE" ] && kill "$NODE" 2>/dev/null && wait "$NODE" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
[[ -x "$BIN" && -x "$LOAD" ]] || { echo "build first: $BIN, $LOAD"; exit 1; }

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
GP=$(free_port); HP=$(free_port)
"$BIN" --listen 127.0.0.1:$GP --http-listen 127.0.0.1:$HP --etcd 127.0.0.1:1 \
	--log-level warn 2>"$TMP/node.log" &
NODE=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$HP/healthz" && break; sleep 0.1; done
sleep 1
idle_rss=$(awk '$1 == "VmRSS:" {print $2}' /proc/$NODE/status)

echo "# CallObject (Counter.Increment) on 127.0.0.1:$GP, $DURATION s per phase, $(nproc) CPUs, $(date -u +%F)"
echo "idle RSS: $idle_rss KiB"
for r in $(seq "$REPEAT"); do
	for shape in "1 1" "4 16" "8 32"; do
		set -- $shape
		printf 'run %d  conns=%-2s inflight=%-2s  ' "$r" "$1" "$2"
		"$LOAD" -t 127.0.0.1:$GP -c "$1" -m "$2" -d "$DURATION" -n 5000000 -o 1000 | tail -2 | sed "s/^calls [0-9]* //" | paste -sd" "
	done
done
echo "loaded peak RSS: $(awk '$1 == "VmHWM:" {print $2}' /proc/$NODE/status) KiB"
