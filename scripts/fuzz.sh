#!/usr/bin/env bash
# Builds the libFuzzer build (clang, coverage + ASan + UBSan on all of pg_core)
# into build-fuzz/ and runs fuzz targets one after another, each for a fixed
# time on its corpus. New inputs go to a scratch directory; afterwards the
# ones that add coverage are merged into tests/fuzz/corpus/<target>/
# (libFuzzer -merge=1). Prints a table: target, execs, execs/s, cov, ft, corpus.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#   nice -n 19 scripts/fuzz.sh 600 fuzz_http_path fuzz_config
#   scripts/fuzz.sh 0 fuzz_config     # only merge the last run's scratch inputs
#
# Without targets it runs all of them, the parsers of untrusted input first.
# Crashes, leaks, UB and timeouts leave the reproducer in
# build-fuzz/fuzz-out/<target>/ and make the script exit 1.
# Environment: PG_FUZZ_JOBS (build parallelism, default 2),
# PG_FUZZ_NO_MERGE=1 (keep the corpus untouched), PG_FUZZ_MAX_FILES (corpus
# size above which the merge keeps only inputs with new edges, default 300).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-600}"
shift || true
case "$secs" in '' | *[!0-9]*) echo "fuzz.sh: seconds must be a number, got '$secs'" >&2; exit 2 ;; esac

# Untrusted-input parsers first, then the profile-file parsers.
order=(fuzz_http_path fuzz_auth_header fuzz_config fuzz_etcd fuzz_json fuzz_rpc_request
       fuzz_window_record fuzz_request_record fuzz_endpoint fuzz_pprof_merge fuzz_cidr fuzz_pprof_params fuzz_cpu_legacy
       fuzz_heap_sample fuzz_dwarf_line)
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=("${order[@]}")
  # Any target not in the list above still runs, last.
  for f in "$src"/tests/fuzz/fuzz_*.c; do
    t="$(basename "$f" .c)"
    case " ${order[*]} " in *" $t "*) ;; *) targets+=("$t") ;; esac
  done
fi
for t in "${targets[@]}"; do
  [ -f "$src/tests/fuzz/$t.c" ] || { echo "fuzz.sh: no target $t (tests/fuzz/$t.c)" >&2; exit 2; }
done

bdir="$src/build-fuzz"
CC=clang CXX=clang++ cmake -S "$src" -B "$bdir" -DPG_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$bdir" -j "${PG_FUZZ_JOBS:-2}" --target "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=$src/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

out="$bdir/fuzz-out"
mkdir -p "$out"
table="$out/summary.txt"
printf '%-20s %6s %12s %8s %7s %8s %7s %9s  %s\n' target secs execs exec/s cov ft files KiB result >"$table"
max_files="${PG_FUZZ_MAX_FILES:-300}"
failed=0
for t in "${targets[@]}"; do
  corpus="$src/tests/fuzz/corpus/$t"
  dir="$out/$t"
  log="$dir/fuzz.log"
  result=ok
  if [ "$secs" -gt 0 ]; then
    rm -rf "$dir"
    mkdir -p "$dir/new" "$corpus"
    echo "== $t: ${secs}s (log $log)"
    # New inputs land in the first directory (scratch); the corpus is read only.
    if ! "$bdir/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/" "$dir/new" "$corpus" >"$log" 2>&1; then
      result="FAILED: $(ls "$dir" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -1 || true)"
      failed=1
      grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|deadly signal' "$log" || tail -5 "$log"
    fi
  elif [ ! -d "$dir/new" ]; then
    echo "fuzz.sh: $t has no earlier run to merge ($dir/new)" >&2
    failed=1
    continue
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  cov="$(grep -oE ' cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)"
  ft="$(grep -oE ' ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)"
  if [ "$result" = ok ] && [ -z "${PG_FUZZ_NO_MERGE:-}" ]; then
    # Keep only scratch inputs that add coverage to the committed corpus;
    # when that is more than max_files, keep only those that add new edges
    # (hit counts ignored), which is far fewer.
    ls "$corpus" >"$dir/before.txt"
    "$bdir/$t" -merge=1 -timeout=10 -rss_limit_mb=2048 "$corpus" "$dir/new" >"$dir/merge.log" 2>&1 ||
      { result="merge failed (see $dir/merge.log)"; failed=1; }
    if [ "$result" = ok ] && [ "$(find "$corpus" -type f | wc -l)" -gt "$max_files" ]; then
      ls "$corpus" | grep -vxF -f "$dir/before.txt" | sed "s|^|$corpus/|" | xargs -r rm -f
      "$bdir/$t" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$corpus" "$dir/new" \
        >"$dir/merge.log" 2>&1 || { result="merge failed (see $dir/merge.log)"; failed=1; }
      [ "$result" = ok ] && result="ok (edge-only merge)"
    fi
  fi
  ran="$secs"
  [ "$secs" -gt 0 ] || ran=merge
  files="$(find "$corpus" -type f | wc -l)"
  kib="$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1024}')"
  printf '%-20s %6s %12s %8s %7s %8s %7s %9s  %s\n' "$t" "$ran" \
    "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$files" "$kib" "$result" | tee -a "$table"
done
echo
cat "$table"
exit "$failed"
