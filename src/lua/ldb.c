/* ldb.c: the `db` userdata of Lua migrations. exec and query send SQL with
 * $1..$n parameters separately from the text (never interpolated) and
 * convert results (integers, floats, booleans, NULL as nil; other types as
 * text); quote_ident/quote_literal use libpq's escaping. SQL errors are raised
 * as tables carrying SQLSTATE, message, detail, hint and the Lua location.
 * Every PGresult and libpq string is held by a userdata so a Lua error can
 * never leak it. Also registers `moonshift.sys` (isatty, now, sleep), the few
 * db-independent system calls the migration environment needs. The sugar
 * (converters, cursors, savepoints, catalog) is lua/moonshift/db.lua. */
#include "ldb.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <libpq-fe.h>

#include "lbridge.h"
#include "pgerr.h"
#include "report.h"
#include "sqlsplit.h"

#define DB_MT "moonshift.db"
#define RESULT_MT "moonshift.result"
#define SQLERROR_MT "moonshift.sqlerror"
#define PQMEM_MT "moonshift.pqmem"

typedef struct ldb { ms_ctx *c; } ldb;
typedef struct lresult { PGresult *r; } lresult;
typedef struct lpqmem { char *p; } lpqmem;     /* a string libpq allocated */

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

static int l_pqmem_gc(lua_State *L) {
  lpqmem *m = luaL_checkudata(L, 1, PQMEM_MT);
  if (m->p) PQfreemem(m->p);
  m->p = NULL;
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

/* Pushes the shortest text that reads back as exactly d ("Infinity", "-Infinity"
 * and "NaN" spelled as PostgreSQL spells them). */
static void push_float(lua_State *L, double d) {
  if (isnan(d)) { lua_pushliteral(L, "NaN"); return; }
  if (isinf(d)) { lua_pushstring(L, d > 0 ? "Infinity" : "-Infinity"); return; }
  char num[64];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(num, sizeof num, "%.*g", prec, d);
    if (strtod(num, NULL) == d) break;
  }
  lua_pushstring(L, num);
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
      else push_float(L, (double)lua_tonumber(L, idx));
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *v = lua_tolstring(L, idx, &len);
      if (memchr(v, '\0', len)) {
        push_where(L);
        lua_pushfstring(L, "%s%sparameter $%d holds a NUL byte (at byte %d), which PostgreSQL text cannot "
                        "hold; nothing was sent", lua_tostring(L, -1), lua_rawlen(L, -1) ? " " : "", i + 1,
                        (int)((const char *)memchr(v, '\0', len) - v) + 1);
        return lua_error(L);
      }
      lua_pushvalue(L, idx);
      break;
    }
    default:
      push_where(L);
      lua_pushfstring(L, "%s%sparameter $%d: cannot send a %s to the database", lua_tostring(L, -1),
                      lua_rawlen(L, -1) ? " " : "", i + 1, luaL_typename(L, idx));
      return lua_error(L);
    }
    vals[i] = lua_tostring(L, -1);
  }
  *out = vals;
  return n;
}

/* Raises unless sql can be sent as written: no NUL byte (libpq would cut
 * the text there), and inside a migration's own transaction no statement
 * that ends or starts one (it would commit the migration without its
 * tracking row, or lose its first half). */
static void check_sql(lua_State *L, const ms_ctx *c, const char *sql, size_t len) {
  const char *nul = memchr(sql, '\0', len);
  if (nul) {
    push_where(L);
    const char *where = lua_tostring(L, -1);
    lua_pushfstring(L, "%s%sthe SQL text holds a NUL byte (at byte %d), which would cut it short; "
                    "nothing was sent", where, *where ? " " : "", (int)(nul - sql) + 1);
    lua_error(L);
  }
  if (!c->in_tx_body) return;
  ms_split sp;
  ms_stmt st;
  ms_split_init(&sp, sql, len);
  while (ms_split_next(&sp, &st) == 1) {
    if (st.cls != MS_CLASS_TXN) continue;
    const char *stmt = lua_pushlstring(L, sql + st.off, st.len > 40 ? 40 : st.len);
    push_where(L);
    const char *where = lua_tostring(L, -1);
    lua_pushfstring(L, "%s%s'%s' controls the transaction, but this migration runs in one with its "
                    "tracking row; set transaction = false to manage transactions yourself", where,
                    *where ? " " : "", stmt);
    lua_error(L);
  }
}

/* Runs sql with the parameters after it; leaves the result holder on top. */
static lresult *run(lua_State *L) {
  PGconn *conn = check_conn(L);
  size_t sql_len;
  const char *sql = luaL_checklstring(L, 2, &sql_len);
  check_sql(L, ((ldb *)lua_touserdata(L, 1))->c, sql, sql_len);
  const char **vals = NULL;
  int n = push_params(L, 3, &vals);
  ms_ctx *c = ((ldb *)lua_touserdata(L, 1))->c;
  if (c->opts.dry_run) {
    ms_event e = { .kind = MS_EV_SQL, .text = sql, .nparams = n, .params = vals };
    ms_report(c, &e);
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

/* The result is cleared as soon as it is converted, rather than at the next
 * collection: a loop of FETCHes must not pile up results Lua cannot see. */
static void release(lresult *h) {
  PQclear(h->r);
  h->r = NULL;
}

/* db:exec(sql, ...) -> number of rows affected (0 for other commands). */
static int l_db_exec(lua_State *L) {
  lresult *h = run(L);
  const char *n = PQcmdTuples(h->r);
  lua_Integer count = *n ? (lua_Integer)strtoll(n, NULL, 10) : 0;
  release(h);
  lua_pushinteger(L, count);
  return 1;
}

/* db:query(sql, ...) -> rows (array of tables keyed by column name, NULL
 * absent), fields (array of the column names in order). */
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
  lua_createtable(L, cols, 0);
  for (int j = 0; j < cols; j++) {
    lua_pushstring(L, PQfname(h->r, j));
    lua_rawseti(L, -2, j + 1);
  }
  release(h);
  return 2;
}

/* Quotes the string argument 2 with PQescapeIdentifier (ident) or
 * PQescapeLiteral; the libpq string is owned by a holder until copied. */
static int quote(lua_State *L, int ident) {
  PGconn *conn = check_conn(L);
  if (!ident && lua_isnoneornil(L, 2)) {
    lua_pushliteral(L, "NULL");
    return 1;
  }
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  if (memchr(s, '\0', len)) return luaL_argerror(L, 2, "contains a zero byte");
  lpqmem *m = lua_newuserdatauv(L, sizeof *m, 0);
  m->p = NULL;
  luaL_setmetatable(L, PQMEM_MT);
  m->p = ident ? PQescapeIdentifier(conn, s, len) : PQescapeLiteral(conn, s, len);
  if (!m->p) {
    /* invalid encoding: libpq's message ends with a newline */
    const char *msg = PQerrorMessage(conn);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') n--;
    lua_pushlstring(L, msg, n);
    return luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  lua_pushstring(L, m->p);
  PQfreemem(m->p);
  m->p = NULL;
  return 1;
}

/* db:quote_ident(s) -> s as an SQL identifier ("..." when needed). */
static int l_db_quote_ident(lua_State *L) { return quote(L, 1); }

/* db:quote_literal(s) -> s as an SQL string literal; nil -> NULL. */
static int l_db_quote_literal(lua_State *L) { return quote(L, 0); }

/* db:transaction_status() -> "idle" | "intrans" | "inerror" | "active" | "unknown" */
static int l_db_transaction_status(lua_State *L) {
  static const char *const names[] = { "idle", "active", "intrans", "inerror", "unknown" };
  PGTransactionStatusType t = PQtransactionStatus(check_conn(L));
  lua_pushstring(L, (unsigned)t < sizeof names / sizeof *names ? names[t] : "unknown");
  return 1;
}

/* Sleeps for the number of seconds at idx (fractions allowed), resuming
 * after signals that did not end the program. */
static int sleep_arg(lua_State *L, int idx) {
  lua_Number s = luaL_checknumber(L, idx);
  luaL_argcheck(L, s >= 0 && s < 1e9, idx, "seconds out of range");
  struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  return 0;
}

/* db:sleep(seconds); a sleep past the --lua-timeout deadline stops at it
 * and raises, as Lua code past it does */
static int l_db_sleep(lua_State *L) {
  ldb *d = luaL_checkudata(L, 1, DB_MT);
  lua_Number s = luaL_checknumber(L, 2);
  double deadline = d->c ? d->c->lua_deadline : 0, now = ms_now_ms();
  if (deadline > 0 && now + s * 1000 > deadline) {
    lua_pushnumber(L, deadline > now ? (deadline - now) / 1000 : 0);
    sleep_arg(L, lua_gettop(L));
    return luaL_error(L, "the Lua code ran longer than its lua_timeout (%f s) and was stopped", d->c->opts.lua_timeout);
  }
  return sleep_arg(L, 2);
}

static int l_db_tostring(lua_State *L) {
  luaL_checkudata(L, 1, DB_MT);
  lua_pushliteral(L, "moonshift db");
  return 1;
}

static const luaL_Reg db_methods[] = {
  { "exec", l_db_exec },
  { "query", l_db_query },
  { "quote_ident", l_db_quote_ident },
  { "quote_literal", l_db_quote_literal },
  { "transaction_status", l_db_transaction_status },
  { "sleep", l_db_sleep },
  { NULL, NULL }
};

static const luaL_Reg db_meta[] = {
  { "__tostring", l_db_tostring },
  { NULL, NULL }
};

/* moonshift.sys.isatty(fd) -> true when fd (default 2) is a terminal */
static int l_sys_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 2)) == 1);
  return 1;
}

/* moonshift.sys.now() -> monotonic seconds (with fractions) */
static int l_sys_now(lua_State *L) {
  lua_pushnumber(L, ms_now_ms() / 1000.0);
  return 1;
}

/* moonshift.sys.sleep(seconds) */
static int l_sys_sleep(lua_State *L) {
  return sleep_arg(L, 1);
}

/* moonshift.sys.report(kind, text): a line ("log") or terminal drawing
 * ("draw") of the running migration, to the run's reporter (the context
 * bound to the state, lbridge.c); dropped when none is bound. */
static int l_sys_report(lua_State *L) {
  static const char *const kinds[] = { "log", "draw", NULL };
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  size_t n;
  const char *text = luaL_checklstring(L, 2, &n);
  ms_ctx *c = ms_lua_bound(L);
  if (c && n > 0) {
    ms_event e = { .kind = kind == 0 ? MS_EV_LOG : MS_EV_DRAW, .migration = c->current, .text = text, .len = n };
    ms_report(c, &e);
  }
  return 0;
}

static const luaL_Reg sys_funcs[] = {
  { "isatty", l_sys_isatty },
  { "report", l_sys_report },
  { "now", l_sys_now },
  { "sleep", l_sys_sleep },
  { NULL, NULL }
};

static int l_sys_open(lua_State *L) {
  luaL_newlib(L, sys_funcs);
  return 1;
}

static const luaL_Reg holder_meta[] = {
  { "__gc", l_pqmem_gc },
  { "__close", l_pqmem_gc },
  { NULL, NULL }
};

static const luaL_Reg result_meta[] = {
  { "__gc", l_result_gc },
  { "__close", l_result_gc },
  { NULL, NULL }
};

void ms_ldb_preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, l_sys_open);
  lua_setfield(L, -2, "moonshift.sys");
  lua_pop(L, 1);
}

void ms_ldb_open(lua_State *L) {
  luaL_newmetatable(L, RESULT_MT);
  luaL_setfuncs(L, result_meta, 0);
  lua_pop(L, 1);
  luaL_newmetatable(L, PQMEM_MT);
  luaL_setfuncs(L, holder_meta, 0);
  lua_pop(L, 1);
  luaL_newmetatable(L, SQLERROR_MT);
  lua_pushcfunction(L, l_sqlerror_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, DB_MT);
  luaL_setfuncs(L, db_meta, 0);
  /* getmetatable(db) gives this name, not the shared method table: one
   * migration cannot patch the db of the next */
  lua_pushliteral(L, "moonshift db");
  lua_setfield(L, -2, "__metatable");
  /* __index = require("moonshift.db").methods(C methods): the Lua side wraps
   * and extends them (converters, cursors, savepoints, catalog helpers) */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonshift.db");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "methods");
  lua_remove(L, -2);
  luaL_newlib(L, db_methods);
  lua_call(L, 1, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void ms_ldb_push(lua_State *L, ms_ctx *c) {
  /* the db metatable (and the Lua helpers it loads) is made on first use:
   * a run without Lua migrations or hooks never pays for it */
  if (luaL_getmetatable(L, DB_MT) == LUA_TNIL) ms_ldb_open(L);
  lua_pop(L, 1);
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
