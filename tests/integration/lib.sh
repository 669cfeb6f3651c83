# Shared helpers for tests/integration/test_*.sh. Source it, then:
#   pg_tmpdir                 -> $PG_TMP, a temp dir removed at exit
#   p=$(pg_free_port)         a free loopback TCP port
#   pg_wait_for_port PORT [SECONDS]   waits until 127.0.0.1:PORT accepts
#   pg_port_closed PORT       succeeds when nothing listens on PORT
#   pg_start NAME CMD...      starts CMD in the background (logs in $PG_TMP/NAME.log),
#                             sets $PG_PID; it is killed at exit if still running
#   pg_stop PID [SECONDS]     SIGTERM, waits; returns the exit status (124 on timeout)
#   pg_fail MSG / pg_pass MSG
# Env: PG_BUILD_DIR, PG_SRC_DIR (set by ctest).
set -euo pipefail

PG_SRC_DIR="${PG_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PG_BUILD_DIR="${PG_BUILD_DIR:-$PG_SRC_DIR/build}"
PG_PY=/usr/bin/python3 # Debian's interpreter: it sees python3-grpcio
export GRPC_VERBOSITY="${GRPC_VERBOSITY:-NONE}"
PG_PIDS=()
PG_TMP=""

pg_cleanup() {
	local pid
	for pid in "${PG_PIDS[@]+"${PG_PIDS[@]}"}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ -n "$PG_TMP" ] && [ -z "${PG_KEEP_TMP:-}" ]; then
		rm -rf "$PG_TMP"
	fi
}
trap pg_cleanup EXIT

pg_tmpdir() {
	PG_TMP="$(mktemp -d "${TMPDIR:-/tmp}/pg-it.XXXXXX")"
}

pg_free_port() {
	"$PG_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_wait_for_port() {
	local port="$1" secs="${2:-10}" i
	for ((i = 0; i < secs * 10; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "port $port did not open within ${secs}s" >&2
	return 1
}

pg_port_closed() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_start() {
	local name="$1"
	shift
	"$@" >"$PG_TMP/$name.log" 2>&1 &
	PG_PID=$!
	PG_PIDS+=("$PG_PID")
}

pg_stop() {
	local pid="$1" secs="${2:-10}" i rc
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			rc=0
			wait "$pid" || rc=$?
			return "$rc"
		fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 124
}

pg_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pg_pass() {
	echo "ok: $*"
}
