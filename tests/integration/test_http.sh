#!/usr/bin/env bash
# Integration: the real pprofgate binary's HTTP server, driven with curl and
# checked with `promtool check metrics` (which must report no problems).
# Helpers (free port, wait, cleanup) are local: tests/integration/lib.sh did
# not exist when this was written.
set -euo pipefail

BIN="${PG_BUILD_DIR:?PG_BUILD_DIR not set}/pprofgate"
TMP="$(mktemp -d)"
PID=""
FAILS=0

cleanup() {
	if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# expect_status METHOD PATH CODE [extra curl args...]
expect_status() {
	local method="$1" path="$2" want="$3" got
	shift 3
	got="$(curl -s --path-as-is -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}' -X "$method" \
		--max-time 10 "$@" "http://127.0.0.1:$H$path" || true)"
	[[ "$got" == "$want" ]] || fail "$method $path: status $got, want $want"
}

command -v promtool >/dev/null || { echo "promtool not installed (Debian package prometheus)"; exit 1; }
[[ -x "$BIN" ]] || { echo "no binary at $BIN"; exit 1; }

P="$(free_port)"
H="$(free_port)"
"$BIN" --listen "127.0.0.1:$P" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1 >"$TMP/log" 2>&1 &
PID=$!

for _ in $(seq 1 100); do
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$H/healthz" && break
	kill -0 "$PID" 2>/dev/null || { cat "$TMP/log"; echo "pprofgate exited early"; exit 1; }
	sleep 0.1
done

# /healthz
expect_status GET /healthz 200
[[ "$(cat "$TMP/body")" == '{"status":"ok"}' ]] || fail "/healthz body: $(cat "$TMP/body")"
grep -qi '^content-type: application/json' "$TMP/hdrs" || fail "/healthz content type"

# /metrics: format 0.0.4, promtool-clean, standard process metrics present
expect_status GET /metrics 200
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$TMP/hdrs" || fail "/metrics content type"
cp "$TMP/body" "$TMP/metrics"
if ! out="$(promtool check metrics <"$TMP/metrics" 2>&1)"; then
	fail "promtool check metrics failed: $out"
elif [[ -n "$out" ]]; then
	fail "promtool reported problems: $out"
fi
for m in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
	process_open_fds process_max_fds process_start_time_seconds; do
	grep -q "^$m " "$TMP/metrics" || fail "/metrics lacks $m"
done
grep -q '^pprofgate_build_info{version="[^"]*",compiler="[^"]*"} 1$' "$TMP/metrics" || fail "/metrics lacks pprofgate_build_info"

# second scrape counts the first one
expect_status GET /metrics 200
grep -q '^pprofgate_http_requests_total{route="/metrics",code="200"} [1-9]' "$TMP/body" ||
	fail "pprofgate_http_requests_total not counting /metrics"
promtool check metrics <"$TMP/body" >"$TMP/pt" 2>&1 && [[ ! -s "$TMP/pt" ]] || fail "promtool on 2nd scrape: $(cat "$TMP/pt")"

# HEAD, gzip
expect_status HEAD /metrics 200 -I
expect_status GET /metrics 200 --compressed
grep -qi '^content-encoding: gzip' "$TMP/hdrs" || fail "/metrics did not honour Accept-Encoding: gzip"
grep -q '^process_open_fds ' "$TMP/body" || fail "gzip body did not decode"

# /ready: ready, or not ready with a reason (etcd is unreachable here)
code="$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$H/ready" || true)"
case "$code" in
200) grep -q '^{"status":"ready"}$' "$TMP/body" || fail "/ready 200 body: $(cat "$TMP/body")" ;;
503) grep -q '^{"status":"not ready","reason":".*"}$' "$TMP/body" || fail "/ready 503 body: $(cat "$TMP/body")" ;;
*) fail "/ready status $code" ;;
esac

# errors
expect_status GET /nope 404
grep -q '"status":"error"' "$TMP/body" || fail "404 body is not JSON"
expect_status POST /metrics 405 -d x=1
grep -qi '^allow: GET, HEAD' "$TMP/hdrs" || fail "405 without Allow"
for p in '/%2e%2e/metrics' '/%2E%2E/metrics' '//metrics' '/./metrics' '/x/../metrics' \
	'/metrics%2f' '/metrics;x' '/metrics%00' '/debug%2fpprof/heap' '/debug/pprof/../../metrics'; do
	expect_status GET "$p" 400
done
expect_status GET /metrics/ 404
expect_status GET /METRICS 404

# a second instance on the same HTTP address fails fast, naming the address
P2="$(free_port)"
if timeout 10 "$BIN" --listen "127.0.0.1:$P2" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1 \
	>"$TMP/log2" 2>&1; then
	fail "second instance on 127.0.0.1:$H exited 0"
fi
grep -q "127.0.0.1:$H" "$TMP/log2" || fail "bind error does not name the address: $(cat "$TMP/log2")"

# graceful shutdown on SIGTERM
kill -TERM "$PID"
for _ in $(seq 1 100); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
	fail "pprofgate still running 10 s after SIGTERM"
else
	wait "$PID" && rc=0 || rc=$?
	[[ "$rc" == 0 ]] || fail "pprofgate exited with $rc after SIGTERM"
fi
PID=""

if ((FAILS)); then
	echo "--- pprofgate log ---"
	cat "$TMP/log"
	echo "test_http: $FAILS failure(s)"
	exit 1
fi
echo "test_http: ok"
