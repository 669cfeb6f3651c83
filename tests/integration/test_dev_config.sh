#!/usr/bin/env bash
# config/secure/dev-node.yaml (what scripts/run-node.sh runs) is valid once
# certs/gen-dev-pki.sh has made its files, and the node it describes starts
# with the gateway, the plain metrics listener and the admin API.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$PG_TMP/pki" >/dev/null || pg_fail "gen-dev-pki.sh failed"
G=$(pg_free_port); H=$(pg_free_port); M=$(pg_free_port); A=$(pg_free_port)
sed -e "s|certs/dev/|$PG_TMP/pki/|g" -e "s|localhost:47000|127.0.0.1:$G|g" -e "s|localhost:9090|127.0.0.1:$H|" \
	-e "s|localhost:9091|127.0.0.1:$M|" -e "s|localhost:47001|127.0.0.1:$A|" -e "s|localhost:2379|127.0.0.1:1|" \
	"$PG_SRC_DIR/config/secure/dev-node.yaml" >"$PG_TMP/node.yaml"
out=$("$PG_BUILD_DIR/pprofgate" --check-config --config "$PG_TMP/node.yaml" --node-id node1 2>&1) ||
	pg_fail "dev-node.yaml invalid: $out"
pg_pass "config/secure/dev-node.yaml is valid with a fresh dev PKI"
pg_start node "$PG_BUILD_DIR/pprofgate" --config "$PG_TMP/node.yaml" --node-id node1
pg_wait_for_port "$M" 10 || pg_fail "plain listener did not start"
pg_wait_for_port "$A" 10 || pg_fail "admin API did not start"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M/metrics")" = 200 ] || pg_fail "plain /metrics"
c=$(curl -s -o "$PG_TMP/body" -w '%{http_code}' --cacert "$PG_TMP/pki/ca.crt" \
	--cert "$PG_TMP/pki/operator.crt" --key "$PG_TMP/pki/operator.key" "https://localhost:$H/debug/pprof/threadcreate")
[ "$c" = 403 ] && grep -q window_closed "$PG_TMP/body" || pg_fail "closed window should refuse: $c $(cat "$PG_TMP/body")"
pg_pass "the dev node serves HTTPS with the window closed by default, plain /metrics and the admin API"
pg_stop "$PG_PID" 10 || pg_fail "node did not stop cleanly"
