#!/usr/bin/env bash
# Sets up and runs one pprofgate node on loopback:
#   - installs Debian packages if missing (scripts/deps.sh) and builds into build/
#   - makes a development PKI in certs/dev/ if there is none (certs/gen-dev-pki.sh)
#   - starts a local etcd (Debian's etcd-server, temporary data dir) if none
#     answers on the configured endpoint, and stops it again when the node exits
#   - runs the node in the foreground with config/secure/dev-node.yaml (node1):
#     HTTPS with mTLS or JWT for /debug/pprof behind a diagnostics window that is
#     closed by default, plain /metrics on :9091, the admin API on :47001.
#     Ctrl-C stops it gracefully.
# Extra arguments are passed to pprofgate, e.g. scripts/run-node.sh --log-level debug
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
cd "$src"

"$src/scripts/deps.sh"
echo "run-node: building (build/)"
"$src/scripts/build.sh" "$src/build" >/dev/null

# The development PKI (idempotent: an existing certs/dev/ is kept).
"$src/certs/gen-dev-pki.sh" >/dev/null

config="${PG_CONFIG:-$src/config/secure/dev-node.yaml}"
node_id="${PG_NODE_ID:-node1}"
etcd_ep="${PG_ETCD_ENDPOINT:-127.0.0.1:2379}"
etcd_pid=""
etcd_dir=""
cleanup() {
  if [ -n "$etcd_pid" ]; then
    kill "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
  [ -n "$etcd_dir" ] && rm -rf "$etcd_dir"
}
trap cleanup EXIT

if curl -fsS -m 2 "http://$etcd_ep/health" >/dev/null 2>&1; then
  echo "run-node: using the etcd already answering on $etcd_ep"
else
  etcd_dir="$(mktemp -d /tmp/pprofgate-etcd.XXXXXX)"
  host="${etcd_ep%:*}"; port="${etcd_ep##*:}"
  echo "run-node: no etcd on $etcd_ep; starting one (data dir $etcd_dir)"
  etcd --name pprofgate-dev --data-dir "$etcd_dir" \
    --listen-client-urls "http://$host:$port" --advertise-client-urls "http://$host:$port" \
    --listen-peer-urls "http://$host:$((port + 1))" \
    --initial-advertise-peer-urls "http://$host:$((port + 1))" \
    --initial-cluster "pprofgate-dev=http://$host:$((port + 1))" \
    >"$etcd_dir/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 50); do
    curl -fsS -m 1 "http://$etcd_ep/health" >/dev/null 2>&1 && break
    kill -0 "$etcd_pid" 2>/dev/null || { echo "run-node: etcd failed to start:" >&2; tail -5 "$etcd_dir/etcd.log" >&2; exit 1; }
    sleep 0.2
  done
fi

cat <<TRY
run-node: starting pprofgate ($config, node $node_id). Try, from another terminal:
  curl -s http://localhost:9091/healthz; curl -s http://localhost:9091/ready
  curl -s http://localhost:9091/metrics | promtool check metrics
  ETCDCTL_API=3 etcdctl --endpoints=$etcd_ep get --prefix /goverse/nodes/
  export PPROFGATE_CERT=certs/dev/admin.crt PPROFGATE_KEY=certs/dev/admin.key PPROFGATE_CACERT=certs/dev/ca.crt
  build/pprofgatectl window open --for 15m --reason "trying pprofgate"
  build/pprofgatectl --node localhost:9090 fetch profile --seconds 5 -o cpu.pb.gz && go tool pprof -top cpu.pb.gz
  curl -s --cert certs/dev/admin.crt --key certs/dev/admin.key --cacert certs/dev/ca.crt https://localhost:9090/debug/pprof/
  build/pprofgatectl window close
(docs/operations.md walks through it.) Stop the node with Ctrl-C.
TRY
"$src/build/pprofgate" --config "$config" --node-id "$node_id" "$@" &
node_pid=$!
trap 'kill -TERM $node_pid 2>/dev/null || true' INT TERM
set +e
wait "$node_pid"; rc=$?
# A signal interrupts the first wait; wait again for the node's own exit.
kill -0 "$node_pid" 2>/dev/null && { wait "$node_pid"; rc=$?; }
exit "$rc"
