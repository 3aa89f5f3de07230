# bench/scratch.sh: sourced by bench/run.sh and bench/profile.sh. Defines
# scratch_start NAME: makes a scratch folder $work (under TMPDIR), starts a
# throwaway PostgreSQL in $work/pg with spec/support/pgtmp.sh (MS_PG_OPTIONS
# reaches the server), loads its variables, and points every client at TCP
# loopback. The server is stopped and the folder removed on exit, error,
# Ctrl-C or kill.
work=
scratch_cleanup() {
  trap - EXIT INT TERM HUP
  if [ -n "$work" ]; then
    sh spec/support/pgtmp.sh stop "$work/pg" >/dev/null 2>&1 || :
    rm -rf "$work"
    work=
  fi
}
scratch_start() {
  trap scratch_cleanup EXIT
  trap 'scratch_cleanup; exit 130' INT HUP
  trap 'scratch_cleanup; exit 143' TERM
  work=$(mktemp -d "${TMPDIR:-/tmp}/moonshift-$1.XXXXXX")
  chmod 755 "$work"   # the server runs as postgres and must reach $work/pg
  sh spec/support/pgtmp.sh start "$work/pg" >"$work/env"
  . "$work/env"
  PGHOST=127.0.0.1
  export PGHOST PGPORT PGUSER MS_PG_BINDIR
}
