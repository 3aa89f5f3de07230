/* config_fuzz.c: libFuzzer target for the project config loader
 * (ms_config_load_text in src/lua/config.c with lua/moonshift/config.lua): the
 * input is a moonshift.lua. Aborts unless it is accepted, or refused with
 * MS_EUSAGE and a message; never a crash, a Lua panic or a leak. The Lua
 * state has no io, no os.execute/remove/rename and no C modules (inputs are
 * arbitrary code), an instruction budget stops endless loops and the
 * allocator a memory limit. Built and run by `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "config.h"
#include "runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static ms_alloc alloc = { 0, (size_t)64 << 20 };
static lua_State *L;
static long budget;

static void l_budget_hook(lua_State *S, lua_Debug *ar) {
  (void)ar;
  if (--budget < 0) luaL_error(S, "instruction budget spent");
}

static int l_setup(lua_State *S) {
  ms_runtime_open(S);
  static const char *const os_out[] = { "execute", "remove", "rename", "tmpname", "exit", "getenv", NULL };
  lua_getglobal(S, "os");
  for (int i = 0; os_out[i]; i++) { lua_pushnil(S); lua_setfield(S, -2, os_out[i]); }
  lua_pop(S, 1);
  static const char *const g_out[] = { "io", "dofile", "loadfile", NULL };
  for (int i = 0; g_out[i]; i++) { lua_pushnil(S); lua_setglobal(S, g_out[i]); }
  lua_getglobal(S, "package");
  lua_pushliteral(S, "");
  lua_setfield(S, -2, "cpath");
  lua_pushliteral(S, "");
  lua_setfield(S, -2, "path");
  lua_pushnil(S);
  lua_setfield(S, -2, "loadlib");
  lua_pop(S, 1);
  return 0;
}

typedef struct job { const char *text; size_t len; ms_status st; char *err; } job;

static int l_load(lua_State *S) {
  job *j = lua_touserdata(S, 1);
  ms_ctx c;
  memset(&c, 0, sizeof c);
  c.L = S;
  c.alloc = &alloc;
  c.config_ref = LUA_NOREF;
  j->st = ms_config_load_text(&c, "f.lua", j->text, j->len, (j->len & 1) ? "test" : NULL);
  j->err = c.err;
  if (c.config_ref != LUA_NOREF && c.config_ref != 0) luaL_unref(S, LUA_REGISTRYINDEX, c.config_ref);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    L = ms_runtime_newstate(&alloc, NULL);
    CHECK(L != NULL);
    lua_pushcfunction(L, l_setup);
    CHECK(lua_pcall(L, 0, 0, 0) == LUA_OK);
  }
  job j = { (const char *)data, size, MS_OK, NULL };
  budget = 2000;   /* hook calls: 2000 x 1000 instructions */
  lua_sethook(L, l_budget_hook, LUA_MASKCOUNT, 1000);
  lua_pushcfunction(L, l_load);
  lua_pushlightuserdata(L, &j);
  int rc = lua_pcall(L, 1, 0, 0);
  lua_sethook(L, NULL, 0, 0);
  if (rc != LUA_OK) {
    /* only running out of memory may escape ms_config_load_text */
    CHECK(rc == LUA_ERRMEM);
    lua_pop(L, 1);
  } else {
    CHECK(j.st == MS_OK || j.st == MS_EUSAGE);
    CHECK(j.st == MS_OK || (j.err != NULL && j.err[0] != '\0'));
  }
  free(j.err);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
