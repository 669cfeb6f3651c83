#!/usr/bin/env bash
# fetch --cluster at scale (docs/performance.md): 8 secured nodes on loopback,
# `pprofgatectl fetch --cluster profile --seconds 5` must finish within the
# capture plus 1 s (the nodes capture at the same time), and the merged
# profile's total must equal the sum of the nodes' totals. Bounded: 8 nodes,
# one 5 s capture, a /metrics load loop per node during it (so the CPU
# profiles hold samples).
source "$(dirname "$0")/lib.sh"
pg_tmpdir
PG_CLUSTER_PREFIX=/scaletest
CTL="$PG_BUILD_DIR/pprofgatectl"
T="$PG_TMP"
N=8 SECS=5
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$T/pki" >/dev/null || pg_fail "gen-dev-pki.sh failed"
P="$T/pki"
pg_etcd_start
for i in $(seq $N); do pg_secure_node "s$i" "cn:operator pprof:read"; done
export PPROFGATE_ETCD="$ETCD_EP" PPROFGATE_ETCD_PREFIX=$PG_CLUSTER_PREFIX
export PPROFGATE_CERT="$P/operator.crt" PPROFGATE_KEY="$P/operator.key" PPROFGATE_CACERT="$P/ca.crt"
for i in $(seq 100); do
	[ "$(pg_etcdctl get --prefix --keys-only $PG_CLUSTER_PREFIX/diagnostics/endpoints/ | grep -c .)" = $N ] && break
	sleep 0.1
done
"$CTL" --admin "127.0.0.1:$s1_ADMIN" --cert "$P/admin.crt" --key "$P/admin.key" \
	window open --cluster --for 2m --reason "scale test" >/dev/null || pg_fail "window open --cluster"
sleep 1 # every node applies the record from its watch

case "$(ldd "$PG_BUILD_DIR/pprofgate")" in
*libasan*) echo "SKIP: the sanitizer build has no CPU profiler"; exit 0 ;;
esac
# Light load: one loop over the nodes' /metrics (a CPU profile of an idle
# node may hold no sample at all).
load_until=$(($(date +%s) + SECS + 1)) # the warm-up and most of the capture, not the nodes' work after it
(while (($(date +%s) < load_until)); do
	for i in $(seq $N); do
		curl -s -o /dev/null --max-time 2 --cacert "$P/ca.crt" "https://127.0.0.1:$(eval echo "\$s${i}_HTTPS")/metrics" || true
	done
done) &
PG_PIDS+=($!)
# A first capture warms each node's symbolizer (it reads the binary's
# debug information once); the second is measured.
"$CTL" fetch --cluster profile --seconds 1 -o "$T/warm" 2>/dev/null >/dev/null || pg_fail "warm-up fetch"
load=$(cut -d' ' -f1 /proc/loadavg)
t0=$(pg_now_ms)
rc=0; out=$("$CTL" fetch --cluster profile --seconds $SECS -o "$T/out" 2>"$T/fetch.err") || rc=$?
ms=$(($(pg_now_ms) - t0))
cat "$T/fetch.err"
[ "$rc" = 0 ] || pg_fail "fetch --cluster: exit $rc"
[ "$(ls "$T"/out/s*.pb.gz | wc -l)" = $N ] || pg_fail "not $N node files: $(ls "$T/out")"
# The bound is the capture plus 1 s. The nodes' own work after the capture
# (symbolize, encode, 8 at once) is CPU: on a machine already loaded past
# twice its cores the bound is widened to 3 s, and the test says so.
slack=1000
if awk -v l="$load" -v c="$(nproc)" 'BEGIN { exit !(l > 2 * c) }'; then
	slack=3000
	echo "note: load average $load on $(nproc) cores before the run: bound widened to capture + 3 s"
fi
((ms <= SECS * 1000 + slack)) || pg_fail "fetch --cluster took $ms ms, want <= $((SECS * 1000 + slack))"
pg_pass "fetch --cluster profile --seconds $SECS on $N nodes: $ms ms (capture + $((ms - SECS * 1000)) ms)"

protoc -I"$PG_SRC_DIR/proto" --python_out="$T" "$PG_SRC_DIR/proto/profile.proto"
out=$("$PG_PY" - "$T" "$T/out/merged.pb.gz" "$T"/out/s*.pb.gz <<'PY'
import gzip, sys
sys.path.insert(0, sys.argv[1])
import profile_pb2
def load(f):
    p = profile_pb2.Profile(); p.ParseFromString(gzip.open(f).read()); return p
def totals(p): return [sum(s.value[i] for s in p.sample) for i in range(len(p.sample_type))]
m = load(sys.argv[2]); parts = [totals(load(f)) for f in sys.argv[3:]]
want = [sum(t) for t in zip(*parts)]
print("merged", totals(m), "sum of nodes", want, "per node samples", [t[0] for t in parts])
sys.exit(0 if totals(m) == want and want[0] > 0 else 1)
PY
) || pg_fail "totals: $out"
pg_pass "merged total == sum of the $N nodes' totals: $out"
echo "PASS test_cluster_scale"
