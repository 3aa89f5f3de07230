#!/bin/sh
# layout-check.sh OBJECT...: the rules of src/'s layout that include paths
# cannot express (the Makefile's layout-check, part of every build):
#   - no part reaches another part's header by a relative path;
#   - nothing outside src/cli/ writes to stdout or stderr: none of the
#     objects given (the library's: every part but cli) refers to stdio's
#     output functions or streams (read from `nm -u`, so a printf hidden
#     behind a macro counts too).
# Prints each offence and exits 1 when there is one.
set -eu
bad=0
if grep -rn '#include "\.\./' src >&2; then
  echo "layout: the lines above reach another part by a relative path; use the part's include path" >&2
  bad=1
fi
out='^(printf|fprintf|vprintf|vfprintf|dprintf|puts|fputs|putchar|fputc|putc|fwrite|perror|stdout|stderr|__printf_chk|__fprintf_chk|__vprintf_chk|__vfprintf_chk|__dprintf_chk|fputs_unlocked|fwrite_unlocked|putchar_unlocked|putc_unlocked|fputc_unlocked|_IO_putc)$'
for o in "$@"; do
  syms=$(nm -u "$o" | awk '{ print $NF }' | grep -E "$out" | tr '\n' ' ' || :)
  if [ -n "$syms" ]; then
    echo "layout: $o writes to the terminal ($syms); only src/cli/ may (report through the reporter, report.h)" >&2
    bad=1
  fi
done
exit $bad
