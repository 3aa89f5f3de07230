/* runtime.c: makes the embedded lua/ modules requirable (package.preload)
 * and prepares a Lua state for running migrations. Uses the generated
 * build/embedded.c and ldb.c. */
#include "runtime.h"

#include "ldb.h"

#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>


/* Upvalue 1: index into ms_embedded_files. Loads and runs the module. */
static int l_runtime_load(lua_State *L) {
  const ms_embedded *e = &ms_embedded_files[lua_tointeger(L, lua_upvalueindex(1))];
  lua_pushfstring(L, "=%s", e->path);
  if (luaL_loadbufferx(L, e->src, e->len, lua_tostring(L, -1), "t") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, e->module);
  lua_call(L, 1, 1);
  return 1;
}

static void *l_runtime_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  ms_alloc *a = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    a->used -= old;
    return NULL;
  }
  if (a->limit && nsize > old && a->used - old + nsize > a->limit) return NULL;
  void *p = realloc(ptr, nsize);
  if (p) a->used = a->used - old + nsize;
  return p;
}

lua_State *ms_runtime_newstate(ms_alloc *a, int (*panic)(lua_State *L)) {
  lua_State *L = lua_newstate(l_runtime_alloc, a);
  if (L && panic) lua_atpanic(L, panic);
  return L;
}

void ms_runtime_preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (lua_Integer i = 0; ms_embedded_files[i].module; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, l_runtime_load, 1);
    lua_setfield(L, -2, ms_embedded_files[i].module);
  }
  lua_pop(L, 1);
}

void ms_runtime_open(lua_State *L) {
  luaL_openlibs(L);
  ms_runtime_preload(L);
  ms_ldb_preload(L);
}
