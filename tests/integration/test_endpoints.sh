#!/usr/bin/env bash
# Published diagnostics endpoints in a real etcd, checked with etcdctl:
#   - <prefix>/diagnostics/endpoints/<advertise> = {"node","url","tls_server_name"}
#     on the node's own lease (the same lease as Goverse's <prefix>/nodes/ key,
#     which keeps its value);
#   - derived from http_addr, or diagnostics.advertise_url / advertise_server_name;
#   - SIGTERM: gone at once; SIGKILL: gone when the lease expires;
#   - a bad advertise_url stops the node at start with a sentence.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
BIN="$PG_BUILD_DIR/pprofgate"
[ -x "$BIN" ] || pg_fail "no binary at $BIN"
T="$PG_TMP"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$T/pki" >/dev/null || pg_fail "gen-dev-pki.sh failed"
P="$T/pki"
pg_etcd_start
G1=$(pg_free_port) H1=$(pg_free_port) G2=$(pg_free_port) H2=$(pg_free_port)
cat >"$T/c.yaml" <<YAML
version: 1
cluster:
  provider: etcd
  etcd:
    endpoints: [$ETCD_EP]
    prefix: /eptest
    lease_ttl: 5
nodes:
  - id: n1
    grpc_addr: 127.0.0.1:$G1
    advertise_addr: 127.0.0.1:$G1
    http_addr: 127.0.0.1:$H1
  - id: n2
    grpc_addr: 127.0.0.1:$G2
    advertise_addr: 127.0.0.1:$G2
    http_addr: 127.0.0.1:$H2
diagnostics:
  tls_server_config:
    cert_file: $P/server.crt
    key_file: $P/server.key
    client_ca_file: $P/ca.crt
  client_identities: ["cn:operator"]
  groups:
    pprof:
      auth: mtls
YAML
sed -e "s|^diagnostics:|diagnostics:\n  advertise_url: https://pprof-n2.example.com:443/\n  advertise_server_name: n2.internal|" \
	"$T/c.yaml" >"$T/c2.yaml"

# ep ADDR -> the record's value ("" when absent); lease ADDR KEYKIND -> lease id
ep() { pg_etcdctl get --print-value-only "/eptest/diagnostics/endpoints/$1" 2>/dev/null || true; }
lease() { pg_etcdctl get "$1" -w json 2>/dev/null | "$PG_PY" -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0].get("lease",0))' 2>/dev/null || echo none; }
wait_ep() { # ADDR present|absent SECONDS
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		v=$(ep "$1")
		{ [ "$2" = present ] && [ -n "$v" ]; } || { [ "$2" = absent ] && [ -z "$v" ]; } && return 0
		sleep 0.1
	done
	return 1
}

pg_start n1 "$BIN" --config "$T/c.yaml" --node-id n1
N1=$PG_PID
pg_start n2 "$BIN" --config "$T/c2.yaml" --node-id n2
N2=$PG_PID
wait_ep "127.0.0.1:$G1" present 10 || { cat "$T/n1.log" >&2; pg_fail "n1 endpoint not published"; }
wait_ep "127.0.0.1:$G2" present 10 || { cat "$T/n2.log" >&2; pg_fail "n2 endpoint not published"; }
v1=$(ep "127.0.0.1:$G1") v2=$(ep "127.0.0.1:$G2")
[ "$v1" = "{\"node\":\"n1\",\"url\":\"https://127.0.0.1:$H1\",\"tls_server_name\":\"127.0.0.1\"}" ] ||
	pg_fail "n1 record: $v1"
[ "$v2" = "{\"node\":\"n2\",\"url\":\"https://pprof-n2.example.com:443\",\"tls_server_name\":\"n2.internal\"}" ] ||
	pg_fail "n2 record: $v2"
[ "$(pg_etcdctl get --print-value-only "/eptest/nodes/127.0.0.1:$G1")" = "127.0.0.1:$G1" ] ||
	pg_fail "Goverse's node key changed"
l_node=$(lease "/eptest/nodes/127.0.0.1:$G1") l_ep=$(lease "/eptest/diagnostics/endpoints/127.0.0.1:$G1")
[ "$l_node" != 0 ] && [ "$l_node" != none ] && [ "$l_node" = "$l_ep" ] ||
	pg_fail "endpoint not on the node's lease: node $l_node, endpoint $l_ep"
pg_pass "endpoints published on the node's lease: derived (n1) and from advertise_url/server_name (n2)"

pg_stop "$N1" 10 || pg_fail "n1 did not stop"
[ -z "$(ep "127.0.0.1:$G1")" ] || pg_fail "n1 endpoint still there after SIGTERM"
pg_pass "SIGTERM: the endpoint is gone at once"

kill -KILL "$N2"
wait "$N2" 2>/dev/null || true
[ -n "$(ep "127.0.0.1:$G2")" ] || pg_fail "n2 endpoint gone before its lease expired"
wait_ep "127.0.0.1:$G2" absent 10 || pg_fail "n2 endpoint outlived its lease"
pg_pass "SIGKILL: the endpoint goes with the lease"

sed -e "s|^diagnostics:|diagnostics:\n  advertise_url: ftp://x|" "$T/c.yaml" >"$T/bad.yaml"
rc=0; timeout 10 "$BIN" --config "$T/bad.yaml" --node-id n1 >"$T/bad.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "diagnostics.advertise_url" "$T/bad.log" ||
	pg_fail "bad advertise_url: exit $rc: $(tail -3 "$T/bad.log")"
pg_pass "a bad advertise_url stops the node at start, naming the key"
echo "PASS test_endpoints"
