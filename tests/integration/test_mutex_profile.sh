#!/usr/bin/env bash
# The mutex and block profiles carry the node's own lock waits: many gRPC
# callers on one object contend on its object-table stripe (struct pg_mutex in
# src/node/objects.c), and `go tool pprof -top -lines` on /debug/pprof/mutex
# names the waiting caller, pg_objects_call, with its file:line.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
command -v go >/dev/null || pg_fail "go not installed (golang-go, scripts/deps.sh)"
LOAD="$PG_BUILD_DIR/bench/callobject_load"
[ -x "$LOAD" ] || pg_fail "missing $LOAD"
export HOME="$PG_TMP" GOCACHE="$PG_TMP/gocache" PPROF_TMPDIR="$PG_TMP/pprof"
mkdir -p "$PPROF_TMPDIR"

P=$(pg_free_port)
H=$(pg_free_port)
B="http://127.0.0.1:$H/debug/pprof"
pg_start pprofgate "$PG_BUILD_DIR/pprofgate" --listen "127.0.0.1:$P" \
	--http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1
PID=$PG_PID
pg_wait_for_port "$P" 15 || { cat "$PG_TMP/pprofgate.log"; pg_fail "node did not start"; }
pg_wait_for_port "$H" 15 || pg_fail "HTTP did not start"

# Before any load the table holds no wait on the object table.
before=$(curl -fsS --max-time 10 "$B/mutex?debug=1") || pg_fail "mutex?debug=1"
grep -q "^--- mutex:" <<<"$before" || pg_fail "not a mutex profile: $(head -3 <<<"$before")"
! grep -q "pg_objects_call" <<<"$before" || pg_fail "pg_objects_call waits before any call"

# 8 connections x 32 calls in flight, all on one counter. The node's two
# completion-queue threads then meet on that object's stripe, but how often
# depends on scheduling: on a busy machine allow up to 5 rounds of 4 s.
for round in 1 2 3 4 5; do
	"$LOAD" -t "127.0.0.1:$P" -c 8 -m 32 -o 1 -d 4 -n 2000000 >"$PG_TMP/load.out" 2>&1 ||
		pg_fail "load: $(tail -3 "$PG_TMP/load.out")"
	grep -q "calls" "$PG_TMP/load.out" || pg_fail "load printed no result: $(cat "$PG_TMP/load.out")"
	text=$(curl -fsS --max-time 10 "$B/mutex?debug=1") || pg_fail "mutex?debug=1"
	grep -q "pg_objects_call+0x" <<<"$text" && break
	[ $round -lt 5 ] || pg_fail "no wait in pg_objects_call after 5 rounds: $(head -20 <<<"$text")"
done
echo "info: contention recorded after $round round(s) of load"

out=$(timeout 60 go tool pprof -top -lines -nodecount=50 "$B/mutex" 2>"$PG_TMP/pprof.err") ||
	pg_fail "go tool pprof mutex: $(cat "$PG_TMP/pprof.err")"
grep -q "Type: delay" <<<"$out" || pg_fail "not a delay profile: $(head -10 <<<"$out")"
row=$(grep -m1 -E " pg_objects_call [^ ]*src/node/objects\.c:[0-9]+" <<<"$out" || true)
[ -n "$row" ] || pg_fail "-top -lines does not name pg_objects_call with file:line: $(head -30 <<<"$out")"
pg_pass "go tool pprof -top -lines mutex: $(sed 's/  */ /g' <<<"$row")"

out=$(timeout 60 go tool pprof -top -sample_index=contentions "$B/block" 2>"$PG_TMP/pprof.err") ||
	pg_fail "go tool pprof block: $(cat "$PG_TMP/pprof.err")"
grep -q " pg_objects_call$" <<<"$out" || pg_fail "block lacks pg_objects_call: $(head -30 <<<"$out")"
pg_pass "go tool pprof -top block: pg_objects_call waits counted"
pg_stop "$PID" || pg_fail "node exit status $?"
