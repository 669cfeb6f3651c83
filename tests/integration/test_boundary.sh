#!/usr/bin/env bash
# Integration: the HTTP gateway at the libmicrohttpd boundary, with raw bytes.
#
# A TLS node (mTLS or JWT for /debug/pprof, a plain listener for scrapers),
# driven with printf | openssl s_client and curl: a NUL in the target, in an
# Authorization value or in a header name, two Authorization headers, a
# 64 KiB header, 2000 headers, odd spellings of /debug/pprof, plain HTTP on
# the HTTPS port and refused TLS handshakes. (A request whose headers never
# finish is audited as a timeout: tests/unit/http_test.c, with a 1 s timeout.) Each is refused with its status
# and leaves exactly one audit line (peer, target as received, reason);
# libmicrohttpd's own warnings for them stay out of the log. TLS 1.3 offers
# X25519, P-256 and P-384 only.
source "$(dirname "$0")/lib.sh"

BIN="$PG_BUILD_DIR/pprofgate"
[ -x "$BIN" ] || pg_fail "no binary at $BIN"
pg_tmpdir
FAILS=0
fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

D="$PG_TMP/pki"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$D" >/dev/null
AUDIT="$PG_TMP/audit.log"
P=$(pg_free_port)
H=$(pg_free_port)
M=$(pg_free_port)
ISS=https://issuer.test
AUD=pprofgate

now=$(date +%s)
GOOD=$(pg_mint_rs256 "$D/jwt-rs256.key" "{\"sub\":\"t\",\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"scope\":\"pprof:admin\",\"exp\":$((now + 600))}")
EXPIRED=$(pg_mint_rs256 "$D/jwt-rs256.key" "{\"sub\":\"t\",\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"scope\":\"pprof:admin\",\"exp\":$((now - 600))}")

cat >"$PG_TMP/node.yaml" <<EOF
version: 1
cluster:
  shards: 64
  provider: etcd
  etcd:
    endpoints: [127.0.0.1:1]
nodes:
  - id: n1
    grpc_addr: 127.0.0.1:$P
    advertise_addr: 127.0.0.1:$P
    http_addr: 127.0.0.1:$H
diagnostics:
  tls_server_config:
    cert_file: $D/server.crt
    key_file: $D/server.key
    client_ca_file: $D/ca.crt
    client_auth_type: RequestClientCert
  client_identities:
    - "uri:spiffe://pprofgate.local/admin pprof:admin"
  jwt:
    issuer: $ISS
    audience: $AUD
    keys:
      - {alg: RS256, file: $D/jwt-rs256.pub}
  groups:
    pprof:
      auth: mtls or jwt
      require_window: "false"
  audit_file: $AUDIT
  plain_listen: 127.0.0.1:$M
EOF
pg_start node "$BIN" --config "$PG_TMP/node.yaml" --node-id n1 --log-level debug
NODE=$PG_PID
pg_wait_for_port "$H" 20 || { cat "$PG_TMP/node.log" >&2; pg_fail "node did not start"; }
URL="https://127.0.0.1:$H"
ROUTE=/debug/pprof/cmdline

audit_lines() { wc -l <"$AUDIT" 2>/dev/null || echo 0; }
# Waits (up to 2 s) until the audit log has more than $1 lines.
wait_audit() {
	local i
	for ((i = 0; i < 40; i++)); do
		[ "$(audit_lines)" -gt "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
# tls_raw FILE [openssl args...]: sends FILE's bytes over TLS with the admin
# certificate; the answer lands in $PG_TMP/out.
tls_raw() {
	tls_raw_anon "$1" -cert "$D/admin.crt" -key "$D/admin.key"
}
# tls_raw_anon FILE [openssl args...]: the same without a client certificate.
tls_raw_anon() {
	local f="$1"
	shift
	timeout 10 openssl s_client -quiet -connect "127.0.0.1:$H" -CAfile "$D/ca.crt" "$@" \
		<"$f" >"$PG_TMP/out" 2>"$PG_TMP/out.err" || true
}
plain_raw() { # FILE PORT
	timeout 10 "$PG_PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=8)
s.sendall(open(sys.argv[1], "rb").read())
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except (ConnectionResetError, socket.timeout):
    pass
sys.stdout.buffer.write(out)' "$1" "$2" >"$PG_TMP/out" 2>"$PG_TMP/out.err" || true
}
# send_check tls|anon|plain NAME STATUS REASON [AUDIT_PATH]: sends $PG_TMP/req
# (TLS with the admin certificate, TLS without one, or the plain listener)
# and checks the answer and its one audit line.
send_check() {
	local how="$1"
	shift
	BEFORE=$(audit_lines)
	case "$how" in
	tls) tls_raw "$PG_TMP/req" ;;
	anon) tls_raw_anon "$PG_TMP/req" ;;
	plain) plain_raw "$PG_TMP/req" "$M" ;;
	esac
	check "$@"
}
status_of_out() { # 000: no answer
	local st
	st=$(head -1 "$PG_TMP/out" | awk '{print $2}')
	echo "${st:-000}"
}

# check NAME WANT_STATUS WANT_REASON [AUDIT_PATH_JSON]: the last answer in
# $PG_TMP/out (or $GOT when set) and exactly one new audit line since $BEFORE.
check() {
	local name="$1" want="$2" reason="$3" apath="${4:-}" got line n
	got="${GOT:-$(status_of_out)}"
	[ "$got" = "$want" ] || { fail "$name: status '$got', want $want ($(head -c 300 "$PG_TMP/out"))"; return; }
	wait_audit "$BEFORE" || { fail "$name: no audit line"; return; }
	sleep 0.2 # a second line would arrive by now
	n=$(($(audit_lines) - BEFORE))
	[ "$n" = 1 ] || fail "$name: $n audit lines, want exactly 1: $(tail -n "$n" "$AUDIT")"
	line=$(tail -1 "$AUDIT")
	case "$line" in *"\"reason\":\"$reason\""*) ;; *) fail "$name: audit line without reason $reason: $line" ;; esac
	case "$line" in *'"peer":"127.0.0.1"'*) ;; *) fail "$name: audit line without the peer: $line" ;; esac
	if [ -n "$apath" ]; then
		case "$line" in *"\"path\":\"$apath\""*) ;; *) fail "$name: audit path, want $apath: $line" ;; esac
	fi
	echo "ok: $name -> $got $reason"
}
GOT=""

# ---- the request line ----
printf 'GET /debug/pprof/cmdline\0.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$PG_TMP/req"
send_check tls "NUL in the target" 400 ctl_in_request_line '/debug/pprof/cmdline\u0000.css'
grep -q '"error"' "$PG_TMP/out" || fail "NUL in the target: no JSON error body: $(cat "$PG_TMP/out")"
grep -q "$(printf 'pprofgate')" "$PG_TMP/out" && fail "NUL in the target: argv leaked"

printf 'GET /debug/pprof/cmdline\0?debug=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$PG_TMP/req"
send_check tls "NUL before the query" 400 ctl_in_request_line '/debug/pprof/cmdline\u0000\u0000debug\u00001'

printf 'GET /metrics\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$PG_TMP/req"
send_check plain "NUL in the target, plain listener" 400 ctl_in_request_line '/metrics\u0000'

# ---- header fields ----
printf 'GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\0junk\r\nConnection: close\r\n\r\n' "$ROUTE" "$GOOD" >"$PG_TMP/req"
send_check anon "NUL in an Authorization value" 400 ctl_in_header

printf 'GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\0\r\nConnection: close\r\n\r\n' "$ROUTE" "$GOOD" >"$PG_TMP/req"
send_check anon "NUL at the end of an Authorization value" 400 ctl_in_header

printf 'GET %s HTTP/1.1\r\nHost: x\r\nX-A\0b: c\r\nConnection: close\r\n\r\n' "$ROUTE" >"$PG_TMP/req"
send_check tls "NUL in a header name" 400 malformed_request

printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\0X-Smuggled: 1\r\nConnection: close\r\n\r\n' >"$PG_TMP/req"
send_check plain "NUL starting a header line (read as the end of the headers)" 400 ctl_in_header

printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n' >"$PG_TMP/req"
send_check plain "obs-fold continuation line" 400 malformed_request

printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\033[31m\r\nConnection: close\r\n\r\n' >"$PG_TMP/req"
send_check plain "ESC in a header value" 400 ctl_in_header

BEFORE=$(audit_lines)
GOT=$(curl -s --max-time 10 --cacert "$D/ca.crt" -o "$PG_TMP/out" -w '%{http_code}' \
	-H "Authorization: Bearer $GOOD" -H "Authorization: Bearer $EXPIRED" "$URL$ROUTE" || true)
check "two Authorization headers" 400 duplicate_authorization
grep -q "Authorization" "$PG_TMP/out" || fail "two Authorization headers: body $(cat "$PG_TMP/out")"
BEFORE=$(audit_lines)
GOT=$(curl -s --max-time 10 --cacert "$D/ca.crt" -o "$PG_TMP/out" -w '%{http_code}' \
	-H "Authorization: Bearer $GOOD" -H "Authorization: Bearer $GOOD" "$URL$ROUTE" || true)
check "the same Authorization header twice" 400 duplicate_authorization
GOT=""

# The good token alone still works, so the refusals above are about the bytes.
[ "$(curl -s --max-time 10 --cacert "$D/ca.crt" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GOOD" "$URL$ROUTE")" = 200 ] ||
	fail "the good token is refused"

# ---- libmicrohttpd's own limits ----
{ printf 'GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' "$ROUTE"; head -c 65536 /dev/zero | tr '\0' 'A'; printf '\r\nConnection: close\r\n\r\n'; } >"$PG_TMP/req"
send_check tls "64 KiB Authorization header" 431 header_too_large "$ROUTE"

{ printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n'; for i in $(seq 1 2000); do printf 'X-%d: y\r\n' "$i"; done; printf 'Connection: close\r\n\r\n'; } >"$PG_TMP/req"
send_check tls "2000 headers" 431 header_too_large /metrics

# ---- refused before the request line was parsed (plain listener) ----
{ printf 'GET /'; head -c 40000 /dev/zero | tr '\0' 'a'; printf ' HTTP/1.1\r\nHost: x\r\n\r\n'; } >"$PG_TMP/req"
send_check plain "40 KB request line (libmicrohttpd's 414)" 414 bad_request_line
printf 'GARBAGE\r\n\r\n' >"$PG_TMP/req"
send_check plain "request line without a target (dropped by libmicrohttpd)" 000 bad_request_line
printf 'GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n' >"$PG_TMP/req"
send_check plain "HTTP/2.0 request line (libmicrohttpd's 505)" 505 bad_request_line

# ---- spellings of /debug/pprof: refused and audited ----
for spec in "/DEBUG/PPROF/heap 404 not_found" "/%64ebug/pprof/heap 400 bad_path" "/debug/pprof/heap/ 404 not_found" \
	"/favicon.ico 404 not_found"; do
	set -- $spec
	BEFORE=$(audit_lines)
	GOT=$(curl -s --path-as-is --max-time 10 --cacert "$D/ca.crt" -o "$PG_TMP/out" -w '%{http_code}' "$URL$1" || true)
	check "$1" "$2" "$3" "$1"
done
BEFORE=$(audit_lines)
GOT=$(curl -s --max-time 10 -o "$PG_TMP/out" -w '%{http_code}' -X DELETE "http://127.0.0.1:$M/metrics" || true)
check "DELETE /metrics on the plain listener" 405 method_not_allowed /metrics
GOT=""

# Successful public requests stay out of the audit (audit_public_success: false).
BEFORE=$(audit_lines)
[ "$(curl -s --max-time 10 --cacert "$D/ca.crt" -o /dev/null -w '%{http_code}' "$URL/metrics")" = 200 ] || fail "/metrics"
[ "$(pg_http_status "http://127.0.0.1:$M/healthz")" = 200 ] || fail "/healthz"
sleep 0.3
[ "$(audit_lines)" = "$BEFORE" ] || fail "successful public requests audited: $(tail -1 "$AUDIT")"

# ---- TLS ----
echo | timeout 10 openssl s_client -connect "127.0.0.1:$H" -CAfile "$D/ca.crt" -tls1_3 -groups X25519 >"$PG_TMP/x25519" 2>&1 ||
	fail "TLS 1.3 with X25519 refused: $(tail -3 "$PG_TMP/x25519")"
grep -q "Server Temp Key: X25519" "$PG_TMP/x25519" || fail "X25519 not negotiated: $(grep -i 'temp key' "$PG_TMP/x25519")"
for g in P-256 P-384; do
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$H" -CAfile "$D/ca.crt" -tls1_3 -groups "$g" >/dev/null 2>&1 ||
		fail "TLS 1.3 with $g refused"
done
echo "ok: TLS 1.3 with X25519, P-256, P-384"
for g in ffdhe2048 ffdhe8192 X448 P-521; do
	BEFORE=$(audit_lines)
	if echo | timeout 10 openssl s_client -connect "127.0.0.1:$H" -CAfile "$D/ca.crt" -tls1_3 -groups "$g" >"$PG_TMP/out.err" 2>&1; then
		fail "TLS 1.3 with $g accepted"
	fi
	GOT=000
	check "handshake offering only $g" 000 tls_handshake_failed
	GOT=""
done
HS_FAILS=$(curl -s --max-time 10 --cacert "$D/ca.crt" "$URL/metrics" | awk '/^pprofgate_tls_handshake_failures_total /{print $2}')
[ "${HS_FAILS:-0}" -ge 4 ] || fail "pprofgate_tls_handshake_failures_total = '${HS_FAILS:-}', want >= 4"

# A connection that sends nothing is neither a request nor a failed handshake.
BEFORE=$(audit_lines)
(exec 3<>"/dev/tcp/127.0.0.1/$H"; sleep 0.2; exec 3>&-)
(exec 3<>"/dev/tcp/127.0.0.1/$M"; sleep 0.2; exec 3>&-)
sleep 0.3
[ "$(audit_lines)" = "$BEFORE" ] || fail "an empty connection was audited: $(tail -1 "$AUDIT")"

# Plain HTTP on the HTTPS port: Go's answer.
BEFORE=$(audit_lines)
printf 'GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n\r\n' >"$PG_TMP/req"
plain_raw "$PG_TMP/req" "$H"
check "plain HTTP on the HTTPS port" 400 http_on_https_port /debug/pprof/heap
grep -q "Client sent an HTTP request to an HTTPS server." "$PG_TMP/out" || fail "plain HTTP on the HTTPS port: $(cat "$PG_TMP/out")"
BEFORE=$(audit_lines)
GOT=$(curl -s --max-time 10 -o "$PG_TMP/out" -w '%{http_code}' "http://127.0.0.1:$H/metrics" || true)
check "curl http:// to the HTTPS port" 400 http_on_https_port /metrics
GOT=""

# The node is still fine.
[ "$(curl -s --max-time 10 --cacert "$D/ca.crt" -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] || fail "node unhealthy after the run"

# ---- refusals are counted ----
curl -s --max-time 10 --cacert "$D/ca.crt" "$URL/metrics" >"$PG_TMP/metrics"
for r in ctl_in_request_line ctl_in_header duplicate_authorization header_too_large not_found bad_path http_on_https_port; do
	grep -q "^pprofgate_diag_requests_total{.*decision=\"deny\",reason=\"$r\"}" "$PG_TMP/metrics" ||
		fail "pprofgate_diag_requests_total has no $r series"
done

# ---- the log: audited refusals are not warnings ----
grep -E 'WARN|warn' "$PG_TMP/node.log" | grep -E 'libmicrohttpd' >"$PG_TMP/warns" || true
[ -s "$PG_TMP/warns" ] && fail "libmicrohttpd warnings in the log: $(head -3 "$PG_TMP/warns")"
n=$(grep -c "TLS handshake with 127.0.0.1 failed" "$PG_TMP/node.log" || true)
[ "$n" = 4 ] || fail "$n debug lines for the 4 failed handshakes"
grep -q "out of context" "$PG_TMP/node.log" && fail "libmicrohttpd's misleading handshake line is still logged"
# Only the four refused handshakes are handshake failures (the many good
# TLS connections above are not).
n=$(grep -c '"reason":"tls_handshake_failed"' "$AUDIT" || true)
[ "$n" = 4 ] || fail "$n tls_handshake_failed audit lines, want 4"

pg_stop "$NODE" || true
echo "audit lines: $(audit_lines)"
[ "$FAILS" = 0 ] || { echo "--- node log (tail)"; tail -20 "$PG_TMP/node.log"; echo "--- audit"; cat "$AUDIT"; pg_fail "$FAILS check(s) failed"; }
pg_pass "boundary"
