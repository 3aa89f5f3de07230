#!/bin/sh
# fuzz.sh: runs the libFuzzer targets that `make fuzz-build` builds.
#
#   sh spec/support/fuzz.sh SECONDS TARGET...
#
# Each build/fuzz/TARGET_fuzz first replays its seed corpus fuzz/corpus/TARGET
# and its regression inputs spec/fixtures/fuzz/TARGET (both read only), then
# fuzzes for SECONDS seconds. New inputs go to build/fuzz/corpus/TARGET (kept
# between runs, never committed), libFuzzer's output to build/fuzz/TARGET.log
# and a failing input to build/fuzz/artifacts/. Prints one line per target,
# and for a failure the report and what to do with the input. Runs every
# target, then exits 1 if any failed.
#
# FUZZ_OPTIONS adds libFuzzer options, e.g. FUZZ_OPTIONS=-jobs=2.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$root"

[ $# -ge 1 ] || { echo "usage: fuzz.sh SECONDS TARGET..." >&2; exit 2; }
seconds=$1
shift

failed=0
mkdir -p build/fuzz/artifacts
for t in "$@"; do
  bin=build/fuzz/${t}_fuzz
  [ -x "$bin" ] || { echo "fuzz: $bin is missing: run make fuzz-build" >&2; exit 2; }
  mkdir -p "build/fuzz/corpus/$t"
  set -- "build/fuzz/corpus/$t"
  [ -d "fuzz/corpus/$t" ] && set -- "$@" "fuzz/corpus/$t"
  [ -d "spec/fixtures/fuzz/$t" ] && set -- "$@" "spec/fixtures/fuzz/$t"
  log=build/fuzz/$t.log
  start=$(date +%s)
  # detect_leaks stays on: a leak in the engine fails the target too.
  # shellcheck disable=SC2086  # FUZZ_OPTIONS is a list of options
  if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
     "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" ${FUZZ_OPTIONS:-} \
       "$@" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    size=$(find "build/fuzz/corpus/$t" -type f | wc -l)
    echo "fuzz $t: ok, ${runs:-?} runs in $(( $(date +%s) - start )) s, $size inputs found so far"
  else
    failed=1
    echo "fuzz $t: FAILED (build/fuzz/$t.log)"
    grep -v -e '^#' -e '^INFO:' -e '^stat::' -e '^MS:' -e '^base unit' -e '^NOTE:' \
      -e '^ *Combine libFuzzer' -e 'in fuzzer::' -e ' in _start' -e 'libc_start' \
      -e '__sanitizer_print_stack_trace' -e '^ *#[0-9]* 0x[0-9a-f]* *(/lib' "$log" |
      tail -n 30 | sed 's/^/  /'
    echo "  Replay it with $bin INPUT; once the bug is understood, keep the input as"
    echo "  spec/fixtures/fuzz/$t/NAME and replay it in spec/fuzz_regress_spec.lua."
  fi
done
exit "$failed"
