#!/usr/bin/env bash
# Sets up and runs the whole test suite: unit tests, fuzz-corpus replays and
# integration tests against real etcd, curl, python gRPC, promtool and
# `go tool pprof`, first in the release build, then in an ASan+UBSan build.
# Each integration test starts the services it needs on free loopback ports.
#
#   scripts/test.sh             # both builds
#   PG_TEST_FAST=1 scripts/test.sh   # release build only
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
cd "$src"

"$src/scripts/deps.sh"

echo "== release build"
"$src/scripts/build.sh" "$src/build"
(cd "$src/build" && ctest --output-on-failure -j 2)

if [ -z "${PG_TEST_FAST:-}" ]; then
  echo "== ASan + UBSan build"
  "$src/scripts/build.sh" "$src/build-asan" -DPG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export LSAN_OPTIONS="suppressions=$src/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd "$src/build-asan" && ctest --output-on-failure -j 2)
fi
echo "== all tests passed"
