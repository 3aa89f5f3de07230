#!/bin/sh
# run-specs.sh: what `make test` runs once the binaries are built.
#
#   sh spec/support/run-specs.sh [BUSTED ARGS...]
#
# Starts a throwaway server (pgtmp.sh), exports its variables (see pgtmp.sh)
# plus MS_TEST_TMPDIR (a scratch folder for spec_helper's temp files), runs
# busted under Lua 5.4 from the repo root with the settings of .busted, and
# always stops the server and removes the scratch folder, on success, failure,
# Ctrl-C or kill. Exits with busted's status (the number of failed tests), or
# 130/143 when interrupted.
#
# MS_SPEC_PASSES (default "plain") lists passes to run in turn against the one
# server, each running the same specs with another build of the program:
#   plain     bin/moonshift and build/moonshift.so, as `make` builds them
#   asan      build/asan/bin/moonshift and build/asan/moonshift.so (`make asan`:
#             AddressSanitizer with leak checking, and UBSan)
#   valgrind  bin/moonshift under memcheck (spec/support/valgrind-ms.sh),
#             leaving out the specs tagged #timing (they time the program:
#             lock waits, timeouts, kills at set moments; memcheck runs it 20
#             to 50 times slower) and #rss (they bound the process's peak RSS,
#             which memcheck's own memory swells); docs/reliability.md lists them
# The program reaches spec_helper.lua through MS_BIN. A checked pass sends the
# checker's reports to files in a folder of its own; each report found there
# afterwards is printed and counts as one more failed test, so a report fails
# the run even when the spec accepted the exit code it caused. When more than
# one pass ran, or a report was found, a last line "N passed, N failed" gives
# the totals (CI reads the last such line) and the exit status is the total
# number of failures, at most 125.
#
# Arguments go to busted unchanged, so the Makefile passes $(SPEC) through:
#   make test SPEC=spec/tracker_spec.lua
#   make test SPEC="--filter=lock spec/lock_spec.lua"
# Without arguments busted runs every *_spec.lua under spec/.
#
# MS_PG_OPTIONS (see pgtmp.sh) reaches the server, e.g.
#   MS_PG_OPTIONS='-c log_statement=all' make test
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$root"

LUA=${LUA:-lua5.4}
busted=$(command -v busted) || { echo "run-specs: busted is missing: run sh spec/support/deps.sh" >&2; exit 1; }

work=
bpid=
# shellcheck disable=SC2317  # reached through the traps
cleanup() {
  trap - EXIT INT TERM HUP
  if [ -n "$bpid" ]; then
    kill -TERM "-$bpid" 2>/dev/null || kill -TERM "$bpid" 2>/dev/null || :
    bpid=
  fi
  if [ -n "$work" ]; then
    sh "$root/spec/support/pgtmp.sh" stop "$work/pg" || :
    rm -rf "$work"
    work=
  fi
}
trap cleanup EXIT
trap 'echo "run-specs: interrupted" >&2; cleanup; exit 130' INT
trap 'echo "run-specs: terminated" >&2; cleanup; exit 143' TERM HUP

work=$(mktemp -d "${TMPDIR:-/tmp}/moonshift-specs.XXXXXX")
chmod 755 "$work"  # the server user (postgres, when run as root) enters it
mkdir "$work/tmp"

# Variables from the caller's environment must not steer psql or the binary
# elsewhere than the test server.
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGSSLMODE DATABASE_URL MOONSHIFT_DIR
sh "$root/spec/support/pgtmp.sh" start "$work/pg" >"$work/env"
# shellcheck disable=SC1091  # written just above
. "$work/env"
export MS_TEST_TMPDIR="$work/tmp"

# busted runs in the background, in its own session, so that the traps above
# fire at once and can stop it with the processes it started. It is called
# through $LUA with --ignore-lua rather than with --lua=lua5.4, because busted
# re-executes itself for --lua without quoting the arguments.
#
# In the asan pass the busted process loads build/asan/moonshift.so, so the
# module specs check the engine's parts and the Lua bridge (lsplit.c,
# lmodule.c) under the sanitizers too. An instrumented module needs the ASan
# runtime loaded before anything else, hence gcc's libasan in LD_PRELOAD;
# `lua -e` then requires unpreload (spec/support/unpreload.c), which takes
# LD_PRELOAD out of the environment again so the programs the specs start
# (sh, psql, coreutils) run uninstrumented, and requires the module up front so
# the specs' own `require "moonshift"` gets it whatever their package.cpath.
# LSAN_OPTIONS (lsan-busted.supp) is for busted alone; unpreload drops it too.
run_busted() {
  if command -v setsid >/dev/null 2>&1; then
    setsid -w "$@" </dev/null &
  else
    "$@" </dev/null &
  fi
  bpid=$!
  wait "$bpid" || pass_status=$?
  bpid=
}

# prints each non-empty report file in $1 and sets $reports to their number.
# valgrind writes a log for every run: only one with errors is a report.
collect_reports() {
  reports=0
  for f in "$1"/*; do
    [ -s "$f" ] || continue
    case $f in
      */valgrind.*)
        grep -q 'ERROR SUMMARY: [1-9]' "$f" || continue ;;
    esac
    reports=$((reports + 1))
    printf '\nreport %s (pass %s):\n' "${f##*/}" "$pass"
    sed -n '1,200p' "$f"
  done
}

passes=${MS_SPEC_PASSES:-plain}
total_passed=0 total_failed=0 total_skipped=0 total_reports=0 npasses=0
status=0
for pass in $passes; do
  logs="$work/reports/$pass"
  mkdir -p "$logs"
  pass_status=0
  counts="$work/counts.$pass"
  case $pass in
    plain)
      [ "$passes" = plain ] || echo "== pass plain: bin/moonshift"
      run_busted env MS_SUMMARY_FILE="$counts" "$LUA" "$busted" --ignore-lua "$@" ;;
    asan)
      echo "== pass asan: build/asan/bin/moonshift (AddressSanitizer, LeakSanitizer, UBSan)"
      libasan=$(${SAN_CC:-gcc} -print-file-name=libasan.so)
      run_busted env MS_BIN=build/asan/bin/moonshift MS_SUMMARY_FILE="$counts" \
        LD_PRELOAD="$libasan" \
        LSAN_OPTIONS="suppressions=$root/spec/support/lsan-busted.supp:print_suppressions=0" \
        ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:abort_on_error=1:log_path=$logs/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$logs/ubsan" \
        "$LUA" -e "package.cpath = './build/asan/?.so;' .. package.cpath
          require 'unpreload'; require 'moonshift'" \
        "$busted" --ignore-lua "$@" ;;
    valgrind)
      echo "== pass valgrind: bin/moonshift under memcheck (without the specs tagged #timing or #rss)"
      chmod 1777 "$logs"  # runs as nobody (hardening_spec.lua) write their logs too
      run_busted env MS_BIN=spec/support/valgrind-ms.sh MS_VALGRIND_LOGS="$logs" \
        MS_SUMMARY_FILE="$counts" "$LUA" "$busted" --ignore-lua --exclude-tags=timing,rss "$@" ;;
    *)
      echo "run-specs: unknown pass '$pass' in MS_SPEC_PASSES (plain, asan, valgrind)" >&2
      exit 2 ;;
  esac
  npasses=$((npasses + 1))
  if [ -s "$counts" ]; then
    read -r n_passed n_failed n_skipped <"$counts"
  elif [ "$pass_status" = 0 ]; then
    n_passed=0 n_failed=0 n_skipped=0  # no tests run (busted --list, --help)
  else
    echo "run-specs: busted gave no summary in pass $pass (exit status $pass_status)"
    n_passed=0 n_failed=1 n_skipped=0
  fi
  collect_reports "$logs"
  total_passed=$((total_passed + n_passed))
  total_failed=$((total_failed + n_failed + reports))
  total_skipped=$((total_skipped + n_skipped))
  total_reports=$((total_reports + reports))
  [ "$pass_status" = 0 ] || status=$pass_status
done

if [ "$npasses" -gt 1 ] || [ "$total_reports" -gt 0 ]; then
  line="$total_passed passed, $total_failed failed"
  [ "$total_skipped" = 0 ] || line="$line, $total_skipped skipped"
  printf '\n== all passes (%s): %d checker reports\n%s\n' "$passes" "$total_reports" "$line"
  if [ "$total_failed" -gt 0 ]; then
    status=$total_failed
    [ "$status" -le 125 ] || status=125
  elif [ "$status" != 0 ]; then
    status=1
  fi
fi
exit "$status"
