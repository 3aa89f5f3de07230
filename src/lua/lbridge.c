/* lbridge.c: protected calls into user Lua with a traceback handler, error
 * values turned into reports (SQL errors raised by db methods keep their
 * SQLSTATE, DETAIL and HINT), and loading user files as text chunks into a
 * given environment. */
#include "lbridge.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "conn.h"
#include "ldb.h"
#include "pgerr.h"
#include "runtime.h"

/* Message handler: strings get a traceback appended; SQL error tables get a
 * "traceback" field; any other value is turned into a string first. */
static int l_traceback(lua_State *L) {
  if (ms_ldb_is_sqlerror(L, 1)) {
    luaL_traceback(L, L, NULL, 1);
    lua_setfield(L, 1, "traceback");
    lua_settop(L, 1);
    return 1;
  }
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Count hook: checks the deadline every 10,000 instructions. The context
 * is found in the state's extra space. */
static void l_guard_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  ms_ctx *c = ms_lua_bound(L);
  if (c && c->lua_deadline > 0 && ms_now_ms() > c->lua_deadline)
    luaL_error(L, "the Lua code ran longer than its lua_timeout (%f s) and was stopped", c->opts.lua_timeout);
}

void ms_lua_guard(ms_ctx *c, int on) {
  if (c->opts.lua_timeout <= 0) return;
  ms_lua_bind(c);
  c->lua_deadline = on ? ms_now_ms() + c->opts.lua_timeout * 1000 : 0;
  lua_sethook(c->L, on ? l_guard_hook : NULL, on ? LUA_MASKCOUNT : 0, 10000);
}

void ms_lua_bind(ms_ctx *c) {
  if (c->L) *(ms_ctx **)lua_getextraspace(c->L) = c;
}

ms_ctx *ms_lua_bound(lua_State *L) { return *(ms_ctx **)lua_getextraspace(L); }

int ms_lua_pcall(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, l_traceback);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return rc;
}

static void add_field(lua_State *L, ms_buf *b, const char *key, const char *label) {
  if (lua_getfield(L, -1, key) == LUA_TSTRING) {
    if (label && *label) ms_buf_printf(b, "\n%s: ", label);
    else if (label) ms_buf_puts(b, "\n");
    ms_buf_puts(b, lua_tostring(L, -1));
  }
  lua_pop(L, 1);
}

ms_status ms_lua_fail(ms_ctx *c, ms_status code, const char *what) {
  lua_State *L = c->L;
  ms_buf b = {0};
  if (what) ms_buf_printf(&b, "%s: ", what);
  c->sqlstate[0] = '\0';
  if (ms_ldb_is_sqlerror(L, -1)) {
    if (lua_getfield(L, -1, "sqlstate") == LUA_TSTRING)
      snprintf(c->sqlstate, sizeof c->sqlstate, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    ms_buf_puts(&b, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 2);
    add_field(L, &b, "detail", "DETAIL");
    add_field(L, &b, "hint", "HINT");
    add_field(L, &b, "context", "CONTEXT");
    add_field(L, &b, "traceback", "");
    if (lua_getfield(L, -1, "connection_lost") == LUA_TBOOLEAN) code = MS_ECONNECT;
    lua_pop(L, 1);
  } else {
    const char *msg = lua_tostring(L, -1);
    if (msg && strcmp(msg, "not enough memory") == 0 && c->alloc && c->alloc->limit)
      ms_buf_printf(&b, "Lua ran out of memory (the limit is %zu MB; see --lua-memory)",
                    c->alloc->limit >> 20);
    else
      ms_buf_puts(&b, msg ? msg : "(error object is not a string)");
  }
  lua_pop(L, 1);
  if (code == MS_EFAILED) code = ms_conn_failure(c);
  if (code == MS_EFAILED && ms_sqlstate_connection_lost(c->sqlstate))
    code = MS_ECONNECT;
  ms_status st = ms_fail(c, code, "%s", b.data ? b.data : "Lua error");
  ms_buf_free(&b);
  return st;
}

ms_status ms_lua_loadfile(ms_ctx *c, const char *path) {
  lua_State *L = c->L;
  if (luaL_loadfilex(L, path, "t") != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    size_t n = strlen(path);
    /* syntax errors name the file; a binary (luac) file's does not */
    int named = msg && strncmp(msg, path, n) == 0;
    ms_status st = ms_fail(c, MS_EUSAGE, "%s%s%s", named ? "" : path, named ? "" : ": ",
                           msg ? msg : "cannot load");
    lua_pop(L, 2);
    return st;
  }
  lua_insert(L, -2);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  return MS_OK;
}
