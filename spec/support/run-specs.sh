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
status=0
if command -v setsid >/dev/null 2>&1; then
  setsid -w "$LUA" "$busted" --ignore-lua "$@" </dev/null &
else
  "$LUA" "$busted" --ignore-lua "$@" </dev/null &
fi
bpid=$!
wait "$bpid" || status=$?
bpid=
exit "$status"
