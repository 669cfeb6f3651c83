#!/usr/bin/env bash
# Integration: cluster membership of the real pprofgate binary in a real etcd,
# checked with etcdctl the way a Goverse node would see it:
#   - key /goverse/nodes/<advertise> = <advertise>, bound to a lease (TTL 5 s here)
#   - two nodes see each other
#   - SIGTERM revokes the lease: the key is gone within 1 s
#   - SIGKILL: the key stays until the lease expires, then goes
#   - etcd frozen past the TTL: /healthz stays 200, /ready turns 503; etcd
#     restarted on the same data dir and port: registered again, /ready 200
set -euo pipefail
source "$(dirname "$0")/lib.sh"
pg_tmpdir
PG_BIN="$PG_BUILD_DIR/pprofgate"
[ -x "$PG_BIN" ] || pg_fail "no binary at $PG_BIN"
command -v etcd >/dev/null && command -v etcdctl >/dev/null || { echo "etcd/etcdctl missing (Debian etcd-server, etcd-client)"; exit 1; }

TTL=5
pg_etcd_start
G1=$(pg_free_port); H1=$(pg_free_port); G2=$(pg_free_port); H2=$(pg_free_port)
A1="127.0.0.1:$G1"; A2="127.0.0.1:$G2"
cat >"$PG_TMP/cluster.yaml" <<YAML
version: 1
cluster:
  provider: etcd
  etcd:
    endpoints: [$ETCD_EP]
    prefix: /goverse
    lease_ttl: $TTL
nodes:
  - id: node1
    grpc_addr: $A1
    advertise_addr: $A1
    http_addr: 127.0.0.1:$H1
  - id: node2
    grpc_addr: $A2
    advertise_addr: $A2
    http_addr: 127.0.0.1:$H2
YAML

start_node() { # start_node NAME ID; sets PG_PID
	pg_start "$1" "$PG_BIN" --config "$PG_TMP/cluster.yaml" --node-id "$2" --log-level info
}

# key_state ADDR: prints "<lease-hex>" when /goverse/nodes/ADDR exists with
# value ADDR and a lease, "nolease" / "badvalue" when wrong, "absent" if missing.
key_state() {
	pg_etcdctl get --prefix /goverse/nodes/ -w json 2>/dev/null | /usr/bin/python3 -c '
import base64, json, sys
addr = sys.argv[1]
try:
    doc = json.load(sys.stdin)
except Exception:
    print("error"); sys.exit(0)
for kv in doc.get("kvs", []):
    k = base64.b64decode(kv["key"]).decode()
    if k != "/goverse/nodes/" + addr:
        continue
    v = base64.b64decode(kv.get("value", "")).decode()
    if v != addr:
        print("badvalue"); break
    lease = int(kv.get("lease", 0))
    print("%x" % lease if lease else "nolease"); break
else:
    print("absent")
' "$1"
}

# wait_key ADDR present|absent SECS: prints ms waited.
wait_key() {
	local t0 s
	t0=$(pg_now_ms)
	while :; do
		s=$(key_state "$1")
		if [[ "$2" == absent && "$s" == absent ]] || [[ "$2" == present && "$s" =~ ^[0-9a-f]+$ ]]; then
			echo $(($(pg_now_ms) - t0)); return 0
		fi
		(($(pg_now_ms) - t0 > $3 * 1000)) && { echo "last state: $s" >&2; return 1; }
		sleep 0.05
	done
}

metric() { # metric PORT NAME: value of an unlabelled sample, or ""
	curl -s --max-time 2 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

# ---- 1. one node registers: key, value, lease with the configured TTL ----
t0=$(pg_now_ms)
start_node n1 node1
N1=$PG_PID
pg_wait_status "http://127.0.0.1:$H1/ready" 200 10 >/dev/null ||
	pg_fail "node1 /ready never 200: $(curl -s http://127.0.0.1:$H1/ready); log: $(tail -5 "$PG_TMP/n1.log")"
pg_pass "node1 ready $(($(pg_now_ms) - t0)) ms after exec (registration latency incl. start-up)"
grep -o 'registered /goverse/nodes/[^ ]* .* in [0-9]* ms' "$PG_TMP/n1.log" | head -1 || true
lease=$(key_state "$A1")
if [[ "$lease" =~ ^[0-9a-f]+$ ]]; then
	pg_pass "key /goverse/nodes/$A1 = $A1 with lease $lease"
	ttl=$(pg_etcdctl lease timetolive "$lease" -w json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("granted-ttl", 0))')
	[[ "$ttl" == "$TTL" ]] && pg_pass "lease granted TTL $ttl s" || pg_fail "lease granted TTL $ttl, want $TTL"
else
	pg_fail "node1 key state: $lease"
fi
[[ "$(pg_http_status "http://127.0.0.1:$H1/healthz")" == 200 ]] || pg_fail "node1 /healthz not 200"

# ---- 2. a second node: both see each other ----
start_node n2 node2
N2=$PG_PID
pg_wait_status "http://127.0.0.1:$H2/ready" 200 15 >/dev/null || { tail -20 "$PG_TMP/n2.log" >&2; pg_fail "node2 never ready"; }
seen=0
for _ in $(seq 1 50); do
	if grep -q "node $A2 joined" "$PG_TMP/n1.log" && grep -q "node $A1 joined" "$PG_TMP/n2.log"; then
		seen=1; break
	fi
	sleep 0.1
done
[[ $seen == 1 ]] && pg_pass "node1 and node2 logged each other joining" || pg_fail "nodes did not log each other"
# The gauge follows the watch; give a loaded machine a few seconds.
for _ in $(seq 1 50); do
	n1=$(metric "$H1" pprofgate_cluster_nodes); n2=$(metric "$H2" pprofgate_cluster_nodes)
	[[ "$n1" == 2 && "$n2" == 2 ]] && break
	sleep 0.1
done
[[ "$n1" == 2 && "$n2" == 2 ]] && pg_pass "pprofgate_cluster_nodes is 2 on both" || pg_fail "pprofgate_cluster_nodes: node1=$n1 node2=$n2, want 2"
[[ "$(metric "$H1" pprofgate_etcd_registered)" == 1 ]] || pg_fail "pprofgate_etcd_registered != 1 on node1"
# The keys outlive a full TTL: keepalive works.
sleep $((TTL + 1))
[[ "$(key_state "$A1")" == "$lease" ]] && pg_pass "node1 key kept alive past the TTL on the same lease" || pg_fail "node1 key after TTL: $(key_state "$A1")"

# ---- 3. SIGTERM: lease revoked, key gone within 1 s ----
t0=$(pg_now_ms)
kill -TERM "$N2"
if ms=$(wait_key "$A2" absent 1); then
	pg_pass "SIGTERM: node2 key gone after $ms ms"
else
	pg_fail "SIGTERM: node2 key still there after 1 s"
fi
pg_stop "$N2" || pg_fail "node2 exited with status $? after SIGTERM"
for _ in $(seq 1 20); do grep -q "node $A2 left" "$PG_TMP/n1.log" && break; sleep 0.1; done
grep -q "node $A2 left" "$PG_TMP/n1.log" && pg_pass "node1 logged node2 leaving" || pg_fail "node1 did not log node2 leaving"

# ---- 4. SIGKILL: the key stays until the lease expires ----
start_node n2b node2
N2=$PG_PID
pg_wait_status "http://127.0.0.1:$H2/ready" 200 10 >/dev/null || pg_fail "node2 (2nd run) never ready"
kill -KILL "$N2"; wait "$N2" 2>/dev/null || true
t0=$(pg_now_ms)
sleep 1
[[ "$(key_state "$A2")" =~ ^[0-9a-f]+$ ]] && pg_pass "SIGKILL: key still present 1 s later" || pg_fail "SIGKILL: key vanished early"
if ms=$(wait_key "$A2" absent $((TTL + 2))); then
	pg_pass "SIGKILL: key expired $(($(pg_now_ms) - t0)) ms after the kill (TTL $TTL s)"
else
	pg_fail "SIGKILL: key still present after TTL+2 s"
fi

# ---- 5. etcd frozen past the TTL, then restarted on the same data dir and port ----
kill -STOP "$ETCD_PID"
t0=$(pg_now_ms)
health_bad=0; ready_503_at=""
while (($(pg_now_ms) - t0 < (TTL + 6) * 1000)); do
	h=$(pg_http_status "http://127.0.0.1:$H1/healthz")
	[[ "$h" == 200 ]] || health_bad=$((health_bad + 1))
	if [[ -z "$ready_503_at" && "$(pg_http_status "http://127.0.0.1:$H1/ready")" == 503 ]]; then
		ready_503_at=$(($(pg_now_ms) - t0))
	fi
	sleep 0.2
done
[[ $health_bad == 0 ]] && pg_pass "/healthz stayed 200 while etcd was frozen" || pg_fail "/healthz failed $health_bad times while etcd was frozen"
if [[ -n "$ready_503_at" ]]; then
	pg_pass "/ready turned 503 ${ready_503_at} ms after etcd froze: $(curl -s http://127.0.0.1:$H1/ready)"
else
	pg_fail "/ready never turned 503 while etcd was frozen"
fi
pg_etcd_kill KILL
pg_etcd_start
t0=$(pg_now_ms)
if ms=$(pg_wait_status "http://127.0.0.1:$H1/ready" 200 15); then
	pg_pass "re-registered: /ready 200 ${ms} ms after etcd came back"
else
	pg_fail "/ready not 200 within 15 s after etcd came back"
fi
[[ "$(key_state "$A1")" =~ ^[0-9a-f]+$ ]] && pg_pass "node1 key back with a lease" || pg_fail "node1 key after etcd restart: $(key_state "$A1")"
[[ "$(pg_http_status "http://127.0.0.1:$H1/healthz")" == 200 ]] || pg_fail "node1 /healthz not 200 after etcd restart"
rc=$(metric "$H1" pprofgate_etcd_reconnects_total)
[[ -n "$rc" && "$rc" != 0 ]] && pg_pass "pprofgate_etcd_reconnects_total = $rc" || pg_fail "pprofgate_etcd_reconnects_total = '$rc'"
wr=$(metric "$H1" "goverse_watch_reconnections_total{node_addr=\"$A1\",outcome=\"reconnected\"}")
[[ -n "$wr" && "$wr" != 0 ]] && pg_pass "goverse_watch_reconnections_total{outcome=reconnected} = $wr" ||
	pg_fail "goverse_watch_reconnections_total{outcome=reconnected} = '$wr'"

# ---- 6. clean stop of node1 ----
kill -TERM "$N1"
ms=$(wait_key "$A1" absent 1) && pg_pass "SIGTERM: node1 key gone after $ms ms" || pg_fail "node1 key still there after SIGTERM"
pg_stop "$N1" || pg_fail "node1 exited with status $? after SIGTERM"
echo "all membership checks passed"
