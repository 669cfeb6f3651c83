#!/usr/bin/env bash
# Proves README's two commands work on a fresh Debian 12 machine.
#
# Builds (once) a minimal Debian 12 root with `debootstrap --variant=minbase
# bookworm`, caches it as a tarball, unpacks a copy, puts a clean checkout
# (`git archive`) in /src/pprofgate, and runs there what README.md says:
#   1. scripts/run-node.sh: setup, build, PKI, etcd and the node, inside a fresh
#      network namespace (loopback only, so fixed ports never clash with this
#      host), with a smoke run: /healthz answers, pprofgatectl opens a
#      diagnostics window and fetches a goroutine and a heap profile through the
#      gate (non-empty, read by `go tool pprof`), then the node is stopped.
#   2. scripts/test.sh's setup and build (deps.sh, build.sh), then the unit
#      tests (PG_FRESH_SUITE=1: the whole `PG_TEST_FAST=1 scripts/test.sh`).
# The network namespace has no route out, so scripts/deps.sh runs once before
# it with the network; run-node.sh then runs it again (a no-op when nothing is
# missing). Any package missing from deps.sh turns the check red.
#
# Needs root, debootstrap (installed here when missing) and Debian's archive.
#   PG_FRESH_CACHE   cache directory (default /var/cache/pprofgate-ci): the base
#                    root tarball, downloaded .deb files and the last run's
#                    logs (logs/deps.log, logs/run-node.log); delete to go cold
#   PG_FRESH_REF     git revision to check (default HEAD; uncommitted changes
#                    are not part of a clean checkout)
#   PG_FRESH_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   PG_FRESH_SUITE=1 run the whole fast suite in the fresh root as well
#   PG_FRESH_KEEP=1  keep the fresh root afterwards (its path is printed)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
cache="${PG_FRESH_CACHE:-/var/cache/pprofgate-ci}"
ref="${PG_FRESH_REF:-HEAD}"
mirror="${PG_FRESH_MIRROR:-http://deb.debian.org/debian}"
base="$cache/bookworm-minbase.tar.gz"
say() { echo "fresh-machine: $*"; }
die() { echo "fresh-machine: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts, network namespaces)"
# Own mount namespace: every bind mount below disappears with this process even
# if the cleanup cannot run.
if [ -z "${PG_FRESH_IN_NS:-}" ]; then
	PG_FRESH_IN_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
started=$(date +%s)
if ! command -v debootstrap >/dev/null; then
	say "installing debootstrap"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
mkdir -p "$cache/debs" "$cache/logs"
logs="$cache/logs" # the last run's logs, kept after the root is removed
rm -f "$logs"/*.log

# --- the cached base root ---
if [ ! -s "$base" ]; then
	say "no cached base root; debootstrap bookworm ($mirror)"
	tmp="$(mktemp -d /var/tmp/pprofgate-debootstrap.XXXXXX)"
	debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		{ tail -20 "$cache/debootstrap.log" >&2; rm -rf "$tmp"; die "debootstrap failed"; }
	# What Debian's installer configures besides the release itself.
	cat >"$tmp/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
	tar -C "$tmp" -czf "$base.part" . && mv "$base.part" "$base"
	rm -rf "$tmp"
	say "cached $base ($(du -h "$base" | cut -f1)) after $(($(date +%s) - started)) s"
fi

root="$(mktemp -d /var/tmp/pprofgate-fresh.XXXXXX)"
mounted=()
cleanup() {
	local rc=$? p i
	# Stop anything still running inside the fresh root (etcd, the node).
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${mounted[$i]}" 2>/dev/null || umount -lR "${mounted[$i]}" 2>/dev/null || true
	done
	if grep -q " $root/" /proc/self/mounts; then
		echo "fresh-machine: $root still has mounts; not removing it" >&2
	elif [ -n "${PG_FRESH_KEEP:-}" ]; then
		say "kept $root"
	else
		rm -rf "$root"
	fi
	[ $rc -eq 0 ] || echo "fresh-machine: FAIL after $(($(date +%s) - started)) s (logs above)" >&2
	exit $rc
}
trap cleanup EXIT
tar -C "$root" -xzf "$base"

bind() { # bind SOURCE TARGET-IN-ROOT
	mkdir -p "$root$2"
	mount --rbind "$1" "$root$2"
	mount --make-rslave "$root$2"
	mounted+=("$root$2")
}
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
bind /dev /dev
bind /sys /sys
bind "$cache/debs" /var/cache/apt/archives
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A chroot has no init: keep package scripts from starting daemons (etcd,
# prometheus) in this host's network namespace.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/src/pprofgate"
git -C "$src" archive --format=tar "$ref" | tar -x -C "$root/src/pprofgate"
say "checkout of $(git -C "$src" rev-parse --short "$ref") in $root/src/pprofgate"

# in_root [--no-net] COMMAND: runs COMMAND with bash in the fresh root, with a
# clean environment; --no-net puts it in a new network namespace with only lo.
in_root() {
	local pre=()
	if [ "$1" = --no-net ]; then
		shift
		pre=(unshare --net sh -c 'ip link set lo up && exec "$@"' in_root)
	fi
	"${pre[@]}" chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash -euo pipefail -c "cd /src/pprofgate
$1"
}

# --- command 1: scripts/run-node.sh ---
t=$(date +%s)
say "command 1: scripts/deps.sh (with the network), then scripts/run-node.sh (without)"
in_root "scripts/deps.sh" >"$logs/deps.log" 2>&1 || { tail -20 "$logs/deps.log" >&2; die "scripts/deps.sh failed"; }
say "deps installed in $(($(date +%s) - t)) s ($(grep -o "installing [0-9]* Debian package(s)" "$logs/deps.log" || echo "none missing"))"
t=$(date +%s)
in_root --no-net '
	scripts/run-node.sh >/tmp/run-node.log 2>&1 &
	node=$!
	stop() { kill -TERM $node 2>/dev/null; wait $node; }
	fail() { echo "fresh-machine: FAIL: $*" >&2; ls -l build/ >&2 || true; tail -40 /tmp/run-node.log >&2; stop; exit 1; }
	# The first run builds: allow it 30 minutes.
	for i in $(seq 1800); do
		curl -fsS -m 2 http://localhost:9091/healthz >/dev/null 2>&1 && break
		kill -0 $node 2>/dev/null || fail "scripts/run-node.sh exited before /healthz answered"
		[ $i -lt 1800 ] || fail "no /healthz after 30 minutes"
		sleep 1
	done
	echo "fresh-machine: node up: /healthz says $(curl -fsS http://localhost:9091/healthz)"
	export PPROFGATE_CERT=certs/dev/admin.crt PPROFGATE_KEY=certs/dev/admin.key PPROFGATE_CACERT=certs/dev/ca.crt
	build/pprofgatectl window open --for 5m --reason "fresh machine check" || fail "window open"
	for p in goroutine heap; do
		build/pprofgatectl --node localhost:9090 fetch $p -o /tmp/$p.pb.gz || fail "fetch $p"
		[ -s /tmp/$p.pb.gz ] || fail "$p profile is empty"
		go tool pprof -raw /tmp/$p.pb.gz >/tmp/$p.txt 2>&1 || fail "go tool pprof cannot read $p: $(head -3 /tmp/$p.txt)"
		grep -q "^Samples:" /tmp/$p.txt || fail "$p profile has no samples section"
		echo "fresh-machine: $p profile: $(stat -c %s /tmp/$p.pb.gz) bytes, $(grep -c "^ *[0-9]" /tmp/$p.txt) sample lines"
	done
	build/pprofgatectl window close || fail "window close"
	kill -TERM $node
	wait $node || { echo "fresh-machine: FAIL: run-node.sh exit status $?" >&2; tail -20 /tmp/run-node.log >&2; exit 1; }
	echo "fresh-machine: node stopped cleanly"
' || { cp "$root/tmp/run-node.log" "$logs/" 2>/dev/null; die "command 1 (scripts/run-node.sh) failed"; }
cp "$root/tmp/run-node.log" "$logs/"
say "command 1 built and ran in $(($(date +%s) - t)) s"

# --- command 2: scripts/test.sh's setup and build ---
t=$(date +%s)
if [ -n "${PG_FRESH_SUITE:-}" ]; then
	say "command 2: PG_TEST_FAST=1 scripts/test.sh"
	in_root "scripts/deps.sh" >>"$logs/deps.log" 2>&1 || die "scripts/deps.sh failed"
	in_root --no-net "PG_TEST_FAST=1 scripts/test.sh" || die "command 2 (scripts/test.sh) failed"
else
	say "command 2: scripts/test.sh's deps.sh and build.sh, then the unit tests"
	in_root "scripts/deps.sh" >>"$logs/deps.log" 2>&1 || die "scripts/deps.sh failed"
	in_root --no-net 'scripts/build.sh build >/dev/null && cd build && ctest -L unit -j 2 --output-on-failure | tail -3' ||
		die "command 2's build or unit tests failed"
fi
say "command 2 done in $(($(date +%s) - t)) s"
say "PASS in $(($(date +%s) - started)) s"
