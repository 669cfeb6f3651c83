#!/usr/bin/env bash
# Makes a development PKI for pprofgate with the openssl CLI.
#
#   certs/gen-dev-pki.sh [--dir DIR] [--force] [--test-extras] [--days N]
#
# Default DIR is certs/dev/ (git-ignored). It makes:
#   ca.crt ca.key                 the development CA (EC P-256)
#   server.crt server.key         node server cert: localhost, 127.0.0.1, ::1 (EKU serverAuth)
#   admin.crt admin.key           client cert CN=admin, URI SAN spiffe://pprofgate.local/admin (EKU clientAuth)
#   operator.crt operator.key     client cert CN=operator, URI SAN spiffe://pprofgate.local/operator
#   jwt-rs256.key jwt-rs256.pub   RS256 signing key pair (RSA 2048)
#   jwt-es256.key jwt-es256.pub   ES256 signing key pair (P-256)
#   jwt-hs256.secret              HS256 secret (32 random bytes, hex)
# With --test-extras, for negative tests only:
#   expired-client.*              client cert valid 2020-01-01..2020-01-02
#   future-client.*               client cert valid from 2099
#   rogue-ca.* rogue-client.*     a client cert from another CA (CN=admin, same SPIFFE ID)
#   selfsigned-client.*           a self-signed client cert (CN=admin)
#   serveronly-client.*           CN=operator from the real CA but EKU serverAuth only
#   noeku-client.*                CN=operator from the real CA without any EKU (allowed)
#   ca-client.*                   CN=admin from the real CA, clientAuth, but CA:TRUE (refused)
# Keys are 0600, certificates 0644. An existing PKI is left alone unless --force.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dir="$here/dev"
force=0
extras=0
days=825

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
	--dir=*) dir="${1#--dir=}"; shift ;;
	--force) force=1; shift ;;
	--test-extras) extras=1; shift ;;
	--days) days="${2:?--days needs a number}"; shift 2 ;;
	-h|--help) usage 0 ;;
	*) echo "gen-dev-pki: unknown argument: $1" >&2; usage 2 ;;
	esac
done
case "$days" in ''|*[!0-9]*) echo "gen-dev-pki: --days must be a number" >&2; exit 2 ;; esac

command -v openssl >/dev/null || { echo "gen-dev-pki: openssl not found" >&2; exit 1; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
umask 077
made=()
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# exists NAME...: true when every named file is already there (and no --force)
exists() {
	[ "$force" = 1 ] && return 1
	for f in "$@"; do [ -e "$dir/$f" ] || return 1; done
	return 0
}

eckey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

finish() { # finish KEY CERT...: set modes and record
	chmod 0600 "$dir/$1"
	shift
	for c in "$@"; do chmod 0644 "$dir/$c"; done
}

# ext NAME EKU SAN: writes an extension file
ext() {
	local f="$work/$1.ext"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		[ -n "$2" ] && echo "extendedKeyUsage=$2"
		[ -n "$3" ] && echo "subjectAltName=$3"
		echo "subjectKeyIdentifier=hash"
		echo "authorityKeyIdentifier=keyid"
	} >"$f"
	echo "$f"
}

# leaf NAME CN EKU SAN [CA_PREFIX]: key + cert signed by the CA
leaf() {
	local name="$1" cn="$2" eku="$3" san="$4" ca="${5:-ca}"
	exists "$name.key" "$name.crt" && return 0
	eckey "$dir/$name.key"
	openssl req -new -key "$dir/$name.key" -subj "/O=pprofgate dev/CN=$cn" -out "$work/$name.csr"
	openssl x509 -req -in "$work/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
		-CAcreateserial -CAserial "$work/$ca.srl" -days "$days" -sha256 \
		-extfile "$(ext "$name" "$eku" "$san")" -out "$dir/$name.crt" 2>/dev/null
	finish "$name.key" "$name.crt"
	made+=("$name.crt ($cn${san:+, $san}${eku:+, EKU $eku})")
}

# ca NAME CN
mkca() {
	local name="$1" cn="$2"
	exists "$name.key" "$name.crt" && return 0
	eckey "$dir/$name.key"
	openssl req -x509 -new -key "$dir/$name.key" -subj "/O=pprofgate dev/CN=$cn" -days "$days" \
		-sha256 -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/$name.crt"
	finish "$name.key" "$name.crt"
	made+=("$name.crt (CA: $cn)")
}

# dated NAME CN START END: a client cert with explicit validity (openssl ca)
dated() {
	local name="$1" cn="$2" start="$3" end="$4"
	exists "$name.key" "$name.crt" && return 0
	local d="$work/ca-$name"
	mkdir -p "$d"
	: >"$d/index.txt"
	echo 1000 >"$d/serial"
	cat >"$d/ca.cnf" <<CNF
[ca]
default_ca = dev
[dev]
dir = $d
database = $d/index.txt
serial = $d/serial
new_certs_dir = $d
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
organizationName = optional
commonName = supplied
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://pprofgate.local/$cn
CNF
	eckey "$dir/$name.key"
	openssl req -new -key "$dir/$name.key" -subj "/O=pprofgate dev/CN=$cn" -out "$work/$name.csr"
	openssl ca -batch -config "$d/ca.cnf" -extensions client -notext -startdate "$start" \
		-enddate "$end" -in "$work/$name.csr" -out "$dir/$name.crt" >/dev/null 2>&1
	finish "$name.key" "$name.crt"
	made+=("$name.crt ($cn, valid $start..$end)")
}

mkca ca "pprofgate development CA"
leaf server localhost serverAuth "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf admin admin clientAuth "URI:spiffe://pprofgate.local/admin"
leaf operator operator clientAuth "URI:spiffe://pprofgate.local/operator"

if ! exists jwt-rs256.key jwt-rs256.pub; then
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/jwt-rs256.key" 2>/dev/null
	openssl pkey -in "$dir/jwt-rs256.key" -pubout -out "$dir/jwt-rs256.pub"
	finish jwt-rs256.key jwt-rs256.pub
	made+=("jwt-rs256.key/.pub (RS256)")
fi
if ! exists jwt-es256.key jwt-es256.pub; then
	eckey "$dir/jwt-es256.key"
	openssl pkey -in "$dir/jwt-es256.key" -pubout -out "$dir/jwt-es256.pub"
	finish jwt-es256.key jwt-es256.pub
	made+=("jwt-es256.key/.pub (ES256)")
fi
if ! exists jwt-hs256.secret; then
	openssl rand -hex 32 >"$dir/jwt-hs256.secret"
	chmod 0600 "$dir/jwt-hs256.secret"
	made+=("jwt-hs256.secret (HS256, 0600)")
fi

if [ "$extras" = 1 ]; then
	dated expired-client admin 20200101000000Z 20200102000000Z
	dated future-client admin 20990101000000Z 20991231000000Z
	mkca rogue-ca "rogue CA"
	leaf rogue-client admin clientAuth "URI:spiffe://pprofgate.local/admin" rogue-ca
	if ! exists selfsigned-client.key selfsigned-client.crt; then
		eckey "$dir/selfsigned-client.key"
		openssl req -x509 -new -key "$dir/selfsigned-client.key" -subj "/O=pprofgate dev/CN=admin" \
			-days "$days" -sha256 -addext "extendedKeyUsage=clientAuth" \
			-addext "subjectAltName=URI:spiffe://pprofgate.local/admin" \
			-out "$dir/selfsigned-client.crt"
		finish selfsigned-client.key selfsigned-client.crt
		made+=("selfsigned-client.crt (self-signed, CN admin)")
	fi
	leaf serveronly-client operator serverAuth "DNS:operator.pprofgate.local"
	leaf noeku-client operator "" "URI:spiffe://pprofgate.local/operator"
	if ! exists ca-client.key ca-client.crt; then
		eckey "$dir/ca-client.key"
		openssl req -new -key "$dir/ca-client.key" -subj "/O=pprofgate dev/CN=admin" -out "$work/ca-client.csr"
		sed 's/CA:FALSE/CA:TRUE/' "$(ext ca-client clientAuth "URI:spiffe://pprofgate.local/admin")" \
			>"$work/ca-client.ca.ext"
		openssl x509 -req -in "$work/ca-client.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
			-CAcreateserial -CAserial "$work/ca.srl" -days "$days" -sha256 \
			-extfile "$work/ca-client.ca.ext" -out "$dir/ca-client.crt" 2>/dev/null
		finish ca-client.key ca-client.crt
		made+=("ca-client.crt (CN admin, CA:TRUE)")
	fi
fi

if [ ${#made[@]} -eq 0 ]; then
	echo "gen-dev-pki: $dir already holds a PKI; nothing made (use --force to remake)"
else
	echo "gen-dev-pki: made in $dir:"
	for m in "${made[@]}"; do echo "  $m"; done
fi
