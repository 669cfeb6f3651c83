#!/usr/bin/env bash
# Integration: the secured diagnostics gateway on the real node.
#
# A node with HTTPS, client certificates requested and JWT keys configured
# under diagnostics:, driven with curl (--cert/--key/--cacert, bearer tokens
# minted here with openssl) and `go tool pprof -tls_cert -tls_key -tls_ca`.
# Every accepted credential works; every refused case gets its status, its
# reason and an audit line; the node keeps serving; SIGHUP swaps the server
# certificate and survives a broken key; a TLS scan (sslscan) finds nothing
# below TLS 1.2 and no non-AEAD cipher; secure defaults refuse to start.
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
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$D" --test-extras >/dev/null
AUDIT="$PG_TMP/audit.log"
P=$(pg_free_port)
H=$(pg_free_port)
M=$(pg_free_port) # plain listener for scrapers
ISS=https://issuer.test
AUD=pprofgate

# ---- tokens (RFC 7515 compact JWS) ----
b64url() { pg_b64url; }
jose() { pg_jose "$1"; }
# mint_rs256 PAYLOAD_JSON -> token
mint_rs256() { pg_mint_rs256 "$D/jwt-rs256.key" "$1"; }
# mint_hs256 PAYLOAD_JSON SECRET_TEXT [KID] -> token
mint_hs256() {
	local h p
	h=$(jose "{\"alg\":\"HS256\",\"typ\":\"JWT\"${3:+,\"kid\":\"$3\"}}")
	p=$(jose "$1")
	printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt "key:$2" -binary | b64url)"
}
now=$(date +%s)
claims() { # scope exp [nbf] [iss] [aud]
	printf '{"sub":"tester","iss":"%s","aud":"%s","scope":"%s","exp":%s%s}' "${4:-$ISS}" "${5:-$AUD}" "$1" "$2" "${3:+,\"nbf\":$3}"
}
TOK_ADMIN=$(mint_rs256 "$(claims 'pprof:admin' $((now + 600)))")
TOK_READ=$(mint_rs256 "$(claims 'pprof:read' $((now + 600)))")
TOK_HS=$(mint_hs256 "$(claims 'pprof:sensitive' $((now + 600)))" "$(tr -d '\n' <"$D/jwt-hs256.secret")" hs)
TOK_EXPIRED=$(mint_rs256 "$(claims 'pprof:admin' $((now - 3600)))")
TOK_EARLY=$(mint_rs256 "$(claims 'pprof:admin' $((now + 7200)) $((now + 3600)))")
TOK_ISS=$(mint_rs256 "$(claims 'pprof:admin' $((now + 600)) '' https://evil.test)")
TOK_AUD=$(mint_rs256 "$(claims 'pprof:admin' $((now + 600)) '' "$ISS" other)")
TOK_NONE="$(jose '{"alg":"none","typ":"JWT"}').$(jose "$(claims 'pprof:admin' $((now + 600)))")."
# HS256 keyed with the RSA public key PEM: the classic alg-confusion forgery.
TOK_CONFUSED=$(mint_hs256 "$(claims 'pprof:admin' $((now + 600)))" "$(cat "$D/jwt-rs256.pub")")
# Tampered: the read-only token's header and signature around an admin payload.
TOK_TAMPERED="${TOK_READ%%.*}.$(jose "$(claims 'pprof:admin' $((now + 600)))").${TOK_READ##*.}"
TOK_HUGE="$(head -c 9000 /dev/zero | tr '\0' 'A')"

# ---- config ----
write_config() { # $1 = pprof allowlist YAML list ("" = none)
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
    min_version: TLS12
  client_identities:
    - "uri:spiffe://pprofgate.local/admin pprof:admin"
    - "uri:spiffe://pprofgate.local/operator pprof:read"
  jwt:
    issuer: $ISS
    audience: $AUD
    clock_skew: 30
    keys:
      - {alg: RS256, file: $D/jwt-rs256.pub}
      - {alg: HS256, kid: hs, file: $D/jwt-hs256.secret}
  groups:
    pprof:
      auth: mtls or jwt
      # This test is about authentication; test_window.sh covers the window.
      require_window: "false"
${1:+      allowlist: $1}
  audit_file: $AUDIT
  plain_listen: 127.0.0.1:$M
EOF
}
write_config ""

pg_start node "$BIN" --config "$PG_TMP/node.yaml" --node-id n1
NODE=$PG_PID
pg_wait_for_port "$H" 20 || { cat "$PG_TMP/node.log" >&2; pg_fail "node did not start"; }

URL="https://127.0.0.1:$H"
# req PATH [curl args...] -> prints status; body in $PG_TMP/body, headers in $PG_TMP/hdrs
req() {
	local path="$1"
	shift
	curl -s --path-as-is --max-time 10 --cacert "$D/ca.crt" -o "$PG_TMP/body" -D "$PG_TMP/hdrs" \
		-w '%{http_code}' "$@" "$URL$path" || true
}
cert() { echo --cert "$D/$1.crt" --key "$D/$1.key"; }
audit_lines() { wc -l <"$AUDIT" 2>/dev/null || echo 0; }

# expect NAME STATUS REASON PATH [curl args...]: status, reason in the body
# and one new audit line carrying that reason.
expect() {
	local name="$1" want="$2" reason="$3" path="$4" before got
	shift 4
	before=$(audit_lines)
	got=$(req "$path" "$@")
	[ "$got" = "$want" ] || { fail "$name: status $got, want $want ($(head -c 200 "$PG_TMP/body"))"; return; }
	if [ -n "$reason" ] && [ "$want" != 200 ]; then
		grep -q "\"reason\":\"$reason\"" "$PG_TMP/body" || fail "$name: body $(head -c 200 "$PG_TMP/body"), want reason $reason"
	fi
	# The audit line is written when the request completes, just after the answer.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ "$(audit_lines)" -gt "$before" ] && break
		sleep 0.05
	done
	if [ "$(audit_lines)" -le "$before" ]; then
		fail "$name: no audit line"
	elif [ -n "$reason" ] && ! tail -n +"$((before + 1))" "$AUDIT" | grep -q "\"reason\":\"$reason\""; then
		fail "$name: audit line without reason $reason: $(tail -1 "$AUDIT")"
	fi
	echo "ok: $name -> $got${reason:+ $reason}"
}

# Which profile routes this build has: a sensitive one (goroutine: heap
# answers 501 in builds without tcmalloc, e.g. the sanitizer build) and a
# read one.
SENS=/debug/pprof/goroutine
READ=/debug/pprof/block
for cand in /debug/pprof/block /debug/pprof/mutex /debug/pprof/threadcreate /debug/pprof/; do
	if [ "$(req "$cand" $(cert admin))" = 200 ]; then READ=$cand; break; fi
done
HAVE_ROUTES=true
if [ "$(req "$SENS" $(cert admin))" = 404 ]; then
	# Only the route-dependent checks are skipped; TLS, paths, reload and
	# secure defaults run anyway.
	echo "SKIP (partly): this build has no $SENS route yet"
	HAVE_ROUTES=false
fi

# ---- open routes; the plain listener has no profiles ----
[ "$(req /metrics)" = 200 ] || fail "/metrics not open"
[ "$(req /healthz)" = 200 ] || fail "/healthz not open"
[ "$(pg_http_status "http://127.0.0.1:$M/metrics")" = 200 ] || fail "plain listener: /metrics"
[ "$(pg_http_status "http://127.0.0.1:$M$SENS")" = 404 ] || fail "plain listener serves $SENS"
[ "$(pg_http_status "http://127.0.0.1:$M/debug/pprof/")" = 404 ] || fail "plain listener serves the index"
echo "ok: plain listener: /metrics 200, profiles 404"

if $HAVE_ROUTES; then
# ---- accepted credentials ----
expect "mTLS admin, sensitive" 200 ok "$SENS" $(cert admin)
expect "mTLS operator, read" 200 ok "$READ" $(cert operator)
expect "RS256 admin token" 200 ok "$SENS" -H "Authorization: Bearer $TOK_ADMIN"
expect "HS256 token with kid" 200 ok "$SENS" -H "Authorization: Bearer $TOK_HS"
expect "RS256 read token, read route" 200 ok "$READ" -H "Authorization: Bearer $TOK_READ"

# ---- refused: tokens ----
expect "no credentials" 401 credentials_missing "$SENS"
grep -qi '^www-authenticate: Bearer' "$PG_TMP/hdrs" || fail "no credentials: no WWW-Authenticate"
expect "alg=none" 401 alg_not_allowed "$SENS" -H "Authorization: Bearer $TOK_NONE"
expect "HS256 with the RSA public key" 401 "" "$SENS" -H "Authorization: Bearer $TOK_CONFUSED"
expect "expired token" 401 token_expired "$SENS" -H "Authorization: Bearer $TOK_EXPIRED"
grep -qi 'error="invalid_token"' "$PG_TMP/hdrs" || fail "expired token: no error=invalid_token"
expect "not-yet-valid token" 401 token_not_yet_valid "$SENS" -H "Authorization: Bearer $TOK_EARLY"
expect "wrong iss" 401 wrong_issuer "$SENS" -H "Authorization: Bearer $TOK_ISS"
expect "wrong aud" 401 wrong_audience "$SENS" -H "Authorization: Bearer $TOK_AUD"
expect "missing scope" 403 scope_missing "$SENS" -H "Authorization: Bearer $TOK_READ"
grep -qi 'insufficient_scope' "$PG_TMP/hdrs" || fail "missing scope: no insufficient_scope"
expect "tampered payload" 401 bad_signature "$SENS" -H "Authorization: Bearer $TOK_TAMPERED"
got=$(req "$SENS" -H "Authorization: Bearer $TOK_HUGE")
{ [ "$got" = 400 ] || [ "$got" = 401 ]; } && grep -q token_too_large "$PG_TMP/body" ||
	fail "token over 8 KiB: $got $(cat "$PG_TMP/body")"

# ---- refused: client certificates ----
expect "operator on a sensitive profile" 403 scope_missing "$SENS" $(cert operator)
expect "self-signed client cert" 403 cert_untrusted "$SENS" $(cert selfsigned-client)
expect "expired client cert" 403 cert_expired "$SENS" $(cert expired-client)
expect "cert from another CA" 403 cert_untrusted "$SENS" $(cert rogue-client)
expect "server-only EKU" 403 cert_bad_purpose "$SENS" $(cert serveronly-client)
fi

# ---- refused: path spellings (never reach a route) ----
expect "dot-dot" 400 "" "/debug/pprof/../pprof/heap" $(cert admin)
expect "double slash" 400 "" "//debug/pprof/heap" $(cert admin)
expect "encoded dots" 400 "" "/debug/pprof/%2e%2e/heap" $(cert admin)
expect "encoded letter" 400 "" "/debug/pprof/%68eap" $(cert admin)

# ---- go tool pprof ----
# Go 1.19's `go tool pprof` fetches http(s) URLs with its own client
# (src/cmd/pprof/pprof.go getProfile) and ignores -tls_cert/-tls_key/-tls_ca
# (those reach only upstream google/pprof's fetcher). So: it is refused
# without credentials even when it trusts our CA (SSL_CERT_FILE), and a
# profile fetched with curl over mTLS opens in it.
if $HAVE_ROUTES && command -v go >/dev/null; then
	before=$(audit_lines)
	if SSL_CERT_FILE="$D/ca.crt" timeout 60 go tool pprof -raw -tls_cert "$D/admin.crt" -tls_key "$D/admin.key" \
		-tls_ca "$D/ca.crt" "$URL$SENS" >"$PG_TMP/pprof.out" 2>"$PG_TMP/pprof.err"; then
		echo "note: go tool pprof sent the client certificate (a pprof with working -tls_cert)"
	else
		grep -q "401\|403\|Unauthorized\|Forbidden" "$PG_TMP/pprof.err" ||
			fail "go tool pprof without credentials: $(tail -2 "$PG_TMP/pprof.err")"
		[ "$(audit_lines)" -gt "$before" ] || fail "go tool pprof refusal not audited"
		echo "ok: go tool pprof without a client certificate refused"
	fi
	[ "$(req "$SENS" $(cert admin))" = 200 ] || fail "curl mTLS fetch of $SENS"
	cp "$PG_TMP/body" "$PG_TMP/profile.pb.gz"
	timeout 60 go tool pprof -raw "$PG_TMP/profile.pb.gz" >"$PG_TMP/pprof.out" 2>"$PG_TMP/pprof.err" ||
		fail "go tool pprof cannot read the profile fetched over mTLS: $(tail -2 "$PG_TMP/pprof.err")"
	echo "ok: profile fetched over mTLS opens in go tool pprof"
fi

# ---- secrets never logged ----
for t in "$TOK_ADMIN" "$TOK_HS" "$TOK_EXPIRED" "$TOK_TAMPERED"; do
	grep -qF "$t" "$AUDIT" "$PG_TMP/node.log" && fail "a token appears in the logs"
	grep -qF "${t##*.}" "$AUDIT" "$PG_TMP/node.log" && fail "a token signature appears in the logs"
done
grep -q "eyJ" "$AUDIT" && fail "base64url JSON (a token?) in the audit log"
[ "$(stat -c %a "$AUDIT")" = 600 ] || fail "audit file mode $(stat -c %a "$AUDIT"), want 600"

# ---- counters ----
if $HAVE_ROUTES; then
curl -s --cacert "$D/ca.crt" "$URL/metrics" >"$PG_TMP/metrics"
grep -q "pprofgate_diag_requests_total{route=\"$SENS\",decision=\"deny\",reason=\"token_expired\"} 1" "$PG_TMP/metrics" ||
	fail "no pprofgate_diag_requests_total for token_expired: $(grep diag_requests "$PG_TMP/metrics" | head -3)"
grep -q 'pprofgate_diag_requests_total{.*decision="allow",reason="ok"}' "$PG_TMP/metrics" || fail "no allow counter"
fi

# ---- TLS scan ----
if command -v sslscan >/dev/null; then
	sslscan --no-colour --no-heartbleed 127.0.0.1:"$H" >"$PG_TMP/sslscan" 2>&1 || true
	grep -Eq 'TLSv1\.[23] +enabled' "$PG_TMP/sslscan" || fail "sslscan saw no TLS 1.2/1.3: $(head -20 "$PG_TMP/sslscan")"
	grep -Eq '(SSLv2|SSLv3|TLSv1\.0|TLSv1\.1) +enabled' "$PG_TMP/sslscan" && fail "sslscan: a protocol below TLS 1.2 is enabled"
	# Accepted suites: every one must be AEAD (GCM or ChaCha20-Poly1305).
	if grep -E '^(Preferred|Accepted)' "$PG_TMP/sslscan" | grep -Ev 'GCM|CHACHA20|POLY1305' | grep -q .; then
		fail "sslscan: non-AEAD cipher accepted: $(grep -E '^(Preferred|Accepted)' "$PG_TMP/sslscan" | grep -Ev 'GCM|CHACHA20|POLY1305' | head -3)"
	fi
	grep -qE '^(Preferred|Accepted)' "$PG_TMP/sslscan" || fail "sslscan listed no cipher"
	echo "ok: sslscan: $(grep -cE '^(Preferred|Accepted)' "$PG_TMP/sslscan") suites, all AEAD, TLS >= 1.2"
else
	fail "sslscan not installed (scripts/deps.sh installs it)"
fi

# ---- allowlist without 127.0.0.1, spoofed X-Forwarded-For (SIGHUP reload) ----
if $HAVE_ROUTES; then
write_config "[10.0.0.0/8]"
kill -HUP "$NODE"
for _ in $(seq 1 50); do
	[ "$(req "$SENS" $(cert admin))" = 403 ] && break
	sleep 0.1
done
expect "IP outside the allowlist" 403 ip_not_allowed "$SENS" $(cert admin)
expect "spoofed X-Forwarded-For" 403 ip_not_allowed "$SENS" $(cert admin) -H "X-Forwarded-For: 10.1.2.3"
write_config ""
kill -HUP "$NODE"
for _ in $(seq 1 50); do
	[ "$(req "$SENS" $(cert admin))" = 200 ] && break
	sleep 0.1
done
expect "allowlist lifted by SIGHUP" 200 ok "$SENS" $(cert admin)
fi

# ---- SIGHUP: new server certificate served; a broken key keeps the old ----
serial() { echo | timeout 5 openssl s_client -connect "127.0.0.1:$H" -CAfile "$D/ca.crt" 2>/dev/null | openssl x509 -noout -serial; }
old_serial=$(serial)
D2="$PG_TMP/pki2"
mkdir -p "$D2"
cp "$D"/ca.crt "$D"/ca.key "$D2"/
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$D2" >/dev/null
cp "$D2/server.crt" "$D/server.crt"
cp "$D2/server.key" "$D/server.key"
chmod 600 "$D/server.key"
kill -HUP "$NODE"
sleep 0.5
new_serial=$(serial)
[ -n "$new_serial" ] && [ "$new_serial" != "$old_serial" ] || fail "SIGHUP: server certificate not swapped ($old_serial -> $new_serial)"
echo "ok: SIGHUP swapped the server certificate ($old_serial -> $new_serial)"
cp "$D/server.key" "$PG_TMP/good.key"
echo "not a key" >"$D/server.key"
kill -HUP "$NODE"
sleep 0.5
grep -q "reload failed" "$PG_TMP/node.log" || fail "broken key: no 'reload failed' in the log"
[ "$(serial)" = "$new_serial" ] || fail "broken key: certificate changed"
[ "$(req /healthz)" = 200 ] || fail "not serving after a failed reload"
$HAVE_ROUTES && expect "serving after a failed reload" 200 ok "$SENS" $(cert admin)
chmod 644 "$D/server.key"
cp "$PG_TMP/good.key" "$D/server.key"
chmod 644 "$D/server.key"
kill -HUP "$NODE"
sleep 0.5
grep -q "chmod 600" "$PG_TMP/node.log" || fail "group-readable key on reload: no chmod 600 hint"
chmod 600 "$D/server.key"
kill -0 "$NODE" || fail "node died"
pg_stop "$NODE" || fail "node did not stop cleanly"

# ---- secure defaults: refuse to start ----
rc=0
"$BIN" --listen "127.0.0.1:$(pg_free_port)" --http-listen "0.0.0.0:$(pg_free_port)" --etcd 127.0.0.1:1 \
	>"$PG_TMP/exposed.log" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "non-loopback HTTP without TLS/auth: exit $rc, want 2"
grep -q "diagnostics.groups.pprof.auth" "$PG_TMP/exposed.log" || fail "refusal does not say what to configure: $(cat "$PG_TMP/exposed.log")"
echo "ok: non-loopback without TLS and auth refused (exit 2)"
chmod 644 "$D/server.key"
write_config ""
rc=0
timeout 10 "$BIN" --config "$PG_TMP/node.yaml" --node-id n1 >"$PG_TMP/mode.log" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "group-readable key: exit $rc, want 2"
grep -q "chmod 600 $D/server.key" "$PG_TMP/mode.log" || fail "group-readable key: message $(cat "$PG_TMP/mode.log")"
echo "ok: group-readable key refused with the fix named"

[ "$FAILS" = 0 ] || pg_fail "$FAILS check(s) failed"
pg_pass "diagnostics gateway"
