#!/usr/bin/env bash
# goverse.Goverse over gRPC against the real binary: Status, object life
# cycle, Goverse's request rules and wording, the RPCs the node does not
# serve (ReliableCallObject, RegisterGate), malformed bytes, concurrent
# clients, the Goverse metrics moving under calls, SIGTERM.
source "$(dirname "$0")/lib.sh"
pg_tmpdir

export PG_PY_GEN="$PG_TMP/py"
mkdir -p "$PG_PY_GEN"
protoc --python_out="$PG_PY_GEN" -I"$PG_SRC_DIR/proto" -I/usr/include goverse.proto counter.proto

P=$(pg_free_port)
H=$(pg_free_port)
T="127.0.0.1:$P"
pg_start pprofgate "$PG_BUILD_DIR/pprofgate" --listen "$T" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1
PID=$PG_PID
pg_wait_for_port "$P" 15 || { cat "$PG_TMP/pprofgate.log"; pg_fail "server did not start"; }

gc() { "$PG_PY" "$PG_SRC_DIR/tests/integration/goverse_client.py" "$T" "$@"; }
expect() { gc expect "$@" >"$PG_TMP/expect.out" || pg_fail "expected $1 from: ${*:2} (got: $(cat "$PG_TMP/expect.out"))"; }

out=$(gc status)
[[ "$out" == "$T 0 "* ]] || pg_fail "status: $out"
pg_pass "Status: $out"

[ "$(gc create Counter c1)" = c1 ] || pg_fail "create"
[ "$(gc call Counter c1 Increment 5)" = "c1 5" ] || pg_fail "increment"
[ "$(gc call Counter c1 Add 2)" = "c1 7" ] || pg_fail "add"
[ "$(gc call Counter c1 Decrement 10)" = "c1 -3" ] || pg_fail "decrement"
[ "$(gc call Counter c1 Get)" = "c1 -3" ] || pg_fail "get"
[ "$(gc call Counter c1 Increment 2147483647)" = "c1 2147483644" ] || pg_fail "big increment"
[ "$(gc call Counter c1 Increment 10)" = "c1 -2147483642" ] || pg_fail "int32 wrap"
[ "$(gc call Counter c1 Reset)" = "c1 0" ] || pg_fail "reset"
pg_pass "Counter Increment/Add/Decrement/Get/Reset, int32 wrap"

# Goverse auto-creates on call when the type is given.
[ "$(gc call Counter auto-1 Increment 3)" = "auto-1 3" ] || pg_fail "auto-create"
out=$(gc echo e1 42)
[ "$out" = "type.googleapis.com/counter.IncrementRequest 42" ] || pg_fail "echo: $out"
out=$(gc list | awk '{print $1, $2}' | tr '\n' ' ')
[ "$out" = "Counter auto-1 Counter c1 Echo e1 " ] || pg_fail "list: $out"
[ "$(gc status | cut -d' ' -f2)" = 3 ] || pg_fail "status count"
pg_pass "auto-create on call, Echo, ListObjects"

# Goverse's rules, in Goverse's words (docs/goverse.md lists each).
said() { grep -qF -- "$1" "$PG_TMP/expect.out" || pg_fail "expected \"$1\" in: $(cat "$PG_TMP/expect.out")"; }
[ "$(gc create Counter c1)" = c1 ] || pg_fail "create of an existing id with its type must succeed"
[ "$(gc call Counter c1 Get)" = "c1 0" ] || pg_fail "create of an existing id must leave it as it was"
expect ALREADY_EXISTS create Echo c1
said "object with id c1 already exists but with different type: expected Echo, got Counter"
expect INVALID_ARGUMENT create Nope x1
said "unknown object type: Nope (known types: Counter, Echo)"
expect INVALID_ARGUMENT create Counter ""
said "object ID must be specified in CreateObject request"
expect INVALID_ARGUMENT call "" missing Get
said "failed to auto-create object missing: unknown object type: "
expect INVALID_ARGUMENT delete missing
said "DeleteObject requires a non-empty type"
expect INVALID_ARGUMENT delete c1
said "DeleteObject requires a non-empty type"
expect INVALID_ARGUMENT delete "" Counter
said "object ID must be specified in DeleteObject request"
[ "$(gc delete missing Counter)" = deleted ] || pg_fail "deleting a missing object must succeed"
expect INVALID_ARGUMENT call Echo c1 Get
said "expected Echo, got Counter"
expect INVALID_ARGUMENT call Counter c1 Explode
said "method not found in class Counter: Explode (methods: Increment"
expect INVALID_ARGUMENT delete c1 Echo
said "delete rejected: type mismatch for c1 (claimed Echo, real Counter)"
pg_pass "Goverse's request rules: duplicate create, unknown type, empty id/type, delete, mismatch"

# The RPCs this node does not serve answer with a reason, never "unknown method".
out=$(gc reliable call-1 Counter r1 Get)
[ "$out" = "SKIPPED no persistence provider configured: this node keeps objects in memory only and cannot record reliable calls; the call was not executed (use CallObject, or a Goverse node with Postgres persistence)" ] ||
	pg_fail "ReliableCallObject: $out"
out=$(gc reliable "" Counter r1 Get)
[ "$out" = "SKIPPED call_id must be specified in ReliableCallObject request" ] || pg_fail "ReliableCallObject without call_id: $out"
out=$(gc reliable call-1 Counter r1 Get norequest)
[ "$out" = "SKIPPED request must be specified in ReliableCallObject request" ] || pg_fail "ReliableCallObject without request: $out"
expect INVALID_ARGUMENT call "" r1 Get # never executed, so never created
expect UNIMPLEMENTED register_gate 127.0.0.1:49000
said "this node serves no gates"
expect INVALID_ARGUMENT register_gate ""
said "gate_addr must be specified in RegisterGate request"
expect UNIMPLEMENTED push client-1
said "has no method PushMessageToClient"
expect UNIMPLEMENTED raw TriggerPendingCalls ""
said "unknown method for service goverse.Goverse"
expect UNIMPLEMENTED raw NoSuchMethod ""
pg_pass "ReliableCallObject SKIPPED, RegisterGate and PushMessageToClient UNIMPLEMENTED with a reason"
# Malformed protobuf: a truncated length-delimited field, a bad wire type.
expect INVALID_ARGUMENT raw CreateObject 0a05616263
expect INVALID_ARGUMENT raw CallObject ffffffffffffffffffff01
expect INVALID_ARGUMENT raw Status 0f
# A CallObject whose Any carries the wrong type, then undecodable bytes.
expect INVALID_ARGUMENT raw CallObject "$("$PG_PY" - <<PY
import sys; sys.path.insert(0, "$PG_PY_GEN")
import goverse_pb2
from google.protobuf import any_pb2
r = goverse_pb2.CallObjectRequest(id="c1", type="Counter", method="Increment",
    request=any_pb2.Any(type_url="type.googleapis.com/counter.Wrong", value=b""))
print(r.SerializeToString().hex())
PY
)"
expect INVALID_ARGUMENT raw CallObject "$("$PG_PY" - <<PY
import sys; sys.path.insert(0, "$PG_PY_GEN")
import goverse_pb2
from google.protobuf import any_pb2
r = goverse_pb2.CallObjectRequest(id="c1", type="Counter", method="Increment",
    request=any_pb2.Any(type_url="type.googleapis.com/counter.IncrementRequest", value=b"\x08"))
print(r.SerializeToString().hex())
PY
)"
gc status >/dev/null || pg_fail "server died after malformed input"
pg_pass "error codes and malformed input"

[ "$(gc delete c1 Counter)" = deleted ] || pg_fail "delete"
[ "$(gc list | grep -c ' c1 ')" = 0 ] || pg_fail "c1 still listed after delete"
pg_pass "DeleteObject"

out=$(gc concurrent 8 50 Counter hot)
[ "$out" = 400 ] || pg_fail "8 concurrent clients x 50 increments gave $out, want 400"
pg_pass "8 concurrent clients"

# Goverse's metrics, under Goverse's names and labels, move with real calls.
pg_wait_for_port "$H" 5 || pg_fail "nothing on --http-listen $H"
metrics() { curl -sf "http://127.0.0.1:$H/metrics" || pg_fail "GET /metrics"; }
# value SERIES: the sample of one exact series (0 when absent).
value() { metrics | awk -v k="$1" '$1 == k { v = $2 } END { print v == "" ? 0 : v }'; }
shard=$("$PG_PY" -c '
h = 2166136261
for c in b"metrics-obj":
    h = ((h ^ c) * 16777619) & 0xffffffff
print(h % 8192)')
calls="goverse_method_calls_total{node=\"$T\",object_type=\"Counter\",method_name=\"Increment\",status=\"success\"}"
fails="goverse_method_calls_total{node=\"$T\",object_type=\"Counter\",method_name=\"other\",status=\"failure\"}"
durations="goverse_method_call_duration_count{node=\"$T\",object_type=\"Counter\",method_name=\"Increment\",status=\"success\"}"
per_shard="goverse_shard_method_calls_total{shard=\"$shard\"}"
objects="goverse_objects_total{node=\"$T\",type=\"Counter\",shard=\"$shard\"}"
c0=$(value "$calls") f0=$(value "$fails") d0=$(value "$durations") s0=$(value "$per_shard") o0=$(value "$objects")
for i in 1 2 3; do gc call Counter metrics-obj Increment 1 >/dev/null || pg_fail "increment $i"; done
gc expect INVALID_ARGUMENT call Counter metrics-obj Explode >/dev/null || pg_fail "Explode should fail"
m=$(metrics)
v() { awk -v k="$1" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' <<<"$m"; }
[ "$(v "$calls")" = $((c0 + 3)) ] || pg_fail "$calls: $c0 -> $(v "$calls"), want +3"
[ "$(v "$fails")" = $((f0 + 1)) ] || pg_fail "$fails: $f0 -> $(v "$fails"), want +1"
[ "$(v "$durations")" = $((d0 + 3)) ] || pg_fail "$durations: $d0 -> $(v "$durations"), want +3"
[ "$(v "$per_shard")" = $((s0 + 4)) ] || pg_fail "$per_shard: $s0 -> $(v "$per_shard"), want +4 (failed calls count too)"
[ "$(v "$objects")" = $((o0 + 1)) ] || pg_fail "$objects: $o0 -> $(v "$objects"), want +1 (auto-created)"
[ "$(v "goverse_node_connected_gates{node=\"$T\"}")" = 0 ] || pg_fail "goverse_node_connected_gates missing or not 0"
grep -q '^goverse_method_call_duration_bucket{node="'"$T"'",object_type="Counter",method_name="Increment",status="success",le="0.001"}' <<<"$m" ||
	pg_fail "goverse_method_call_duration has not Goverse's buckets"
for fam in "goverse_objects_total gauge" "goverse_method_calls_total counter" \
	"goverse_method_call_duration histogram" "goverse_shard_method_calls_total counter" \
	"goverse_node_connected_gates gauge"; do
	grep -qx "# TYPE $fam" <<<"$m" || pg_fail "no '# TYPE $fam'"
done
grep -q '^pprofgate_grpc_requests_total{method="CreateObject",code="ALREADY_EXISTS"} 1$' <<<"$m" ||
	pg_fail "no pprofgate_grpc_requests_total for ALREADY_EXISTS"
grep -q '^pprofgate_grpc_requests_total{method="ReliableCallObject",code="OK"} 3$' <<<"$m" ||
	pg_fail "no pprofgate_grpc_requests_total for ReliableCallObject"
[ "$(gc delete metrics-obj Counter)" = deleted ] || pg_fail "delete metrics-obj"
[ "$(value "$objects")" = "$o0" ] || pg_fail "$objects did not go back to $o0 after delete"
# promtool must parse it all (exit 1 is a parse error, 3 lint findings). Its
# only finding on Goverse's families is the name Goverse gave its object gauge,
# which stays Goverse's so dashboards work unchanged.
rc=0
promtool check metrics <<<"$m" >"$PG_TMP/promtool.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || pg_fail "promtool check metrics (exit $rc): $(cat "$PG_TMP/promtool.out")"
grep -qx 'goverse_objects_total non-counter metrics should not have "_total" suffix' "$PG_TMP/promtool.out" ||
	pg_fail "promtool did not lint goverse_objects_total: is it still rendered? $(cat "$PG_TMP/promtool.out")"
if grep -vx 'goverse_objects_total non-counter metrics should not have "_total" suffix' "$PG_TMP/promtool.out" |
	grep -q 'goverse_'; then
	pg_fail "promtool check metrics on the Goverse families: $(cat "$PG_TMP/promtool.out")"
fi
pg_pass "Goverse metrics move under calls: calls +3, failures +1, shard $shard +4, objects +1 then back"

start=$(date +%s%N)
rc=0
pg_stop "$PID" 10 || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" = 0 ] || { cat "$PG_TMP/pprofgate.log"; pg_fail "SIGTERM exit status $rc"; }
[ "$ms" -lt 5000 ] || pg_fail "SIGTERM took ${ms} ms"
pg_port_closed "$P" || pg_fail "port $P still open after exit"
pg_pass "SIGTERM: exit 0 in ${ms} ms, port closed"
echo "PASS test_grpc"
