#!/usr/bin/env bash
# Four-eyes windows and single-use, window-bound tokens end to end with the
# real binaries and a real etcd: pprofgatectl window request/approve/deny/
# requests against nodes with admin.require_approval, cluster requests in
# etcd approved through another node, audit lines naming both identities;
# then tokens minted with --single-use and --bind-window, used with curl.
# Follows docs/operations.md, "Approved windows (four-eyes)".
source "$(dirname "$0")/lib.sh"
pg_tmpdir
BIN="$PG_BUILD_DIR/pprofgate"
CTL="$PG_BUILD_DIR/pprofgatectl"
[ -x "$BIN" ] && [ -x "$CTL" ] || pg_fail "build pprofgate and pprofgatectl first"
T="$PG_TMP"
"$PG_SRC_DIR/certs/gen-dev-pki.sh" --dir "$T/pki" >/dev/null || pg_fail "gen-dev-pki.sh failed"
P="$T/pki"
pg_etcd_start

# start_node NAME ALLOWED -> ${NAME}_ADMINP, ${NAME}_HTTPP
start_node() {
	local name="$1" allow="$2" g h a
	g=$(pg_free_port); h=$(pg_free_port); a=$(pg_free_port)
	cat >"$T/$name.yaml" <<YAML
version: 1
cluster:
  shards: 64
  provider: etcd
  etcd:
    endpoints: ["$ETCD_EP"]
    prefix: /approvaltest
nodes:
  - id: $name
    grpc_addr: 127.0.0.1:$g
    advertise_addr: 127.0.0.1:$g
    http_addr: 127.0.0.1:$h
admin:
  listen: 127.0.0.1:$a
  allowed_identities: "$allow"
  tls:
    cert_file: $P/server.crt
    key_file: $P/server.key
    client_ca_file: $P/ca.crt
  window:
    max_seconds: 600
    cluster_grace_seconds: 3
  require_approval: true
  request_ttl_seconds: ${TTL:-60}
diagnostics:
  tls_server_config:
    cert_file: $P/server.crt
    key_file: $P/server.key
  jwt:
    issuer: pprofgate-dev
    audience: pprofgate
    keys:
      - {alg: RS256, file: $P/jwt-rs256.pub}
  groups:
    pprof:
      auth: jwt
YAML
	pg_start "$name" "$BIN" --config "$T/$name.yaml" --node-id "$name"
	eval "${name}_ADMINP=$a ${name}_HTTPP=$h"
	pg_wait_for_port "$a" 10 || { cat "$T/$name.log" >&2; pg_fail "$name admin did not start"; }
	pg_wait_for_port "$h" 10 || pg_fail "$name http did not start"
}

# as WHO NODE ARGS... : pprofgatectl with WHO's client certificate (admin or operator)
as() {
	local who="$1" node="$2"; shift 2
	PPROFGATE_CERT="$P/$who.crt" PPROFGATE_KEY="$P/$who.key" PPROFGATE_CACERT="$P/ca.crt" \
		"$CTL" --admin "127.0.0.1:$(eval echo "\$${node}_ADMINP")" "$@"
}
# expect_exit WANT-EXIT WANT-TEXT CMD... : runs CMD, checks its exit code and stderr
expect_exit() {
	local want="$1" text="$2" rc=0 err; shift 2
	err=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = "$want" ] || pg_fail "$*: exit $rc, want $want: $err"
	case "$err" in *"$text"*) ;; *) pg_fail "$*: says \"$err\", want \"$text\"" ;; esac
}
request_id() { awk '$1 == "id:" { print $2 }'; }
window_id() { awk '$1 == "window" && $2 == "id:" { print $3 }'; }

# A allows both admins; B only cn:admin (operator is no admin there).
start_node A "cn:admin,cn:operator"
start_node B "cn:admin"

# ---- Step 1: open is refused; request instead ----
expect_exit 2 "requires approved windows (admin.require_approval): ask with \`pprofgatectl window request" \
	as admin A window open --for 1m --reason direct
grep -q '"event":"denied","identity":"cn:admin","reason":"approval_required"' "$T/A.log" || pg_fail "no audit line for the refused open"
out=$(as admin A window request --for 2m --reason "INC-7 heap growth" --profiles heap,goroutine) || pg_fail "request failed: $out"
ID=$(request_id <<<"$out")
[ -n "$ID" ] && [ "${#ID}" = 22 ] || pg_fail "no request id printed: $out"
grep -q "^request $ID: pending approval" <<<"$out" || pg_fail "request output: $out"
grep -q "\"event\":\"window_request\",\"identity\":\"cn:admin\",\"reason\":\"INC-7 heap growth\",\"duration_s\":120.000,\"scope\":\"node\",\"node\":\"[^\"]*\",\"request_id\":\"$ID\",\"requester\":\"cn:admin\",\"approver\":\"-\"" "$T/A.log" ||
	pg_fail "no window_request audit line: $(grep window_request "$T/A.log")"
list=$(as operator A window requests) || pg_fail "requests failed: $list"
grep -Eq "^$ID +node +cn:admin +2m00s +[0-9ms]+ +[0-9ms]+ +INC-7 heap growth$" <<<"$list" || pg_fail "request listing: $list"
[ "$(as admin A window status)" = "window: closed" ] || pg_fail "a request opened the window"
pg_pass "step 1: open refused with a pointer to request; request pending, listed and audited"

# ---- Step 2: approval by another identity ----
expect_exit 3 "request $ID was made by cn:admin: a window request must be approved by another allowed identity" \
	as admin A window approve "$ID"
grep -q "\"event\":\"denied\",\"identity\":\"cn:admin\",\"reason\":\"self_approval\".*\"request_id\":\"$ID\",\"requester\":\"cn:admin\",\"approver\":\"cn:admin\"" "$T/A.log" ||
	pg_fail "no self_approval audit line"
as operator A window requests | grep -q "^$ID " || pg_fail "a refused self-approval dropped the request"
out=$(as operator A window approve "$ID") || pg_fail "approve failed: $out"
grep -q '^window: open (approved) (this node)' <<<"$out" && grep -q '^opened by: cn:admin$' <<<"$out" &&
	grep -q '^approved by: cn:operator$' <<<"$out" && grep -q '^profiles: heap,goroutine$' <<<"$out" ||
	pg_fail "approve output: $out"
WIN1=$(window_id <<<"$out")
[ "${#WIN1}" = 22 ] || pg_fail "no window id: $out"
grep -q "\"event\":\"window_approve\",\"identity\":\"cn:operator\".*\"request_id\":\"$ID\",\"requester\":\"cn:admin\",\"approver\":\"cn:operator\"" "$T/A.log" ||
	pg_fail "no window_approve audit line"
grep -q "\"event\":\"open\",\"identity\":\"cn:admin\",\"reason\":\"INC-7 heap growth\",.*\"window_id\":\"$WIN1\",\"approved_by\":\"cn:operator\"" "$T/A.log" ||
	pg_fail "no open audit line with window id and approver: $(grep '"event":"open"' "$T/A.log")"
as admin A window status | grep -q "^window id: $WIN1$" || pg_fail "status without the window id"
expect_exit 2 "no pending window request $ID" as admin A window approve "$ID"
pg_pass "step 2: self-approval refused (3), approval by cn:operator opened the window for cn:admin (ids, audit)"

# ---- Step 3: single-use and window-bound tokens ----
mint() { "$CTL" token mint --key "$P/jwt-rs256.key" --alg RS256 --sub alice --scope "pprof:admin" \
	--aud pprofgate --iss pprofgate-dev "$@"; }
URL="https://127.0.0.1:$A_HTTPP/debug/pprof/goroutine?debug=1"
get() { curl -s -o "$T/body" -w '%{http_code}' --cacert "$P/ca.crt" -H "Authorization: Bearer $1" "$URL"; }
head_req() { curl -s -o /dev/null -I -w '%{http_code}' --cacert "$P/ca.crt" -H "Authorization: Bearer $1" "$URL"; }
ONCE=$(mint --single-use --ttl 10m) || pg_fail "mint --single-use failed"
JTI=$(echo "$ONCE" | "$CTL" token verify --key "$P/jwt-rs256.pub" --alg RS256 | sed -n 's/.* single-use jti=\([^ ]*\).*/\1/p')
[ "${#JTI}" = 22 ] || pg_fail "no jti in the single-use token"
[ "$(head_req "$ONCE")" = 200 ] || pg_fail "HEAD probe with a single-use token"
c=$(get "$ONCE"); [ "$c" = 200 ] && [ -s "$T/body" ] || pg_fail "first use: $c"
c=$(get "$ONCE"); [ "$c" = 401 ] && grep -q '"reason":"token_replayed"' "$T/body" || pg_fail "second use: $c $(cat "$T/body")"
[ "$(head_req "$ONCE")" = 401 ] || pg_fail "HEAD after use"
grep -q "\"decision\":\"allow\",\"reason\":\"ok\",\"jti\":\"$JTI\"" "$T/A.log" && grep -q "\"decision\":\"deny\",\"reason\":\"token_replayed\",\"jti\":\"$JTI\"" "$T/A.log" ||
	pg_fail "audit lines without the jti"
TWICE=$(mint --ttl 10m)
[ "$(get "$TWICE")" = 200 ] && [ "$(get "$TWICE")" = 200 ] || pg_fail "a plain token is not single-use"
BOUND=$(mint --bind-window "$WIN1" --ttl 1h) || pg_fail "mint --bind-window failed"
[ "$(get "$BOUND")" = 200 ] || pg_fail "token bound to the open window refused"
as operator A window close >/dev/null || pg_fail "close failed"
c=$(get "$BOUND"); [ "$c" = 401 ] && grep -q '"reason":"window_mismatch"' "$T/body" || pg_fail "bound token after close: $c $(cat "$T/body")"
ID=$(as operator A window request --for 1m --reason "INC-8" | request_id)
WIN2=$(as admin A window approve "$ID" | window_id)
[ -n "$WIN2" ] && [ "$WIN2" != "$WIN1" ] || pg_fail "a new window kept the old id"
c=$(get "$BOUND"); [ "$c" = 401 ] && grep -q '"reason":"window_mismatch"' "$T/body" || pg_fail "old bound token in a new window: $c"
[ "$(get "$(mint --bind-window "$WIN2" --ttl 1h)")" = 200 ] || pg_fail "token bound to the new window refused"
expect_exit 2 "--bind-window takes a window id" mint --bind-window "not/an/id"
pg_pass "step 3: single-use token honoured once (HEAD probes free), window-bound token dies with its window though exp is later"

# ---- Step 4: cluster request on A, approved through B ----
as admin A window close --cluster >/dev/null || pg_fail "close failed"
out=$(as operator A window request --cluster --for 3m --reason "INC-9 fleet") || pg_fail "cluster request: $out"
CID=$(request_id <<<"$out")
pg_etcdctl get --print-value-only "/approvaltest/diagnostics/requests/$CID" | grep -q '"requested_by":"cn:operator"' ||
	pg_fail "no request record in etcd"
lease=$(pg_etcdctl get -w json "/approvaltest/diagnostics/requests/$CID" | grep -o '"lease":[0-9]*' | cut -d: -f2)
[ -n "$lease" ] && [ "$lease" != 0 ] || pg_fail "the request record has no lease"
as admin B window requests | grep -Eq "^$CID +cluster +cn:operator +3m00s" || pg_fail "B does not list the cluster request"
# operator is no admin on B: refused before anything else.
expect_exit 3 "uri:spiffe://pprofgate.local/operator is not an allowed admin identity" as operator B window approve "$CID"
grep -q '"event":"denied","identity":"uri:spiffe://pprofgate.local/operator","reason":"identity_not_allowed".*"detail":"ApproveWindow: ' "$T/B.log" ||
	pg_fail "no audit line for the not-allowed approver"
out=$(as admin B window approve "$CID") || pg_fail "approve through B: $out"
grep -q '^window: open (approved) (cluster)' <<<"$out" || pg_fail "B approve output: $out"
CWIN=$(window_id <<<"$out")
wait_open() { local i; for ((i = 0; i < 50; i++)); do as admin A window status | grep -q "^window id: $1$" && return 0; sleep 0.1; done; return 1; }
wait_open "$CWIN" || pg_fail "A did not open the cluster window approved on B: $(as admin A window status)"
as admin A window status | grep -q '^approved by: cn:admin$' || pg_fail "A does not show the approver"
grep -q "\"event\":\"window_approve\",\"identity\":\"cn:admin\".*\"scope\":\"cluster\".*\"request_id\":\"$CID\",\"requester\":\"cn:operator\",\"approver\":\"cn:admin\"" "$T/B.log" ||
	pg_fail "no cluster window_approve audit line on B"
[ -z "$(pg_etcdctl get --prefix --keys-only /approvaltest/diagnostics/requests/)" ] || pg_fail "approved request left in etcd"
[ "$(get "$(mint --bind-window "$CWIN" --ttl 1h)")" = 200 ] || pg_fail "token bound to the cluster window refused on A"
pg_pass "step 4: cluster request made on A, listed and approved through B (not by a non-admin there), open on both with one window id"

# ---- Step 5: deny, and expiry ----
DID=$(as admin A window request --for 1m --reason "INC-10" | request_id)
out=$(as operator A window deny "$DID" --reason "not now") || pg_fail "deny failed: $out"
grep -q "^request $DID: denied" <<<"$out" || pg_fail "deny output: $out"
grep -q "\"event\":\"window_deny\",\"identity\":\"cn:operator\".*\"request_id\":\"$DID\",\"requester\":\"cn:admin\",\"approver\":\"cn:operator\".*\"detail\":\"not now\"" "$T/A.log" ||
	pg_fail "no window_deny audit line"
expect_exit 2 "no pending window request $DID" as operator A window approve "$DID"
[ "$(as admin A window requests)" = "no pending window requests" ] || pg_fail "denied request still listed"
# E keeps requests 5 s (admin.request_ttl_seconds).
TTL=5 start_node E "cn:admin,cn:operator"
EID=$(as admin E window request --for 1m --reason "INC-11" | request_id)
XID=$(as admin E window request --cluster --for 1m --reason "INC-12" | request_id)
sleep 6.5
expect_exit 2 "request $EID expired" as operator E window approve "$EID"
grep -q "\"event\":\"denied\",\"identity\":\"cn:operator\",\"reason\":\"request_expired\".*\"request_id\":\"$EID\",\"requester\":\"cn:admin\"" "$T/E.log" ||
	pg_fail "no request_expired audit line"
expect_exit 2 "no pending window request $XID" as operator E window approve "$XID"
grep -q '"reason":"request_not_found"' "$T/E.log" || pg_fail "no request_not_found audit line"
pg_pass "step 5: deny drops a request (audited); approval after expiry refused (node and cluster requests)"

# ---- Bounds: at most 64 pending node requests ----
# C keeps requests 10 minutes, so none expires while they are made.
TTL=600 start_node C "cn:admin"
for ((i = 0; i < 64; i++)); do
	as admin C window request --for 1m --reason "fill $i" >/dev/null || pg_fail "request $i refused"
done
expect_exit 5 "64 window requests are pending on this node, the most it keeps" as admin C window request --for 1m --reason "one too many"
grep -q '"event":"denied","identity":"cn:admin","reason":"too_many_requests"' "$T/C.log" || pg_fail "no too_many_requests audit line"
[ "$(as admin C window requests | grep -c ' fill ')" = 64 ] || pg_fail "listing does not show the 64 pending requests"
pg_pass "bounds: the 65th pending node request is refused (5), audited"
