#!/bin/sh
# valgrind-ms.sh: bin/moonshift under valgrind's memcheck, the program of
# the valgrind pass of run-specs.sh (`make valgrind` sets MS_BIN to it).
#
#   sh spec/support/valgrind-ms.sh ARGS...
#
# exec keeps the pid the specs see (H.spawn kills it). Each run logs to
# $MS_VALGRIND_LOGS/valgrind.PID (default: a folder under /tmp); run-specs.sh
# counts a log whose ERROR SUMMARY is not 0 as a failure. Errors also make the
# exit code 99, which no spec expects. Definite leaks are errors; memory still
# reachable at exit is not (the process ends). spec/support/valgrind.supp
# holds the suppressions, each explained.
root=$(cd "$(dirname "$0")/../.." && pwd -P)
logs=${MS_VALGRIND_LOGS:-${TMPDIR:-/tmp}/moonshift-valgrind}
mkdir -p "$logs"
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --error-exitcode=99 --track-origins=yes \
  --suppressions="$root/spec/support/valgrind.supp" --log-file="$logs/valgrind.%p" \
  "$root/bin/moonshift" "$@"
