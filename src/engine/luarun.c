/* luarun.c: the Lua kind of migration for step.c (ms_lua_ops). Each file is
 * loaded once, as text, into a fresh environment from
 * lua/moonshift/sandbox.lua; its returned table is checked ({ up = fn,
 * down = fn?, transaction = bool? }) before anything runs. up/down are
 * called through lbridge.c with the db object of ldb.c. */
#include "step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <libpq-fe.h>

#include "buf.h"
#include "conn.h"
#include "lbridge.h"
#include "config.h"
#include "ldb.h"
#include "sqlfile.h"

/* Pushes a new environment for m: require("moonshift.sandbox").env(info). */
static void push_env(ms_ctx *c, const ms_migration *m) {
  lua_State *L = c->L;
  const char *lib = ms_config_lib_path(c);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonshift.sandbox");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "env");
  lua_remove(L, -2);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, m->path);
  lua_setfield(L, -2, "path");
  lua_pushinteger(L, m->version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, m->name);
  lua_setfield(L, -2, "name");
  lua_createtable(L, 0, 1);
  if (lib) {
    lua_pushstring(L, lib);
    lua_setfield(L, -2, "lib_dir");
  }
  lua_call(L, 2, 1);
}

static ms_status lua_check(ms_ctx *c, ms_migration *m, int down);

static int lua_allows_late(ms_ctx *c, ms_migration *m) {
  if (lua_check(c, m, 0) != MS_OK) return 0;
  lua_rawgeti(c->L, LUA_REGISTRYINDEX, m->handle);
  lua_getfield(c->L, -1, "out_of_order");
  int ok = lua_toboolean(c->L, -1);
  lua_pop(c->L, 2);
  return ok;
}

static ms_status bad_shape(ms_ctx *c, const ms_migration *m, const char *what) {
  return ms_fail(c, MS_EUSAGE, "%s: %s (a Lua migration returns { up = function(db) ... end, "
                 "down = function(db) ... end, transaction = true|false })", m->path, what);
}

/* Validates the table on top of the stack. */
static ms_status check_shape(ms_ctx *c, const ms_migration *m) {
  lua_State *L = c->L;
  if (!lua_istable(L, -1)) {
    const char *got = lua_isnone(L, -1) || lua_isnil(L, -1) ? "nothing" : luaL_typename(L, -1);
    return ms_fail(c, MS_EUSAGE, "%s: the file returned %s%s instead of a table (a Lua migration "
                   "returns { up = function(db) ... end, down = function(db) ... end })", m->path,
                   strcmp(got, "nothing") == 0 ? "" : "a ", got);
  }
  int t_up = lua_getfield(L, -1, "up");
  int t_down = lua_getfield(L, -2, "down");
  int t_tx = lua_getfield(L, -3, "transaction");
  int t_ooo = lua_getfield(L, -4, "out_of_order");
  lua_pop(L, 4);
  if (t_up != LUA_TFUNCTION) return bad_shape(c, m, "'up' is not a function");
  if (t_down != LUA_TFUNCTION && t_down != LUA_TNIL) return bad_shape(c, m, "'down' is not a function");
  if (t_tx != LUA_TBOOLEAN && t_tx != LUA_TNIL) return bad_shape(c, m, "'transaction' is not a boolean");
  if (t_ooo != LUA_TBOOLEAN && t_ooo != LUA_TNIL) return bad_shape(c, m, "'out_of_order' is not a boolean");
  static const char *const durations[] = { "lock_timeout", "statement_timeout" };
  for (int i = 0; i < 2; i++) {
    int t = lua_getfield(L, -1, durations[i]);
    size_t n = 0;
    const char *v = t == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    int ok = t == LUA_TNIL || (v && n < 24 && ms_sqlfile_duration_ok(v, n));
    lua_pop(L, 1);
    if (!ok) {
      ms_buf b = {0};
      ms_buf_printf(&b, "'%s' is not a duration string such as \"2s\" or \"10min\"", durations[i]);
      ms_status st = bad_shape(c, m, b.data ? b.data : "bad duration");
      ms_buf_free(&b);
      return st;
    }
  }
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    if (strcmp(k, "up") && strcmp(k, "down") && strcmp(k, "transaction") && strcmp(k, "out_of_order") &&
        strcmp(k, "lock_timeout") && strcmp(k, "statement_timeout")) {
      ms_buf b = {0};
      ms_buf_printf(&b, "unknown field '%s'", k);
      lua_pop(L, 1);
      ms_status st = bad_shape(c, m, b.data ? b.data : "unknown field");
      ms_buf_free(&b);
      return st;
    }
  }
  return MS_OK;
}

static ms_status load(ms_ctx *c, ms_migration *m) {
  lua_State *L = c->L;
  int top = lua_gettop(L);
  push_env(c, m);
  ms_status st = ms_lua_loadfile(c, m->path);
  if (st != MS_OK) return st;
  if (ms_lua_pcall(L, 0, 1) != LUA_OK) return ms_lua_fail(c, MS_EUSAGE, NULL);
  st = check_shape(c, m);
  if (st == MS_OK) m->handle = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, top);
  return st;
}

static ms_status lua_check(ms_ctx *c, ms_migration *m, int down) {
  ms_status st = !m->handle ? load(c, m) : MS_OK;
  if (st != MS_OK || !down) return st;
  lua_rawgeti(c->L, LUA_REGISTRYINDEX, m->handle);
  int has_down = lua_getfield(c->L, -1, "down") == LUA_TFUNCTION;
  lua_pop(c->L, 2);
  return has_down ? MS_OK : ms_fail(c, MS_EUSAGE, "%s: has no down function, so it cannot be rolled back", m->path);
}

/* A string field of the migration's table (kept alive by the table, which
 * the registry holds for the run), or NULL. */
static const char *field(ms_ctx *c, const ms_migration *m, const char *key) {
  lua_rawgeti(c->L, LUA_REGISTRYINDEX, m->handle);
  const char *v = lua_getfield(c->L, -1, key) == LUA_TSTRING ? lua_tostring(c->L, -1) : NULL;
  lua_pop(c->L, 2);
  return v;
}

static ms_status lua_open(ms_ctx *c, ms_step *s) {
  ms_status st = lua_check(c, s->m, s->down);
  if (st != MS_OK) return st;
  lua_rawgeti(c->L, LUA_REGISTRYINDEX, s->m->handle);
  s->tx = lua_getfield(c->L, -1, "transaction") != LUA_TBOOLEAN || lua_toboolean(c->L, -1);
  lua_pop(c->L, 2);
  s->lock_timeout = field(c, s->m, "lock_timeout");
  s->statement_timeout = field(c, s->m, "statement_timeout");
  s->done = -1;
  return MS_OK;
}

/* Calls up(db) or down(db) under the time guard; nothing when not live. */
static ms_status lua_body(ms_ctx *c, ms_step *s) {
  lua_State *L = c->L;
  if (!s->live) return MS_OK;
  int top = lua_gettop(L);
  ms_status st = MS_OK;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->m->handle);
  lua_getfield(L, -1, s->down ? "down" : "up");
  ms_ldb_push(L, c);
  ms_lua_guard(c, 1);
  if (ms_lua_pcall(L, 1, 0) != LUA_OK) {
    st = ms_lua_fail(c, MS_EFAILED, NULL);
    if (c->err && strncmp(c->err, "Lua ran out of memory", 21) == 0) {
      char *why = strdup(c->err);
      st = ms_fail(c, st, "%s: %s", s->m->path, why ? why : "Lua ran out of memory");
      free(why);
    }
  }
  ms_lua_guard(c, 0);
  lua_settop(L, top);
  return st;
}

const ms_step_ops ms_lua_ops = { "lua", lua_check, lua_open, lua_body, NULL, NULL, lua_allows_late };
