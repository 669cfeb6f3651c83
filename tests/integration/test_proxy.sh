#!/usr/bin/env bash
# `pprofgatectl proxy` end to end: the seed's own commands (go tool pprof URL,
# go tool pprof -http, curl .../trace) unchanged against a secured node
# (HTTPS, mTLS or JWT, a diagnostics window), through the local forwarder.
# Follows docs/operations.md, "Use go tool pprof against a secured node"
# (Step N below).
source "$(dirname "$0")/lib.sh"
pg_tmpdir
BIN="$PG_BUILD_DIR/pprofgate"
CTL="$PG_BUILD_DIR/pprofgatectl"
[ -x "$BIN" ] && [ -x "$CTL" ] || pg_fail "build pprofgate and pprofgatectl first"
T="$PG_TMP"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$T/pki" >/dev/null || pg_fail "gen-dev-pki.sh failed"
P="$T/pki"
pg_etcd_start

PG_CLUSTER_PREFIX=/proxytest PG_NODE_AUTH="mtls or jwt" \
	pg_secure_node n1 "cn:operator pprof:read pprof:sensitive"
NODE_PID=$n1_PID H=$n1_HTTPS A=$n1_ADMIN
NODE="https://127.0.0.1:$H"
OPER=(--node "$NODE" --cacert "$P/ca.crt" --cert "$P/operator.crt" --key "$P/operator.key")
admin() { "$CTL" --admin "127.0.0.1:$A" --cert "$P/admin.crt" --key "$P/admin.key" --cacert "$P/ca.crt" "$@"; }
gp() { HOME="$T" GOCACHE="$T/gocache" PPROF_TMPDIR="$T/pprof" timeout 90 go tool pprof "$@" 2>&1; }

# Loopback only, with a sentence.
rc=0; err=$("$CTL" "${OPER[@]}" proxy --listen 0.0.0.0:6060 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q "must be a loopback address" <<<"$err" || pg_fail "non-loopback listen: exit $rc: $err"
rc=0; err=$("$CTL" "${OPER[@]}" proxy --listen 192.0.2.1:6060 2>&1) || rc=$?
[ "$rc" = 2 ] || pg_fail "192.0.2.1 listen: exit $rc: $err"
pg_pass "proxy refuses a non-loopback --listen (exit 2, says why)"

# ---- Step 1: start the proxy with your credentials ----
PX=$(pg_free_port)
pg_start proxy "$CTL" "${OPER[@]}" proxy --listen "127.0.0.1:$PX"
PROXY_PID=$PG_PID
pg_wait_for_port "$PX" 10 || { cat "$T/proxy.log" >&2; pg_fail "proxy did not start"; }
grep -q "forwarding http://127.0.0.1:$PX/debug/pprof/ (and /healthz, /ready) to $NODE as cn:operator" "$T/proxy.log" ||
	pg_fail "start line: $(cat "$T/proxy.log")"
B="http://127.0.0.1:$PX/debug/pprof"
pg_pass "step 1: proxy says what it forwards to and as whom"

# Closed window: the node's refusal comes back unchanged, JSON and all.
c=$(curl -s -D "$T/h0" -o "$T/b0" -w '%{http_code}' "$B/goroutine")
[ "$c" = 403 ] && grep -q '"reason":"window_closed"' "$T/b0" && grep -qi '^content-type: application/json' "$T/h0" ||
	pg_fail "closed window through the proxy: $c $(cat "$T/b0")"
[ "$(pg_http_status "http://127.0.0.1:$PX/healthz")" = 200 ] || pg_fail "/healthz not forwarded"
[ "$(pg_http_status "http://127.0.0.1:$PX/metrics")" = 404 ] || pg_fail "/metrics should not be forwarded"
[ "$(pg_http_status "http://127.0.0.1:$PX/debug/pprof/nope")" = 404 ] || pg_fail "unknown route"
pg_pass "node's 403 window_closed passed through; /healthz forwarded; others 404 locally"

# ---- Step 2: open a window (an admin) ----
admin window open --for 5m --reason "proxy test" >/dev/null || pg_fail "window open failed"
pg_pass "step 2: window open"

# ---- Step 3: go tool pprof URL, unchanged ----
HEAP=heap
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/heap")" = 501 ] && HEAP=goroutine # sanitizer build: no tcmalloc
out=$(gp -top "$B/$HEAP") || pg_fail "go tool pprof -top $HEAP via proxy: $out"
grep -Eq "Type: (inuse_space|goroutine)" <<<"$out" || pg_fail "pprof $HEAP output: $out"
grep -Eq "[0-9.]+%.* [a-z_]+[a-z0-9_]*" <<<"$out" || pg_fail "pprof $HEAP names no function: $out"
if [ "$HEAP" = heap ]; then
	out=$(gp -top "$B/profile?seconds=2") || pg_fail "go tool pprof -top profile via proxy: $out"
	grep -q "Type: cpu" <<<"$out" || pg_fail "cpu via proxy: $out"
fi
pg_pass "step 3: go tool pprof -top $B/$HEAP (and profile?seconds=2 where there is a CPU profiler) through the proxy"

# -http: the web UI, fetched headlessly.
UI=$(pg_free_port)
HOME="$T" GOCACHE="$T/gocache" PPROF_TMPDIR="$T/pprof" BROWSER=true \
	go tool pprof -no_browser -http="127.0.0.1:$UI" "$B/goroutine" >"$T/ui.log" 2>&1 &
UI_PID=$!
PG_PIDS+=("$UI_PID")
pg_wait_for_port "$UI" 60 || pg_fail "go tool pprof -http did not listen: $(cat "$T/ui.log")"
curl -s --max-time 20 -o "$T/ui.html" "http://127.0.0.1:$UI/ui/top"; page=$(cat "$T/ui.html")
grep -Eq "pg_[a-z_]+" "$T/ui.html" || pg_fail "pprof -http page names no pprofgate function: ${page:0:400}"
kill "$UI_PID" 2>/dev/null || true
pg_pass "step 3: go tool pprof -http through the proxy serves a page naming functions"

# ---- Step 4: curl a trace, and what passes through ----
c=$(curl -s -o "$T/trace.json" -w '%{http_code}' "$B/trace?seconds=1")
[ "$c" = 200 ] && "$PG_PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/trace.json" ||
	pg_fail "trace via proxy: $c $(head -c 200 "$T/trace.json")"
admin window close >/dev/null && admin window open --for 3s --reason short >/dev/null || pg_fail "reopen 3s"
c=$(curl -s -D "$T/h1" -o "$T/t2.json" -w '%{http_code}' "$B/trace?seconds=60")
[ "$c" = 200 ] && grep -qi '^X-Pprofgate-Capture: shortened from 60 s' "$T/h1" &&
	grep -qi '^X-Pprofgate-Capture-Seconds: [0-9]' "$T/h1" || pg_fail "capture headers not passed: $c $(cat "$T/h1")"
admin window open --for 5m --reason "proxy test" >/dev/null 2>&1 || true
# pprof's remote symbolization: POST to /symbol
out=$(curl -s --data-binary "0x1" "$B/symbol")
grep -q "num_symbols" <<<"$out" || pg_fail "symbol POST via proxy: $out"
pg_pass "step 4: curl trace?seconds=1; X-Pprofgate-Capture headers and POST /symbol pass through"

# A client that goes away mid-capture: the proxy drops the node's request
# within about a second, and the node, which sees its TLS client close,
# cancels the capture: the next one is served at once (not 429 busy).
curl -s -o /dev/null --max-time 1 "$B/profile?seconds=20" || true
sleep 1.5
line=$(grep "GET /debug/pprof/profile?seconds=20 -> " "$T/proxy.log") || pg_fail "no line for the abandoned capture"
secs=$(sed -E 's/.* ([0-9.]+) s$/\1/' <<<"$line")
awk -v s="$secs" 'BEGIN { exit !(s < 3) }' || pg_fail "abandoned capture held for $secs s: $line"
if [ "$HEAP" != goroutine ]; then
	grep -q "client closed the connection: CPU profile capture cancelled" "$T/n1.log" ||
		pg_fail "the node did not cancel the capture its TLS client abandoned"
	c=$(curl -s -o "$T/next.pb.gz" -w '%{http_code}' "$B/profile?seconds=1")
	[ "$c" = 200 ] && [ -s "$T/next.pb.gz" ] || pg_fail "capture after the abandoned one: $c"
fi
pg_pass "a client that goes away: the proxy drops the node's request (${secs} s) and the node its capture"

# The node's audit names the operator, never the proxy; one proxy line per request.
grep '"route":"/debug/pprof/goroutine"' "$T/n1.log" | grep -q '"identity":"[^"]*operator' ||
	pg_fail "node audit without the operator: $(grep -m3 goroutine "$T/n1.log")"
n_req=$(grep -c -- "-> [0-9]" "$T/proxy.log")
[ "$n_req" -ge 10 ] || pg_fail "proxy logged $n_req request lines: $(cat "$T/proxy.log")"
grep -Eq "GET /debug/pprof/trace\?seconds=1 -> 200, [1-9][0-9]* bytes" "$T/proxy.log" ||
	pg_fail "no trace line with its bytes: $(cat "$T/proxy.log")"
pg_pass "node audit shows cn:operator; proxy logged $n_req request lines"

# ---- Step 5: Ctrl-C stops it cleanly ----
kill -INT "$PROXY_PID"
for ((i = 0; i < 30; i++)); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PROXY_PID" 2>/dev/null && pg_fail "proxy still running 3 s after SIGINT"
rc=0; wait "$PROXY_PID" || rc=$?
[ "$rc" = 0 ] || pg_fail "proxy exit $rc after SIGINT"
pg_port_closed "$PX" || pg_fail "proxy port still open"
pg_pass "step 5: Ctrl-C stops the proxy (exit 0, port closed)"

# ---- The same with a bearer token (JWT node) ----
TOKEN=$("$CTL" token mint --key "$P/jwt-rs256.key" --alg RS256 --sub alice --scope "pprof:read pprof:sensitive" \
	--aud pprofgate --iss pprofgate-dev --ttl 10m) || pg_fail "token mint"
PX2=$(pg_free_port)
PPROFGATE_TOKEN="$TOKEN" pg_start proxy2 "$CTL" --node "$NODE" --cacert "$P/ca.crt" proxy --listen "localhost:$PX2"
pg_wait_for_port "$PX2" 10 || { cat "$T/proxy2.log" >&2; pg_fail "token proxy did not start"; }
grep -q "as token sub=alice" "$T/proxy2.log" || pg_fail "token proxy start line: $(cat "$T/proxy2.log")"
grep -q "$TOKEN" "$T/proxy2.log" && pg_fail "the token appears in the proxy's log"
out=$(gp -top "http://127.0.0.1:$PX2/debug/pprof/goroutine") || pg_fail "pprof via token proxy: $out"
grep -q "Type: goroutine" <<<"$out" || pg_fail "goroutine via token proxy: $out"
grep '"route":"/debug/pprof/goroutine"' "$T/n1.log" | grep -q '"identity":"[^"]*alice' ||
	pg_fail "node audit without alice: $(grep -m3 alice "$T/n1.log")"
pg_pass "token proxy: go tool pprof works, node audit shows alice, token never logged"

pg_stop "$PG_PID" 5 || pg_fail "token proxy did not stop on SIGTERM"
pg_stop "$NODE_PID" 10 || true
echo "PASS test_proxy"
