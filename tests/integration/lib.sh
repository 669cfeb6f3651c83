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

# pg_node_yaml GRPC_PORT HTTP_PORT: the head of a one-node config
# (tests/integration/node_yaml.sh, shared with bench/lib.sh).
source "$(dirname "${BASH_SOURCE[0]}")/node_yaml.sh"

pg_pass() {
	echo "ok: $*"
}

# ---- JWTs (RFC 7515 compact JWS), minted with openssl ----
#   pg_b64url                 stdin -> unpadded base64url
#   pg_jose TEXT              TEXT -> base64url
#   pg_mint_rs256 KEY PAYLOAD_JSON   an RS256 token signed with the PEM key file KEY
pg_b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
pg_jose() { printf '%s' "$1" | pg_b64url; }
pg_mint_rs256() {
	local h p
	h=$(pg_jose '{"alg":"RS256","typ":"JWT"}')
	p=$(pg_jose "$2")
	printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" -binary | pg_b64url)"
}

# ---- etcd and HTTP helpers (cluster membership tests) ----
#   pg_etcd_start             starts etcd on free loopback ports (or on the same
#                             $ETCD_PORT/$ETCD_PEER_PORT/$ETCD_DIR again, to restart it
#                             on its data dir); sets ETCD_EP (host:port) and ETCD_PID
#   pg_etcd_kill [SIGNAL]     kills it (default KILL) and waits
#   pg_etcdctl ARGS...        etcdctl (v3 API) against it
#   pg_now_ms                 wall clock in milliseconds
#   pg_http_status URL        HTTP status, 000 when unreachable
#   ms=$(pg_wait_status URL CODE SECONDS)   waits for CODE, prints the ms it took
ETCD_PID=""

pg_now_ms() {
	date +%s%3N
}

pg_etcd_start() {
	ETCD_PORT="${ETCD_PORT:-$(pg_free_port)}"
	ETCD_PEER_PORT="${ETCD_PEER_PORT:-$(pg_free_port)}"
	ETCD_DIR="${ETCD_DIR:-$PG_TMP/etcd-data}"
	ETCD_EP="127.0.0.1:$ETCD_PORT"
	etcd --data-dir "$ETCD_DIR" --listen-client-urls "http://$ETCD_EP" \
		--advertise-client-urls "http://$ETCD_EP" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" >>"$PG_TMP/etcd.log" 2>&1 &
	ETCD_PID=$!
	PG_PIDS+=("$ETCD_PID")
	local i
	for ((i = 0; i < 100; i++)); do
		curl -fs -o /dev/null --max-time 1 "http://$ETCD_EP/health" && return 0
		sleep 0.1
	done
	tail -20 "$PG_TMP/etcd.log" >&2
	pg_fail "etcd did not start on $ETCD_EP"
}

pg_etcd_kill() {
	[ -n "$ETCD_PID" ] || return 0
	kill -CONT "$ETCD_PID" 2>/dev/null || true
	kill -"${1:-KILL}" "$ETCD_PID" 2>/dev/null || true
	{ wait "$ETCD_PID"; } 2>/dev/null || true
	ETCD_PID=""
}

pg_etcdctl() {
	ETCDCTL_API=3 etcdctl --dial-timeout=2s --command-timeout=3s --endpoints="$ETCD_EP" "$@"
}

pg_http_status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true
}

pg_wait_status() {
	local url="$1" want="$2" secs="$3" t0
	t0=$(pg_now_ms)
	while :; do
		if [ "$(pg_http_status "$url")" = "$want" ]; then
			echo $(($(pg_now_ms) - t0))
			return 0
		fi
		(($(pg_now_ms) - t0 > secs * 1000)) && return 1
		sleep 0.05
	done
}

# ---- a secured cluster node (test_cluster*.sh) ----
#   pg_secure_node NAME IDENTITY [EXTRA]   starts node NAME from its own config:
#     etcd $ETCD_EP under $PG_CLUSTER_PREFIX (lease 5 s), HTTPS with mTLS (the dev
#     PKI in $P), identities "cn:admin pprof:admin" and IDENTITY, RS256 JWTs
#     ($P/jwt-rs256.pub, issuer pprofgate-dev, audience pprofgate), pprof auth
#     $PG_NODE_AUTH (default mtls), the admin API (cn:admin); EXTRA is a line
#     added under diagnostics:. Sets NAME_PID, NAME_ADMIN and NAME_HTTPS (ports).
pg_secure_node() {
	local name="$1" ident="$2" extra="${3:-}" g h a
	g=$(pg_free_port) h=$(pg_free_port) a=$(pg_free_port)
	cat >"$PG_TMP/$name.yaml" <<YAML
version: 1
cluster:
  provider: etcd
  etcd:
    endpoints: ["$ETCD_EP"]
    prefix: $PG_CLUSTER_PREFIX
    lease_ttl: 5
nodes:
  - id: $name
    grpc_addr: 127.0.0.1:$g
    advertise_addr: 127.0.0.1:$g
    http_addr: 127.0.0.1:$h
admin:
  listen: 127.0.0.1:$a
  allowed_identities: "cn:admin"
  tls:
    cert_file: $P/server.crt
    key_file: $P/server.key
    client_ca_file: $P/ca.crt
  window:
    max_seconds: 600
    min_capture_seconds: 1
diagnostics:
$extra
  tls_server_config:
    cert_file: $P/server.crt
    key_file: $P/server.key
    client_ca_file: $P/ca.crt
  client_identities:
    - "cn:admin pprof:admin"
    - "$ident"
  jwt:
    issuer: pprofgate-dev
    audience: pprofgate
    keys:
      - {alg: RS256, file: $P/jwt-rs256.pub}
  groups:
    pprof:
      auth: ${PG_NODE_AUTH:-mtls}
YAML
	pg_start "$name" env TCMALLOC_SAMPLE_PARAMETER=65536 "$PG_BUILD_DIR/pprofgate" --config "$PG_TMP/$name.yaml" --node-id "$name"
	eval "${name}_PID=$PG_PID ${name}_ADMIN=$a ${name}_HTTPS=$h"
	pg_wait_for_port "$h" 10 || { cat "$PG_TMP/$name.log" >&2; pg_fail "$name did not start"; }
}
