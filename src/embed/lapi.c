/* lapi.c: moonshift.open{...} for Lua programs (OpenResty, Lapis): a handle
 * over the C API of moonshift.h whose :up(), :down(n), :status() and
 * :check() return plain tables (the --json document, decoded with
 * jansson). Registered into the module table by lmodule.c. */
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "lmodule.h"
#include "moonshift.h"

#define HANDLE_MT "moonshift.handle"

typedef struct handle { moonshift *m; } handle;

static moonshift *check_handle(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, HANDLE_MT);
  if (!h->m) luaL_error(L, "this moonshift handle is closed");
  return h->m;
}

/* Pushes the Lua form of a JSON value. */
static void push_json(lua_State *L, json_t *v, int depth) {
  luaL_checkstack(L, 4, "JSON too deep");
  if (depth > 64) { lua_pushnil(L); return; }
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *k;
    json_t *x;
    lua_createtable(L, 0, (int)json_object_size(v));
    json_object_foreach(v, k, x) {
      push_json(L, x, depth + 1);
      lua_setfield(L, -2, k);
    }
    return;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *x;
    lua_createtable(L, (int)json_array_size(v), 0);
    json_array_foreach(v, i, x) {
      push_json(L, x, depth + 1);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return;
  }
  case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); return;
  case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); return;
  case JSON_REAL: lua_pushnumber(L, json_real_value(v)); return;
  case JSON_TRUE: lua_pushboolean(L, 1); return;
  case JSON_FALSE: lua_pushboolean(L, 0); return;
  default: lua_pushnil(L); return;
  }
}

/* Returns the decoded document (or a table with ok=false and the error). */
static int result(lua_State *L, moonshift *m, int status) {
  const char *text = moonshift_json(m);
  json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
  if (doc) {
    push_json(L, doc, 0);
    json_decref(doc);
  } else {
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, status == 0);
    lua_setfield(L, -2, "ok");
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "exit_code");
    lua_pushstring(L, moonshift_error(m));
    lua_setfield(L, -2, "error");
  }
  return 1;
}

static int l_handle_up(lua_State *L) {
  moonshift *m = check_handle(L);
  return result(L, m, moonshift_up(m));
}

static int l_handle_down(lua_State *L) {
  moonshift *m = check_handle(L);
  return result(L, m, moonshift_down(m, (int)luaL_optinteger(L, 2, 1)));
}

static int l_handle_status(lua_State *L) {
  moonshift *m = check_handle(L);
  return result(L, m, moonshift_status(m));
}

/* m:check() or m:check{ at_least = V, at_most = V } (the version gate) */
static int l_handle_check(lua_State *L) {
  moonshift *m = check_handle(L);
  if (lua_isnoneornil(L, 2)) return result(L, m, moonshift_check(m));
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "at_least");
  lua_getfield(L, 2, "at_most");
  long long lo = lua_isnil(L, -2) ? -1 : (long long)luaL_checkinteger(L, -2);
  long long hi = lua_isnil(L, -1) ? -1 : (long long)luaL_checkinteger(L, -1);
  lua_pop(L, 2);
  return result(L, m, moonshift_check_range(m, lo, hi));
}

static int l_handle_close(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, HANDLE_MT);
  moonshift_close(h->m);
  h->m = NULL;
  return 0;
}

static const char *opt_string(lua_State *L, const char *key) {
  lua_getfield(L, 1, key);
  const char *v = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  lua_pop(L, 1);   /* the string stays alive: it is referenced by the options table */
  return v;
}

/* open{ url =, dir =, table =, lock = "advisory"|"table", lock_timeout = seconds } */
static int l_open(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  moonshift_options o;
  memset(&o, 0, sizeof o);
  o.url = opt_string(L, "url");
  o.dir = opt_string(L, "dir");
  o.table = opt_string(L, "table");
  const char *lock = opt_string(L, "lock");
  o.lock_table = lock && strcmp(lock, "table") == 0;
  lua_getfield(L, 1, "lock_timeout");
  o.lock_timeout = luaL_optnumber(L, -1, 0);
  lua_pop(L, 1);
  lua_getfield(L, 1, "wait");
  o.wait = luaL_optnumber(L, -1, 0);
  lua_pop(L, 1);
  handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->m = NULL;
  luaL_setmetatable(L, HANDLE_MT);
  h->m = moonshift_open(&o);
  if (!h->m) return luaL_error(L, "moonshift.open: out of memory");
  return 1;
}

static const luaL_Reg handle_methods[] = {
  { "up", l_handle_up }, { "down", l_handle_down }, { "status", l_handle_status },
  { "check", l_handle_check }, { "close", l_handle_close }, { NULL, NULL }
};

void ms_lapi_open(lua_State *L) {
  luaL_newmetatable(L, HANDLE_MT);
  luaL_newlib(L, handle_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_handle_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_handle_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_open);
  lua_setfield(L, -2, "open");
}
