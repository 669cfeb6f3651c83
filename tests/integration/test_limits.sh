#!/usr/bin/env bash
# Integration: slow and many clients against the real node (diagnostics.limits).
# - per client address: connections past max_connections_per_ip are closed at once;
# - a client that never finishes its headers is shut down after header_timeout,
#   one that never finishes its body after body_timeout;
# - meanwhile /metrics answers a client on another address;
# - afterwards the node holds no leftover connections, and the refusals are
#   counted, not logged one line each.
# Attackers use 127.0.0.2 (loopback), the scraper 127.0.0.1. Bounded: at most
# 40 sockets and ~15 s.
source "$(dirname "$0")/lib.sh"
pg_tmpdir

P="$(pg_free_port)"
H="$(pg_free_port)"
cat >"$PG_TMP/node.yaml" <<EOF
version: 1
cluster:
  provider: etcd
  etcd:
    endpoints: [127.0.0.1:1]
nodes:
  - id: n1
    grpc_addr: 127.0.0.1:$P
    advertise_addr: 127.0.0.1:$P
    http_addr: 127.0.0.1:$H
diagnostics:
  limits:
    max_connections_per_ip: 8
    header_timeout: 2
    body_timeout: 2
EOF
pg_start node "$PG_BUILD_DIR/pprofgate" --config "$PG_TMP/node.yaml" --node-id n1
NODE=$PG_PID
pg_wait_for_port "$H" || { cat "$PG_TMP/node.log"; exit 1; }
fds_before="$(ls "/proc/$NODE/fd" | wc -l)"

# 20 idle connections from one address: 8 stay open, 12 are closed at once;
# one more sends its request line and then trickles headers, one sends its
# headers and a short body for a POST that promises more.
"$PG_PY" - "$H" >"$PG_TMP/slow.out" <<'PY'
import socket, sys, time, urllib.request
port = int(sys.argv[1])

def conn():
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    return s

def closed(s, wait):
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True

idle = [conn() for _ in range(20)]
time.sleep(0.5)
shut = sum(1 for s in idle if closed(s, 0.05))
print("idle_closed_at_once", shut)
for s in idle:
    s.close()
time.sleep(0.5)

slow = conn()
slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
body = conn()
body.sendall(b"POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0x1")
t0 = time.time()
# /metrics from another address keeps answering while both hang.
ok = 0
for i in range(6):
    try:
        slow.sendall(b"X-Slow-%d: 1\r\n" % i)
    except OSError:
        pass
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
        ok += r.status == 200
    time.sleep(0.5)
print("scrapes_ok", ok)
print("slow_closed", int(closed(slow, 3)), "after_s", round(time.time() - t0, 1))
print("body_closed", int(closed(body, 3)))
PY
cat "$PG_TMP/slow.out"
grep -qx "idle_closed_at_once 12" "$PG_TMP/slow.out" || pg_fail "per-address limit: want 12 of 20 closed at once"
grep -qx "scrapes_ok 6" "$PG_TMP/slow.out" || pg_fail "/metrics did not answer every scrape during the slow clients"
grep -q "^slow_closed 1" "$PG_TMP/slow.out" || pg_fail "a client trickling headers was not shut down"
after="$(awk '/^slow_closed/ {print $4}' "$PG_TMP/slow.out")"
awk -v a="$after" 'BEGIN {exit !(a >= 1.5 && a <= 5)}' || pg_fail "trickling client cut after ${after}s, want ~2 s"
grep -qx "body_closed 1" "$PG_TMP/slow.out" || pg_fail "a body that never arrives was not cut"

metrics="$(curl -s "http://127.0.0.1:$H/metrics")"
grep -q '^pprofgate_http_connections_limited_total 12$' <<<"$metrics" ||
	pg_fail "limited connections not counted: $(grep connections_limited <<<"$metrics")"
grep -q '^pprofgate_http_slow_clients_closed_total{phase="headers"} 1$' <<<"$metrics" ||
	pg_fail "header timeout not counted: $(grep slow_clients <<<"$metrics")"
grep -q '^pprofgate_http_slow_clients_closed_total{phase="body"} 1$' <<<"$metrics" ||
	pg_fail "body timeout not counted: $(grep slow_clients <<<"$metrics")"
# Both cuts are audited with their reason and the peer (audit lines go to
# stderr: no audit_file in this config).
grep -q '"peer":"127.0.0.2".*"reason":"header_timeout"' "$PG_TMP/node.log" ||
	grep -q '"reason":"header_timeout".*"peer":"127.0.0.2"' "$PG_TMP/node.log" ||
	pg_fail "no audit line for the header timeout: $(grep -c '"reason"' "$PG_TMP/node.log") audit lines"
grep -q '"reason":"body_timeout"' "$PG_TMP/node.log" || pg_fail "no audit line for the body timeout"
# One summary line for the 12 refusals, not twelve.
n="$(grep -c "closed at once" "$PG_TMP/node.log" || true)"
[[ "$n" == 1 ]] || pg_fail "limit refusals logged $n times, want one summary line"

# Recovered: no connection left open.
sleep 1
fds_after="$(ls "/proc/$NODE/fd" | wc -l)"
((fds_after <= fds_before)) || pg_fail "node holds $fds_after descriptors after the clients left, $fds_before before"
pg_stop "$NODE" || pg_fail "node did not stop cleanly"
pg_pass "connection limits and slow-client timeouts"
