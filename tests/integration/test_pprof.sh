#!/usr/bin/env bash
# The /debug/pprof/ suite on the live node, read with the real `go tool pprof`
# (no binary argument) while bench/callobject_load drives CallObject calls.
# In a build without gperftools (sanitizer build) the CPU and heap steps are
# skipped with a printed reason; everything else runs.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
command -v go >/dev/null || { echo "SKIP: go not installed"; exit 0; }
LOAD="$PG_BUILD_DIR/bench/callobject_load"
[ -x "$LOAD" ] || pg_fail "missing $LOAD"

export HOME="$PG_TMP" GOCACHE="$PG_TMP/gocache" PPROF_TMPDIR="$PG_TMP/pprof"
mkdir -p "$PPROF_TMPDIR"
export PG_PY_GEN="$PG_TMP/py"
mkdir -p "$PG_PY_GEN"
protoc --python_out="$PG_PY_GEN" -I"$PG_SRC_DIR/proto" -I/usr/include goverse.proto counter.proto

P=$(pg_free_port)
H=$(pg_free_port)
T="127.0.0.1:$P"
B="http://127.0.0.1:$H/debug/pprof"
# One heap sample per 64 KiB allocated (default 512 KiB): the heap check
# below then rests on ~100 samples instead of ~12 (see there).
HEAP_RATE=65536
pg_start pprofgate env TCMALLOC_SAMPLE_PARAMETER=$HEAP_RATE "$PG_BUILD_DIR/pprofgate" --listen "$T" \
	--http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1
PID=$PG_PID
pg_wait_for_port "$H" 15 || { cat "$PG_TMP/pprofgate.log"; pg_fail "node did not start"; }
pg_wait_for_port "$P" 15 || pg_fail "gRPC did not start"
gc() { "$PG_PY" "$PG_SRC_DIR/tests/integration/goverse_client.py" "$T" "$@"; }
code() { curl -s -o "$PG_TMP/body" -w '%{http_code}' --max-time 20 "$@"; }
pprof() { timeout 60 go tool pprof "$@" 2>"$PG_TMP/pprof.err"; }

# --- the gate: loopback is allowed (non-loopback peers: routes_test) ---
[ "$(code "$B/")" = 200 ] || pg_fail "index from 127.0.0.1: $(cat "$PG_TMP/body")"
grep -q "goroutine?debug=2" "$PG_TMP/body" || pg_fail "index lacks the dump link"
[ "$(code "$B/?debug=1")" = 200 ] && grep -q "threadcreate" "$PG_TMP/body" || pg_fail "text index"
pg_pass "index (HTML and debug=1) served to 127.0.0.1"

# --- bad parameters: 400/404 with a message, the node stays up ---
for q in "profile?seconds=-1" "profile?seconds=abc" "profile?seconds=1e9" "profile?seconds=0" \
	"profile?seconds=301" "trace?seconds=-1" "goroutine?debug=7" "heap?seconds=x" "?debug=5"; do
	c=$(code "$B/$q")
	[ "$c" = 400 ] && [ -s "$PG_TMP/body" ] || pg_fail "$q: want 400 with a message, got $c"
done
grep -q "1..300" <(curl -s "$B/profile?seconds=301") || pg_fail "the limit is not named"
[ "$(code "$B/nope")" = 404 ] || pg_fail "unknown profile"
[ "$(code -X DELETE "$B/heap")" = 405 ] || pg_fail "DELETE heap"
pg_pass "bad parameters -> 400, unknown profile -> 404"

# --- load: CallObject over 100000 counters, then keep calling in the background ---
N=100000
"$LOAD" -t "$T" -c 2 -m 16 -n $N -o $N -d 60 >"$PG_TMP/fill.out" || pg_fail "fill load failed"
grep -q "calls" "$PG_TMP/fill.out" || true
[ "$(gc status | awk '{print $2}')" -ge $N ] || pg_fail "objects were not created: $(gc status)"
"$LOAD" -t "$T" -c 2 -m 8 -d 40 -o 1000 >"$PG_TMP/load.out" 2>&1 &
LOADPID=$!
PG_PIDS+=("$LOADPID")
sleep 0.5

CPU=yes
c=$(code "$B/profile?seconds=1")
if [ "$c" = 501 ]; then
	CPU=no
	echo "SKIP cpu/heap steps: $(cat "$PG_TMP/body") (sanitizer build, no gperftools)"
else
	[ "$c" = 200 ] || pg_fail "profile?seconds=1: $c"
fi

if [ $CPU = yes ]; then
	# --- CPU: -top names the node's hot functions, without the binary ---
	out=$(pprof -top -cum -nodecount=400 "$B/profile?seconds=3") || pg_fail "pprof -top: $(cat "$PG_TMP/pprof.err")"
	grep -q "Type: cpu" <<<"$out" || pg_fail "not a CPU profile: $out"
	for f in pg_rpc_dispatch pg_objects_call; do
		grep -q " $f\$" <<<"$out" || pg_fail "-top lacks $f: $(head -40 <<<"$out")"
	done
	# protobuf-c's share is small; on a loaded machine 3 s of samples may
	# miss it, so it is reported, not required.
	if grep -Eq " protobuf_c_message_(unpack|pack|get_packed_size|free_unpacked)" <<<"$out"; then
		echo "info: -top also shows protobuf-c"
	fi
	pg_pass "go tool pprof -top profile?seconds=3: pg_rpc_dispatch, pg_objects_call"
	saved=$(ls -t "$PPROF_TMPDIR"/*.pb.gz | head -1)
	# Static callees inlined into pg_rpc_dispatch carry their own line
	# numbers (no inline frames are emitted), which -list leaves out; so
	# list the two entry points and require source rows from one of them.
	out=$(pprof -list '^(pg_rpc_dispatch|pg_objects_call)$' "$saved") || pg_fail "pprof -list: $(cat "$PG_TMP/pprof.err")"
	grep -Eq "^ROUTINE =+ (pg_rpc_dispatch|pg_objects_call) in .*src/(rpc/dispatch|node/objects)\.c" <<<"$out" ||
		pg_fail "-list names no source file: $(head -20 <<<"$out")"
	rows=$(grep -Ec "^ +[^ ]+ +[^ ]+ +[0-9]+:" <<<"$out" || true)
	[ "$rows" -ge 5 ] || pg_fail "-list shows $rows source rows: $(head -20 <<<"$out")"
	pg_pass "go tool pprof -list shows $rows source rows of pg_rpc_dispatch/pg_objects_call"

	# --- heap: the object table's allocations, attributed to insert() ---
	# Each of the N counters is one calloc(48 + len("bench-K") + 1) in
	# src/node/objects.c insert(), a 64-byte size class: 6.4 MB live. At one
	# sample per 64 KiB that is ~98 samples, so the scaled estimate has a
	# relative standard deviation of ~10 %: accept 0.5x..2x (5 sd).
	out=$(pprof -sample_index=inuse_space -unit=B -top -nodecount=400 "$B/heap") ||
		pg_fail "pprof heap: $(cat "$PG_TMP/pprof.err")"
	grep -q "Type: inuse_space" <<<"$out" || pg_fail "not a heap profile: $out"
	# insert() may be inlined into its one caller: then its row reads "insert (inline)".
	flat=$(awk '$NF == "insert" || ($NF == "(inline)" && $(NF-1) == "insert") {sub("B$", "", $1); print $1}' <<<"$out" | head -1)
	[ -n "$flat" ] || pg_fail "heap: no insert row: $(head -30 <<<"$out")"
	want=$((N * 64))
	[ "$flat" -ge $((want / 2)) ] && [ "$flat" -le $((want * 2)) ] ||
		pg_fail "heap: insert holds $flat B, want $want B within 0.5x..2x"
	pg_pass "heap: insert() holds $flat B of the expected $want B (tolerance 0.5x..2x)"
	c=$(code "$B/allocs?seconds=1&gc=1")
	[ "$c" = 200 ] || pg_fail "allocs delta: $c"
	pg_pass "allocs?seconds=1 delta served"

	# --- one capture at a time; metrics stay fast meanwhile ---
	curl -s -o "$PG_TMP/long.pb.gz" --max-time 20 "$B/profile?seconds=4" &
	LONG=$!
	sleep 0.5
	curl -s -D "$PG_TMP/hdr" -o "$PG_TMP/body" "$B/profile?seconds=1"
	grep -q "^HTTP/1.1 429" "$PG_TMP/hdr" || pg_fail "concurrent profile: $(head -1 "$PG_TMP/hdr")"
	ra=$(awk 'tolower($1) == "retry-after:" {print $2+0}' "$PG_TMP/hdr")
	[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 4 ] || pg_fail "Retry-After: '$ra'"
	grep -q "ends at" "$PG_TMP/body" || pg_fail "429 body: $(cat "$PG_TMP/body")"
	pg_pass "concurrent profile -> 429, Retry-After: $ra"
	worst=0
	for i in 1 2 3 4 5; do
		t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$H/metrics")
		worst=$("$PG_PY" -c "print(max($worst, $t))")
		sleep 0.2
	done
	"$PG_PY" -c "import sys; sys.exit(0 if $worst < 0.5 else 1)" || pg_fail "/metrics took $worst s during a capture"
	pg_pass "/metrics during a capture: slowest of 5 took ${worst}s"
	wait $LONG
	[ -s "$PG_TMP/long.pb.gz" ] || pg_fail "the long capture delivered nothing"

	# --- a client that disconnects stops its capture ---
	curl -s -o /dev/null --max-time 1 "$B/profile?seconds=30" || true
	sleep 0.3
	t0=$(date +%s%N)
	c=$(code "$B/profile?seconds=1")
	[ "$c" = 200 ] || pg_fail "capture after a disconnect: $c $(cat "$PG_TMP/body")"
	grep -q "client closed the connection: CPU profile capture cancelled" "$PG_TMP/pprofgate.log" ||
		pg_fail "no cancel logged"
	pg_pass "curl disconnect mid-capture freed the profiler (next capture 200 in $((($(date +%s%N) - t0) / 1000000)) ms)"
else
	[ "$(code "$B/heap")" = 501 ] || pg_fail "heap without tcmalloc: want 501"
	grep -q "not available in this build" "$PG_TMP/body" || pg_fail "501 body"
	pg_pass "ASan build: profile and heap answer 501 with a reason"
fi

# --- goroutine?debug=2 names every thread ---
before=$(cd /proc/$PID/task && for t in *; do echo "$t $(cat "$t/comm" 2>/dev/null)"; done)
[ "$(code "$B/goroutine?debug=2")" = 200 ] || pg_fail "goroutine?debug=2"
after=$(cd /proc/$PID/task && for t in *; do echo "$t $(cat "$t/comm" 2>/dev/null)"; done)
n=0
while read -r tid name; do
	grep -qxF "$tid $name" <<<"$after" || continue # exited meanwhile
	grep -qF "thread $tid [$name]" "$PG_TMP/body" || pg_fail "thread $tid [$name] missing from the dump"
	n=$((n + 1))
done <<<"$before"
[ $n -ge 5 ] || pg_fail "only $n threads compared"
out=$(pprof -top "$B/goroutine") || pg_fail "pprof goroutine: $(cat "$PG_TMP/pprof.err")"
grep -q "Type: goroutine" <<<"$out" || pg_fail "goroutine profile: $out"
pg_pass "goroutine?debug=2 names all $n threads as /proc/$PID/task/*/comm does; go tool pprof reads debug=0"

# --- symbol: a real address of a known function (PIE: load base + nm) ---
exe=$(readlink "/proc/$PID/exe")
off=$(nm "$exe" | awk '$3 == "pg_rpc_dispatch" {print $1}')
base=$(awk -v e="$exe" '$6 == e && $3 == "00000000" {split($1, a, "-"); print a[1]; exit}' "/proc/$PID/maps")
[ -n "$off" ] && [ -n "$base" ] || pg_fail "nm/maps: off=$off base=$base"
addr=$(printf '0x%x' $((0x$base + 0x$off + 4)))
out=$(curl -s --data-binary "0x1+$addr+zz" "$B/symbol")
grep -qx "num_symbols: 1" <<<"$out" && grep -qx "$addr pg_rpc_dispatch" <<<"$out" ||
	pg_fail "symbol POST $addr: $out"
out=$(curl -s "$B/symbol?$addr")
grep -qx "$addr pg_rpc_dispatch" <<<"$out" || pg_fail "symbol GET: $out"
[ "$(curl -s "$B/symbol")" = "num_symbols: 1" ] || pg_fail "symbol GET without query"
pg_pass "symbol: $addr -> pg_rpc_dispatch (POST and GET)"

# --- trace: JSON holding an HTTP request and a gRPC call made during it ---
# Four seconds: two Python gRPC clients start inside the window, which on a
# loaded 2-CPU machine takes more than two.
# The load stops first: at full load the default event buffer (2^17) fills
# within seconds and later events are dropped (counted in the JSON).
kill "$LOADPID" 2>/dev/null || true
wait "$LOADPID" 2>/dev/null || true
curl -s -o "$PG_TMP/trace.json" --max-time 12 "$B/trace?seconds=4" &
TR=$!
sleep 0.4
[ "$(code "$B/trace?seconds=1")" = 429 ] || pg_fail "concurrent trace: want 429"
curl -s -o /dev/null "http://127.0.0.1:$H/healthz"
gc status >/dev/null
gc call Counter traced Increment 1 >/dev/null
wait $TR
"$PG_PY" - "$PG_TMP/trace.json" <<'EOF' || pg_fail "trace JSON"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = {(e.get("cat"), e.get("name")) for e in ev}
for want in [("http", "/healthz"), ("grpc", "Status"), ("grpc", "CallObject"), ("object", "Increment")]:
    if want not in names:
        sys.exit("missing %s in %d events" % (want, len(ev)))
print("trace: %d events" % len(ev))
EOF
pg_pass "trace?seconds=4 parses and holds /healthz, Status, CallObject and Increment events"

pg_stop "$PID" 15 || pg_fail "node did not stop cleanly"
pg_pass "node stopped"
