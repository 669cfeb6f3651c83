#!/usr/bin/env bash
# /debug/pprof/trace under gRPC load is strict Trace Event Format
# (tests/integration/trace_check.py: phases, required fields per phase,
# balanced B/E, nested X per thread, metadata), holds HTTP, gRPC and object
# events; and every way to get it says how to open it: the index page, and
# `pprofgatectl fetch trace` (a hint on stderr, no "go tool pprof" line).
source "$(dirname "$0")/lib.sh"
pg_tmpdir
LOAD="$PG_BUILD_DIR/bench/callobject_load"
[ -x "$LOAD" ] || pg_fail "missing $LOAD"
G=$(pg_free_port); H=$(pg_free_port)
B="http://127.0.0.1:$H/debug/pprof"
pg_start node "$PG_BUILD_DIR/pprofgate" --listen "127.0.0.1:$G" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1
NODE=$PG_PID
pg_wait_for_port "$H" 15 || pg_fail "node did not start: $(cat "$PG_TMP/node.log")"
pg_wait_for_port "$G" 15 || pg_fail "gRPC did not start"

# A bounded CallObject load (at most 6 s or 200000 calls) while a 2 s trace runs,
# with a few HTTP requests inside it.
"$LOAD" -t "127.0.0.1:$G" -c 2 -m 4 -d 6 -n 200000 -o 16 >"$PG_TMP/load.out" 2>&1 &
LOADPID=$!
PG_PIDS+=("$LOADPID")
sleep 0.5
curl -s -o "$PG_TMP/trace.json" --max-time 15 "$B/trace?seconds=2" &
TR=$!
sleep 0.3
for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$H/healthz"; done
wait $TR || pg_fail "trace request failed"
wait $LOADPID || pg_fail "load failed: $(cat "$PG_TMP/load.out")"
[ -s "$PG_TMP/trace.json" ] || pg_fail "empty trace"
out=$("$PG_PY" "$PG_SRC_DIR/tests/integration/trace_check.py" "$PG_TMP/trace.json" --min-events 500 \
	--require-cat grpc --require-cat object --require-cat http) || pg_fail "trace under load: $out"
pg_pass "trace?seconds=2 under CallObject load: $out"

# The index page says how to open it.
curl -s "$B/" >"$PG_TMP/index.html"
grep -q "Chrome Trace Event JSON, not Go&#39;s execution trace\|Chrome Trace Event JSON, not Go's execution trace" \
	"$PG_TMP/index.html" && grep -q "https://ui.perfetto.dev" "$PG_TMP/index.html" &&
	grep -q "go tool trace cannot read it" "$PG_TMP/index.html" || pg_fail "index: $(grep -i trace "$PG_TMP/index.html")"
curl -s "$B/?debug=1" | grep -q "go tool trace cannot read it" || pg_fail "text index lacks the trace hint"
pg_pass "the index (HTML and debug=1) says to open the trace in Perfetto, not go tool trace"

# pprofgatectl fetch trace: the file, a hint on stderr, no go tool pprof line.
"$PG_BUILD_DIR/pprofgatectl" --node "127.0.0.1:$H" fetch trace --seconds 2 -o "$PG_TMP/fetched.json" \
	>"$PG_TMP/fetch.out" 2>"$PG_TMP/fetch.err" &
FETCH=$!
sleep 0.5
for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$H/healthz"; done
wait $FETCH || pg_fail "fetch trace: $(cat "$PG_TMP/fetch.err")"
grep -qx "$PG_TMP/fetched.json is Chrome Trace Event JSON: open it in https://ui.perfetto.dev or chrome://tracing; go tool trace cannot read it" \
	"$PG_TMP/fetch.err" || pg_fail "fetch trace hint: $(cat "$PG_TMP/fetch.err")"
[ ! -s "$PG_TMP/fetch.out" ] || pg_fail "fetch trace suggests: $(cat "$PG_TMP/fetch.out")"
"$PG_PY" "$PG_SRC_DIR/tests/integration/trace_check.py" "$PG_TMP/fetched.json" --require-cat http >/dev/null ||
	pg_fail "fetched trace is not valid"
"$PG_BUILD_DIR/pprofgatectl" --node "127.0.0.1:$H" fetch goroutine -o "$PG_TMP/g.pb.gz" >"$PG_TMP/fetch.out" 2>&1 ||
	pg_fail "fetch goroutine: $(cat "$PG_TMP/fetch.out")"
grep -qx "go tool pprof $PG_TMP/g.pb.gz" "$PG_TMP/fetch.out" || pg_fail "fetch goroutine: $(cat "$PG_TMP/fetch.out")"
pg_pass "pprofgatectl fetch trace writes valid JSON and says how to open it (other profiles still suggest go tool pprof)"
pg_stop "$NODE" 15 || pg_fail "node did not stop cleanly"
