#!/usr/bin/env bash
# certs/gen-dev-pki.sh: makes what it says, with the right modes and purposes,
# is idempotent, remakes with --force, and the test extras fail as intended.
set -euo pipefail
src="${PG_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$("$src/certs/gen-dev-pki.sh" --dir "$d/pki" --test-extras)"
grep -q "admin.crt" <<<"$out" || fail "did not report admin.crt"
for k in ca server admin operator jwt-rs256 jwt-es256 expired-client rogue-client; do
	[ "$(stat -c %a "$d/pki/$k.key")" = 600 ] || fail "$k.key is not 0600"
done
for c in ca server admin operator; do
	[ "$(stat -c %a "$d/pki/$c.crt")" = 644 ] || fail "$c.crt is not 0644"
done
[ "$(stat -c %a "$d/pki/jwt-hs256.secret")" = 600 ] || fail "secret is not 0600"
[ "$(tr -d '\n' <"$d/pki/jwt-hs256.secret" | wc -c)" = 64 ] || fail "secret is not 32 hex bytes"

v() { openssl verify -CAfile "$d/pki/ca.crt" -purpose "$1" "$d/pki/$2.crt" >/dev/null 2>&1; }
v sslserver server || fail "server cert does not verify for serverAuth"
v sslclient admin || fail "admin cert does not verify for clientAuth"
v sslclient operator || fail "operator cert does not verify for clientAuth"
! v sslclient server || fail "server cert verified as a client"
! v sslclient expired-client || fail "expired cert verified"
! v sslclient rogue-client || fail "rogue cert verified"
! v sslclient selfsigned-client || fail "self-signed cert verified"
! v sslclient serveronly-client || fail "server-only cert verified as a client"
openssl x509 -in "$d/pki/admin.crt" -noout -ext subjectAltName | grep -q "URI:spiffe://pprofgate.local/admin" \
	|| fail "admin SPIFFE ID missing"
san="$(openssl x509 -in "$d/pki/server.crt" -noout -ext subjectAltName)"
for want in "DNS:localhost" "IP Address:127.0.0.1" "IP Address:0:0:0:0:0:0:0:1"; do
	grep -q "$want" <<<"$san" || fail "server SAN lacks $want ($san)"
done

# Idempotent: a second run makes nothing and changes nothing.
before="$(sha256sum "$d/pki"/* | sha256sum)"
out="$("$src/certs/gen-dev-pki.sh" --dir "$d/pki" --test-extras)"
grep -q "nothing made" <<<"$out" || fail "second run made something: $out"
[ "$(sha256sum "$d/pki"/* | sha256sum)" = "$before" ] || fail "second run changed files"

# --force remakes.
ca1="$(sha256sum <"$d/pki/ca.crt")"
"$src/certs/gen-dev-pki.sh" --dir "$d/pki" --force >/dev/null
[ "$(sha256sum <"$d/pki/ca.crt")" != "$ca1" ] || fail "--force did not remake the CA"
v sslclient admin || fail "admin does not verify against the remade CA"

# Bad arguments.
! "$src/certs/gen-dev-pki.sh" --bogus >/dev/null 2>&1 || fail "accepted --bogus"
! "$src/certs/gen-dev-pki.sh" --days abc >/dev/null 2>&1 || fail "accepted --days abc"
echo "gen-dev-pki: all checks passed"
