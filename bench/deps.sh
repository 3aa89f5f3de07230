#!/bin/sh
# bench/deps.sh: the tools `make bench` and bench/profile.sh use, beyond what
# spec/support/deps.sh installs for building and testing. Quick when all are
# there. Required: postgresql-contrib's pgbench comes with postgresql-15.
# Optional, skipped with a note when they cannot be had:
#   Debian: time, strace, valgrind, linux-perf (profiling); sqitch and
#           libdbd-pg-perl (a peer tool run on the same workloads)
#   npm:    dbmate (a peer tool; the npm package carries a prebuilt binary),
#           installed into bench/.tools
set -eu
cd "$(dirname "$0")/.."

PACKAGES="time strace valgrind linux-perf sqitch libdbd-pg-perl"
DBMATE_VERSION=2.36.0

# shellcheck disable=SC2086  # PACKAGES is a list of words
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PACKAGES 2>/dev/null || :)
missing=
command -v npm >/dev/null 2>&1 || missing=" npm"
for p in $PACKAGES; do
  case "
$installed" in
    *"
$p ii "*) ;;
    *) missing="$missing $p" ;;
  esac
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=no; fi
  if [ "$SUDO" = no ]; then
    echo "bench/deps: not root and no sudo; going on without:$missing" >&2
  else
    echo "bench/deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q >/dev/null || :
    for p in $missing; do
      # one by one, so that one missing package does not stop the others
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$p" </dev/null >/dev/null ||
        echo "bench/deps: could not install $p; going on without it" >&2
    done
  fi
fi

dbmate=bench/.tools/node_modules/@dbmate/linux-x64/bin/dbmate
if ! [ -x "$dbmate" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "bench/deps: npm install dbmate@$DBMATE_VERSION into bench/.tools" >&2
    npm install --prefix bench/.tools --no-audit --no-fund --loglevel=error "dbmate@$DBMATE_VERSION" >/dev/null 2>&1 ||
      echo "bench/deps: could not install dbmate from npm; going on without it" >&2
  else
    echo "bench/deps: no npm, so no dbmate; going on without it" >&2
  fi
fi
exit 0
