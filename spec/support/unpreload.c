/* unpreload.c: the Lua module `unpreload` (build/asan/unpreload.so) for the
 * asan pass of run-specs.sh. busted runs there with gcc's libasan in
 * LD_PRELOAD, which an instrumented build/asan/moonshift.so needs; requiring
 * this module first removes LD_PRELOAD from the environment, so the programs
 * the specs start (sh, psql, coreutils) run as they are and only the
 * instrumented moonshift binary checks itself. Uses the C library and Lua. */
#include <stdlib.h>

#include <lua.h>

int luaopen_unpreload(lua_State *L);

/* require "unpreload" -> true; unsets LD_PRELOAD in this process. */
int luaopen_unpreload(lua_State *L) {
  unsetenv("LD_PRELOAD");
  lua_pushboolean(L, 1);
  return 1;
}
