#!/usr/bin/env bash
# Installs pprofgate's build and test dependencies from Debian 12 packages.
# Idempotent: when every package is present it only runs dpkg-query (< 1 s).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libgnutls28-dev gnutls-bin libjwt-dev libjansson-dev libssl-dev openssl
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev
  libcurl4-openssl-dev curl libyaml-dev zlib1g-dev libdw-dev
  libgoogle-perftools-dev google-perftools
  etcd-server etcd-client golang-go prometheus
  python3-grpcio python3-protobuf wrk libc6-dbg sslscan procps systemd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${#missing[@]} Debian package(s): ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
