/* unpreload.c: the Lua module `unpreload` (build/asan/unpreload.so) for the
 * asan pass of run-specs.sh. busted runs there with gcc's libasan in
 * LD_PRELOAD, which an instrumented build/asan/moonshift.so needs, and with
 * LSAN_OPTIONS naming the suppressions meant for busted alone; requiring this
 * module first removes both from the environment, so the programs the specs
 * start (sh, psql, coreutils) run as they are and the instrumented moonshift
 * binary checks itself with nothing suppressed. Uses the C library and Lua. */
#include <stdlib.h>

#include <lua.h>

int luaopen_unpreload(lua_State *L);

/* require "unpreload" -> true; unsets LD_PRELOAD and LSAN_OPTIONS in this
 * process (its own sanitizer read them at start). */
int luaopen_unpreload(lua_State *L) {
  unsetenv("LD_PRELOAD");
  unsetenv("LSAN_OPTIONS");
  lua_pushboolean(L, 1);
  return 1;
}
