#!/usr/bin/env bash
# Configures and builds pprofgate. Usage: scripts/build.sh [build-dir] [extra cmake args...]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$src/build}"
shift || true
cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
