#!/usr/bin/env bash
# Fails when proto/goverse.proto no longer compiles to the same descriptor as
# the pinned upstream file proto/upstream/goverse.proto (Goverse's own): any
# drift in package, service, method, message, field name/number/type/label,
# enum or option. Comments and source positions are not compared (protoc
# leaves source info out of --descriptor_set_out unless asked).
#
# Usage: scripts/check-proto.sh [protoc]      (ctest runs it as unit/proto_pin)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
protoc="${1:-protoc}"
inc=/usr/include
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The descriptor of DIR/goverse.proto as text (FileDescriptorSet, decoded).
describe() {
	"$protoc" -I"$1" -I"$inc" --descriptor_set_out="$tmp/set.bin" goverse.proto
	"$protoc" -I"$inc" --decode=google.protobuf.FileDescriptorSet \
		google/protobuf/descriptor.proto <"$tmp/set.bin"
}

describe "$src/proto/upstream" >"$tmp/upstream.txt"
describe "$src/proto" >"$tmp/ours.txt"
grep -q 'name: "ReliableCallObject"' "$tmp/upstream.txt" || {
	echo "check-proto: the decoded upstream descriptor is empty or unreadable" >&2
	exit 1
}
if ! diff -u "$tmp/upstream.txt" "$tmp/ours.txt"; then
	echo "check-proto: proto/goverse.proto differs from the pinned upstream proto/upstream/goverse.proto" >&2
	exit 1
fi

# The comparison must be able to fail: a one-number change has to show.
mkdir "$tmp/mutant"
sed 's/string client_id = 5;/string client_id = 6;/' "$src/proto/goverse.proto" >"$tmp/mutant/goverse.proto"
describe "$tmp/mutant" >"$tmp/mutant.txt"
if diff -q "$tmp/upstream.txt" "$tmp/mutant.txt" >/dev/null; then
	echo "check-proto: a changed field number went unnoticed; the comparison is broken" >&2
	exit 1
fi
echo "check-proto: proto/goverse.proto matches the pinned upstream descriptor ($(grep -c '^ *name: ' "$tmp/ours.txt") names)"
