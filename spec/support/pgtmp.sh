#!/bin/sh
# pgtmp.sh: a throwaway PostgreSQL 15 server for the specs and the demo.
#
#   sh spec/support/pgtmp.sh start [DIR]  start a server in DIR (a fresh temp folder
#                                         when omitted; reused when already running
#                                         there) and print its `export` lines
#   sh spec/support/pgtmp.sh env DIR      print the `export` lines of the server in DIR
#   sh spec/support/pgtmp.sh status DIR   exit 0 when the server in DIR is running
#   sh spec/support/pgtmp.sh stop DIR     stop the server (fast, then immediate) and
#                                         remove DIR
#
# DIR holds data/ (the cluster, --auth=trust, UTF8, locale C), sock/ (the unix
# socket), server.log and env (the export lines, for `. DIR/env`). The server
# listens on the socket and on 127.0.0.1 at a free port picked at start. The
# exported variables are PGHOST (socket folder), PGPORT, PGUSER (the superuser
# role), PGDATABASE=postgres, MS_PG_DIR, MS_PG_DATA, MS_PG_LOG, MS_PG_BINDIR and
# MS_TEST_URL=postgres://USER@127.0.0.1:PORT/postgres.
#
# Environment:
#   PG_BINDIR        server binaries (default /usr/lib/postgresql/15/bin)
#   MS_PG_SUPERUSER  name of the superuser role (default postgres)
#   MS_PG_OPTIONS    extra server options, given to `pg_ctl -o` (which hands them
#                    to a shell), e.g. MS_PG_OPTIONS='-c log_statement=all'
#   TMPDIR           where the temp folder goes when DIR is omitted
#
# Run as root, the server runs as the `postgres` system user (initdb refuses
# root): DIR is handed to that user, who must be able to reach it. Everything
# but the export lines goes to stderr.
set -eu

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
SUPERUSER=${MS_PG_SUPERUSER:-postgres}
RUN_AS=postgres

say() { printf 'pgtmp: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# as_server CMD...: runs CMD as the user that owns the server, in its own
# session so that a Ctrl-C in the caller's terminal does not reach it.
as_server() {
  if is_root; then
    runuser -u "$RUN_AS" -- setsid -w "$@"
  else
    setsid -w "$@"
  fi
}

# abspath DIR: prints DIR as an absolute physical path (DIR must exist).
abspath() { (cd "$1" && pwd -P); }

# sq STRING: prints STRING single-quoted for sh.
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

port_in_use() {
  command -v ss >/dev/null 2>&1 || return 1
  [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# random_port: prints a port in 20000..59999 that nothing listens on yet.
random_port() {
  while :; do
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    p=$((20000 + n % 40000))
    port_in_use "$p" || { echo "$p"; return; }
  done
}

# running DIR: true when the server in DIR is up (pg_ctl refuses to run as root).
running() {
  [ -f "$1/data/postmaster.pid" ] && (cd / && as_server "$PG_BINDIR/pg_ctl" status -D "$1/data" >/dev/null 2>&1)
}

write_env() {
  dir=$1 port=$2
  sock=$(cat "$dir/sockdir")
  {
    echo "export PGHOST=$(sq "$sock")"
    echo "export PGPORT=$port"
    echo "export PGUSER=$(sq "$SUPERUSER")"
    echo "export PGDATABASE=postgres"
    echo "export MS_PG_DIR=$(sq "$dir")"
    echo "export MS_PG_DATA=$(sq "$dir/data")"
    echo "export MS_PG_LOG=$(sq "$dir/server.log")"
    echo "export MS_PG_BINDIR=$(sq "$PG_BINDIR")"
    echo "export MS_TEST_URL=$(sq "postgres://$SUPERUSER@127.0.0.1:$port/postgres")"
  } >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
}

init_cluster() {
  dir=$1
  # A unix socket path is limited to about 107 bytes: fall back to a short folder.
  sock="$dir/sock"
  if [ ${#sock} -gt 80 ]; then
    sock=$(mktemp -d /tmp/pgtmp-sock.XXXXXX)
  else
    mkdir -p "$sock"
  fi
  echo "$sock" >"$dir/sockdir"
  if is_root; then
    id "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS is missing: run sh spec/support/deps.sh"
    chown -R "$RUN_AS" "$dir" "$sock"
    runuser -u "$RUN_AS" -- test -w "$dir" ||
      die "user $RUN_AS cannot write to $dir (a parent folder is closed to it); set TMPDIR or pick another folder"
  fi
  as_server "$PG_BINDIR/initdb" -D "$dir/data" -U "$SUPERUSER" --auth=trust \
    --encoding=UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
  esc_sock=$(printf '%s' "$sock" | sed "s/'/''/g")
  cat >>"$dir/data/postgresql.conf" <<EOF

# pgtmp.sh (the port is given on the command line at each start)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$esc_sock'
log_statement = 'none'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

start_server() {
  dir=$1
  [ -x "$PG_BINDIR/pg_ctl" ] || die "no PostgreSQL 15 in $PG_BINDIR: run sh spec/support/deps.sh"
  if [ -f "$dir/env" ] && running "$dir"; then
    say "reusing the server in $dir"
    cat "$dir/env"
    return
  fi
  [ -d "$dir/data" ] || init_cluster "$dir"
  cd "$dir"  # the server user may not be able to enter the caller's folder
  tries=0
  while :; do
    port=$(random_port)
    if as_server "$PG_BINDIR/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/server.log" \
        -o "-p $port ${MS_PG_OPTIONS:-}" >"$dir/start.log" 2>&1; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -lt 5 ] && grep -q 'could not \(bind\|create any TCP\)' "$dir/server.log" 2>/dev/null; then
      say "port $port was taken, trying another"
      continue
    fi
    cat "$dir/start.log" >&2
    tail -n 20 "$dir/server.log" >&2 2>/dev/null || :
    die "the server did not start in $dir"
  done
  write_env "$dir" "$port"
  say "server running in $dir on port $port"
  cat "$dir/env"
}

stop_server() {
  dir=$1
  [ -d "$dir" ] || return 0
  dir=$(abspath "$dir")
  cd /
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_server "$PG_BINDIR/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null 2>&1 ||
      as_server "$PG_BINDIR/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 || :
    if [ -f "$dir/data/postmaster.pid" ]; then
      pid=$(head -n 1 "$dir/data/postmaster.pid")
      case $pid in
        ''|*[!0-9]*) ;;
        *) kill -KILL "$pid" 2>/dev/null || : ;;
      esac
    fi
  fi
  if [ -f "$dir/sockdir" ]; then
    sock=$(cat "$dir/sockdir")
    case $sock in
      "$dir"/*) ;;
      /tmp/pgtmp-sock.*) rm -rf "$sock" ;;
    esac
  fi
  rm -rf "$dir"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  start)
    if [ $# -gt 0 ]; then
      mkdir -p "$1"
      dir=$(abspath "$1")
    else
      base=${TMPDIR:-/tmp}
      dir=$(abspath "$(mktemp -d "$base/moonshift-pg.XXXXXX")")
    fi
    start_server "$dir"
    ;;
  env)
    [ $# -eq 1 ] || die "usage: pgtmp.sh env DIR"
    [ -d "$1" ] || die "no server running in $1"
    dir=$(abspath "$1")
    if ! [ -f "$dir/env" ] || ! running "$dir"; then die "no server running in $dir"; fi
    cat "$dir/env"
    ;;
  status)
    [ $# -eq 1 ] || die "usage: pgtmp.sh status DIR"
    [ -d "$1" ] || exit 1
    running "$(abspath "$1")"
    ;;
  stop)
    [ $# -eq 1 ] || die "usage: pgtmp.sh stop DIR"
    stop_server "$1"
    ;;
  *)
    die "usage: pgtmp.sh start [DIR] | env DIR | status DIR | stop DIR"
    ;;
esac
