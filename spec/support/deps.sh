#!/bin/sh
# deps.sh: installs the Debian packages moonshift needs to build and test.
# Quick when everything is present (one dpkg-query); otherwise runs
# apt-get update and installs only what is missing, through sudo when not root.
# Add a package by adding it to PACKAGES.
set -eu

PACKAGES="build-essential pkg-config lua5.4 liblua5.4-dev libpq-dev libssl-dev libjansson-dev
postgresql-15 postgresql-client-15 lua-busted pgbouncer
clang libclang-rt-14-dev valgrind"

# shellcheck disable=SC2086  # PACKAGES is a list of words
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PACKAGES 2>/dev/null || :)
missing=
for p in $PACKAGES; do
  case "
$installed" in
    *"
$p ii "*) ;;
    *) missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" = 0 ]; then
  SUDO=
elif command -v sudo >/dev/null 2>&1; then
  SUDO=sudo
else
  echo "deps: not root and no sudo; install as root:$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing </dev/null
