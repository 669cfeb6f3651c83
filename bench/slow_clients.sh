#!/usr/bin/env bash
# Slow and idle clients while /metrics is scraped: pprofgate (default
# diagnostics.limits) and a stdlib Go net/http server (the reference, no
# limits: http.ListenAndServe has no header timeout) under the same attack,
# one after the other, in one run.
#
# Each server: a quiet baseline of scrapes (5 s), then the attack (ATTACK_S,
# default 30 s): IDLE connections that send nothing and SLOW ones that
# trickle header lines every 5 s, from SOURCES loopback addresses
# 127.0.0.2.., with a scrape from 127.0.0.1 every 100 ms on a new
# connection; then the attack ends and the scrapes go on (recovery, 5 s).
# Reported per phase: scrapes, failures, p50/p99/max latency; RSS before,
# peak, after.
#
# Usage: bench/slow_clients.sh [build-dir]
# Env:   IDLE (5000) SLOW (1000) SOURCES (8) ATTACK_S (30)
set -euo pipefail

source "$(dirname "$0")/lib.sh"
BIN="$BUILD/pprofgate"
LOAD="$BUILD/bench/slow_clients"
IDLE="${IDLE:-5000}"
SLOW="${SLOW:-1000}"
SOURCES="${SOURCES:-8}"
ATTACK_S="${ATTACK_S:-30}"


[[ -x "$BIN" ]] || { echo "no binary at $BIN (build first)"; exit 1; }
[[ -x "$LOAD" ]] || { echo "no $LOAD (cmake --build $BUILD --target slow_clients)"; exit 1; }

mkdir -p "$TMP/home" "$TMP/gocache"
(cd "$SRC/bench/go-metrics-server" && HOME="$TMP/home" GOCACHE="$TMP/gocache" GOPATH="$TMP/home/go" \
	GOFLAGS= go build -o "$TMP/go-metrics-server" .)

P="$(free_port)"; H="$(free_port)"; G="$(free_port)"
"$BIN" --listen "127.0.0.1:$P" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1 >"$TMP/pg.log" 2>&1 &
PG_PID=$!; PIDS+=("$PG_PID")
wait_http "http://127.0.0.1:$H/healthz"
curl -s "http://127.0.0.1:$H/metrics" >"$TMP/body"
"$TMP/go-metrics-server" -listen "127.0.0.1:$G" -body "$TMP/body" >"$TMP/go.log" 2>&1 &
GO_PID=$!; PIDS+=("$GO_PID")
wait_http "http://127.0.0.1:$G/metrics"

# phase NAME PORT IDLE SLOW SECONDS -> the summary line's fields
phase() {
	"$LOAD" --port "$2" --idle "$3" --slow "$4" --sources "$SOURCES" --seconds "$5" | tail -1 |
		awk -v n="$1" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}
			printf "%-9s %7s %8s %8s %8s %8s\n", n, v["scrapes"], v["failures"], v["p50_ms"], v["p99_ms"], v["max_ms"]}'
}

echo "attack: $IDLE idle + $SLOW slow connections from $SOURCES addresses for ${ATTACK_S}s; $(nproc) CPUs"
for s in pprofgate go; do
	if [[ $s == pprofgate ]]; then port=$H; pid=$PG_PID; else port=$G; pid=$GO_PID; fi
	before="$(rss_kb "$pid" VmRSS)"
	echo "== $s"
	printf '%-9s %7s %8s %8s %8s %8s\n' phase scrapes failures p50_ms p99_ms max_ms
	phase quiet "$port" 0 0 5
	phase attack "$port" "$IDLE" "$SLOW" "$ATTACK_S"
	phase recovery "$port" 0 0 5
	echo "RSS KiB: before $before, peak $(rss_kb "$pid" VmHWM), after $(rss_kb "$pid" VmRSS);" \
		"open descriptors after: $(ls "/proc/$pid/fd" | wc -l)"
done
echo "pprofgate log lines: $(wc -l <"$TMP/pg.log"); $(curl -s "http://127.0.0.1:$H/metrics" |
	grep -E '^pprofgate_http_(connections_limited|slow_clients_closed)' | tr '\n' ' ')"
