# Shared helpers for bench/*.sh: source it first thing. With the sourcing
# script's arguments it sets SRC (the repository), BUILD ($1, default build/),
# TMP (a directory removed at exit) and PIDS (processes killed at exit), and
# defines:
#   free_port            a free loopback TCP port
#   wait_http URL        waits up to 10 s for URL to answer, else exits 1
#   rss_kb PID FIELD     a /proc/PID/status field in KiB (VmRSS, VmHWM)
#   pg_node_yaml G H     the head of a one-node config (gRPC port G, HTTP
#                        port H, etcd unreachable); append diagnostics:
#   secured_yaml D       lines of diagnostics: for a node that checks mtls or
#                        jwt (the admin identity, RS256 key D/jwt-rs256.pub
#                        of certs/gen-dev-pki.sh, no window needed)
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$SRC/build}"
TMP="$(mktemp -d)"
PIDS=()

bench_cleanup() {
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap bench_cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	echo "no answer from $1"
	exit 1
}

rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

source "$SRC/tests/integration/node_yaml.sh"

secured_yaml() {
	cat <<EOF
  client_identities: ["uri:spiffe://pprofgate.local/admin pprof:admin"]
  jwt:
    issuer: https://issuer.test
    audience: pprofgate
    keys: [{alg: RS256, file: $1/jwt-rs256.pub}]
  groups:
    pprof:
      auth: mtls or jwt
      # the checks without a window to open (auto would require one)
      require_window: "false"
EOF
}
