#!/usr/bin/env bash
# goverse.Goverse over gRPC against the real binary: Status, object life
# cycle, every error code, malformed bytes, concurrent clients, SIGTERM.
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

expect ALREADY_EXISTS create Counter c1
expect INVALID_ARGUMENT create Nope x1
grep -q 'Counter, Echo' "$PG_TMP/expect.out" || pg_fail "unknown type message should list types"
expect INVALID_ARGUMENT create Counter ""
expect NOT_FOUND call "" missing Get
expect NOT_FOUND delete missing
expect INVALID_ARGUMENT call Echo c1 Get
expect INVALID_ARGUMENT call Counter c1 Explode
grep -q 'Increment' "$PG_TMP/expect.out" || pg_fail "unknown method message should list methods"
expect INVALID_ARGUMENT delete c1 Echo
expect UNIMPLEMENTED raw RegisterGate ""
expect UNIMPLEMENTED raw TriggerPendingCalls ""
expect UNIMPLEMENTED raw NoSuchMethod ""
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
expect NOT_FOUND call "" c1 Get
pg_pass "DeleteObject"

out=$(gc concurrent 8 50 Counter hot)
[ "$out" = 400 ] || pg_fail "8 concurrent clients x 50 increments gave $out, want 400"
pg_pass "8 concurrent clients"

# Metrics, once the binary serves /metrics on --http-listen.
if pg_wait_for_port "$H" 2 2>/dev/null; then
	m=$(curl -sf "http://127.0.0.1:$H/metrics") || pg_fail "GET /metrics"
	grep -q '^goverse_method_calls_total{.*object_type="Counter",method_name="Increment",status="success"}' <<<"$m" ||
		pg_fail "no goverse_method_calls_total for Counter.Increment"
	grep -q '^goverse_method_call_duration_bucket{' <<<"$m" || pg_fail "no goverse_method_call_duration"
	grep -q '^goverse_objects_total{.*type="Counter"' <<<"$m" || pg_fail "no goverse_objects_total"
	grep -q '^pprofgate_grpc_requests_total{method="CreateObject",code="ALREADY_EXISTS"} 1' <<<"$m" ||
		pg_fail "no pprofgate_grpc_requests_total for ALREADY_EXISTS"
	pg_pass "metrics"
else
	echo "skip: metrics (nothing on --http-listen yet)"
fi

start=$(date +%s%N)
rc=0
pg_stop "$PID" 10 || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" = 0 ] || { cat "$PG_TMP/pprofgate.log"; pg_fail "SIGTERM exit status $rc"; }
[ "$ms" -lt 5000 ] || pg_fail "SIGTERM took ${ms} ms"
pg_port_closed "$P" || pg_fail "port $P still open after exit"
pg_pass "SIGTERM: exit 0 in ${ms} ms, port closed"
echo "PASS test_grpc"
