#!/bin/sh
# demo.sh: what `make demo` runs once bin/moonshift is built. Applies the
# project's migrations/ to a fresh database and shows up, status, down, up.
#
# Without DATABASE_URL it keeps a throwaway server under .moonshift-demo/
# (reused by the next run; `make demo-stop` stops it and removes the folder)
# and recreates the database moonshift_demo there on every run. With
# DATABASE_URL set, that database is used as it is.
# The binary gets the database and folder through DATABASE_URL and MOONSHIFT_DIR.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$root"
bin=bin/moonshift
psql=${PG_BINDIR:-/usr/lib/postgresql/15/bin}/psql
[ -x "$bin" ] || { echo "demo: $bin is missing: run make demo" >&2; exit 1; }

if [ -n "${DATABASE_URL:-}" ]; then
  url=$DATABASE_URL
  echo "demo: using DATABASE_URL"
  local_server=
else
  unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS
  env=$(sh spec/support/pgtmp.sh start .moonshift-demo)
  eval "$env"
  "$psql" -X -q -v ON_ERROR_STOP=1 -d "$MS_TEST_URL" \
    -c 'SET client_min_messages = warning' \
    -c 'DROP DATABASE IF EXISTS moonshift_demo WITH (FORCE)' \
    -c 'CREATE DATABASE moonshift_demo'
  url="postgres://$PGUSER@127.0.0.1:$PGPORT/moonshift_demo"
  local_server=1
fi
DATABASE_URL=$url
MOONSHIFT_DIR=migrations
export DATABASE_URL MOONSHIFT_DIR

step() {
  printf '\n== moonshift %s\n' "$*"
  code=0
  "$bin" "$@" || code=$?
  if [ "$code" -ne 0 ]; then
    echo "demo: moonshift $* failed (exit $code)" >&2
    exit "$code"
  fi
}

step up
step status
step down
step up

echo
echo "The demo database: $url"
echo "Look around with:  $psql '$url'"
if [ -n "$local_server" ]; then
  echo "Stop the demo server with:  make demo-stop   (sh spec/support/pgtmp.sh stop .moonshift-demo)"
fi
