# The head of a one-node pprofgate config: gRPC on 127.0.0.1:$1, HTTP on
# 127.0.0.1:$2, etcd unreachable (the node runs without it). Append a
# diagnostics: section after it. Sourced by tests/integration/lib.sh and
# bench/lib.sh.
pg_node_yaml() {
	cat <<EOF
version: 1
cluster:
  shards: 64
  provider: etcd
  etcd:
    endpoints: [127.0.0.1:1]
nodes:
  - id: n1
    grpc_addr: 127.0.0.1:$1
    advertise_addr: 127.0.0.1:$1
    http_addr: 127.0.0.1:$2
EOF
}
