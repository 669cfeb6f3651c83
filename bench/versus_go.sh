#!/usr/bin/env bash
# pprofgate side by side with a Go standard-library peer, in one run.
#
# The full secure node (HTTPS, client certificates requested and verified,
# RS256 bearer tokens, pprof group "mtls or jwt", a plain listener for
# /metrics) against bench/go-metrics-server with the same certificate, CA,
# identity and key (net/http + crypto/tls + net/http/pprof, a verified token
# remembered until its exp, as the node does). Same request bytes to both.
#
# Scenarios (each SECS seconds, ROUNDS rounds alternating the two servers;
# medians):
#   metrics_shared   plain GET /metrics (wrk), the node's default sharing
#   metrics_render   the same against a node with metrics_share_ms: 0
#                    (every scrape rendered); Go serves a fixed body
#   guarded          GET /debug/pprof/cmdline with a client certificate and
#                    a bearer token over CONNS kept-alive connections
#   handshake        the same with the certificate only, a new connection
#                    and a full TLS handshake per request (https_load --conn new)
#   resumed          a new connection per request resuming the TLS session
#                    (tickets; --conn resume)
# and, outside the rounds: idle RSS and PSS (before any load) and after the
# load, and the delay of a profile?seconds=1 after its second.
# Server CPU per request is utime + stime from /proc/PID/stat over the run
# divided by the requests served: the load generator's share of the CPUs
# does not enter it.
#
# Usage: bench/versus_go.sh [build-dir]
# Env:   SECS (4, at most 30) ROUNDS (3, at most 9) CONNS (8)
#        HEAP_AB=1: also full handshakes and guarded requests against a
#        node with heap sampling off (TCMALLOC_SAMPLE_PARAMETER=0) and one
#        walking sampled stacks with libunwind (TCMALLOC_STACKTRACE_METHOD=
#        libunwind, gperftools' default), alternating with the default node.
#        ATTACK=1: also guarded requests while the TLS ports of both servers
#        hold 4 stalled handshakes (bench/stalled_handshakes.py), then 3,000
#        idle connections (bench/slow_clients).
# Output: one line per scenario and round, then a table with the medians
# and the pprofgate/Go ratio of each figure.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
BIN="$BUILD/pprofgate"
LOAD="$BUILD/bench/https_load"
SECS="${SECS:-4}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-8}"
((SECS >= 1 && SECS <= 30)) || { echo "SECS must be 1..30"; exit 2; }
((ROUNDS >= 1 && ROUNDS <= 9)) || { echo "ROUNDS must be 1..9"; exit 2; }
[[ -x "$BIN" ]] || { echo "no binary at $BIN (build first)"; exit 1; }
[[ -x "$LOAD" ]] || { echo "no $LOAD (cmake --build $BUILD --target https_load)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed"; exit 1; }

D="$TMP/pki"
"$SRC/certs/gen-dev-pki.sh" --dir "$D" >/dev/null
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
p=$(printf '{"sub":"bench","iss":"https://issuer.test","aud":"pprofgate","scope":"pprof:admin","exp":%s}' \
	$(($(date +%s) + 3600)) | b64url)
TOKEN="$h.$p.$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$D/jwt-rs256.key" -binary | b64url)"
ID=spiffe://pprofgate.local/admin

(cd "$SRC/bench/go-metrics-server" && HOME="$TMP/home" GOCACHE="$TMP/gocache" GOPATH="$TMP/home/go" \
	GOFLAGS= go build -o "$TMP/go-peer" .)

# node NAME SHARE_MS [ENV...] -> PID_<NAME>, TLS_<NAME>, PLAIN_<NAME>
node() {
	local name="$1" share="$2" g t m
	shift 2
	g=$(free_port)
	t=$(free_port)
	m=$(free_port)
	{
		pg_node_yaml "$g" "$t"
		cat <<EOF
diagnostics:
  tls_server_config:
    cert_file: $D/server.crt
    key_file: $D/server.key
    client_ca_file: $D/ca.crt
    client_auth_type: RequestClientCert
  plain_listen: 127.0.0.1:$m
  metrics_share_ms: $share
  audit_file: $TMP/$name-audit.log
EOF
		secured_yaml "$D"
	} >"$TMP/$name.yaml"
	env "$@" "$BIN" --config "$TMP/$name.yaml" --node-id n1 >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	eval "PID_$name=$! TLS_$name=$t PLAIN_$name=$m"
	wait_http "http://127.0.0.1:$m/healthz" >/dev/null
}

node pg 5
curl -s "http://127.0.0.1:$PLAIN_pg/metrics" >"$TMP/body"
GT=$(free_port)
GP=$(free_port)
"$TMP/go-peer" -listen "127.0.0.1:$GP" -body "$TMP/body" -tls-listen "127.0.0.1:$GT" -cert "$D/server.crt" \
	-key "$D/server.key" -client-ca "$D/ca.crt" -identity "$ID" -jwt-pub "$D/jwt-rs256.pub" \
	-iss https://issuer.test -aud pprofgate >"$TMP/go.log" 2>&1 &
PIDS+=($!)
PID_go=$! TLS_go=$GT PLAIN_go=$GP
wait_http "http://127.0.0.1:$GP/metrics" >/dev/null

# Sanity: both answer the guarded route with a certificate, with a token,
# and refuse it without either; the shared body is non-empty.
for s in pg go; do
	eval "port=\$TLS_$s"
	u="https://127.0.0.1:$port/debug/pprof/cmdline"
	c1=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" "$u")
	c2=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -H "Authorization: Bearer $TOKEN" "$u")
	c3=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" "$u")
	[ "$c1/$c2/$c3" = 200/200/401 ] || { echo "sanity $s: cert $c1, token $c2, neither $c3 (want 200/200/401)"; exit 1; }
done
[ -s "$TMP/body" ] || { echo "sanity: empty /metrics body"; exit 1; }

pss_kb() { awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup"; }
IDLE_RSS_pg=$(rss_kb "$PID_pg" VmRSS) IDLE_PSS_pg=$(pss_kb "$PID_pg")
IDLE_RSS_go=$(rss_kb "$PID_go" VmRSS) IDLE_PSS_go=$(pss_kb "$PID_go")

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# result lines: "requests=N ... p50_ms=X p99_ms=X", plus cpu_us=X
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
RES="$TMP/results" # scenario server round requests rps p50 p99 cpu_us
: >"$RES"

# run SCENARIO SERVER PID CMD... : runs CMD, records its figures and the server CPU
run() {
	local sc="$1" sv="$2" pid="$3" t0 t1 out n
	shift 3
	t0=$(ticks "$pid")
	out=$("$@")
	t1=$(ticks "$pid")
	n=$(field requests "$out")
	cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", n ? (b - a) / hz * 1e6 / n : 0 }')
	printf '%-15s %-3s round %s: %s cpu_us=%s\n' "$sc" "$sv" "$r" "$out" "$cpu"
	echo "$sc $sv $r $n $(field rps "$out") $(field p50_ms "$out") $(field p99_ms "$out") $cpu" >>"$RES"
}
# wrk's summary as https_load's line
wrk_line() {
	wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$1" | awk '
		/requests in/ { n = $1 }
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; return v * 1000 }
		END { printf "requests=%d errors=0 rps=%.0f p50_ms=%.3f p99_ms=%.3f\n", n, rps, ms(p50), ms(p99) }'
}
load() { # server mode [extra https_load args]
	local port
	eval "port=\$TLS_$1"
	"$LOAD" -u "https://127.0.0.1:$port/debug/pprof/cmdline" -c "$CONNS" -d "$SECS" --conn "$2" \
		--cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" "${@:3}"
}

node pgr 0
for r in $(seq 1 "$ROUNDS"); do
	# alternate which server goes first
	if ((r % 2)); then order="pg go"; else order="go pg"; fi
	for s in $order; do
		eval "pid=\$PID_$s plain=\$PLAIN_$s"
		run metrics_shared "$s" "$pid" wrk_line "http://127.0.0.1:$plain/metrics"
	done
	for s in $order; do
		if [ "$s" = pg ]; then run metrics_render pg "$PID_pgr" wrk_line "http://127.0.0.1:$PLAIN_pgr/metrics"
		else run metrics_render go "$PID_go" wrk_line "http://127.0.0.1:$PLAIN_go/metrics"; fi
	done
	for s in $order; do
		eval "pid=\$PID_$s"
		run guarded "$s" "$pid" load "$s" keep -H "Authorization: Bearer $TOKEN"
	done
	for s in $order; do
		eval "pid=\$PID_$s"
		run handshake "$s" "$pid" load "$s" new
	done
	for s in $order; do
		eval "pid=\$PID_$s"
		run resumed "$s" "$pid" load "$s" resume
	done
done
kill "$PID_pgr" 2>/dev/null || true

if [ "${HEAP_AB:-0}" = 1 ]; then
	# Heap sampling's cost: the node as it runs (libgcc's stack walker),
	# sampling off, and gperftools' default walker (libunwind).
	node pgoff 5 TCMALLOC_SAMPLE_PARAMETER=0
	node pguw 5 TCMALLOC_STACKTRACE_METHOD=libunwind
	for r in $(seq 1 "$ROUNDS"); do
		run handshake_sampling_on pg "$PID_pg" load pg new
		run handshake_sampling_off pg "$PID_pgoff" load pgoff new
		run handshake_libunwind pg "$PID_pguw" load pguw new
		run guarded_sampling_on pg "$PID_pg" load pg keep -H "Authorization: Bearer $TOKEN"
		run guarded_sampling_off pg "$PID_pgoff" load pgoff keep -H "Authorization: Bearer $TOKEN"
		run guarded_libunwind pg "$PID_pguw" load pguw keep -H "Authorization: Bearer $TOKEN"
	done
	kill "$PID_pgoff" "$PID_pguw" 2>/dev/null || true
fi

if [ "${ATTACK:-0}" = 1 ]; then
	# The guarded request while the TLS port is attacked, both servers at
	# once: first 4 clients that send a ClientHello and then nothing, then
	# 3,000 idle connections from 60 loopback addresses (under the node's
	# per-address limit). Either kind is opened again when a server cuts it.
	hold=$((ROUNDS * 2 * SECS + 10))
	apids=()
	for s in pg go; do
		eval "port=\$TLS_$s"
		"$SRC/bench/stalled_handshakes.py" "$port" 4 "$hold" >/dev/null &
		apids+=($!)
	done
	PIDS+=("${apids[@]}")
	sleep 2
	for r in $(seq 1 "$ROUNDS"); do
		for s in pg go; do
			eval "pid=\$PID_$s"
			run guarded_stalled "$s" "$pid" load "$s" keep -H "Authorization: Bearer $TOKEN"
		done
	done
	kill "${apids[@]}" 2>/dev/null || true
	apids=()
	for s in pg go; do
		eval "port=\$TLS_$s plain=\$PLAIN_$s"
		"$BUILD/bench/slow_clients" --port "$port" --scrape-port "$plain" --idle 3000 --slow 0 --sources 60 \
			--seconds "$hold" --scrape-every-ms 1000 >"$TMP/idle-$s.log" 2>&1 &
		apids+=($!)
	done
	PIDS+=("${apids[@]}")
	sleep 5
	for r in $(seq 1 "$ROUNDS"); do
		for s in pg go; do
			eval "pid=\$PID_$s"
			run guarded_idle "$s" "$pid" load "$s" keep -H "Authorization: Bearer $TOKEN"
		done
	done
	kill "${apids[@]}" 2>/dev/null || true
fi

# The delay of a 1-second CPU profile after its second (time_total - 1 s).
for s in pg go; do
	eval "port=\$TLS_$s"
	for i in 1 2 3; do
		curl -s -o /dev/null -w '%{time_total}\n' --cacert "$D/ca.crt" --cert "$D/admin.crt" \
			--key "$D/admin.key" "https://127.0.0.1:$port/debug/pprof/profile?seconds=1"
	done | awk -v s="$s" '{ d = ($1 - 1) * 1000; if (NR == 1 || d < m) m = d } END { printf "profile_delay %s %.0f\n", s, m }' >>"$TMP/delay"
done

LOAD_RSS_pg=$(rss_kb "$PID_pg" VmRSS) LOAD_PSS_pg=$(pss_kb "$PID_pg")
LOAD_RSS_go=$(rss_kb "$PID_go" VmRSS) LOAD_PSS_go=$(pss_kb "$PID_go")

med() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) print 0; else print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m() { awk -v sc="$1" -v sv="$2" -v c="$3" '$1 == sc && $2 == sv { print $c }' "$RES" | med; }
row() { # label scenario column(4 n,5 rps,6 p50,7 p99,8 cpu) [server2 for the right column]
	local a b
	a=$(m "$2" pg "$3")
	b=$(m "$2" "${4:-go}" "$3")
	awk -v l="$1" -v a="$a" -v b="$b" 'BEGIN { printf "| %s | %s | %s | %s |\n", l, a, b, (b > 0 ? sprintf("%.2f", a / b) : "-") }'
}
echo
echo "pprofgate vs Go net/http: medians of $ROUNDS rounds of ${SECS}s, $CONNS clients, $(nproc) CPUs shared with the load"
echo
echo "| figure | pprofgate | Go | pprofgate / Go |"
echo "|---|---|---|---|"
row "plain /metrics (shared rendering on), server CPU us per request" metrics_shared 8
row "plain /metrics rendered every scrape, server CPU us per scrape" metrics_render 8
row "guarded request (mTLS + JWT, keep-alive), server CPU us" guarded 8
row "guarded request, requests/s" guarded 5
row "guarded request, p50 ms" guarded 6
row "guarded request, p99 ms" guarded 7
row "full mTLS handshakes per second" handshake 5
row "server CPU us per full mTLS handshake (+ request)" handshake 8
row "resumed handshakes per second" resumed 5
row "server CPU us per resumed handshake (+ request)" resumed 8
if [ "${HEAP_AB:-0}" = 1 ]; then
	ab() { # label scenario_a scenario_b what_b
		local a b
		a=$(m "$2" pg 8)
		b=$(m "$3" pg 8)
		awk -v l="$1" -v a="$a" -v b="$b" -v w="$4" 'BEGIN { printf "| %s | %s | %s (%s) | %.2f |\n", l, a, b, w, a / b }'
	}
	ab "server CPU us per full handshake, heap sampling on / off" handshake_sampling_on handshake_sampling_off off
	ab "server CPU us per guarded request, heap sampling on / off" guarded_sampling_on guarded_sampling_off off
	ab "server CPU us per full handshake, libgcc / libunwind stack walker" handshake_sampling_on handshake_libunwind libunwind
	ab "server CPU us per guarded request, libgcc / libunwind stack walker" guarded_sampling_on guarded_libunwind libunwind
fi
if [ "${ATTACK:-0}" = 1 ]; then
	row "guarded request with 4 stalled TLS handshakes, server CPU us" guarded_stalled 8
	row "guarded request with 4 stalled TLS handshakes, p99 ms" guarded_stalled 7
	row "guarded request with 3,000 idle TLS connections, server CPU us" guarded_idle 8
	row "guarded request with 3,000 idle TLS connections, p99 ms" guarded_idle 7
fi
kib() { awk -v a="$2" -v b="$3" -v l="$1" 'BEGIN { printf "| %s | %.1f MiB | %.1f MiB | %.2f |\n", l, a / 1024, b / 1024, a / b }'; }
kib "idle RSS" "$IDLE_RSS_pg" "$IDLE_RSS_go"
kib "idle PSS" "$IDLE_PSS_pg" "$IDLE_PSS_go"
kib "RSS after the load" "$LOAD_RSS_pg" "$LOAD_RSS_go"
kib "PSS after the load" "$LOAD_PSS_pg" "$LOAD_PSS_go"
dp=$(awk '$2 == "pg" { print $3 }' "$TMP/delay")
dg=$(awk '$2 == "go" { print $3 }' "$TMP/delay")
awk -v a="$dp" -v b="$dg" 'BEGIN { printf "| profile delivered after the capture ends (best of 3), ms | %s | %s | %.2f |\n", a, b, (b > 0 ? a / b : 0) }'
echo
echo "/metrics body: $(wc -c <"$TMP/body") bytes (the node's own, served as a fixed body by Go)"
