#!/usr/bin/env bash
# What the diagnostics gateway's checks cost, in one run.
#
# Two nodes, both HTTPS with the same certificate and priorities:
#   secured: pprof group "mtls or jwt", client certificates requested and
#            verified per request, a bearer RS256 JWT verified per request
#            (the client sends both: the most work the gate does);
#   open:    no diagnostics auth: the loopback-only default policy; it gets
#            the same request bytes (the bearer header is ignored).
# The same small pprof request is driven over keep-alive connections with
# bench/https_load (wrk cannot present client certificates).
#
# Usage: bench/gateway_bench.sh [build-dir]
# Env:   SECONDS_EACH (5) CONNS (8) ROUTE (/debug/pprof/cmdline) ROUNDS (2)
# Prints req/s, p50 and p99 of each and the ratio secured/open.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
BIN="$BUILD/pprofgate"
LOAD="$BUILD/bench/https_load"
SECS="${SECONDS_EACH:-5}"
CONNS="${CONNS:-8}"
ROUTE="${ROUTE:-/debug/pprof/cmdline}"
ROUNDS="${ROUNDS:-2}"


[[ -x "$BIN" ]] || { echo "no binary at $BIN (build first)"; exit 1; }
[[ -x "$LOAD" ]] || { echo "no $LOAD (cmake --build $BUILD --target https_load)"; exit 1; }

D="$TMP/pki"
"$SRC/certs/gen-dev-pki.sh" --dir "$D" >/dev/null
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
p=$(printf '{"sub":"bench","iss":"https://issuer.test","aud":"pprofgate","scope":"pprof:admin","exp":%s}' \
	$(($(date +%s) + 3600)) | b64url)
TOKEN="$h.$p.$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$D/jwt-rs256.key" -binary | b64url)"

node() { # name auth(yes/no) -> sets PORT_<name>
	local name="$1" secured="$2" g h
	g=$(free_port)
	h=$(free_port)
	{
		pg_node_yaml "$g" "$h"
		cat <<EOF
diagnostics:
  tls_server_config:
    cert_file: $D/server.crt
    key_file: $D/server.key
  audit_file: $TMP/$name-audit.log
EOF
		[ "$secured" = no ] || secured_yaml "$D"
	} >"$TMP/$name.yaml"
	# client_ca_file belongs under tls_server_config
	if [ "$secured" = yes ]; then
		sed -i "s|^    key_file: .*|&\n    client_ca_file: $D/ca.crt\n    client_auth_type: RequestClientCert|" "$TMP/$name.yaml"
	fi
	"$BIN" --config "$TMP/$name.yaml" --node-id n1 >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	eval "PID_$name=$!"
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 --cacert "$D/ca.crt" "https://127.0.0.1:$h/healthz" && break
		sleep 0.1
	done
	eval "PORT_$name=$h"
}
node secured yes
node open no

check() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" "$@")
	[ "$code" = 200 ] || { echo "sanity: $* -> $code"; exit 1; }
}
check --cert "$D/admin.crt" --key "$D/admin.key" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT_secured$ROUTE"
check "https://127.0.0.1:$PORT_open$ROUTE"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" "https://127.0.0.1:$PORT_secured$ROUTE")" = 401 ] ||
	{ echo "sanity: secured node answered without credentials"; exit 1; }

echo "route $ROUTE, $CONNS keep-alive connections, ${SECS}s each, $ROUNDS rounds (alternating)"
printf '%-8s %-6s %s\n' round node result
RATIOS=()
# Server CPU (user + system ticks of the node process) per request: the
# cost of the checks without the load generator's share of the 2 CPUs.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
us_per_req() { # ticks_before ticks_after result_line
	awk -v a="$1" -v b="$2" -v hz="$HZ" -v line="$3" 'BEGIN {
		split(line, f, /[ =]/); n = f[2]; printf "%.1f", n ? (b - a) / hz * 1e6 / n : 0 }'
}
CPU_S=()
CPU_O=()
for r in $(seq 1 "$ROUNDS"); do
	t0=$(ticks "$PID_secured")
	s=$("$LOAD" -u "https://127.0.0.1:$PORT_secured$ROUTE" -c "$CONNS" -d "$SECS" --cacert "$D/ca.crt" \
		--cert "$D/admin.crt" --key "$D/admin.key" -H "Authorization: Bearer $TOKEN")
	t1=$(ticks "$PID_secured")
	t2a=$(ticks "$PID_open")
	# The same request bytes (the open node ignores the header; it does not
	# ask for a certificate), so only the checks differ.
	o=$("$LOAD" -u "https://127.0.0.1:$PORT_open$ROUTE" -c "$CONNS" -d "$SECS" --cacert "$D/ca.crt" \
		--cert "$D/admin.crt" --key "$D/admin.key" -H "Authorization: Bearer $TOKEN")
	t2=$(ticks "$PID_open")
	cs=$(us_per_req "$t0" "$t1" "$s")
	co=$(us_per_req "$t2a" "$t2" "$o")
	s="$s server_cpu_us_per_req=$cs"
	o="$o server_cpu_us_per_req=$co"
	printf '%-8s %-6s %s\n' "$r" secured "$s" "$r" open "$o"
	CPU_S+=("$cs")
	CPU_O+=("$co")
	rs=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$s")
	ro=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$o")
	awk -v a="$rs" -v b="$ro" 'BEGIN { printf "         secured/open throughput: %.3f (checks cost %.1f%%)\n", a / b, (1 - a / b) * 100 }'
	RATIOS+=("$(awk -v a="$rs" -v b="$ro" 'BEGIN { printf "%.4f", a / b }')")
done
# The machine is shared: single rounds swing; the median of the paired
# (back-to-back) ratios is the number to read.
printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "median secured/open throughput over %d rounds: %.3f (checks cost %.1f%%)\n", NR, m, (1 - m) * 100 }'
med() { sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms=$(printf '%s\n' "${CPU_S[@]}" | med)
mo=$(printf '%s\n' "${CPU_O[@]}" | med)
awk -v a="$ms" -v b="$mo" 'BEGIN { printf "median server CPU per request: secured %.1f us, open %.1f us (checks cost %.1f%% of server CPU)\n", a, b, (a / b - 1) * 100 }'
echo "audit lines written by the secured node: $(wc -l <"$TMP/secured-audit.log")"
