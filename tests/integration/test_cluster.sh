#!/usr/bin/env bash
# Profile the whole cluster in four commands, with the real binaries and a
# real etcd; follows docs/operations.md, "Profile the whole cluster in four
# commands" (Step N below):
#   1. pprofgatectl nodes                     (found through etcd, as the nodes find it)
#   2. pprofgatectl window open --cluster     (one record, every node applies it)
#   3. pprofgatectl fetch --cluster profile --seconds 2 -o DIR
#   4. go tool pprof -tagroot node / -tagfocus node=NAME DIR/merged.pb.gz
# Three nodes over HTTPS with mTLS; n3 does not let the operator in, so it
# fails by name while n1 and n2 arrive (exit 7, partial). The merged
# profile's total equals the sum of the nodes' totals (decoded with Python's
# protobuf from proto/profile.proto).
source "$(dirname "$0")/lib.sh"
pg_tmpdir
PG_CLUSTER_PREFIX=/clustertest
BIN="$PG_BUILD_DIR/pprofgate"
CTL="$PG_BUILD_DIR/pprofgatectl"
[ -x "$BIN" ] && [ -x "$CTL" ] || pg_fail "build pprofgate and pprofgatectl first"
T="$PG_TMP"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$T/pki" >/dev/null || pg_fail "gen-dev-pki.sh failed"
P="$T/pki"
pg_etcd_start

pg_secure_node n1 "cn:operator pprof:read pprof:sensitive"
pg_secure_node n2 "cn:operator pprof:read pprof:sensitive" "  advertise_server_name: localhost"
pg_secure_node n3 "cn:somebody-else"

# The operator's settings, as they would sit in a shell profile.
export PPROFGATE_ETCD="$ETCD_EP" PPROFGATE_ETCD_PREFIX=/clustertest
export PPROFGATE_CERT="$P/operator.crt" PPROFGATE_KEY="$P/operator.key" PPROFGATE_CACERT="$P/ca.crt"
for i in $(seq 50); do
	[ "$(pg_etcdctl get --prefix --keys-only /clustertest/diagnostics/endpoints/ | grep -c .)" = 3 ] && break
	sleep 0.1
done

# ---- Step 1: the nodes, from etcd ----
out=$("$CTL" nodes) || pg_fail "nodes failed: $out"
echo "$out" | grep -q "^cluster window: none" || pg_fail "nodes: cluster window line: $out"
for n in n1 n2 n3; do
	h=$(eval echo "\$${n}_HTTPS")
	echo "$out" | grep -Eq "^$n +https://127.0.0.1:$h +(closed|unknown)" || pg_fail "nodes: no line for $n: $out"
done
echo "$out" | grep -Eq "^n1 .* closed$" || pg_fail "nodes: n1 not closed: $out"
rc=0; "$CTL" --etcd 127.0.0.1:1 nodes >/dev/null 2>"$T/err" || rc=$?
[ "$rc" = 6 ] || pg_fail "nodes without etcd: exit $rc: $(cat "$T/err")"
pg_pass "step 1: pprofgatectl nodes lists n1..n3 with their URLs, window closed; exit 6 without etcd"

# ---- Step 2: a cluster window ----
rc=0; "$CTL" fetch --cluster profile --seconds 1 -o "$T/none" 2>"$T/err" || rc=$?
[ "$rc" = 3 ] && grep -q "no cluster window is open" "$T/err" || pg_fail "fetch --cluster without a window: $rc $(cat "$T/err")"
"$CTL" --admin "127.0.0.1:$n1_ADMIN" --cert "$P/admin.crt" --key "$P/admin.key" \
	window open --cluster --for 2m --reason "deploy 42" >/dev/null || pg_fail "window open --cluster failed"
for i in $(seq 50); do
	"$CTL" nodes >"$T/nodes" 2>&1 && grep -Eq "^n2 .* open$" "$T/nodes" && break
	sleep 0.1
done
grep -q '^cluster window: open by cn:admin ("deploy 42"), [0-9m]*s left' "$T/nodes" || pg_fail "nodes: $(cat "$T/nodes")"
grep -Eq "^n1 .* open$" "$T/nodes" && grep -Eq "^n2 .* open$" "$T/nodes" || pg_fail "window not open: $(cat "$T/nodes")"
grep -Eq "^n3 .* unknown: HTTP 403" "$T/nodes" || pg_fail "n3 should refuse the operator: $(cat "$T/nodes")"
pg_pass "step 2: window open --cluster; nodes shows it open on n1, n2 (n2 through its TLS server name), n3 refuses"

# ---- Step 3: every node at once ----
# (The sanitizer build has no gperftools: CPU profiles answer 501 there.)
case "$(ldd "$BIN")" in *libasan*) PROF=goroutine SECS=() ;; *) PROF=profile SECS=(--seconds 2) ;; esac
t0=$(pg_now_ms)
rc=0; out=$("$CTL" fetch --cluster $PROF "${SECS[@]}" -o "$T/prof" 2>"$T/fetch.err") || rc=$?
ms=$(($(pg_now_ms) - t0))
[ "$rc" = 7 ] || pg_fail "fetch --cluster with n3 refusing: exit $rc, want 7: $(cat "$T/fetch.err")"
grep -q "^n3: failed: HTTP 403" "$T/fetch.err" || pg_fail "n3 not reported by name: $(cat "$T/fetch.err")"
grep -Eq "^n1: [0-9]+ bytes in [0-9.]+ s -> $T/prof/n1.pb.gz" "$T/fetch.err" || pg_fail "no n1 line: $(cat "$T/fetch.err")"
grep -q "partial: 1 of 3 nodes failed" "$T/fetch.err" || pg_fail "no partial line: $(cat "$T/fetch.err")"
[ -s "$T/prof/n1.pb.gz" ] && [ -s "$T/prof/n2.pb.gz" ] && [ -s "$T/prof/merged.pb.gz" ] || pg_fail "files missing: $(ls -la "$T/prof")"
[ -e "$T/prof/n3.pb.gz" ] && pg_fail "n3 left a file"
ls -a "$T/prof" | grep -q tmp && pg_fail "temporary files left: $(ls -a "$T/prof")"
# captures ran at the same time: 2 s each, not 4
[ "$PROF" != profile ] || ((ms < 3500)) || pg_fail "fetch --cluster took ${ms} ms for two 2 s captures"
pg_pass "step 3: fetch --cluster $PROF ${SECS[*]}: n1, n2 and merged written in ${ms} ms; n3 named with its 403; exit 7"

# The same with a profile that always has samples (idle nodes may leave a
# 2 s CPU profile empty): the thread profile.
rc=0; "$CTL" fetch --cluster goroutine -o "$T/gr" 2>"$T/gr.err" || rc=$?
[ "$rc" = 7 ] || pg_fail "fetch --cluster goroutine: exit $rc: $(cat "$T/gr.err")"

# The merged total is the sum of the nodes' totals, for each sample type.
protoc -I"$PG_SRC_DIR/proto" --python_out="$T" "$PG_SRC_DIR/proto/profile.proto"
cat >"$T/totals.py" <<'PY'
import gzip, sys
sys.path.insert(0, sys.argv[1])
import profile_pb2
def load(f):
    p = profile_pb2.Profile(); p.ParseFromString(gzip.open(f).read()); return p
def totals(p): return [sum(s.value[i] for s in p.sample) for i in range(len(p.sample_type))]
m = load(sys.argv[2]); parts = [load(f) for f in sys.argv[3:]]
want = [sum(t) for t in zip(*(totals(p) for p in parts))]
nodes = {dict((m.string_table[l.key], m.string_table[l.str]) for l in s.label).get("node") for s in m.sample}
print(totals(m), want, sorted(n for n in nodes if n), len(m.sample), sum(len(p.sample) for p in parts))
sys.exit(0 if totals(m) == want and all(want) and None not in nodes else 1)
PY
out=$("$PG_PY" "$T/totals.py" "$T" "$T/gr/merged.pb.gz" "$T/gr/n1.pb.gz" "$T/gr/n2.pb.gz") ||
	pg_fail "merged totals: $out"
grep -q "\['n1', 'n2'\]" <<<"$out" || pg_fail "merged labels: $out"
pg_pass "merged total == n1 + n2 for each sample type, every sample labelled: $out"

# ---- Step 4: go tool pprof on the merged profile ----
gp() { HOME="$T" GOCACHE="$T/gocache" PPROF_TMPDIR="$T/pp" timeout 60 go tool pprof -symbolize=none "$@" 2>&1; }
all=$(gp -top -tagroot node "$T/gr/merged.pb.gz") || pg_fail "tagroot: $all"
# -tagroot node puts each sample under a root frame named after its node
grep -Eq "%  n1$" <<<"$all" && grep -Eq "%  n2$" <<<"$all" || pg_fail "-tagroot node shows no node frames: $all"
one=$(gp -top -tagfocus node=n2 "$T/gr/merged.pb.gz") || pg_fail "tagfocus: $one"
total() { sed -nE 's/^Showing nodes accounting for ([0-9.]+[a-z]*),.*/\1/p' <<<"$1" | head -1; }
n2=$(gp -top "$T/gr/n2.pb.gz")
[ -n "$(total "$one")" ] && [ "$(total "$one")" = "$(total "$n2")" ] ||
	pg_fail "-tagfocus node=n2 total $(total "$one") != n2's $(total "$n2")"
pg_pass "step 4: go tool pprof -tagroot node roots samples at n1 and n2; -tagfocus node=n2 equals n2's own profile ($(total "$n2"))"

# Whoever can write to etcd chooses the URLs: a forged record never gets the
# operator's token over plain HTTP, and a record naming a path is ignored.
EVP=$(pg_free_port)
"$PG_PY" -c 'import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); s.settimeout(8)
try:
    c, _ = s.accept(); open(sys.argv[2], "wb").write(c.recv(65536))
except Exception:
    pass' "$EVP" "$T/evil.got" &
EV_PID=$!
pg_etcdctl put /clustertest/diagnostics/endpoints/evil:1 \
	"{\"node\":\"evil\",\"url\":\"http://127.0.0.1:$EVP\",\"tls_server_name\":\"\"}" >/dev/null
pg_etcdctl put /clustertest/diagnostics/endpoints/dots:1 \
	'{"node":"../../etc/x","url":"https://127.0.0.1:1","tls_server_name":"x"}' >/dev/null
rc=0; PPROFGATE_TOKEN=a.b.c "$CTL" fetch --cluster goroutine -o "$T/ev" 2>"$T/ev.err" >/dev/null || rc=$?
[ "$rc" = 7 ] && grep -q "^evil: failed: refusing to send a bearer token over plain HTTP" "$T/ev.err" &&
	grep -q "ignoring /clustertest/diagnostics/endpoints/dots:1" "$T/ev.err" || pg_fail "forged records: $rc $(cat "$T/ev.err")"
kill "$EV_PID" 2>/dev/null || true
wait "$EV_PID" 2>/dev/null || true
[ -s "$T/evil.got" ] && pg_fail "the forged endpoint received: $(head -c 200 "$T/evil.got")"
ls "$T/ev" | grep -qv -e '^n[12].pb.gz$' -e '^merged.pb.gz$' && pg_fail "unexpected files: $(ls "$T/ev")"
pg_etcdctl del --prefix /clustertest/diagnostics/endpoints/evil >/dev/null
pg_etcdctl del --prefix /clustertest/diagnostics/endpoints/dots >/dev/null
pg_pass "forged endpoint records: no token over plain HTTP (nothing reached it), a path-like node name ignored"

# Every node of the cluster answering: exit 0 and the go tool pprof hint.
pg_stop "$n3_PID" 10 || true
for i in $(seq 50); do [ -z "$(pg_etcdctl get --print-value-only --prefix /clustertest/diagnostics/endpoints/ | grep '"n3"')" ] && break; sleep 0.1; done
rc=0; out=$("$CTL" fetch --cluster goroutine -o "$T/g" 2>"$T/g.err") || rc=$?
[ "$rc" = 0 ] && [ "$out" = "go tool pprof -tagroot node $T/g/merged.pb.gz" ] || pg_fail "fetch --cluster goroutine: $rc $out $(cat "$T/g.err")"
pg_pass "all nodes answering: exit 0, and the command to open the merged profile"
echo "PASS test_cluster"
