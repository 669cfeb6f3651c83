#!/usr/bin/env bash
# Diagnostics windows end to end with the real binaries and a real etcd:
# the admin API over mTLS, pprofgatectl, cluster windows through etcd leases,
# audit lines and /metrics. Follows docs/operations.md ("Step N" below).
#
# The nodes run the secured gateway (HTTPS, mTLS or JWT) with the default
# require_window (auto): profiles answer only while a window is open.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
BIN="$PG_BUILD_DIR/pprofgate"
CTL="$PG_BUILD_DIR/pprofgatectl"
[ -x "$BIN" ] && [ -x "$CTL" ] || pg_fail "build pprofgate and pprofgatectl first"
T="$PG_TMP"

# ---- Step 1: the PKI ----
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$T/pki" --test-extras >/dev/null || pg_fail "gen-dev-pki.sh failed"
P="$T/pki"
pg_pass "step 1: dev PKI made"

pg_etcd_start
ALLOW="cn:admin,uri:spiffe://pprofgate.local/admin"

# start_node NAME -> sets ${NAME}_PID, ${NAME}_ADMINP, ${NAME}_HTTPP (HTTPS),
# ${NAME}_PLAIN (plain /metrics); ports are kept across restarts.
start_node() {
	local name="$1" g h a m
	g=$(eval echo "\${${name}_GRPC:-}"); [ -n "$g" ] || g=$(pg_free_port)
	h=$(eval echo "\${${name}_HTTPP:-}"); [ -n "$h" ] || h=$(pg_free_port)
	a=$(eval echo "\${${name}_ADMINP:-}"); [ -n "$a" ] || a=$(pg_free_port)
	m=$(eval echo "\${${name}_PLAIN:-}"); [ -n "$m" ] || m=$(pg_free_port)
	cat >"$T/$name.yaml" <<YAML
version: 1
cluster:
  shards: 64
  provider: etcd
  etcd:
    endpoints: ["$ETCD_EP"]
    prefix: /wintest
nodes:
  - id: $name
    grpc_addr: 127.0.0.1:$g
    advertise_addr: 127.0.0.1:$g
    http_addr: 127.0.0.1:$h
admin:
  listen: 127.0.0.1:$a
  allowed_identities: "$ALLOW"
  tls:
    cert_file: $P/server.crt
    key_file: $P/server.key
    client_ca_file: $P/ca.crt
  window:
    max_seconds: 600
    min_capture_seconds: ${MINCAP:-1}
    cluster_grace_seconds: 3
diagnostics:
  tls_server_config:
    cert_file: $P/server.crt
    key_file: $P/server.key
    client_ca_file: $P/ca.crt
  client_identities:
    - "cn:admin pprof:admin"
  jwt:
    issuer: pprofgate-dev
    audience: pprofgate
    keys:
      - {alg: RS256, file: $P/jwt-rs256.pub}
  groups:
    pprof:
      auth: mtls or jwt
  plain_listen: 127.0.0.1:$m
YAML
	pg_start "$name" "$BIN" --config "$T/$name.yaml" --node-id "$name"
	eval "${name}_PID=$PG_PID ${name}_GRPC=$g ${name}_HTTPP=$h ${name}_ADMINP=$a ${name}_PLAIN=$m"
	pg_wait_for_port "$a" 10 || { cat "$T/$name.log" >&2; pg_fail "$name admin did not start"; }
	pg_wait_for_port "$h" 10 || pg_fail "$name http did not start"
	pg_wait_for_port "$m" 10 || pg_fail "$name plain listener did not start"
}

# ctl NODE ARGS... : pprofgatectl as the admin against NODE's admin API
ctl() {
	local name="$1"; shift
	PPROFGATE_CERT="$P/admin.crt" PPROFGATE_KEY="$P/admin.key" PPROFGATE_CACERT="$P/ca.crt" \
		"$CTL" --admin "127.0.0.1:$(eval echo "\$${name}_ADMINP")" "$@"
}
metric() { # NODE NAME
	curl -s --max-time 2 "http://127.0.0.1:$(eval echo "\$${1}_PLAIN")/metrics" |
		awk -v n="$2" '$1 == n { print $2 }'
}
# wait_closed NODE SECONDS -> prints the ms it took
wait_state() { # NODE open|closed SECONDS
	local t0; t0=$(pg_now_ms)
	while :; do
		ctl "$1" window status 2>/dev/null | grep -q "^window: $2" && { echo $(($(pg_now_ms) - t0)); return 0; }
		(($(pg_now_ms) - t0 > $3 * 1000)) && return 1
		sleep 0.1
	done
}

start_node A
# B refuses captures when less than 5 s of its window are left, so a
# window_too_short refusal can be asked for without racing the clock.
MINCAP=5 start_node B

# Closed at start.
out=$(ctl A window status) || pg_fail "status failed: $out"
[ "$out" = "window: closed" ] || pg_fail "window not closed at start: $out"
[ "$(metric A pprofgate_diag_window_open)" = 0 ] || pg_fail "metric open != 0 at start"
pg_pass "window closed at start"

# Client certificates are judged per call by auth/x509 (the HTTP gate's
# check), so every bad one reaches the call and is refused with a reason and
# an audit line carrying the peer address. A Python gRPC client presents each
# certificate as is (pprofgatectl would refuse to send most of them).
cat >"$T/probe.py" <<'PY'
import grpc, sys
ca, target = sys.argv[1], sys.argv[2]
for name in sys.argv[3:]:
    rd = lambda p: open(p, "rb").read()
    creds = (grpc.ssl_channel_credentials(rd(ca)) if name == "-" else
             grpc.ssl_channel_credentials(rd(ca), rd(name + ".key"), rd(name + ".crt")))
    with grpc.secure_channel(target, creds) as ch:
        try:
            ch.unary_unary("/pprofgate.admin.v1.Diagnostics/GetWindow")(b"", timeout=5)
            print(name.rsplit("/", 1)[-1], "OK")
        except grpc.RpcError as e:
            print(name.rsplit("/", 1)[-1], e.code().name, e.details())
PY
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$T/pki2" >/dev/null
"$PG_PY" "$T/probe.py" "$P/ca.crt" "127.0.0.1:$A_ADMINP" "$P/admin" "$P/expired-client" "$P/future-client" \
	"$P/rogue-client" "$P/selfsigned-client" "$P/ca-client" "$P/serveronly-client" "$T/pki2/admin" - \
	>"$T/probe.out" 2>&1 || { cat "$T/probe.out" >&2; pg_fail "probe.py failed"; }
while read -r name want; do
	grep -q "^$name $want" "$T/probe.out" || pg_fail "admin API with $name: want $want: $(cat "$T/probe.out")"
done <<'WANT'
admin OK
expired-client UNAUTHENTICATED client certificate refused: the certificate has expired
future-client UNAUTHENTICATED client certificate refused: the certificate is not valid yet
rogue-client UNAUTHENTICATED client certificate refused: the certificate is not signed by a trusted CA
selfsigned-client UNAUTHENTICATED client certificate refused: the certificate is not signed by a trusted CA
ca-client UNAUTHENTICATED client certificate refused: the certificate is a CA certificate (CA:TRUE)
serveronly-client UNAUTHENTICATED client certificate refused: the certificate's extended key usage
- UNAUTHENTICATED client certificate refused: no client certificate was presented
WANT
# pki2's admin certificate has the same names as ours from another CA.
[ "$(grep -c '^admin ' "$T/probe.out")" = 2 ] && grep -q '^admin UNAUTHENTICATED.*not signed by a trusted CA' "$T/probe.out" ||
	pg_fail "another CA's admin certificate: $(cat "$T/probe.out")"
for r in cert_expired cert_not_yet_valid cert_untrusted cert_is_ca cert_bad_purpose cert_missing; do
	grep -q "\"event\":\"denied\",\"identity\":\"-\",\"reason\":\"$r\".*\"peer\":\"ipv4:127.0.0.1:[0-9]*\",\"detail\":\"GetWindow: client certificate refused: " "$T/A.log" ||
		pg_fail "no audit line with peer for $r: $(grep denied "$T/A.log")"
done
[ "$(ctl A window status)" = "window: closed" ] || pg_fail "a refused certificate changed the window"
pg_pass "admin API refuses expired, not-yet-valid, other-CA, self-signed, CA:TRUE, serverAuth-only and missing certificates per call, each audited with reason and peer"

# pprofgatectl checks its own certificate before connecting and says what is
# wrong; what it cannot judge (another CA) the admin API refuses and the CLI
# shows the reason. No client certificate at all: usage (exit 2).
rc=0; "$CTL" --admin "127.0.0.1:$A_ADMINP" --cacert "$P/ca.crt" window status 2>/dev/null || rc=$?
[ "$rc" = 2 ] || pg_fail "window without client cert: exit $rc, want 2 (usage: mTLS required)"
cli_refused() { # CERT WANT-EXIT WANT-TEXT
	local rc=0 err
	err=$("$CTL" --admin "127.0.0.1:$A_ADMINP" --cert "$1.crt" --key "$1.key" --cacert "$P/ca.crt" \
		window open --for 5s --reason refused 2>&1) || rc=$?
	[ "$rc" = "$2" ] || pg_fail "pprofgatectl with $1: exit $rc, want $2: $err"
	case "$err" in *"$3"*) ;; *) pg_fail "pprofgatectl with $1 says: $err (want: $3)" ;; esac
}
n_denied=$(grep -c '"event":"denied"' "$T/A.log")
cli_refused "$P/ca-client" 3 "your client certificate $P/ca-client.crt is not usable: the certificate is a CA certificate (CA:TRUE)"
cli_refused "$P/expired-client" 3 "is not usable: the certificate has expired (cert_expired)"
cli_refused "$P/serveronly-client" 3 "does not allow TLS client authentication (clientAuth)"
[ "$(grep -c '"event":"denied"' "$T/A.log")" = "$n_denied" ] || pg_fail "the CLI sent a certificate it knew was bad"
cli_refused "$T/pki2/admin" 3 "the admin API at 127.0.0.1:$A_ADMINP refused the call: client certificate refused: the certificate is not signed by a trusted CA"
grep -q '"reason":"cert_untrusted".*"detail":"OpenWindow: client certificate refused' "$T/A.log" || pg_fail "no audit line for the CLI's other-CA call"
# A non-admin client certificate (operator, same CA) cannot open it: exit 3.
cli_refused "$P/operator" 3 "uri:spiffe://pprofgate.local/operator is not an allowed admin identity"
grep -q '"event":"denied","identity":"uri:spiffe://pprofgate.local/operator","reason":"identity_not_allowed".*"peer":"ipv4:127.0.0.1:' "$T/A.log" ||
	pg_fail "no denied audit line for the operator"
[ "$(ctl A window status)" = "window: closed" ] || pg_fail "window opened by the operator"
# Bytes that are not TLS never reach a call: counted and audited (no peer known).
curl -s -m 2 -o /dev/null "http://127.0.0.1:$A_ADMINP/" || true
for ((i = 0; i < 30; i++)); do grep -q '"reason":"tls_handshake_failed"' "$T/A.log" && break; sleep 0.1; done
grep -q '"reason":"tls_handshake_failed","node":"[^"]*","peer":"-","detail":"1 failed TLS handshake' "$T/A.log" ||
	pg_fail "no audit line for a failed admin handshake"
[ "$(metric A pprofgate_admin_tls_handshake_failures_total)" -ge 1 ] || pg_fail "handshake failures not counted"
pg_pass "pprofgatectl names what is wrong with its own certificate (3) and shows the node's refusals (3); failed handshakes audited and counted"

# Beyond admin.window.max_seconds: INVALID_ARGUMENT -> exit 2.
rc=0; ctl A window open --for 11m --reason long 2>/dev/null || rc=$?
[ "$rc" = 2 ] || pg_fail "a window beyond the max opened: exit $rc"
rc=0; ctl A window open --for 5s 2>/dev/null || rc=$?
[ "$rc" = 2 ] || pg_fail "open without --reason: exit $rc, want 2"
pg_pass "duration bound and required reason"

# While closed, an authenticated request is refused with window_closed; an
# anonymous one only learns that it needs credentials.
MTLS=(--cert "$P/admin.crt" --key "$P/admin.key" --cacert "$P/ca.crt")
A_URL="https://127.0.0.1:$A_HTTPP/debug/pprof"
c=$(curl -s -o "$T/body" -w '%{http_code}' "${MTLS[@]}" "$A_URL/goroutine")
[ "$c" = 403 ] && grep -q window_closed "$T/body" || pg_fail "closed window: goroutine gave $c $(cat "$T/body")"
c=$(curl -s -o "$T/body" -w '%{http_code}' --cacert "$P/ca.crt" "$A_URL/goroutine")
[ "$c" = 401 ] && ! grep -q window "$T/body" || pg_fail "anonymous while closed: $c $(cat "$T/body")"
rc=0; "$CTL" --node "127.0.0.1:$A_HTTPP" "${MTLS[@]}" fetch goroutine -o "$T/closed.pb.gz" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || pg_fail "fetch while closed: exit $rc, want 3"
pg_pass "window closed: authenticated 403 window_closed, anonymous 401, fetch exit 3"

# ---- Step 2: open the window (W s here: long enough for steps 3 and 4,
# which run several times slower in the sanitizer build) ----
W=15
case "$(ldd "$BIN")" in *libasan*) W=45 ;; esac
out=$(ctl A window open --for ${W}s --reason "INC-1 test" --profiles profile,trace,goroutine,cmdline) || pg_fail "open failed: $out"
t_open=$(pg_now_ms)
grep -q "^window: open (this node)" <<<"$out" || pg_fail "open reply: $out"
out=$(ctl A window status)
grep -q "^opened by: cn:admin$" <<<"$out" || pg_fail "status opener: $out"
grep -q "^reason: INC-1 test$" <<<"$out" || pg_fail "status reason: $out"
tl=$(echo "$out" | sed -n 's/^time left: \([0-9]*\)s$/\1/p')
[ -n "$tl" ] && ((tl >= 1 && tl <= W)) || pg_fail "status time left: $out"
grep -q "^profiles: profile,trace,goroutine,cmdline$" <<<"$out" || pg_fail "status profiles: $out"
[ "$(metric A pprofgate_diag_window_open)" = 1 ] || pg_fail "metric open != 1"
left=$(metric A pprofgate_diag_window_seconds_left)
[ "$left" -ge 1 ] && [ "$left" -le "$W" ] || pg_fail "seconds_left = $left"
[ "$(metric A 'pprofgate_diag_window_opens_total{identity="cn:admin"}')" = 1 ] || pg_fail "opens_total"
grep -q '"event":"open","identity":"cn:admin","reason":"INC-1 test","duration_s":'"$W"'.000,"scope":"node"' "$T/A.log" ||
	pg_fail "no open audit line"
[ "$(ctl B window status)" = "window: closed" ] || pg_fail "a node window leaked to B"
pg_pass "step 2: window open --for ${W}s: status shows opener, reason, time left; metrics and audit"

# ---- Step 3: fetch from the node (mTLS, then a minted token) ----
# A CPU capture shows the countdown; the sanitizer build has no CPU profiler
# (501), so there the countdown is shown by a trace capture instead.
CAP=profile
[ "$(curl -s -o /dev/null -w '%{http_code}' "${MTLS[@]}" "$A_URL/profile?seconds=1")" = 501 ] && CAP=trace
rm -f "$T/cap.out"
out=$("$CTL" --node "127.0.0.1:$A_HTTPP" "${MTLS[@]}" \
	fetch $CAP --seconds 2 -o "$T/cap.out" 2>"$T/fetch.err") || { cat "$T/fetch.err" >&2; pg_fail "mTLS fetch $CAP failed"; }
if [ "$CAP" = trace ]; then
	# A trace is not a pprof profile: fetch names the viewer instead.
	[ -z "$out" ] && grep -q "ui.perfetto.dev" "$T/fetch.err" || pg_fail "fetch trace did not name its viewer: $out"
else
	[ "$out" = "go tool pprof $T/cap.out" ] || pg_fail "fetch did not suggest go tool pprof: $out"
fi
grep -q "capturing: [12]s left" "$T/fetch.err" || pg_fail "no countdown on stderr: $(cat "$T/fetch.err")"
[ -s "$T/cap.out" ] || pg_fail "fetched file empty"
ls "$T"/cap.out.tmp.* >/dev/null 2>&1 && pg_fail "temporary file left behind"
"$CTL" --node "127.0.0.1:$A_HTTPP" "${MTLS[@]}" fetch goroutine -o "$T/threads.pb.gz" >/dev/null 2>&1 ||
	pg_fail "mTLS fetch goroutine failed"
rc=0; "$CTL" --node "127.0.0.1:$A_HTTPP" --cacert "$P/ca.crt" fetch goroutine -o "$T/x" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || pg_fail "fetch without credentials: exit $rc, want 3"
[ -e "$T/x" ] && pg_fail "a failed fetch left its output file"
pg_pass "step 3: fetch $CAP with mTLS: countdown, atomic write, go tool pprof hint"

TOKEN=$("$CTL" token mint --key "$P/jwt-rs256.key" --alg RS256 --sub alice \
	--scope "pprof:read pprof:sensitive" --aud pprofgate --iss pprofgate-dev --ttl 10m) || pg_fail "token mint failed"
echo "$TOKEN" | "$CTL" token verify --key "$P/jwt-rs256.pub" --alg RS256 --aud pprofgate --iss pprofgate-dev |
	grep -q '^valid: sub=alice scope="pprof:read pprof:sensitive" alg=RS256' || pg_fail "minted RS256 token does not verify"
for a in ES256:jwt-es256.key:jwt-es256.pub HS256:jwt-hs256.secret:jwt-hs256.secret; do
	IFS=: read -r alg priv pub <<<"$a"
	"$CTL" token mint --key "$P/$priv" --alg "$alg" --sub bob --aud pprofgate --ttl 1m |
		"$CTL" token verify --key "$P/$pub" --alg "$alg" --aud pprofgate >/dev/null || pg_fail "$alg token does not verify"
done
rc=0; echo "$TOKEN" | "$CTL" token verify --key "$P/jwt-es256.pub" --alg ES256 >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || pg_fail "RS256 token verified with the ES256 key: exit $rc"
PPROFGATE_TOKEN="$TOKEN" "$CTL" --node "127.0.0.1:$A_HTTPP" --cacert "$P/ca.crt" fetch goroutine -o "$T/token.pb.gz" >/dev/null 2>&1 ||
	pg_fail "token fetch failed"
[ -s "$T/token.pb.gz" ] || pg_fail "token fetch: empty file"
rc=0; err=$(PPROFGATE_TOKEN="x.y.z" "$CTL" --node "127.0.0.1:$A_HTTPP" --cacert "$P/ca.crt" fetch goroutine -o "$T/y" 2>&1) || rc=$?
[ "$rc" = 3 ] || pg_fail "bad token: exit $rc, want 3"
case "$err" in *"HTTP 401"*) ;; *) pg_fail "refusal line: $err" ;; esac
rc=0; PPROFGATE_TOKEN="$TOKEN" "$CTL" --node "127.0.0.1:$A_HTTPP" fetch goroutine -o "$T/y" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || pg_fail "token sent over plain http? exit $rc"
rc=0; "$CTL" --node "127.0.0.1:$(pg_free_port)" fetch heap -o "$T/y" 2>/dev/null || rc=$?
[ "$rc" = 4 ] || pg_fail "unreachable node: exit $rc, want 4"
pg_pass "step 3: token mint (RS256/ES256/HS256) verifies with auth/jwt; fetch with the token; exit codes 2/3/4"

# ---- Step 4: go tool pprof reads what fetch wrote ----
gp() { HOME="$T" GOCACHE="$T/gocache" PPROF_TMPDIR="$T/pprof" timeout 60 go tool pprof -top "$@" 2>&1; }
if [ "$CAP" = profile ]; then
	out=$(gp "$T/cap.out") || pg_fail "go tool pprof (cpu) failed: $out"
	case "$out" in *"Type: cpu"*) ;; *) pg_fail "go tool pprof cpu output: $out" ;; esac
else
	"$PG_PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/cap.out" || pg_fail "trace is not JSON"
fi
for f in threads.pb.gz token.pb.gz; do
	out=$(gp "$T/$f") || pg_fail "go tool pprof $f failed: $out"
	case "$out" in *"Type: goroutine"*) ;; *) pg_fail "go tool pprof $f output: $out" ;; esac
done
pg_pass "step 4: go tool pprof reads the fetched profiles"

# Steps 3 and 4 may have used most of that window on a loaded machine (the
# sanitizer build runs them several times slower): the checks below, which
# need the window open and then time its expiry, get a fresh one.
ctl A window close >/dev/null || pg_fail "close before the expiry checks"
W=10
case "$(ldd "$BIN")" in *libasan*) W=20 ;; esac
ctl A window open --for ${W}s --reason "INC-1 test" --profiles profile,trace,goroutine,cmdline >/dev/null ||
	pg_fail "reopen for the expiry checks failed"
t_open=$(pg_now_ms)

# While open, curl fetches too; after expiry the same request is refused.
c=$(curl -s -o /dev/null -w '%{http_code}' "${MTLS[@]}" "$A_URL/cmdline")
[ "$c" = 200 ] || pg_fail "curl during the window: $c"
# A capture asked to run past the window is shortened to end with it, and
# the answer says so.
c=$(curl -s -D "$T/hdrs" -o "$T/trace.json" -w '%{http_code}' "${MTLS[@]}" "$A_URL/trace?seconds=60")
[ "$c" = 200 ] || pg_fail "trace past the window: $c $(head -c 300 "$T/trace.json")"
grep -qi '^X-Pprofgate-Capture: shortened from 60 s to [0-9]* s' "$T/hdrs" ||
	pg_fail "no shortened-capture header: $(cat "$T/hdrs")"
pg_pass "a 60 s capture in a $W s window is shortened to the window ($(grep -i '^X-Pprofgate-Capture:' "$T/hdrs" | tr -d '\r'))"

# Then the window is closed with no action.
ms=$(wait_state A closed $((W + 3))) || pg_fail "window still open $((W + 3)) s after a $W s open"
elapsed=$(($(pg_now_ms) - t_open))
((elapsed >= W * 1000 - 500)) || pg_fail "window closed early, after $elapsed ms"
[ "$(metric A pprofgate_diag_window_open)" = 0 ] || pg_fail "metric open != 0 after expiry"
grep -q '"event":"expire","identity":"cn:admin"' "$T/A.log" || pg_fail "no expire audit line"
c=$(curl -s -o "$T/body" -w '%{http_code}' "${MTLS[@]}" "$A_URL/cmdline")
[ "$c" = 403 ] && grep -q window_closed "$T/body" || pg_fail "after expiry: $c $(cat "$T/body")"
pg_pass "closed by itself after $elapsed ms ($W s window); expire audited; curl refused again"

# ---- Step 5: close closes at once ----
ctl A window open --for 5m --reason "to close" >/dev/null || pg_fail "open for close"
out=$(ctl A window close) || pg_fail "close failed"
[ "$out" = "window: closed" ] || pg_fail "close reply: $out"
[ "$(ctl A window status)" = "window: closed" ] || pg_fail "still open after close"
grep -q '"event":"close","identity":"cn:admin","reason":"to close"' "$T/A.log" || pg_fail "no close audit line"
pg_pass "step 5: window close closes at once"

# fetch in a short window counts down the granted (shortened) capture and
# says so; a refusal prints no countdown. CAP is profile, or trace where
# there is no CPU profiler.
ctl A window open --for 6s --reason "short" >/dev/null || pg_fail "open short window"
t0=$(pg_now_ms)
"$CTL" --node "127.0.0.1:$A_HTTPP" "${MTLS[@]}" fetch $CAP --seconds 30 -o "$T/short.out" 2>"$T/short.err" >/dev/null ||
	{ cat "$T/short.err" >&2; pg_fail "fetch in a short window failed"; }
took=$(($(pg_now_ms) - t0))
grep -q "^pprofgatectl fetch: the node shortened from 30 s to [3-6] s: the diagnostics window closes then" "$T/short.err" ||
	pg_fail "fetch did not say the capture was shortened: $(cat "$T/short.err")"
grep -q "capturing: 30s left\|capturing: 2[0-9]s left\|capturing: [7-9]s left" "$T/short.err" &&
	pg_fail "countdown from the asked 30 s: $(cat "$T/short.err")"
grep -q "capturing: [1-5]s left" "$T/short.err" || pg_fail "no countdown of the granted capture: $(cat "$T/short.err")"
grep -q "^wrote $T/short.out ([0-9]* bytes; a [3-6] s capture, shortened from 30 s" "$T/short.err" ||
	pg_fail "final line: $(cat "$T/short.err")"
((took < 9000)) || pg_fail "a capture shortened to the 6 s window took $took ms"
if [ "$CAP" = profile ]; then
	out=$(HOME="$T" GOCACHE="$T/gocache" PPROF_TMPDIR="$T/pprof" timeout 60 go tool pprof -top "$T/short.out" 2>&1) ||
		pg_fail "go tool pprof on the shortened profile: $out"
	case "$out" in *"Type: cpu"*) ;; *) pg_fail "shortened profile: $out" ;; esac
else
	"$PG_PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/short.out" || pg_fail "shortened trace is not JSON"
fi
pg_pass "fetch --seconds 30 in a 6 s window: told it was shortened, counted down the granted capture, valid $CAP in $took ms"
wait_state A closed 8 >/dev/null || pg_fail "short window did not close"
ctl B window open --for 4s --reason "too short" >/dev/null || pg_fail "open 4 s window on B"
rc=0; "$CTL" --node "127.0.0.1:$B_HTTPP" "${MTLS[@]}" fetch $CAP --seconds 30 -o "$T/tooshort.out" 2>"$T/tooshort.err" >/dev/null || rc=$?
[ "$rc" = 3 ] || pg_fail "fetch in a window about to close: exit $rc: $(cat "$T/tooshort.err")"
grep -q "HTTP 403: window_too_short" "$T/tooshort.err" || pg_fail "refusal: $(cat "$T/tooshort.err")"
grep -q "capturing" "$T/tooshort.err" && pg_fail "countdown before a refusal: $(cat "$T/tooshort.err")"
[ -e "$T/tooshort.out" ] && pg_fail "a refused fetch left its output file"
ctl B window close >/dev/null || pg_fail "close B's short window"
pg_pass "window_too_short: the refusal alone, no countdown"

# ---- Cluster windows ----
out=$(ctl A window open --for 4s --reason "fleet" --cluster) || pg_fail "cluster open: $out"
t_open=$(pg_now_ms)
grep -q "^window: open (cluster)" <<<"$out" || pg_fail "cluster open reply: $out"
ms=$(wait_state B open 3) || pg_fail "cluster window did not reach node B"
ctl B window status | grep -q "^opened by: cn:admin$" || pg_fail "B's opener"
rec=$(pg_etcdctl get --print-value-only /wintest/diagnostics/window)
case "$rec" in *'"reason":"fleet"'*'"duration_ms":4000'*) ;; *) pg_fail "etcd record: $rec" ;; esac
lease=$(pg_etcdctl get -w json /wintest/diagnostics/window | "$PG_PY" -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0].get("lease",0))')
[ "$lease" != 0 ] || pg_fail "the cluster record has no lease"
pg_pass "cluster window opened through A reached B in ${ms} ms; record in etcd with a lease"
wait_state A closed 8 >/dev/null || pg_fail "A still open after lease expiry"
wait_state B closed 3 >/dev/null || pg_fail "B still open after lease expiry"
elapsed=$(($(pg_now_ms) - t_open))
# Each node closes at the record's deadline; etcd drops the key when it
# expires the lease (its expiry checks run every ~500 ms).
for ((i = 0; i < 50; i++)); do
	[ -z "$(pg_etcdctl get --print-value-only /wintest/diagnostics/window)" ] && break
	sleep 0.1
done
[ -z "$(pg_etcdctl get --print-value-only /wintest/diagnostics/window)" ] || pg_fail "record still in etcd 5 s after expiry"
grep -q '"event":"close".*"scope":"cluster"' "$T/B.log" || grep -q '"event":"expire".*"scope":"cluster"' "$T/B.log" ||
	pg_fail "no cluster close audit on B"
pg_pass "cluster window closed on both nodes at lease expiry (${elapsed} ms after a 4 s open)"

ctl A window open --for 5m --reason "fleet 2" --cluster >/dev/null || pg_fail "cluster open 2"
wait_state B open 3 >/dev/null || pg_fail "cluster window 2 did not reach B"
ctl B window close --cluster >/dev/null || pg_fail "cluster close through B"
wait_state A closed 3 >/dev/null || pg_fail "A still open after close --cluster through B"
[ "$(ctl B window status)" = "window: closed" ] || pg_fail "B still open after its close --cluster"
pg_pass "close --cluster through B revokes the lease: both closed"

# etcd gone (frozen): a cluster window still closes at its own deadline (fail closed).
ctl A window open --for 3s --reason "etcd will hang" --cluster >/dev/null || pg_fail "cluster open 3"
wait_state B open 3 >/dev/null || pg_fail "cluster window 3 did not reach B"
kill -STOP "$ETCD_PID"
t0=$(pg_now_ms)
wait_state A closed 6 >/dev/null || { kill -CONT "$ETCD_PID"; pg_fail "A open past its deadline without etcd"; }
wait_state B closed 2 >/dev/null || { kill -CONT "$ETCD_PID"; pg_fail "B open past its deadline without etcd"; }
kill -CONT "$ETCD_PID"
pg_pass "etcd frozen: both nodes closed the cluster window at its deadline ($(($(pg_now_ms) - t0)) ms)"

# The lease going away (revoked behind the admin API's back) closes every node.
ctl A window open --for 5m --reason "lease test" --cluster >/dev/null || pg_fail "cluster open 4"
wait_state B open 5 >/dev/null || pg_fail "cluster window 4 did not reach B"
lease=$(pg_etcdctl get -w json /wintest/diagnostics/window | "$PG_PY" -c 'import json,sys; print("%x" % int(json.load(sys.stdin)["kvs"][0]["lease"]))')
pg_etcdctl lease revoke "$lease" >/dev/null || pg_fail "etcdctl lease revoke"
wait_state A closed 3 >/dev/null || pg_fail "A open after its lease was revoked"
wait_state B closed 3 >/dev/null || pg_fail "B open after its lease was revoked"
pg_pass "lease revoked in etcd: both nodes closed"

# etcd down: `window close --cluster` closes the node asked at once and says
# etcd failed (exit 6); a node that cannot confirm its cluster window with
# etcd closes it within the grace (3 s here), audited.
ctl A window open --for 5m --reason "etcd will die" --cluster >/dev/null || pg_fail "cluster open 5"
wait_state B open 5 >/dev/null || pg_fail "cluster window 5 did not reach B"
pg_etcd_kill
t0=$(pg_now_ms)
rc=0; err=$(ctl A window close --cluster 2>&1) || rc=$?
took=$(($(pg_now_ms) - t0))
[ "$rc" = 6 ] || pg_fail "close --cluster without etcd: exit $rc, want 6: $err"
case "$err" in *"window: closed (this node)"*) ;; *) pg_fail "close --cluster without etcd says: $err" ;; esac
case "$err" in
*"pprofgatectl window: closed on this node; etcd unreachable ("*"): other nodes close their cluster window within 3 s"*) ;;
*) pg_fail "close --cluster without etcd says: $err" ;;
esac
[ "$(ctl A window status)" = "window: closed" ] || pg_fail "A still open after close --cluster without etcd"
# At once: the command's own cost (gRPC start and shutdown in the CLI), no etcd timeout.
((took < 5000)) || pg_fail "close without etcd took $took ms"
rc=0; err=$(ctl A window open --for 1m --reason "no etcd" --cluster 2>&1) || rc=$?
[ "$rc" = 6 ] || pg_fail "open --cluster without etcd: exit $rc, want 6: $err"
case "$err" in *"the admin API at "*" answered, but etcd did not: etcd did not take the cluster window"*) ;; *) pg_fail "open without etcd says: $err" ;; esac
ms=$(wait_state B closed 8) || pg_fail "B kept its cluster window without etcd"
elapsed=$(($(pg_now_ms) - t0))
((elapsed <= 5500)) || pg_fail "B closed after $elapsed ms, grace is 3 s"
grep -q '"event":"close","identity":"cn:admin","reason":"etcd will die".*"scope":"cluster".*"detail":"etcd has not confirmed the cluster window record for' "$T/B.log" ||
	pg_fail "no grace close audit on B"
grep -q '"event":"close_request","identity":"cn:admin","reason":"etcd_unreachable"' "$T/A.log" || pg_fail "no close_request audit on A"
pg_etcd_start
sleep 2
[ "$(ctl A window status)" = "window: closed" ] && [ "$(ctl B window status)" = "window: closed" ] ||
	pg_fail "the record closed while etcd was down reopened a window when etcd came back"
ctl A window close --cluster >/dev/null || pg_fail "close --cluster once etcd is back"
[ -z "$(pg_etcdctl get --print-value-only /wintest/diagnostics/window)" ] || pg_fail "record still in etcd"
pg_pass "etcd down: close --cluster closed A at once (exit 6, etcd named), B closed within the grace (${elapsed} ms); no reopening when etcd returns"

# Restarting a node closes its local window.
ctl A window open --for 5m --reason "before restart" >/dev/null || pg_fail "open before restart"
pg_stop "$A_PID" 10 || pg_fail "node A did not stop cleanly"
grep -q '"event":"close".*"detail":"node stopping"' "$T/A.log" || pg_fail "no close audit at stop"
mv "$T/A.log" "$T/A.log.1"
start_node A
[ "$(ctl A window status)" = "window: closed" ] || pg_fail "window survived a restart"
pg_pass "a restart closes the node's window"

# No admin TLS: the admin API is not served, never in plaintext.
NP=$(pg_free_port); NH=$(pg_free_port)
pg_start noadmin "$BIN" --listen "127.0.0.1:$(pg_free_port)" --http-listen "127.0.0.1:$NH" --etcd "$ETCD_EP" \
	--etcd-prefix /wintest --admin-listen "127.0.0.1:$NP"
pg_wait_for_port "$NH" 10
sleep 0.3
pg_port_closed "$NP" || pg_fail "admin served without TLS"
grep -q "admin API not served" "$T/noadmin.log" || pg_fail "no notice about the admin API"
pg_pass "without admin TLS the admin API is not served (notice logged)"

pg_stop "$A_PID" 10 || pg_fail "A stop"
pg_stop "$B_PID" 10 || pg_fail "B stop"
echo "all window tests passed"
