#!/usr/bin/env bash
# A node never joins an etcd prefix Go Goverse nodes use: with Goverse's
# leader key (<prefix>/leader), shard mapping (<prefix>/shard/<id>) or gates
# (<prefix>/gates/...) written by etcdctl as Goverse writes them, a start and
# --check-config exit 2 with the sentence that says why and how to choose a
# separate prefix, and nothing is registered; a clean prefix starts and
# registers; the unsafe override joins with a warning. If etcd is down at
# start, the membership thread checks before it registers.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
pg_etcd_start
BIN="$PG_BUILD_DIR/pprofgate"
G=$(pg_free_port); H=$(pg_free_port)
ARGS=(--listen "127.0.0.1:$G" --http-listen "127.0.0.1:$H" --etcd "$ETCD_EP" --admin-listen 127.0.0.1:0)

# refused PREFIX WHAT: both refuse with the sentence and register nothing.
refused() {
	local prefix="$1" what="$2" rc=0 out
	out=$("$BIN" --check-config "${ARGS[@]}" --etcd-prefix "$prefix" 2>&1) || rc=$?
	[ "$rc" = 2 ] || pg_fail "$what: --check-config exit $rc, want 2: $out"
	grep -qF "etcd prefix $prefix belongs to a Go Goverse cluster" <<<"$out" || pg_fail "$what: check said: $out"
	rc=0
	timeout 20 "$BIN" "${ARGS[@]}" --etcd-prefix "$prefix" >"$PG_TMP/start.log" 2>&1 || rc=$?
	[ "$rc" = 2 ] || pg_fail "$what: start exit $rc, want 2: $(tail -3 "$PG_TMP/start.log")"
	grep -F "belongs to a Go Goverse cluster" "$PG_TMP/start.log" >"$PG_TMP/sentence"
	grep -qF "its leader would assign shards to this node, which never claims them" "$PG_TMP/sentence" &&
		grep -qF "Give pprofgate nodes a prefix of their own (cluster.etcd.prefix in the config file, --etcd-prefix without one, e.g. $prefix-pprofgate)" "$PG_TMP/sentence" &&
		grep -qF "unsafe_share_goverse_prefix: true" "$PG_TMP/sentence" ||
		pg_fail "$what: the start's sentence: $(cat "$PG_TMP/start.log")"
	[ -z "$(pg_etcdctl get --prefix "$prefix/nodes/127.0.0.1:$G" --keys-only)" ] ||
		pg_fail "$what: the node registered anyway"
}

# Goverse's leader key (consensusmanager.TryBecomeLeader: no lease) with a
# live Goverse node under nodes/ (a lease-bound key, as Goverse registers).
lease=$(pg_etcdctl lease grant 60 | awk '{print $2}')
pg_etcdctl put /gv/nodes/10.0.0.5:48000 10.0.0.5:48000 --lease="$lease" >/dev/null
pg_etcdctl put /gv/leader 10.0.0.5:48000 >/dev/null
refused /gv "leader"
grep -qF "(/gv/leader = 10.0.0.5:48000; the leader is live)" "$PG_TMP/sentence" ||
	pg_fail "the sentence should name the live leader: $(cat "$PG_TMP/sentence")"
# The shard mapping alone (storeShardMapping: "targetNode,currentNode").
pg_etcdctl put /gv2/shard/0 10.0.0.5:48000,10.0.0.5:48000 >/dev/null
refused /gv2 "shard mapping"
# A Goverse gate alone.
pg_etcdctl put /gv3/gates/10.0.0.9:49000 10.0.0.9:49000 >/dev/null
refused /gv3 "gate"
pg_pass "Goverse's leader, shard mapping or gate under the prefix: start and --check-config exit 2, nothing registered"

# A clean prefix (even next to /gv, and with pprofgate nodes in it) starts and registers.
pg_etcdctl put /gv-pprofgate/nodes/127.0.0.1:1 127.0.0.1:1 >/dev/null
out=$("$BIN" --check-config "${ARGS[@]}" --etcd-prefix /gv-pprofgate 2>&1) || pg_fail "clean prefix: check: $out"
pg_start clean "$BIN" "${ARGS[@]}" --etcd-prefix /gv-pprofgate
pg_wait_status "http://127.0.0.1:$H/ready" 200 10 >/dev/null || pg_fail "clean prefix: not ready: $(cat "$PG_TMP/clean.log")"
[ "$(pg_etcdctl get /gv-pprofgate/nodes/127.0.0.1:$G --print-value-only)" = "127.0.0.1:$G" ] ||
	pg_fail "clean prefix: not registered"
pg_stop "$PG_PID" 10 || pg_fail "clean prefix: did not stop cleanly"
pg_pass "a prefix without Goverse keys starts and registers"

# The unsafe override joins, with a warning naming what it found.
pg_start unsafe "$BIN" "${ARGS[@]}" --etcd-prefix /gv --unsafe-share-goverse-prefix true
pg_wait_status "http://127.0.0.1:$H/ready" 200 10 >/dev/null || pg_fail "override: not ready: $(cat "$PG_TMP/unsafe.log")"
grep -q "WARN .*etcd prefix /gv holds Goverse keys (/gv/leader = 10.0.0.5:48000); joining anyway" "$PG_TMP/unsafe.log" ||
	pg_fail "override: no warning: $(cat "$PG_TMP/unsafe.log")"
pg_stop "$PG_PID" 10 || pg_fail "override: did not stop cleanly"
pg_pass "cluster.etcd.unsafe_share_goverse_prefix: true joins with a warning"

# etcd down at start: the node starts (as always), and once etcd is back its
# membership thread finds the Goverse keys and does not register.
pg_etcd_kill
pg_start late "$BIN" "${ARGS[@]}" --etcd-prefix /gv
pg_wait_for_port "$H" 10 || pg_fail "etcd down: the node did not start: $(cat "$PG_TMP/late.log")"
grep -q "cannot check etcd prefix /gv for Goverse nodes" "$PG_TMP/late.log" || pg_fail "etcd down: no warning"
pg_etcd_start
for _ in $(seq 1 100); do
	grep -q "not registering 127.0.0.1:$G\|not registering /gv/nodes/127.0.0.1:$G" "$PG_TMP/late.log" && break
	sleep 0.1
done
grep -q "ERROR cluster: not registering /gv/nodes/127.0.0.1:$G: etcd prefix /gv belongs to a Go Goverse cluster" \
	"$PG_TMP/late.log" || pg_fail "etcd back: no refusal: $(cat "$PG_TMP/late.log")"
[ "$(pg_http_status "http://127.0.0.1:$H/ready")" = 503 ] || pg_fail "etcd back: /ready should be 503"
curl -s "http://127.0.0.1:$H/ready" | grep -q "the etcd prefix belongs to a Goverse cluster" ||
	pg_fail "etcd back: /ready gives no reason"
[ -z "$(pg_etcdctl get "/gv/nodes/127.0.0.1:$G" --keys-only)" ] || pg_fail "etcd back: registered anyway"
pg_stop "$PG_PID" 10 || pg_fail "etcd back: did not stop cleanly"
pg_pass "etcd down at start: the membership thread checks before it registers, and stays out (/ready 503 with the reason)"
