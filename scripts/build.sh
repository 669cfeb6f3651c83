#!/usr/bin/env bash
# Configures and builds pprofgate with warnings as errors (PG_WERROR=ON).
# Usage: scripts/build.sh [build-dir] [extra cmake args...]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$src/build}"
shift || true
cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPG_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
