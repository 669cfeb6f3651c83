#!/usr/bin/env bash
# /metrics throughput: pprofgate vs a minimal Go net/http server serving the
# same bytes (captured from pprofgate once), same wrk settings, same run.
#
# Usage: bench/metrics_bench.sh [build-dir]
# Env:   DURATION (10s) THREADS (2) CONNS (32) PG_ARGS (extra pprofgate args)
# Prints requests/s, latency p50/p99, idle and loaded RSS of each, and ratios.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
BIN="$BUILD/pprofgate"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"


for t in wrk go curl; do command -v "$t" >/dev/null || { echo "$t not installed"; exit 1; }; done
[[ -x "$BIN" ]] || { echo "no binary at $BIN (build first)"; exit 1; }

# Proportional set size: shared library pages split between their users
# (pprofgate maps shared libc/GnuTLS/...; the Go binary is static).
pss_kb() { awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup"; }

# Build the Go baseline with throwaway caches.
mkdir -p "$TMP/home" "$TMP/gocache"
(cd "$SRC/bench/go-metrics-server" && HOME="$TMP/home" GOCACHE="$TMP/gocache" GOPATH="$TMP/home/go" \
	GOFLAGS= go build -o "$TMP/go-metrics-server" .)

P="$(free_port)"; H="$(free_port)"; G="$(free_port)"
# shellcheck disable=SC2086
"$BIN" --listen "127.0.0.1:$P" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1 ${PG_ARGS:-} \
	>"$TMP/pg.log" 2>&1 &
PG_PID=$!; PIDS+=("$PG_PID")
wait_http "http://127.0.0.1:$H/healthz"
curl -s "http://127.0.0.1:$H/metrics" >"$TMP/body"
"$TMP/go-metrics-server" -listen "127.0.0.1:$G" -body "$TMP/body" >"$TMP/go.log" 2>&1 &
GO_PID=$!; PIDS+=("$GO_PID")
wait_http "http://127.0.0.1:$G/metrics"
curl -s -o /dev/null "http://127.0.0.1:$G/metrics"
sleep 0.5
PG_IDLE="$(rss_kb "$PG_PID" VmRSS)"; GO_IDLE="$(rss_kb "$GO_PID" VmRSS)"
PG_IPSS="$(pss_kb "$PG_PID")"; GO_IPSS="$(pss_kb "$GO_PID")"

run_wrk() { # name url -> rps p50 p99 (ms)
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2" >"$TMP/$1.wrk" 2>&1
	awk '
		/^Requests\/sec:/ {rps=$2}
		/^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
		function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
		END {printf "%s %.3f %.3f\n", rps, ms(p50), ms(p99)}' "$TMP/$1.wrk"
}
# Same settings, one after the other, pprofgate first.
read -r PG_RPS PG_P50 PG_P99 < <(run_wrk pg "http://127.0.0.1:$H/metrics")
PG_LOAD="$(rss_kb "$PG_PID" VmHWM)"; PG_LPSS="$(pss_kb "$PG_PID")"
read -r GO_RPS GO_P50 GO_P99 < <(run_wrk go "http://127.0.0.1:$G/metrics")
GO_LOAD="$(rss_kb "$GO_PID" VmHWM)"; GO_LPSS="$(pss_kb "$GO_PID")"
grep -q "Non-2xx" "$TMP/pg.wrk" "$TMP/go.wrk" && { echo "non-2xx answers:"; grep -H Non-2xx "$TMP"/*.wrk; }

BODY_BYTES="$(wc -c <"$TMP/body")"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency, body $BODY_BYTES bytes, $(nproc) CPUs"
echo "RSS in KiB: idle = VmRSS before load, loaded = VmHWM (peak) after load; PSS likewise (after load: current)"
printf '%-11s %10s %7s %7s %9s %11s %9s %11s\n' server req/s p50_ms p99_ms idle_rss loaded_rss idle_pss loaded_pss
printf '%-11s %10s %7s %7s %9s %11s %9s %11s\n' pprofgate "$PG_RPS" "$PG_P50" "$PG_P99" "$PG_IDLE" "$PG_LOAD" "$PG_IPSS" "$PG_LPSS"
printf '%-11s %10s %7s %7s %9s %11s %9s %11s\n' go-net/http "$GO_RPS" "$GO_P50" "$GO_P99" "$GO_IDLE" "$GO_LOAD" "$GO_IPSS" "$GO_LPSS"
awk -v a="$PG_RPS" -v b="$GO_RPS" -v c="$PG_LOAD" -v d="$GO_LOAD" -v e="$PG_IDLE" -v f="$GO_IDLE" 'BEGIN {
	printf "throughput ratio pprofgate/go: %.2fx (target >= 1.5x)\n", a / b
	printf "idle RSS ratio pprofgate/go: %.2f, loaded (peak) RSS ratio: %.2f (target <= 1)\n", e / f, c / d }'
