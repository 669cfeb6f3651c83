#!/usr/bin/env bash
# --check-config runs every check a start runs: for each refusal a start can
# give before it binds anything (the config file, nodes: [], the listeners'
# exposure and addresses, the diagnostics gate, the HTTPS and admin TLS files,
# admin identities), a real start and --check-config give the same exit code
# (2) and the same sentence. A valid secure config passes the check and starts.
# (Go Goverse keys under the etcd prefix: tests/integration/test_mixed_cluster.sh.)
source "$(dirname "$0")/lib.sh"
pg_tmpdir
P="$PG_TMP/pki"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$P" >/dev/null || pg_fail "gen-dev-pki.sh failed"
cp "$P/server.key" "$P/open.key" && chmod 644 "$P/open.key"
cp "$P/jwt-hs256.secret" "$P/open.secret" && chmod 644 "$P/open.secret"
: >"$P/empty.crt"
BIN="$PG_BUILD_DIR/pprofgate"
G=$(pg_free_port); H=$(pg_free_port); A=$(pg_free_port)

TLS="  tls_server_config:
    cert_file: $P/server.crt
    key_file: $P/server.key"
JWT="  jwt:
    keys:
      - {alg: RS256, file: $P/jwt-rs256.pub}"
ADMIN_OK="admin:
  listen: 127.0.0.1:$A
  allowed_identities: cn:admin
  tls:
    cert_file: $P/server.crt
    key_file: $P/server.key
    client_ca_file: $P/ca.crt"

# cfg NAME [HTTP_ADDR] [DIAGNOSTICS BODY] [ADMIN SECTION] [NODES SECTION]
cfg() {
	local http="${2:-127.0.0.1:$H}" diag="${3:-}" admin="${4:-}" nodes="${5:-}"
	[ -n "$nodes" ] || nodes="nodes:
  - id: n1
    grpc_addr: 127.0.0.1:$G
    advertise_addr: 127.0.0.1:$G
    http_addr: \"$http\""
	{
		printf 'version: 1\ncluster:\n  provider: etcd\n  etcd:\n    endpoints: ["127.0.0.1:1"]\n'
		printf '    prefix: /pg-check\n%s\n%s\n' "$nodes" "$admin"
		[ -z "$diag" ] || printf 'diagnostics:\n%s\n' "$diag"
	} >"$PG_TMP/$1.yaml"
}

# The error lines of a run: stderr without the log lines (timestamped).
errors() { grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$1" || true; }

n=0
# same NAME WANT ARGS...: --check-config and a start refuse alike.
same() {
	local name="$1" want="$2" crc=0 src=0 line
	shift 2
	"$BIN" --check-config "$@" >"$PG_TMP/$name.check.out" 2>"$PG_TMP/$name.check.err" || crc=$?
	timeout 20 "$BIN" "$@" >"$PG_TMP/$name.start.out" 2>"$PG_TMP/$name.start.err" || src=$?
	[ "$crc" = 2 ] || pg_fail "$name: --check-config exit $crc, want 2: $(cat "$PG_TMP/$name.check.out" "$PG_TMP/$name.check.err")"
	[ "$src" = 2 ] || pg_fail "$name: start exit $src, want 2: $(tail -5 "$PG_TMP/$name.start.err")"
	errors "$PG_TMP/$name.check.err" >"$PG_TMP/$name.check.lines"
	[ -s "$PG_TMP/$name.check.lines" ] || pg_fail "$name: --check-config printed no error"
	grep -qF -- "$want" "$PG_TMP/$name.check.lines" ||
		pg_fail "$name: --check-config said $(cat "$PG_TMP/$name.check.lines"), want \"$want\""
	while IFS= read -r line; do
		grep -qxF -- "$line" "$PG_TMP/$name.start.err" ||
			pg_fail "$name: the start did not say \"$line\": $(cat "$PG_TMP/$name.start.err")"
	done <"$PG_TMP/$name.check.lines"
	n=$((n + 1))
}

cfg yaml_error && printf 'unknown_section: 1\n' >>"$PG_TMP/yaml_error.yaml"
same yaml_error "unknown_section: unknown key" --config "$PG_TMP/yaml_error.yaml"
cfg nodes_empty "" "" "" "nodes: []"
same nodes_empty "nodes: is empty" --config "$PG_TMP/nodes_empty.yaml"
cfg exposed "0.0.0.0:$H"
same exposed "refusing to serve /debug/pprof on 0.0.0.0:$H (not loopback) without TLS" --config "$PG_TMP/exposed.yaml"
same exposed_flag "refusing to serve /debug/pprof on :$H" --http-listen ":$H" --listen "127.0.0.1:$G" --etcd 127.0.0.1:1
cfg hostname "nohost.invalid:$H" "$TLS
$JWT
  groups:
    pprof: {auth: jwt}"
same hostname "\"nohost.invalid\" is not an IPv4 address or localhost" --config "$PG_TMP/hostname.yaml"
cfg mtls_no_ca "" "$TLS
  groups:
    pprof: {auth: mtls}"
same mtls_no_ca "a diagnostics group uses mtls: set diagnostics.tls_server_config.client_ca_file" \
	--config "$PG_TMP/mtls_no_ca.yaml"
cfg mtls_no_ids "" "$TLS
    client_ca_file: $P/ca.crt
  groups:
    pprof: {auth: mtls}"
same mtls_no_ids "diagnostics.client_identities is empty" --config "$PG_TMP/mtls_no_ids.yaml"
cfg bad_scope "" "$TLS
    client_ca_file: $P/ca.crt
  client_identities: [\"cn:ops pprof:everything\"]
  groups:
    pprof: {auth: mtls}"
same bad_scope "no known scope in \"pprof:everything\"" --config "$PG_TMP/bad_scope.yaml"
cfg jwt_no_keys "" "$TLS
  groups:
    pprof: {auth: jwt}"
same jwt_no_keys "a diagnostics group uses jwt but diagnostics.jwt.keys is empty" --config "$PG_TMP/jwt_no_keys.yaml"
cfg hs256_open "" "$TLS
  jwt:
    keys:
      - {alg: HS256, file: $P/open.secret}
  groups:
    pprof: {auth: jwt}"
same hs256_open "HS256 secret file $P/open.secret is accessible by group or others" --config "$PG_TMP/hs256_open.yaml"
cfg plain_no_tls "" "  plain_listen: 127.0.0.1:$A"
same plain_no_tls "diagnostics.plain_listen is for a node serving HTTPS" --config "$PG_TMP/plain_no_tls.yaml"
cfg bad_cidr "" "  groups:
    pprof: {allowlist: [10.0.0.0/33]}"
same bad_cidr "diagnostics.groups.pprof.allowlist:" --config "$PG_TMP/bad_cidr.yaml"
cfg bad_proxy "" "  trusted_proxies: [nonsense]"
same bad_proxy "diagnostics.trusted_proxies:" --config "$PG_TMP/bad_proxy.yaml"
cfg audit_dir "" "  audit_file: $PG_TMP/no/such/dir/audit.log"
same audit_dir "cannot open audit file diagnostics.audit_file $PG_TMP/no/such/dir/audit.log" \
	--config "$PG_TMP/audit_dir.yaml"
cfg key_open "" "  tls_server_config:
    cert_file: $P/server.crt
    key_file: $P/open.key"
same key_open "key file $P/open.key is accessible by group or others (mode 644); run: chmod 600" \
	--config "$PG_TMP/key_open.yaml"
cfg key_mismatch "" "  tls_server_config:
    cert_file: $P/server.crt
    key_file: $P/operator.key"
same key_mismatch "TLS certificate $P/server.crt with key $P/operator.key:" --config "$PG_TMP/key_mismatch.yaml"
cfg admin_partial "" "" "admin:
  allowed_identities: cn:admin
  tls:
    cert_file: $P/server.crt"
same admin_partial "admin: set all of admin.tls.cert_file, key_file and client_ca_file" \
	--config "$PG_TMP/admin_partial.yaml"
cfg admin_no_ids "" "" "${ADMIN_OK/  allowed_identities: cn:admin
/}"
same admin_no_ids "admin: admin.allowed_identities (--admin-allow) is empty" --config "$PG_TMP/admin_no_ids.yaml"
cfg admin_bad_id "" "" "${ADMIN_OK/cn:admin/nobody}"
same admin_bad_id "admin.allowed_identities:" --config "$PG_TMP/admin_bad_id.yaml"
cfg admin_mismatch "" "" "${ADMIN_OK/$P\/server.key/$P/operator.key}"
same admin_mismatch "admin: admin.tls.cert_file $P/server.crt with key_file $P/operator.key:" \
	--config "$PG_TMP/admin_mismatch.yaml"
cfg admin_empty "" "" "${ADMIN_OK/$P\/server.crt/$P/empty.crt}"
same admin_empty "admin: admin.tls.cert_file $P/empty.crt is empty" --config "$PG_TMP/admin_empty.yaml"
same admin_flags "admin: set all of admin.tls.cert_file" --listen "127.0.0.1:$G" --http-listen "127.0.0.1:$H" \
	--etcd 127.0.0.1:1 --admin-cert "$P/server.crt"
# Several nodes without --node-id: each node is checked and named.
cfg two_nodes "" "" "" "nodes:
  - {id: inside, grpc_addr: 127.0.0.1:$G, advertise_addr: 127.0.0.1:$G, http_addr: 127.0.0.1:$H}
  - {id: outside, grpc_addr: 127.0.0.1:$A, advertise_addr: 127.0.0.1:$A, http_addr: 0.0.0.0:$H}"
rc=0
out=$("$BIN" --check-config --config "$PG_TMP/two_nodes.yaml" 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -qF "nodes[1] (outside): refusing to serve /debug/pprof on 0.0.0.0:$H" <<<"$out" ||
	pg_fail "two nodes: exit $rc: $out"
same two_nodes "refusing to serve /debug/pprof on 0.0.0.0:$H" --config "$PG_TMP/two_nodes.yaml" --node-id outside
"$BIN" --check-config --config "$PG_TMP/two_nodes.yaml" --node-id inside >/dev/null 2>&1 ||
	pg_fail "two nodes: the loopback node should pass"
pg_pass "$n refusals: --check-config and a start exit 2 with the same sentence; several nodes are checked one by one"

# A valid secure config: OK and exit 0, and the node starts.
cfg good "" "$TLS
    client_ca_file: $P/ca.crt
  client_identities: [\"cn:operator pprof:read\"]
$JWT
  groups:
    pprof: {auth: mtls or jwt}
  audit_file: $PG_TMP/audit.log" "$ADMIN_OK"
out=$("$BIN" --check-config --config "$PG_TMP/good.yaml" 2>"$PG_TMP/good.err") || pg_fail "good: $out $(cat "$PG_TMP/good.err")"
grep -q ": OK (1 node" <<<"$out" || pg_fail "good: no OK line: $out"
[ ! -e "$PG_TMP/audit.log" ] || pg_fail "good: --check-config created the audit file"
grep -q "cannot check etcd prefix /pg-check for Goverse nodes" "$PG_TMP/good.err" ||
	pg_fail "good: an unreachable etcd should be a warning: $(cat "$PG_TMP/good.err")"
pg_start good "$BIN" --config "$PG_TMP/good.yaml"
pg_wait_for_port "$H" 10 || pg_fail "good: HTTPS did not start: $(cat "$PG_TMP/good.log")"
pg_wait_for_port "$A" 10 || pg_fail "good: admin did not start: $(cat "$PG_TMP/good.log")"
pg_stop "$PG_PID" 10 || pg_fail "good: did not stop cleanly"
[ -f "$PG_TMP/audit.log" ] || pg_fail "good: the start did not create the audit file"
pg_pass "a config --check-config passes starts (HTTPS and admin listening); only the start creates the audit file"

# A port in use is the documented exception: check says OK, the start exits 1.
pg_start holder "$PG_PY" -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$H)); s.listen(); time.sleep(30)"
HOLDER=$PG_PID
pg_wait_for_port "$H" 5 || pg_fail "could not hold port $H"
"$BIN" --check-config --config "$PG_TMP/good.yaml" >/dev/null 2>&1 || pg_fail "busy port: check should pass"
rc=0
timeout 20 "$BIN" --config "$PG_TMP/good.yaml" >"$PG_TMP/busy.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || pg_fail "busy port: start exit $rc, want 1: $(tail -3 "$PG_TMP/busy.log")"
kill "$HOLDER" 2>/dev/null || true
pg_pass "a busy port passes --check-config and fails the start with exit 1 (the documented exception)"
