/* luarun.c: runs Lua migrations. Each file is loaded once, as text, into a
 * fresh environment from lua/moonshift/sandbox.lua; its returned table is
 * checked ({ up = fn, down = fn?, transaction = bool? }) before anything
 * runs. up/down are called through lbridge.c with the db object of ldb.c. */
#include "luarun.h"

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
#include "lease.h"
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

/* Applies the migration's lock_timeout / statement_timeout (or the
 * defaults), from its table on top of the stack. */
static ms_status set_timeouts(ms_ctx *c, int tx) {
  static const char *const names[] = { "lock_timeout", "statement_timeout" };
  const char *defaults[2] = { c->opts.lock_timeout_default, c->opts.statement_timeout_default };
  char watch[96];
  ms_status st = ms_conn_watch_sql(c, tx, watch, sizeof watch) ? ms_conn_exec(c, watch) : MS_OK;
  if (!tx && ms_conn_pooled(c)) {
    /* through a pooler a session SET would reach other clients' sessions */
    for (int i = 0; i < 2; i++) {
      lua_getfield(c->L, -1, names[i]);
      if (lua_isstring(c->L, -1) || (defaults[i] && *defaults[i]))
        fprintf(stderr, "moonshift: warning: %s is not applied to a transaction = false migration "
                "through a connection pooler (it would leak to other clients)\n", names[i]);
      lua_pop(c->L, 1);
    }
    return st;
  }
  for (int i = 0; i < 2 && st == MS_OK; i++) {
    lua_getfield(c->L, -1, names[i]);
    const char *v = lua_isstring(c->L, -1) ? lua_tostring(c->L, -1) : defaults[i];
    if (v && *v) {
      char q[96];
      snprintf(q, sizeof q, "SET %s%s = '%s'", tx ? "LOCAL " : "", names[i], v);
      st = ms_conn_exec(c, q);
    }
    lua_pop(c->L, 1);
  }
  return st;
}

int ms_luarun_allows_late(ms_ctx *c, ms_migration *m) {
  if (ms_luarun_check(c, m, 0) != MS_OK) return 0;
  lua_rawgeti(c->L, LUA_REGISTRYINDEX, m->lua_ref);
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
  if (st == MS_OK) m->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, top);
  return st;
}

ms_status ms_luarun_check(ms_ctx *c, ms_migration *m, int down) {
  ms_status st = m->lua_ref == LUA_NOREF ? load(c, m) : MS_OK;
  if (st != MS_OK || !down) return st;
  lua_rawgeti(c->L, LUA_REGISTRYINDEX, m->lua_ref);
  int has_down = lua_getfield(c->L, -1, "down") == LUA_TFUNCTION;
  lua_pop(c->L, 2);
  return has_down ? MS_OK : ms_fail(c, MS_EUSAGE, "%s: has no down function, so it cannot be rolled back", m->path);
}

/* After up/down returned inside our transaction, the transaction must still
 * be open and healthy, or the tracking row could not be written with it. */
static ms_status check_tx_state(ms_ctx *c, const ms_migration *m) {
  switch (PQtransactionStatus(c->conn)) {
  case PQTRANS_INTRANS: return MS_OK;
  case PQTRANS_INERROR:
    return ms_fail(c, MS_EFAILED, "%s: an SQL error was caught inside the migration, but it left the "
                   "transaction aborted; wrap the statement in db:savepoint(fn) to recover from it", m->path);
  default:
    return ms_fail(c, ms_conn_failure(c), "%s: the migration ended its own transaction (COMMIT or "
                   "ROLLBACK); set transaction = false to manage transactions yourself", m->path);
  }
}

ms_status ms_luarun_run(ms_ctx *c, ms_migration *m, const ms_record *rec) {
  lua_State *L = c->L;
  int top = lua_gettop(L);
  ms_status st = ms_luarun_check(c, m, rec->down);
  if (st != MS_OK) return st;
  lua_rawgeti(L, LUA_REGISTRYINDEX, m->lua_ref);
  int tx = lua_getfield(L, -1, "transaction") != LUA_TBOOLEAN || lua_toboolean(L, -1);
  lua_pop(L, 1);
  c->retry_safe = tx;
  if (tx && !c->opts.dry_run) st = ms_conn_exec(c, "BEGIN");
  if (st == MS_OK && (tx || !c->opts.dry_run)) st = set_timeouts(c, tx);
  if (st == MS_OK && (tx || !c->opts.dry_run))
    st = ms_hook_each(c, "before_each", m, rec->down ? "down" : "up", 0);
  lua_getfield(L, -1, rec->down ? "down" : "up");
  ms_ldb_push(L, c);
  if (st != MS_OK) {
    ms_conn_recover(c);
    lua_settop(L, top);
    return st;
  }
  if (c->opts.dry_run) {
    /* rehearsed inside the caller's transaction; db methods print their SQL */
    if (!tx) printf("  (runs outside a transaction: not rehearsed)\n");
    else {
      ms_lua_guard(c, 1);
      if (ms_lua_pcall(L, 1, 0) != LUA_OK) st = ms_lua_fail(c, MS_EFAILED, NULL);
      ms_lua_guard(c, 0);
    }
    if (st == MS_OK && tx) st = ms_hook_each(c, "after_each", m, rec->down ? "down" : "up", ms_now_ms() - rec->t0);
    if (st == MS_OK && tx) {
      ms_buf q = {0};
      ms_tracker_record_sql(c, &q, rec, 1);
      st = ms_conn_exec(c, q.data);
      ms_buf_free(&q);
    }
    lua_settop(L, top);
    return st;
  }
  ms_lua_guard(c, 1);
  if (ms_lua_pcall(L, 1, 0) != LUA_OK) {
    st = ms_lua_fail(c, MS_EFAILED, NULL);
    if (c->err && strncmp(c->err, "Lua ran out of memory", 21) == 0) {
      char *why = strdup(c->err);
      st = ms_fail(c, st, "%s: %s", m->path, why ? why : "Lua ran out of memory");
      free(why);
    }
  }
  ms_lua_guard(c, 0);
  if (st == MS_OK && tx) st = check_tx_state(c, m);
  if (st == MS_OK) st = ms_hook_each(c, "after_each", m, rec->down ? "down" : "up", ms_now_ms() - rec->t0);
  if (st == MS_OK) {
    ms_buf q = {0};
    if (ms_lease_fence_sql(c, &q)) ms_buf_puts(&q, ";\n");
    ms_tracker_record_sql(c, &q, rec, tx);
    ms_buf_printf(&q, ";\n%sRESET ALL", tx ? "COMMIT;\n" : "");
    st = ms_conn_exec(c, q.data);
    ms_buf_free(&q);
  }
  if (st != MS_OK) ms_conn_recover(c);
  if (st == MS_EFAILED && !tx) {
    /* outside a transaction, whatever up/down did before failing stays */
    char *why = strdup(c->err ? c->err : "");
    ms_status mark = ms_tracker_mark_failed(c, rec->version, rec->name, rec->kind, rec->checksum,
                                            rec->down ? "down" : "up", -1, -1, NULL, why);
    st = ms_fail(c, st, "%s\nthis migration runs outside a transaction, so what it did before the "
                 "error stays; %s", why ? why : "", mark == MS_OK ? "it is recorded as failed until "
                 "`moonshift repair` or `moonshift force`" : "recording the failure failed too");
    free(why);
  }
  lua_settop(L, top);
  return st;
}
