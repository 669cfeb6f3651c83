#!/usr/bin/env bash
# Opens the goroutine (thread), threadcreate, mutex, heap and allocs profiles
# written by the unit tests with the real `go tool pprof`, which must read
# them without the binary (-symbolize=none) and show the test's own frames.
set -euo pipefail
: "${PG_BUILD_DIR:?}"
if ! command -v go >/dev/null; then
	echo "SKIP: go not installed"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp GOCACHE=$tmp/gocache PPROF_TMPDIR=$tmp/pprof GOFLAGS=-mod=mod
mkdir -p "$PPROF_TMPDIR" "$tmp/out"
export PG_PROFILE_OUT_DIR=$tmp/out
for t in threads_test contention_test heap_test; do
	timeout 60 "$PG_BUILD_DIR/$t" >/dev/null
done
fail=0
check() { # file, want-in-output, extra pprof args...
	local f=$1 want=$2 out
	shift 2
	if [ ! -s "$tmp/out/$f" ]; then
		if [ "$f" = heap.pb.gz ] || [ "$f" = allocs.pb.gz ]; then
			echo "SKIP $f: not written (no tcmalloc in this build)"
			return
		fi
		echo "FAIL $f: not written"; fail=1; return
	fi
	if ! out=$(timeout 60 go tool pprof -top -symbolize=none "$@" "$tmp/out/$f" 2>&1); then
		echo "FAIL $f: go tool pprof failed:"; echo "$out"; fail=1; return
	fi
	if ! grep -q -- "$want" <<<"$out"; then
		echo "FAIL $f: want '$want' in:"; echo "$out"; fail=1; return
	fi
	echo "ok $f"
}
check goroutine.pb.gz 'Type: goroutine'
check goroutine.pb.gz 'parked_here'
check threadcreate.pb.gz 'Type: threadcreate'
check threadcreate.pb.gz 'start_workers'
check mutex.pb.gz 'Type: delay'
check mutex.pb.gz 'waiter_here'
check mutex.pb.gz 'Type: contentions' -sample_index=contentions
check heap.pb.gz 'Type: inuse_space'
check heap.pb.gz 'heap_alloc_here'
check allocs.pb.gz 'Type: alloc_space'
exit $fail
