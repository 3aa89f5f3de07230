#!/bin/sh
# bench/profile.sh: where moonshift's own time goes, for the hand-written
# section "What the profile showed" of docs/benchmarks.md. Not part of
# `make bench`; run it after `make` (and bench/deps.sh for the tools):
#
#   sh bench/profile.sh [N]        N migrations (default 1000)
#
# Starts its own throwaway server (spec/support/pgtmp.sh) with every
# statement logged, and writes to build/bench/profile/:
#   *.callgrind, *.callgrind.txt  valgrind --tool=callgrind (instruction
#                                 counts, repeatable): inclusive and flat
#   *.strace.txt                  strace -f -c (syscalls of the client)
#   *.sql.txt                     statements the server received, per command
#   perf-stat.txt                 perf stat -r 10: task-clock and page faults
#                                 of status / no-op up against psql's SELECT
#   *.gaps.txt                    per statement kind, time from its start to
#                                 the next statement's (bench/pglog-gaps.awk)
#   summary.txt                   instruction totals, round trips, statements
# for: moonshift --version; up of N migrations into a new database; status
# and no-op up on them; down 100; a pgbench -s 1 pg_dump file as one migration.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd -P)
N=${1:-1000}
out=$root/build/bench/profile
MS=$root/bin/moonshift
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PSQL=$PG_BINDIR/psql

for t in valgrind callgrind_annotate strace; do
  command -v "$t" >/dev/null 2>&1 || { echo "profile: $t is missing: run sh bench/deps.sh" >&2; exit 1; }
done
[ -x "$MS" ] || { echo "profile: build first (make)" >&2; exit 1; }

. bench/scratch.sh
MS_PG_OPTIONS="-c log_statement=all -c log_connections=on"
export MS_PG_OPTIONS
scratch_start profile
rm -rf "$out"
mkdir -p "$out"
url() { echo "postgres://$PGUSER@127.0.0.1:$PGPORT/$1"; }
psql_c() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d postgres -c "$1" >/dev/null; }
fresh() { psql_c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; psql_c "CREATE DATABASE $1"; }

# The same migrations as make bench (bench/gen.lua).
BENCH_BIN=$root/build/bench BENCH_WORK=$work ${LUA:-lua5.4} -e "
  package.path = 'bench/?.lua;' .. package.path
  require('gen').migrations('$work/m', $N)"

summary=$out/summary.txt
: >"$summary"

# profile NAME CMD...: callgrind, strace -c and the server's statements for
# one run of CMD (the database is prepared by the caller before each run).
log_mark() { wc -l <"$MS_PG_LOG"; }
profile() {
  name=$1; shift
  prep=$PREP
  eval "$prep"
  from=$(log_mark)
  valgrind --tool=callgrind --callgrind-out-file="$out/$name.callgrind" "$@" >/dev/null 2>"$out/$name.valgrind.txt"
  to=$(log_mark)
  sed -n "$((from + 1)),${to}p" "$MS_PG_LOG" >"$out/$name.sql.txt"
  callgrind_annotate --inclusive=yes "$out/$name.callgrind" 2>/dev/null | sed -n '/file:function/,$p' |
    grep -v '???' | head -80 >"$out/$name.callgrind.txt"
  { echo; echo "-- flat (self) cost"; callgrind_annotate "$out/$name.callgrind" 2>/dev/null |
    sed -n '/file:function/,$p' | head -40; } >>"$out/$name.callgrind.txt"
  eval "$prep"
  strace -f -c -o "$out/$name.strace.txt" "$@" >/dev/null 2>&1
  ir=$(sed -n 's/.*I *refs: *//p' "$out/$name.valgrind.txt")
  rt=$(awk '$NF == "sendto" { print $4 }' "$out/$name.strace.txt")
  st=$(grep -c 'LOG:  \(statement\|execute\)' "$out/$name.sql.txt" || :)
  printf '%-14s %14s instructions  %5s sendto  %5s statements logged\n' "$name" "$ir" "${rt:-0}" "$st" >>"$summary"
}

PREP=:
profile version "$MS" --version

PREP="fresh p"
profile up "$MS" --url "$(url p)" --dir "$work/m" up
PREP=:
profile status "$MS" --url "$(url p)" --dir "$work/m" status
profile noop "$MS" --url "$(url p)" --dir "$work/m" up

if command -v perf >/dev/null 2>&1; then
  {
    for args in "status" "up"; do
      # shellcheck disable=SC2086
      perf stat -r 10 "$MS" --url "$(url p)" --dir "$work/m" $args 2>&1 >/dev/null | grep -E 'Performance|task-clock|faults|context|elapsed'
    done
    perf stat -r 10 "$PSQL" -X -d p -c "SELECT version, name, kind, applied_at FROM moonshift_migrations ORDER BY version" 2>&1 >/dev/null |
      grep -E 'Performance|task-clock|faults|context|elapsed'
    perf stat -r 10 "$MS" --version 2>&1 >/dev/null | grep -E 'Performance|task-clock|faults|context|elapsed'
  } >"$out/perf-stat.txt" 2>&1 || :
fi

# down 100: the database is at N after up, so roll back 100 once.
PREP=:
profile down "$MS" --url "$(url p)" --dir "$work/m" down 100

# A pg_dump file (pgbench -s 1) as one migration.
fresh pgb
"$PG_BINDIR/pgbench" -i -q -s 1 pgb >/dev/null 2>&1
mkdir -p "$work/dump"
"$PG_BINDIR/pg_dump" -d pgb -f "$work/dump/0001_dump.sql"
PREP="fresh r"
profile dump "$MS" --url "$(url r)" --dir "$work/dump" up

# One plain run each (no valgrind, no strace) of moonshift up and of the two
# psql baselines of make bench, seen from the server log: time per statement
# kind, from the start of each statement to the start of the next.
BENCH_BIN=$root/build/bench BENCH_WORK=$work ${LUA:-lua5.4} -e "
  package.path = 'bench/?.lua;' .. package.path
  local gen = require('gen')
  gen.floor_script('$work/floor.sql', $N, false)
  gen.floor_script('$work/floor-1rt.sql', $N, true)"
gaps() {
  name=$1; shift
  from=$(log_mark)
  "$@" >/dev/null
  to=$(log_mark)
  sed -n "$((from + 1)),${to}p" "$MS_PG_LOG" | awk -f bench/pglog-gaps.awk | sort -t'|' -k1,1 >"$out/$name.gaps.txt"
  { echo; echo "-- $name: server log, ms from each statement's start to the next one's"
    printf '%-32s %7s %10s %10s\n' statement count "avg ms" "total ms"
    cat "$out/$name.gaps.txt"; } >>"$summary"
}
fresh g1
gaps up-plain "$MS" --url "$(url g1)" --dir "$work/m" up
fresh g2
gaps psql-floor "$PSQL" -X -q -v ON_ERROR_STOP=1 -d g2 -f "$work/floor.sql"
fresh g3
gaps psql-1rt "$PSQL" -X -q -v ON_ERROR_STOP=1 -d g3 -f "$work/floor-1rt.sql"

{ echo; echo "N = $N migrations; $(ls -l "$work/dump/0001_dump.sql" | awk '{print $5}') bytes of pg_dump (pgbench -s 1)"; } >>"$summary"
cat "$summary"
echo "profile: results in $out" >&2
