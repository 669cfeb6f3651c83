#!/usr/bin/env bash
# What profiling costs a running node, measured on loopback in one run:
#  1. CallObject throughput (bench/callobject_load) with and without a CPU
#     profile running, phases alternated, REPEAT pairs;
#  2. /metrics throughput (wrk) with and without a CPU profile, same way;
#  3. always-on heap sampling: CallObject throughput of a node started with
#     TCMALLOC_SAMPLE_PARAMETER=524288 (the default main() sets) vs one with
#     sampling off (=0), phases alternated;
#  4. delivery delay: time from a capture's deadline to the last byte of the
#     profile (curl time_total - seconds), idle and under load.
#
# Usage: bench/pprof_overhead.sh [build-dir]
# Env:   PHASE (5: seconds per phase, at most 10) REPEAT (3)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$SRC/build}"
BIN="$BUILD/pprofgate"
LOAD="$BUILD/bench/callobject_load"
PHASE="${PHASE:-5}"
REPEAT="${REPEAT:-3}"
TMP="$(mktemp -d)"
PIDS=()
PY=/usr/bin/python3

[ "$PHASE" -le 10 ] || { echo "PHASE must be <= 10"; exit 1; }
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
for t in wrk curl; do command -v "$t" >/dev/null || { echo "$t not installed"; exit 1; }; done
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "build first ($BIN, $LOAD)"; exit 1; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() {
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	echo "no answer from $1"; exit 1
}
# start_node NAME SAMPLE_PARAMETER -> sets NODE_P NODE_H
start_node() {
	NODE_P=$(free_port); NODE_H=$(free_port)
	env TCMALLOC_SAMPLE_PARAMETER="$2" "$BIN" --listen "127.0.0.1:$NODE_P" \
		--http-listen "127.0.0.1:$NODE_H" --etcd 127.0.0.1:1 >"$TMP/$1.log" 2>&1 &
	PIDS+=("$!")
	wait_http "http://127.0.0.1:$NODE_H/healthz"
}
# CPU time (utime + stime, clock ticks) the node has used: CPU per request is
# less disturbed by other load on a shared machine than throughput is.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
# calls_per_s PORT PID -> "calls/s,node-CPU-us-per-call" over PHASE seconds
calls_per_s() {
	local t0 t1 out
	t0=$(ticks "$2")
	out=$("$LOAD" -t "127.0.0.1:$1" -c 2 -m 16 -d "$PHASE" -o 1000 | awk '/calls\/s/ {print $(NF-1), $2}')
	t1=$(ticks "$2")
	awk -v o="$out" -v d=$((t1 - t0)) -v k="$TCK" 'BEGIN {split(o, a, " "); printf "%s,%.2f\n", a[1], d / k * 1e6 / a[2]}'
}
# wrk_rps HTTP_PORT PID -> "req/s,node-CPU-us-per-request"
wrk_rps() {
	local t0 t1 out
	t0=$(ticks "$2")
	out=$(wrk -t1 -c16 -d"${PHASE}s" "http://127.0.0.1:$1/metrics" | awk '/requests in/ {n=$1} /Requests\/sec/ {print $2, n}')
	t1=$(ticks "$2")
	awk -v o="$out" -v d=$((t1 - t0)) -v k="$TCK" 'BEGIN {split(o, a, " "); printf "%s,%.2f\n", a[1], d / k * 1e6 / a[2]}'
}
# with_profile CMD...: runs CMD while a CPU profile covers it.
with_profile() {
	curl -s -o "$TMP/prof.pb.gz" "http://127.0.0.1:$H/debug/pprof/profile?seconds=$((PHASE + 1))" &
	local c=$!
	sleep 0.3
	"$@"
	wait $c
	[ -s "$TMP/prof.pb.gz" ] || { echo "the profile was not delivered" >&2; exit 1; }
}
stats() { # label, then "rate,cpu" pairs: mean and spread of both
	"$PY" - "$@" <<'EOF'
import statistics, sys
label = sys.argv[1]
pairs = [x.split(",") for x in sys.argv[2:]]
for i, what, fmt in ((0, "per s", "%.0f"), (1, "node CPU us each", "%.2f")):
    v = [float(p[i]) for p in pairs]
    m = statistics.mean(v)
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    print("%-22s %-17s mean %8s  sd %5.1f%%  runs %s" % (label, what, fmt % m, 100 * sd / m if m else 0,
          " ".join(fmt % x for x in v)))
EOF
}
ratio() { # two lists of "rate,cpu": ratios of the means of both
	"$PY" - "$1" "$2" <<'EOF'
import statistics as s, sys
a = [[float(y) for y in x.split(",")] for x in sys.argv[1].split()]
b = [[float(y) for y in x.split(",")] for x in sys.argv[2].split()]
print("throughput %.3f, node CPU per request %.3f" % (s.mean(x[0] for x in a) / s.mean(x[0] for x in b),
                                                      s.mean(x[1] for x in a) / s.mean(x[1] for x in b)))
EOF
}

start_node main 524288
P=$NODE_P H=$NODE_H
PID=${PIDS[-1]}
"$LOAD" -t "127.0.0.1:$P" -c 2 -m 16 -d 2 -o 1000 >/dev/null # warm up: objects, channels

echo "== 1. CallObject calls/s, CPU profile running vs not ($REPEAT pairs of ${PHASE}s, alternating)"
base="" prof=""
for i in $(seq 1 "$REPEAT"); do
	if [ $((i % 2)) = 1 ]; then
		base+=" $(calls_per_s "$P" "$PID")"
		prof+=" $(with_profile calls_per_s "$P" "$PID" | tail -1)"
	else
		prof+=" $(with_profile calls_per_s "$P" "$PID" | tail -1)"
		base+=" $(calls_per_s "$P" "$PID")"
	fi
done
stats "no profile" $base
stats "CPU profile running" $prof
echo "profiled/unprofiled: $(ratio "$prof" "$base")"

echo "== 2. /metrics req/s (wrk -t1 -c16), CPU profile running vs not"
mbase="" mprof=""
for i in $(seq 1 "$REPEAT"); do
	if [ $((i % 2)) = 1 ]; then
		mbase+=" $(wrk_rps "$H" "$PID")"
		mprof+=" $(with_profile wrk_rps "$H" "$PID" | tail -1)"
	else
		mprof+=" $(with_profile wrk_rps "$H" "$PID" | tail -1)"
		mbase+=" $(wrk_rps "$H" "$PID")"
	fi
done
stats "no profile" $mbase
stats "CPU profile running" $mprof
echo "profiled/unprofiled: $(ratio "$mprof" "$mbase")"

echo "== 3. heap sampling: TCMALLOC_SAMPLE_PARAMETER=524288 vs 0 (CallObject calls/s)"
start_node nosample 0
P0=$NODE_P
PID0=${PIDS[-1]}
"$LOAD" -t "127.0.0.1:$P0" -c 2 -m 16 -d 2 -o 1000 >/dev/null
on="" off=""
for i in $(seq 1 "$REPEAT"); do
	if [ $((i % 2)) = 1 ]; then
		off+=" $(calls_per_s "$P0" "$PID0")"
		on+=" $(calls_per_s "$P" "$PID")"
	else
		on+=" $(calls_per_s "$P" "$PID")"
		off+=" $(calls_per_s "$P0" "$PID0")"
	fi
done
stats "sampling off (=0)" $off
stats "sampling on (524288)" $on
echo "on/off: $(ratio "$on" "$off")"
kill "${PIDS[-1]}" 2>/dev/null || true

echo "== 4. delivery delay after the deadline (curl time_total - seconds)"
for s in 1 2 5; do
	t=$(curl -s -o "$TMP/d.pb.gz" -w '%{time_total}' "http://127.0.0.1:$H/debug/pprof/profile?seconds=$s")
	echo "idle     seconds=$s: total ${t}s, delay $("$PY" -c "print('%.0f ms' % (($t - $s) * 1000))"), $(stat -c %s "$TMP/d.pb.gz") bytes"
done
"$LOAD" -t "127.0.0.1:$P" -c 2 -m 16 -d 10 -o 1000 >/dev/null &
L=$!
sleep 0.3
for s in 1 2 5; do
	t=$(curl -s -o "$TMP/d.pb.gz" -w '%{time_total}' "http://127.0.0.1:$H/debug/pprof/profile?seconds=$s")
	echo "loaded   seconds=$s: total ${t}s, delay $("$PY" -c "print('%.0f ms' % (($t - $s) * 1000))"), $(stat -c %s "$TMP/d.pb.gz") bytes"
done
wait $L || true
