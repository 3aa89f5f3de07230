#!/bin/sh
# pgbouncer.sh: a throwaway PgBouncer in transaction pooling in front of the
# specs' test server (pgtmp.sh), for the specs of --lock=table.
#
#   sh spec/support/pgbouncer.sh start DIR   start PgBouncer with its files in DIR
#                                            (created when missing) and print the
#                                            port it listens on (127.0.0.1)
#   sh spec/support/pgbouncer.sh stop DIR    stop it (SIGINT, then SIGKILL) and
#                                            remove DIR
#
# It forwards every database name to the server at 127.0.0.1:$PGPORT as
# $PGUSER (the variables run-specs.sh exports), with auth_type trust (the test
# server trusts every local connection too), pool_mode transaction and a small
# pool, so that clients share server connections between transactions as in
# production (MS_PGBOUNCER_POOL_SIZE server connections per database, 4
# unless set; 1 makes every client share one). DIR holds pgbouncer.ini,
# userlist.txt, pgbouncer.log, the pid file and `port`. Run as root,
# PgBouncer (which refuses root) runs as the `postgres` system user, who must
# be able to reach DIR. Everything but the port goes to stderr.
set -eu

BOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
RUN_AS=postgres

say() { printf 'pgbouncer.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

as_bouncer() {
  if is_root; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

port_in_use() {
  command -v ss >/dev/null 2>&1 || return 1
  [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

random_port() {
  while :; do
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    p=$((20000 + n % 40000))
    port_in_use "$p" || { echo "$p"; return; }
  done
}

# pid DIR: prints the pid in DIR's pid file when that process is alive.
pid_of() {
  [ -f "$1/pgbouncer.pid" ] || return 1
  p=$(head -n 1 "$1/pgbouncer.pid")
  case $p in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$p" 2>/dev/null || return 1
  echo "$p"
}

# listening PORT: true once something accepts connections on 127.0.0.1:PORT.
listening() {
  if command -v ss >/dev/null 2>&1; then
    port_in_use "$1"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

write_config() {
  dir=$1 port=$2
  # every user name must be in auth_file even with auth_type trust
  printf '"%s" ""\n' "$PGUSER" >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = ${MS_PGBOUNCER_POOL_SIZE:-4}
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
}

start() {
  dir=$1
  [ -x "$BOUNCER" ] || die "no pgbouncer at $BOUNCER: run sh spec/support/deps.sh"
  [ -n "${PGPORT:-}" ] && [ -n "${PGUSER:-}" ] || die "PGPORT and PGUSER must name the test server (see pgtmp.sh)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  if p=$(pid_of "$dir") && [ -f "$dir/port" ]; then
    say "reusing PgBouncer $p in $dir"
    cat "$dir/port"
    return
  fi
  if is_root; then
    id "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS is missing"
    chown "$RUN_AS" "$dir"
    runuser -u "$RUN_AS" -- test -w "$dir" ||
      die "user $RUN_AS cannot write to $dir (a parent folder is closed to it)"
  fi
  tries=0
  while :; do
    port=$(random_port)
    write_config "$dir" "$port"
    if is_root; then chown "$RUN_AS" "$dir/pgbouncer.ini" "$dir/userlist.txt"; fi
    rm -f "$dir/pgbouncer.pid"
    # -d: daemon; it writes its pid file once it listens
    (cd / && as_bouncer "$BOUNCER" -d "$dir/pgbouncer.ini" >>"$dir/start.log" 2>&1) || :
    waited=0
    while [ "$waited" -lt 50 ]; do
      if pid_of "$dir" >/dev/null && listening "$port"; then
        echo "$port" >"$dir/port"
        say "PgBouncer $(pid_of "$dir") on 127.0.0.1:$port in front of 127.0.0.1:$PGPORT (transaction pooling)"
        echo "$port"
        return
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    stop_bouncer "$dir" keep
    tries=$((tries + 1))
    if [ "$tries" -lt 5 ] && grep -qi 'address already in use' "$dir/pgbouncer.log" "$dir/start.log" 2>/dev/null; then
      say "port $port was taken, trying another"
      continue
    fi
    tail -n 20 "$dir/start.log" "$dir/pgbouncer.log" >&2 2>/dev/null || :
    die "PgBouncer did not start in $dir"
  done
}

# stop_bouncer DIR [keep]: stops the PgBouncer of DIR; removes DIR unless keep.
stop_bouncer() {
  dir=$1
  [ -d "$dir" ] || return 0
  if p=$(pid_of "$dir"); then
    kill -INT "$p" 2>/dev/null || :
    n=0
    while kill -0 "$p" 2>/dev/null && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    kill -KILL "$p" 2>/dev/null || :
  fi
  [ "${2:-}" = keep ] || rm -rf "$dir"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  start)
    [ $# -eq 1 ] || die "usage: pgbouncer.sh start DIR"
    case ${MS_PGBOUNCER_POOL_SIZE:-4} in ''|*[!0-9]*) die "MS_PGBOUNCER_POOL_SIZE is not a number" ;; esac
    start "$1"
    ;;
  stop)
    [ $# -eq 1 ] || die "usage: pgbouncer.sh stop DIR"
    stop_bouncer "$1"
    ;;
  *)
    die "usage: pgbouncer.sh start DIR | stop DIR"
    ;;
esac
