#!/usr/bin/env bash
# Integration: TLS session resumption on the HTTPS listener, and that it
# never stands in for the client-certificate check.
#
# A node requires mtls for /debug/pprof. With openssl s_client:
# - a full handshake prefers X25519 and AES-128-GCM and hands out a ticket;
# - a client that presented its certificate resumes with the ticket alone
#   (no certificate sent): "Reused", and the gate still sees and checks the
#   chain the ticket carries (200, the same identity in the audit line);
# - a ticket from a handshake without a certificate resumes, and is refused
#   (403 cert_missing), as is one from a self-signed client certificate
#   (cert_untrusted);
# - after SIGHUP drops the identity from client_identities, the ticket of the
#   earlier allowed client still resumes but is refused (identity_not_allowed):
#   the decision is made per request against the configuration in force;
# - clients that send a ClientHello and then nothing cost the node no CPU
#   while it waits for them.
source "$(dirname "$0")/lib.sh"

BIN="$PG_BUILD_DIR/pprofgate"
[ -x "$BIN" ] || pg_fail "no binary at $BIN"
pg_tmpdir
D="$PG_TMP/pki"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$D" --test-extras >/dev/null
AUDIT="$PG_TMP/audit.log"
G=$(pg_free_port)
H=$(pg_free_port)

config() { # identities-line
	{
		pg_node_yaml "$G" "$H"
		cat <<EOF
diagnostics:
  tls_server_config:
    cert_file: $D/server.crt
    key_file: $D/server.key
    client_ca_file: $D/ca.crt
  audit_file: $AUDIT
  client_identities: [$1]
  groups:
    pprof:
      auth: mtls
      require_window: "false"
EOF
	} >"$PG_TMP/node.yaml"
}
config '"uri:spiffe://pprofgate.local/admin pprof:admin", "cn:operator pprof:read"'
pg_start node "$BIN" --config "$PG_TMP/node.yaml" --node-id n1
NODE=$PG_PID
pg_wait_for_port "$H"

# s_client NAME ARGS... : one GET /debug/pprof/cmdline; output in $PG_TMP/NAME.out
s_client() {
	local name="$1"
	shift
	{ printf 'GET /debug/pprof/cmdline HTTP/1.1\r\nHost: n1\r\nConnection: close\r\n\r\n'; sleep 0.5; } |
		timeout 10 openssl s_client -connect "127.0.0.1:$H" -CAfile "$D/ca.crt" -ign_eof "$@" \
			>"$PG_TMP/$name.out" 2>&1 || true
}
status() { grep -a -o 'HTTP/1.1 [0-9]*' "$PG_TMP/$1.out" | head -1 | cut -d' ' -f2; }
session() { grep -a -E -o '^(New|Reused), TLSv1\.[23]' "$PG_TMP/$1.out" | head -1; }
last_audit() { tail -1 "$AUDIT"; }

s_client full -cert "$D/admin.crt" -key "$D/admin.key" -sess_out "$PG_TMP/admin.sess"
[ "$(session full)" = "New, TLSv1.3" ] || pg_fail "full handshake: $(session full)"
grep -a -q 'Cipher is TLS_AES_128_GCM_SHA256' "$PG_TMP/full.out" || pg_fail "AES-128-GCM not preferred: $(grep -a 'Cipher is' "$PG_TMP/full.out")"
grep -a -q 'Server Temp Key: X25519' "$PG_TMP/full.out" || pg_fail "X25519 not used: $(grep -a 'Temp Key' "$PG_TMP/full.out")"
[ "$(status full)" = 200 ] || pg_fail "full handshake with the admin certificate: $(status full)"
[ -s "$PG_TMP/admin.sess" ] || pg_fail "no session ticket was issued"
pg_pass "full handshake: TLS 1.3, X25519, AES-128-GCM, 200, a ticket"

s_client resumed -sess_in "$PG_TMP/admin.sess"
[ "$(session resumed)" = "Reused, TLSv1.3" ] || pg_fail "ticket not accepted: $(session resumed)"
[ "$(status resumed)" = 200 ] || pg_fail "resumed admin session: $(status resumed)"
last_audit | grep -q '"identity":"uri:spiffe://pprofgate.local/admin","auth":"mtls","decision":"allow"' ||
	pg_fail "resumed session audit: $(last_audit)"
pg_pass "resumed with the ticket alone: the chain it carries is checked (200, same identity)"

s_client anon_full -sess_out "$PG_TMP/anon.sess"
s_client anon_resumed -sess_in "$PG_TMP/anon.sess"
[ "$(session anon_resumed)" = "Reused, TLSv1.3" ] || pg_fail "anonymous ticket: $(session anon_resumed)"
[ "$(status anon_resumed)" = 403 ] || pg_fail "resumed session without a certificate: $(status anon_resumed)"
last_audit | grep -q '"reason":"cert_missing"' || pg_fail "anonymous resume audit: $(last_audit)"
pg_pass "a ticket from a handshake without a certificate resumes and is refused (cert_missing)"

s_client rogue_full -cert "$D/selfsigned-client.crt" -key "$D/selfsigned-client.key" -sess_out "$PG_TMP/rogue.sess"
s_client rogue_resumed -sess_in "$PG_TMP/rogue.sess"
[ "$(session rogue_resumed)" = "Reused, TLSv1.3" ] || pg_fail "rogue ticket: $(session rogue_resumed)"
[ "$(status rogue_resumed)" = 403 ] || pg_fail "resumed session of a self-signed certificate: $(status rogue_resumed)"
last_audit | grep -q '"reason":"cert_untrusted"' || pg_fail "rogue resume audit: $(last_audit)"
pg_pass "a ticket from a self-signed client certificate resumes and is refused (cert_untrusted)"

config '"cn:operator pprof:read"'
kill -HUP "$NODE"
sleep 1
s_client revoked -sess_in "$PG_TMP/admin.sess"
[ "$(status revoked)" = 403 ] || pg_fail "resumed session after its identity was removed: $(status revoked)"
last_audit | grep -q '"reason":"identity_not_allowed"' || pg_fail "revoked resume audit: $(last_audit)"
pg_pass "after SIGHUP removed the identity, its ticket still resumes but is refused (identity_not_allowed)"

# Two clients send a ClientHello and then nothing: the node waits for them
# (poll) instead of spinning until the header deadline (libmicrohttpd's epoll
# mode kept such a connection ready: a CPU at 100 % per stalled handshake).
ticks() { awk '{ print $14 + $15 }' "/proc/$NODE/stat"; }
t0=$(ticks)
held=$("$PG_PY" "$PG_SRC_DIR/bench/stalled_handshakes.py" "$H" 2 3.5) || pg_fail "stalled handshakes: $held"
[ "$held" = "held 2" ] || pg_fail "the node did not answer both ClientHellos: $held"
cpu_ms=$((($(ticks) - t0) * 1000 / $(getconf CLK_TCK)))
[ "$cpu_ms" -lt 600 ] || pg_fail "2 stalled TLS handshakes cost the node $cpu_ms ms of CPU in 3.5 s (spinning)"
pg_pass "2 stalled TLS handshakes: the node waits for them ($cpu_ms ms of CPU in 3.5 s)"

pg_stop "$NODE" || pg_fail "node did not stop cleanly"
pg_pass "test_tls_resume"
