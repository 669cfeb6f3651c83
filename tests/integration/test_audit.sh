#!/usr/bin/env bash
# The tamper-evident audit log and the redacted command line on the real node
# (docs/audit.md, docs/operations.md "Audit log"): real requests, then
# `pprofgatectl audit verify` on the file as written (HMAC key), and on copies
# with one byte edited, one line deleted, two lines swapped, the tail cut;
# a restart continues the chain; a SIGHUP after `mv` (log rotation) starts a
# file whose first line names the previous file's last seq and hash; the
# pprofgate_audit_seq metric matches the file. Then /debug/pprof/cmdline of a
# node started with --admin-key=FILE shows <redacted> in Go's NUL-separated
# shape, with the X-Pprofgate-Redacted header.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
BIN="$PG_BUILD_DIR/pprofgate"
CTL="$PG_BUILD_DIR/pprofgatectl"
D="$PG_TMP/pki"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$D" >/dev/null 2>&1 || pg_fail "gen-dev-pki failed"
pg_etcd_start

P=$(pg_free_port)
H=$(pg_free_port)
ADM=$(pg_free_port)
AUDIT="$PG_TMP/audit.log"
KEY="$PG_TMP/audit.key"
openssl rand -hex 32 >"$KEY"
chmod 600 "$KEY"
cat >"$PG_TMP/node.yaml" <<EOF
version: 1
cluster:
  shards: 64
  provider: etcd
  etcd:
    endpoints: [$ETCD_EP]
admin:
  listen: 127.0.0.1:$ADM
nodes:
  - id: n1
    grpc_addr: 127.0.0.1:$P
    advertise_addr: 127.0.0.1:$P
    http_addr: 127.0.0.1:$H
diagnostics:
  audit_file: $AUDIT
  audit_hmac_key_file: $KEY
EOF
B="http://127.0.0.1:$H"
start_node() {
	pg_start node "$BIN" --config "$PG_TMP/node.yaml" --node-id n1
	NODE=$PG_PID
	pg_wait_for_port "$H" 20 || { cat "$PG_TMP/node.log" >&2; pg_fail "node did not start"; }
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
requests() {
	local i
	for i in $(seq 1 "$1"); do
		[ "$(code "$B/debug/pprof/cmdline")" = 200 ] || pg_fail "cmdline refused"
		[ "$(code "$B/debug/pprof/nope")" = 404 ] || pg_fail "unknown profile"
	done
}
# Exit status and output of verify.
verify() {
	set +e
	OUT=$("$CTL" audit verify "$@" 2>&1)
	RC=$?
	set -e
}
lines() { wc -l <"$1"; }

# ---- a chain, verified, then tampered with ----
start_node
requests 5
[ "$(code "$B/debug/pprof/heap")" = 200 ] || [ "$(code "$B/debug/pprof/heap")" = 501 ] || pg_fail "heap"
sleep 0.3 # the last request's line is queued when it completes
seq_metric=$(curl -s "$B/metrics" | awk '$1 == "pprofgate_audit_seq" {print $2}')
[ -n "$seq_metric" ] || pg_fail "no pprofgate_audit_seq metric"
last_seq=$(tail -1 "$AUDIT" | sed -n 's/^{"seq":\([0-9]*\),.*/\1/p')
[ "$seq_metric" = "$last_seq" ] || pg_fail "pprofgate_audit_seq $seq_metric, file ends at seq $last_seq"
pg_stop "$NODE" || pg_fail "node did not stop cleanly"
n=$(lines "$AUDIT")
[ "$n" -ge 12 ] || pg_fail "$n audit lines, want >= 12"
head -1 "$AUDIT" | grep -q '"event":"audit_chain_start","alg":"hmac-sha256","prev_seq":0,' || pg_fail "first line: $(head -1 "$AUDIT")"
verify "$AUDIT" --key "$KEY"
[ "$RC" = 0 ] || pg_fail "verify of the untouched file: rc $RC: $OUT"
grep -q "ok: $n line(s), seq 1..$n" <<<"$OUT" || pg_fail "verify output: $OUT"
verify "$AUDIT"
[ "$RC" = 2 ] && grep -q "needs_key" <<<"$OUT" || pg_fail "verify without the key: rc $RC: $OUT"
pg_pass "$n lines from real requests verify (HMAC); without the key: exit 2; pprofgate_audit_seq = last seq"

# One byte edited (line 4), one line deleted (line 5), lines 3 and 4 swapped, the tail cut.
sed '4s/"status":404/"status":200/' "$AUDIT" >"$PG_TMP/edited.log"
cmp -s "$AUDIT" "$PG_TMP/edited.log" && sed '4s/"status":200/"status":404/' "$AUDIT" >"$PG_TMP/edited.log"
cmp -s "$AUDIT" "$PG_TMP/edited.log" && pg_fail "line 4 could not be edited: $(sed -n 4p "$AUDIT")"
verify "$PG_TMP/edited.log" --key "$KEY"
[ "$RC" = 8 ] && grep -q "edited.log:4: edited" <<<"$OUT" || pg_fail "edited byte: rc $RC: $OUT"
sed '5d' "$AUDIT" >"$PG_TMP/deleted.log"
verify "$PG_TMP/deleted.log" --key "$KEY"
[ "$RC" = 8 ] && grep -q "deleted.log:5: missing" <<<"$OUT" || pg_fail "deleted line: rc $RC: $OUT"
sed -n '1,2p' "$AUDIT" >"$PG_TMP/swapped.log"
sed -n '4p' "$AUDIT" >>"$PG_TMP/swapped.log"
sed -n '3p' "$AUDIT" >>"$PG_TMP/swapped.log"
sed -n '5,$p' "$AUDIT" >>"$PG_TMP/swapped.log"
verify "$PG_TMP/swapped.log" --key "$KEY"
[ "$RC" = 8 ] && grep -q "swapped.log:3: reordered" <<<"$OUT" || pg_fail "swapped lines: rc $RC: $OUT"
head -c -20 "$AUDIT" >"$PG_TMP/cut.log"
verify "$PG_TMP/cut.log" --key "$KEY"
[ "$RC" = 8 ] && grep -q "cut.log:$n: truncated" <<<"$OUT" || pg_fail "cut tail: rc $RC: $OUT"
verify "$PG_TMP/nothere.log"
[ "$RC" = 1 ] || pg_fail "missing file: rc $RC"
pg_pass "edited byte, deleted line, swapped lines and cut tail each reported at their line (exit 8)"

# ---- restart: the chain continues ----
start_node
requests 2
pg_stop "$NODE" || pg_fail "node did not stop cleanly"
grep -q "\"prev_seq\":$n,\"prev_hash\":\"[0-9a-f]*\",\"reason\":\"restart\"" "$AUDIT" || pg_fail "no restart chain start after seq $n"
verify "$AUDIT" --key "$KEY"
[ "$RC" = 0 ] || pg_fail "after a restart: rc $RC: $OUT"
pg_pass "restart continues the chain from the file's last line ($(lines "$AUDIT") lines verify)"

# ---- SIGHUP rotation: a new file linked to the old one ----
start_node
requests 2
mv "$AUDIT" "$AUDIT.1"
kill -HUP "$NODE"
for i in $(seq 1 50); do
	grep -q "reloaded certificates" "$PG_TMP/node.log" && break
	sleep 0.1
done
grep -q "reloaded certificates" "$PG_TMP/node.log" || pg_fail "no reload: $(tail -3 "$PG_TMP/node.log")"
requests 2
sleep 0.3
[ -s "$AUDIT" ] || pg_fail "no new audit file after SIGHUP"
pg_stop "$NODE" || pg_fail "node did not stop cleanly"
verify "$AUDIT.1" --key "$KEY"
[ "$RC" = 0 ] || pg_fail "rotated-out file: rc $RC: $OUT"
old_last=$(sed -n 's/^last hash: //p' <<<"$OUT")
old_seq=$(tail -1 "$AUDIT.1" | sed -n 's/^{"seq":\([0-9]*\),.*/\1/p')
head -1 "$AUDIT" | grep -q "\"event\":\"audit_chain_start\",\"alg\":\"hmac-sha256\",\"prev_seq\":$old_seq,\"prev_hash\":\"$old_last\",\"reason\":\"rotated\"" ||
	pg_fail "new file's first line does not name seq $old_seq / $old_last: $(head -1 "$AUDIT")"
verify "$AUDIT" --key "$KEY" --prev-hash "$old_last"
[ "$RC" = 0 ] || pg_fail "new file with --prev-hash: rc $RC: $OUT"
verify "$AUDIT" --key "$KEY" --prev-hash "$(printf '%064d' 0)"
[ "$RC" = 8 ] && grep -q "bad_link" <<<"$OUT" || pg_fail "wrong --prev-hash: rc $RC: $OUT"
pg_pass "SIGHUP after mv: new file starts at seq $((old_seq + 1)) naming the old file's last hash; verify --prev-hash links them"

# ---- a key others can read: the node refuses to start ----
chmod 644 "$KEY"
set +e
"$BIN" --config "$PG_TMP/node.yaml" --node-id n1 >"$PG_TMP/badkey.log" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "chmod 600" "$PG_TMP/badkey.log" || pg_fail "group-readable key: rc $rc: $(tail -2 "$PG_TMP/badkey.log")"
pg_pass "a group/other-readable HMAC key stops the node (exit 2, names the fix)"

# ---- redacted command line ----
H2=$(pg_free_port)
P2=$(pg_free_port)
A2=$(pg_free_port)
pg_start flags "$BIN" --listen "127.0.0.1:$P2" --http-listen "127.0.0.1:$H2" --etcd "$ETCD_EP" \
	--admin-listen "127.0.0.1:$A2" --admin-cert "$D/server.crt" "--admin-key=$D/server.key" \
	--admin-client-ca "$D/ca.crt" --admin-allow cn:admin
FLAGS=$PG_PID
pg_wait_for_port "$H2" 20 || { cat "$PG_TMP/flags.log" >&2; pg_fail "node (flags) did not start"; }
curl -s -D "$PG_TMP/hdr" -o "$PG_TMP/cmdline" "http://127.0.0.1:$H2/debug/pprof/cmdline" || pg_fail "cmdline"
grep -qi '^X-Pprofgate-Redacted: 1' "$PG_TMP/hdr" || pg_fail "no redaction header: $(cat "$PG_TMP/hdr")"
grep -q "server.key" "$PG_TMP/cmdline" && pg_fail "the key path is in the cmdline answer"
want=$(tr '\0' '\n' </proc/$FLAGS/cmdline | sed "s|^--admin-key=.*|--admin-key=<redacted>|")
got=$(tr '\0' '\n' <"$PG_TMP/cmdline")
[ "$got" = "$want" ] || pg_fail "cmdline: got $(tr '\0' ' ' <"$PG_TMP/cmdline"), want $want"
[ "$(tail -c 1 "$PG_TMP/cmdline" | od -An -c | tr -d ' ')" != '\0' ] || pg_fail "trailing NUL (Go has none)"
# Its audit goes to stderr, chained as well.
pg_stop "$FLAGS" || pg_fail "node (flags) did not stop cleanly"
grep '^{"seq":' "$PG_TMP/flags.log" >"$PG_TMP/stderr-audit.log"
grep -q '"route":"/debug/pprof/cmdline"' "$PG_TMP/stderr-audit.log" || pg_fail "no audit line on stderr"
verify "$PG_TMP/stderr-audit.log"
[ "$RC" = 0 ] || pg_fail "stderr audit chain: rc $RC: $OUT"
pg_pass "/debug/pprof/cmdline: --admin-key=<redacted>, other arguments as in /proc, NUL-separated; stderr audit chain verifies"
