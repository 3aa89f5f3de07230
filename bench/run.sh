#!/bin/sh
# bench/run.sh: what `make bench` runs once bin/moonshift and
# build/libmoonshift.a are built.
#
#   sh bench/run.sh                 full run (about 12-15 minutes on 2 cores),
#                                   writes docs/benchmarks.md
#   BENCH_QUICK=1 sh bench/run.sh   small sizes, few rounds (about 2 minutes),
#                                   writes build/bench/benchmarks.md
#   BENCH_ONLY=up,lua,dump,split    only those workloads (also writes to build/bench/)
#
# Installs the optional tools (bench/deps.sh), builds bench/timeit and
# bench/splitbench into build/bench/, starts a throwaway PostgreSQL 15 with
# spec/support/pgtmp.sh in a scratch folder, runs bench/bench.lua, and always
# stops the server and removes the scratch folder (success, failure, Ctrl-C).
# TMPDIR chooses where the scratch folder goes; a full run needs about 5 GB.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd -P)

sh spec/support/deps.sh
sh bench/deps.sh

CC=${CC:-cc}
mkdir -p build/bench
$CC -O2 -g -std=c11 -Wall -Wextra -o build/bench/timeit bench/timeit.c
$CC -O2 -g -std=c11 -Wall -Wextra -Isrc/core -Isrc/sql -o build/bench/splitbench bench/splitbench.c build/libmoonshift.a

. bench/scratch.sh
scratch_start bench   # $work, a server in $work/pg; every client over TCP loopback
# a copy, so that a rebuild during the run does not change the program measured
cp bin/moonshift "$work/moonshift"
export BENCH_BIN="$root/build/bench" BENCH_WORK="$work" MS_BIN="$work/moonshift"

BENCH_DBMATE=
[ -x bench/.tools/node_modules/@dbmate/linux-x64/bin/dbmate ] &&
  BENCH_DBMATE="$root/bench/.tools/node_modules/@dbmate/linux-x64/bin/dbmate"
BENCH_SQITCH=
if command -v sqitch >/dev/null 2>&1 && perl -MDBD::Pg -e1 2>/dev/null; then
  BENCH_SQITCH=$(command -v sqitch)
fi
[ -n "$BENCH_DBMATE" ] || echo "bench: dbmate is not installed; its rows are skipped" >&2
[ -n "$BENCH_SQITCH" ] || echo "bench: sqitch (with DBD::Pg) is not installed; its rows are skipped" >&2
export BENCH_DBMATE BENCH_SQITCH

status=0
${LUA:-lua5.4} bench/bench.lua || status=$?
scratch_cleanup
exit "$status"
