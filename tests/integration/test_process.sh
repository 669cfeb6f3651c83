#!/usr/bin/env bash
# The node's process is called pprofgate: started without
# TCMALLOC_SAMPLE_PARAMETER it execs itself once to set the heap sampling rate,
# and that exec must keep its name (ps -C, pgrep -x, the thread dump) and its
# PID, and the heap profile must still carry samples.
source "$(dirname "$0")/lib.sh"
pg_tmpdir
command -v pgrep >/dev/null || pg_fail "pgrep missing (Debian's procps, scripts/deps.sh)"
LOAD="$PG_BUILD_DIR/bench/callobject_load"
[ -x "$LOAD" ] || pg_fail "missing $LOAD"

P=$(pg_free_port)
H=$(pg_free_port)
B="http://127.0.0.1:$H/debug/pprof"
pg_start pprofgate env -u TCMALLOC_SAMPLE_PARAMETER "$PG_BUILD_DIR/pprofgate" \
	--listen "127.0.0.1:$P" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1
PID=$PG_PID
pg_wait_for_port "$H" 15 || { cat "$PG_TMP/pprofgate.log"; pg_fail "node did not start"; }
kill -0 "$PID" || pg_fail "the started PID $PID is gone (exec must keep the PID)"

# `env` execs the node in place, so $PID is the node.
[ "$(cat "/proc/$PID/comm")" = pprofgate ] || pg_fail "comm is '$(cat "/proc/$PID/comm")', want pprofgate"
pgrep -x pprofgate | grep -qx "$PID" || pg_fail "pgrep -x pprofgate does not list $PID: $(pgrep -a -x pprofgate)"
ps -C pprofgate -o pid= | grep -qw "$PID" || pg_fail "ps -C pprofgate does not list $PID"
[ "$(readlink "/proc/$PID/exe")" = "$(readlink -f "$PG_BUILD_DIR/pprofgate")" ] ||
	pg_fail "/proc/$PID/exe is $(readlink "/proc/$PID/exe")"
pg_pass "pgrep -x pprofgate and ps -C pprofgate find the node (PID $PID)"

dump=$(curl -fsS --max-time 10 "$B/goroutine?debug=2") || pg_fail "thread dump"
[ -n "$dump" ] || pg_fail "empty thread dump"
! grep -q "\[exe\]" <<<"$dump" || pg_fail "thread dump names [exe]: $(grep -m3 "\[exe\]" <<<"$dump")"
pg_pass "thread dump ($(wc -l <<<"$dump") lines) never says [exe]"

c=$(curl -s -o "$PG_TMP/heap.txt" -w '%{http_code}' --max-time 10 "$B/heap?debug=1")
if [ "$c" = 501 ]; then
	# Sanitizer build: no tcmalloc, so no re-exec and no heap profile.
	echo "SKIP heap step: $(cat "$PG_TMP/heap.txt")"
else
	tr '\0' '\n' <"/proc/$PID/environ" | grep -qx "TCMALLOC_SAMPLE_PARAMETER=524288" ||
		pg_fail "the node did not set TCMALLOC_SAMPLE_PARAMETER=524288 for itself"
	# ~20 MB of allocations at one sample per 512 KiB: tens of samples.
	"$LOAD" -t "127.0.0.1:$P" -c 2 -m 8 -n 20000 -o 20000 -d 20 >"$PG_TMP/load.out" 2>&1 ||
		pg_fail "load: $(tail -3 "$PG_TMP/load.out")"
	c=$(curl -s -o "$PG_TMP/heap.txt" -w '%{http_code}' --max-time 10 "$B/heap?debug=1")
	[ "$c" = 200 ] || pg_fail "heap?debug=1: $c $(head -3 "$PG_TMP/heap.txt")"
	n=$(awk '/^heap profile:/ { sub(":", "", $3); print $3; exit }' "$PG_TMP/heap.txt")
	[ -n "$n" ] && [ "$n" -gt 0 ] || pg_fail "heap profile has no samples: $(head -3 "$PG_TMP/heap.txt")"
	pg_pass "heap profile after the re-exec: $n live objects sampled at 1/512 KiB"
fi
pg_stop "$PID" || pg_fail "node exit status $?"
pg_pass "node stopped cleanly"

if [ "$c" = 200 ]; then
	# The operator's rate wins, and 0 (sampling off) is a clear 501, not a 500.
	pg_start off env TCMALLOC_SAMPLE_PARAMETER=0 "$PG_BUILD_DIR/pprofgate" \
		--listen "127.0.0.1:$P" --http-listen "127.0.0.1:$H" --etcd 127.0.0.1:1
	pg_wait_for_port "$H" 15 || { cat "$PG_TMP/off.log"; pg_fail "node did not start"; }
	c=$(curl -s -o "$PG_TMP/heap.txt" -w '%{http_code}' --max-time 10 "$B/heap")
	[ "$c" = 501 ] && grep -q "sampling is off" "$PG_TMP/heap.txt" ||
		pg_fail "heap with TCMALLOC_SAMPLE_PARAMETER=0: $c $(cat "$PG_TMP/heap.txt")"
	[ "$(cat "/proc/$PG_PID/comm")" = pprofgate ] || pg_fail "comm with the rate set: $(cat "/proc/$PG_PID/comm")"
	pg_stop "$PG_PID" || pg_fail "node exit status $?"
	pg_pass "TCMALLOC_SAMPLE_PARAMETER=0: heap answers 501 \"$(head -c 60 "$PG_TMP/heap.txt")...\""
fi
