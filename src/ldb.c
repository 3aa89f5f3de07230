/* ldb.c: the `db` userdata of Lua migrations. exec and query send SQL with
 * $1..$n parameters separately from the text (never interpolated) and
 * convert results (integers, floats, booleans, NULL as nil; other types as
 * text). SQL errors are raised as tables carrying SQLSTATE, message, detail,
 * hint and the Lua location. Every PGresult is held by a userdata so a Lua
 * error can never leak it. */
#include "ldb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <libpq-fe.h>

#include "pgerr.h"

#define DB_MT "moonshift.db"
#define RESULT_MT "moonshift.result"
#define SQLERROR_MT "moonshift.sqlerror"

typedef struct ldb { ms_ctx *c; } ldb;
typedef struct lresult { PGresult *r; } lresult;

static PGconn *check_conn(lua_State *L) {
  ldb *d = luaL_checkudata(L, 1, DB_MT);
  if (!d->c || !d->c->conn) luaL_error(L, "the database connection is closed");
  return d->c->conn;
}

static int l_result_gc(lua_State *L) {
  lresult *r = luaL_checkudata(L, 1, RESULT_MT);
  PQclear(r->r);
  r->r = NULL;
  return 0;
}

/* Pushes "file:line:" of the nearest caller that is user code. */
static void push_where(lua_State *L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0 && ar.source[0] == '@') {
      lua_pushfstring(L, "%s:%d:", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

static void set_str(lua_State *L, const char *k, const char *v) {
  if (!v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* Raises the error of result r (held by a userdata, freed by GC). */
static int raise_sql(lua_State *L, PGconn *conn, const PGresult *r) {
  ms_pgerr e;
  ms_pgerr_from(r, conn, &e);
  lua_createtable(L, 0, 8);
  set_str(L, "sqlstate", e.sqlstate);
  set_str(L, "condition", ms_sqlstate_name(e.sqlstate));
  set_str(L, "message", e.message);
  set_str(L, "detail", e.detail);
  set_str(L, "hint", e.hint);
  set_str(L, "context", e.context);
  if (e.position) { lua_pushinteger(L, e.position); lua_setfield(L, -2, "position"); }
  if (e.connection_lost) { lua_pushboolean(L, 1); lua_setfield(L, -2, "connection_lost"); }
  push_where(L);
  lua_setfield(L, -2, "where");
  luaL_setmetatable(L, SQLERROR_MT);
  return lua_error(L);
}

static int l_sqlerror_tostring(lua_State *L) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_getfield(L, 1, "where");
  if (lua_isstring(L, -1) && lua_rawlen(L, -1) > 0) {
    luaL_addvalue(&b);
    luaL_addchar(&b, ' ');
  } else {
    lua_pop(L, 1);
  }
  luaL_addstring(&b, "ERROR");
  static const char *const keys[] = { "sqlstate", "condition" };
  for (int i = 0; i < 2; i++) {
    if (lua_getfield(L, 1, keys[i]) == LUA_TSTRING) { luaL_addchar(&b, ' '); luaL_addvalue(&b); }
    else lua_pop(L, 1);
  }
  luaL_addstring(&b, ": ");
  lua_getfield(L, 1, "message");
  if (lua_isstring(L, -1)) luaL_addvalue(&b); else lua_pop(L, 1);
  luaL_pushresult(&b);
  return 1;
}

/* Converts arguments first..top into text parameters; returns the count
 * and leaves the array (a userdata) and the strings on the stack. */
static int push_params(lua_State *L, int first, const char ***out) {
  int n = lua_gettop(L) - first + 1;
  if (n <= 0) { *out = NULL; return 0; }
  const char **vals = lua_newuserdatauv(L, (size_t)n * sizeof *vals, 0);
  for (int i = 0; i < n; i++) {
    int idx = first + i;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: vals[i] = NULL; continue;
    case LUA_TBOOLEAN: vals[i] = lua_toboolean(L, idx) ? "t" : "f"; continue;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
      else {
        char num[64];
        snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, idx));
        lua_pushstring(L, num);
      }
      break;
    case LUA_TSTRING: lua_pushvalue(L, idx); break;
    default:
      return luaL_error(L, "parameter $%d: cannot send a %s to the database", i + 1,
                        luaL_typename(L, idx));
    }
    vals[i] = lua_tostring(L, -1);
  }
  *out = vals;
  return n;
}

/* Runs sql with the parameters after it; leaves the result holder on top. */
static lresult *run(lua_State *L) {
  PGconn *conn = check_conn(L);
  const char *sql = luaL_checkstring(L, 2);
  const char **vals = NULL;
  int n = push_params(L, 3, &vals);
  if (((ldb *)lua_touserdata(L, 1))->c->opts.dry_run) {
    printf("  sql: %s\n", sql);
    for (int i = 0; i < n; i++) printf("       $%d = %s\n", i + 1, vals[i] ? vals[i] : "NULL");
  }
  lresult *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->r = NULL;
  luaL_setmetatable(L, RESULT_MT);
  h->r = n == 0 ? PQexec(conn, sql) : PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
  if (!ms_pg_ok(h->r)) raise_sql(L, conn, h->r);
  return h;
}

static void push_value(lua_State *L, const PGresult *r, int row, int col) {
  const char *v = PQgetvalue(r, row, col);
  switch (PQftype(r, col)) {
  case 16: lua_pushboolean(L, v[0] == 't'); return;              /* bool */
  case 20: case 21: case 23: case 26:                              /* int8 int2 int4 oid */
    if (lua_stringtonumber(L, v) == 0) lua_pushstring(L, v);
    return;
  case 700: case 701:                                               /* float4 float8 */
    lua_pushnumber(L, strtod(v, NULL));
    return;
  default: lua_pushstring(L, v);
  }
}

static int l_db_exec(lua_State *L) {
  lresult *h = run(L);
  const char *n = PQcmdTuples(h->r);
  lua_pushinteger(L, *n ? (lua_Integer)strtoll(n, NULL, 10) : 0);
  return 1;
}

static int l_db_query(lua_State *L) {
  lresult *h = run(L);
  int rows = PQntuples(h->r), cols = PQnfields(h->r);
  lua_createtable(L, rows, 0);
  for (int i = 0; i < rows; i++) {
    lua_createtable(L, 0, cols);
    for (int j = 0; j < cols; j++) {
      if (PQgetisnull(h->r, i, j)) continue;
      push_value(L, h->r, i, j);
      lua_setfield(L, -2, PQfname(h->r, j));
    }
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_db_tostring(lua_State *L) {
  luaL_checkudata(L, 1, DB_MT);
  lua_pushliteral(L, "moonshift db");
  return 1;
}

static const luaL_Reg db_methods[] = {
  { "exec", l_db_exec },
  { "query", l_db_query },
  { NULL, NULL }
};

static const luaL_Reg db_meta[] = {
  { "__tostring", l_db_tostring },
  { NULL, NULL }
};

void ms_ldb_open(lua_State *L) {
  luaL_newmetatable(L, RESULT_MT);
  lua_pushcfunction(L, l_result_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_result_gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newmetatable(L, SQLERROR_MT);
  lua_pushcfunction(L, l_sqlerror_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, DB_MT);
  luaL_setfuncs(L, db_meta, 0);
  luaL_newlib(L, db_methods);
  /* Lua-side helpers (query_one, table_exists, ...) join the C methods */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonshift.db");
  lua_call(L, 1, 1);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, -5);
  }
  lua_pop(L, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void ms_ldb_push(lua_State *L, ms_ctx *c) {
  ldb *d = lua_newuserdatauv(L, sizeof *d, 0);
  d->c = c;
  luaL_setmetatable(L, DB_MT);
}

int ms_ldb_is_sqlerror(lua_State *L, int idx) {
  int yes = 0;
  idx = lua_absindex(L, idx);
  if (lua_istable(L, idx) && lua_getmetatable(L, idx)) {
    luaL_getmetatable(L, SQLERROR_MT);
    yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  return yes;
}
