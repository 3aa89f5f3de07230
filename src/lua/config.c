/* config.c: loads moonshift.lua (a Lua file returning a table) as text into
 * its own environment, has lua/moonshift/config.lua check and resolve it,
 * and fills the options the command line and environment variables left
 * unset (precedence: flags, then environment variables, then the config,
 * then defaults). Also runs the config's custom commands. Uses lbridge,
 * project, ldb and report. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "conn.h"
#include "duration.h"
#include "lbridge.h"
#include "ldb.h"
#include "report.h"
#include "source.h"

/* Pushes the resolved config table, or nil. */
static int push_config(ms_ctx *c) {
  if (c->config_ref == LUA_NOREF || c->config_ref == 0) { lua_pushnil(c->L); return 0; }
  lua_rawgeti(c->L, LUA_REGISTRYINDEX, c->config_ref);
  return 1;
}

/* A string setting of the resolved config, or NULL. The string lives as
 * long as the config table (kept in the registry for the whole run). */
static const char *setting(ms_ctx *c, const char *key) {
  const char *v = NULL;
  if (push_config(c) && lua_getfield(c->L, -1, key) == LUA_TSTRING) v = lua_tostring(c->L, -1);
  lua_pop(c->L, lua_istable(c->L, -2) ? 2 : 1);
  return v;
}

/* Fills the options the command line and environment left unset. A
 * duration or size the config sets is read as on the command line
 * (duration.c), with the same limits, and a bad one is MS_EUSAGE naming
 * path and the key, also when a flag overrides it. */
static ms_status apply(ms_ctx *c, const char *path) {
  const char *v;
  double secs;
  size_t bytes;
  ms_status st = MS_OK;
  if (!c->opts.url && (v = setting(c, "url"))) c->opts.url = v;
  if (!c->opts.dir && (v = setting(c, "dir"))) c->opts.dir = v;
  if (!c->opts.table && (v = setting(c, "table"))) c->opts.table = v;
  if (!c->opts.lock_timeout_default) c->opts.lock_timeout_default = setting(c, "lock_timeout");
  if (!c->opts.statement_timeout_default) c->opts.statement_timeout_default = setting(c, "statement_timeout");
  if (c->opts.lock_mode == MS_LOCK_AUTO && (v = setting(c, "lock")))
    c->opts.lock_mode = strcmp(v, "table") == 0 ? MS_LOCK_TABLE : MS_LOCK_ADVISORY;
  if ((v = setting(c, "lock_lease"))) {
    if (ms_duration_parse(v, &secs) != 0 || secs < MS_LEASE_MIN_SECONDS)
      st = ms_fail(c, MS_EUSAGE, "%s: lock_lease takes a duration of at least 500ms, such as 30s, not '%s'",
                   path, v);
    else if (c->opts.lock_lease <= 0) c->opts.lock_lease = secs;
  }
  if (st == MS_OK && (v = setting(c, "lua_timeout"))) {
    if (ms_duration_parse(v, &secs) != 0)
      st = ms_fail(c, MS_EUSAGE, "%s: lua_timeout takes a duration such as 10min, not '%s'", path, v);
    else if (c->opts.lua_timeout <= 0) c->opts.lua_timeout = secs;
  }
  if (st == MS_OK && (v = setting(c, "lua_memory"))) {
    if (ms_size_parse(v, &bytes) != 0 || bytes < MS_LUA_MEMORY_MIN)
      st = ms_fail(c, MS_EUSAGE, "%s: lua_memory takes a size of at least 1MB, such as 512MB or 2GB, not '%s'",
                   path, v);
    else if (c->opts.lua_memory == 0) c->opts.lua_memory = bytes;
  }
  return st;
}

ms_status ms_config_load(ms_ctx *c, const char *path, const char *env) {
  struct stat sb;
  if (!path) {
    if (stat("moonshift.lua", &sb) != 0) return MS_OK;
    path = "moonshift.lua";
  }
  FILE *f = fopen(path, "rb");
  if (!f) return ms_fail(c, MS_EUSAGE, "cannot read the config %s", path);
  ms_buf text = {0};
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) ms_buf_add(&text, chunk, n);
  fclose(f);
  if (!text.data) ms_buf_puts(&text, "");
  ms_status st = ms_config_load_text(c, path, text.data, text.len, env);
  ms_buf_free(&text);
  return st;
}

ms_status ms_config_load_text(ms_ctx *c, const char *path, const char *text, size_t len,
                              const char *env) {
  lua_State *L = c->L;
  int top = lua_gettop(L);
  /* require("moonshift.config") */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonshift.config");
  lua_call(L, 1, 1);
  int mod = lua_gettop(L);
  lua_pushfstring(L, "@%s", path);
  ms_status st = MS_OK;
  if (luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t") != LUA_OK) {
    st = ms_fail(c, MS_EUSAGE, "%s", lua_tostring(L, -1));
  } else {
    lua_getfield(L, mod, "env");
    lua_call(L, 0, 1);
    lua_setupvalue(L, -2, 1);
    if (ms_lua_pcall(L, 0, 1) != LUA_OK) st = ms_lua_fail(c, MS_EUSAGE, NULL);
  }
  if (st == MS_OK) {
    lua_getfield(L, mod, "resolve");
    lua_insert(L, -2);
    lua_pushstring(L, path);
    lua_pushlstring(L, text, len);
    if (env) lua_pushstring(L, env); else lua_pushnil(L);
    /* resolve raises one clean "file:line: ..." message: no traceback */
    if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
      st = ms_fail(c, MS_EUSAGE, "%s", lua_tostring(L, -1));
    } else {
      c->config_ref = luaL_ref(L, LUA_REGISTRYINDEX);
      st = apply(c, path);
    }
  }
  lua_settop(L, top);
  return st;
}

const char *ms_config_lib_path(ms_ctx *c) { return setting(c, "lib_path"); }

/* Pushes config[field][name] (a function) and returns 1, or pushes nothing. */
static int push_fn(ms_ctx *c, const char *field, const char *name) {
  int top = lua_gettop(c->L);
  if (push_config(c) && lua_getfield(c->L, -1, field) == LUA_TTABLE &&
      lua_getfield(c->L, -1, name) == LUA_TFUNCTION) {
    lua_replace(c->L, top + 1);
    lua_settop(c->L, top + 1);
    return 1;
  }
  lua_settop(c->L, top);
  return 0;
}

int ms_config_has_command(ms_ctx *c, const char *name) {
  int has = push_fn(c, "commands", name);
  if (has) lua_pop(c->L, 1);
  return has;
}

void ms_config_help(ms_ctx *c, ms_buf *out) {
  if (!push_config(c)) { lua_pop(c->L, 1); return; }
  if (lua_getfield(c->L, -1, "commands") == LUA_TTABLE) {
    lua_pushnil(c->L);
    while (lua_next(c->L, -2)) {
      lua_pop(c->L, 1);
      if (!out->len) ms_buf_puts(out, "\nproject commands (moonshift.lua):\n");
      ms_buf_printf(out, "  %s\n", lua_tostring(c->L, -1));
    }
  }
  lua_pop(c->L, 2);
}

/* Pushes the ctx table hooks and commands receive. */
static void push_ctx(ms_ctx *c, const char *direction) {
  lua_State *L = c->L;
  lua_createtable(L, 0, 8);
  lua_pushstring(L, c->command ? c->command : "");
  lua_setfield(L, -2, "command");
  if (push_config(c) && lua_getfield(L, -1, "env") == LUA_TSTRING) lua_setfield(L, -3, "env");
  else lua_pop(L, 1);
  if (lua_istable(L, -1) && lua_getfield(L, -1, "variables") == LUA_TTABLE) lua_setfield(L, -3, "vars");
  else lua_pop(L, 1);
  lua_pop(L, 1);
  if (direction) { lua_pushstring(L, direction); lua_setfield(L, -2, "direction"); }
  lua_pushboolean(L, c->opts.dry_run);
  lua_setfield(L, -2, "dry_run");
  lua_pushstring(L, ms_project_dir(c));
  lua_setfield(L, -2, "dir");
}

static void push_migration(ms_ctx *c, const ms_migration *m) {
  lua_State *L = c->L;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, m->version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, m->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, m->kind == MS_KIND_LUA ? "lua" : "sql");
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, m->path);
  lua_setfield(L, -2, "path");
}

static ms_status call_hook(ms_ctx *c, const char *hook, int nargs) {
  char what[64];
  snprintf(what, sizeof what, "hook %s", hook);
  if (ms_lua_pcall(c->L, nargs, 0) != LUA_OK) return ms_lua_fail(c, MS_EFAILED, what);
  return MS_OK;
}

ms_status ms_hook_all(ms_ctx *c, const char *hook, const char *direction, int ok, long count) {
  if (!push_fn(c, "hooks", hook)) return MS_OK;
  push_ctx(c, direction);
  int nargs = 1;
  if (strcmp(hook, "after_all") == 0) {
    lua_createtable(c->L, 0, 3);
    lua_pushboolean(c->L, ok);
    lua_setfield(c->L, -2, "ok");
    lua_pushinteger(c->L, count);
    lua_setfield(c->L, -2, "count");
    if (!ok && c->err) { lua_pushstring(c->L, c->err); lua_setfield(c->L, -2, "error"); }
    nargs = 2;
  }
  return call_hook(c, hook, nargs);
}

int ms_hook_has_each(ms_ctx *c) {
  int has = 0;
  if (push_fn(c, "hooks", "before_each")) { lua_pop(c->L, 1); has = 1; }
  if (push_fn(c, "hooks", "after_each")) { lua_pop(c->L, 1); has = 1; }
  return has;
}

ms_status ms_hook_each(ms_ctx *c, const char *hook, const ms_migration *m, const char *direction,
                       double duration_ms) {
  if (!push_fn(c, "hooks", hook)) return MS_OK;
  push_ctx(c, direction);
  push_migration(c, m);
  ms_ldb_push(c->L, c);
  int nargs = 3;
  if (strcmp(hook, "after_each") == 0) {
    lua_createtable(c->L, 0, 1);
    lua_pushinteger(c->L, (lua_Integer)duration_ms);
    lua_setfield(c->L, -2, "duration_ms");
    nargs = 4;
  }
  return call_hook(c, hook, nargs);
}

void ms_hook_error(ms_ctx *c, const ms_migration *m, const char *direction, const char *error) {
  if (!push_fn(c, "hooks", "on_error")) return;
  push_ctx(c, direction);
  push_migration(c, m);
  lua_pushstring(c->L, error ? error : "");
  char *keep = c->err ? strdup(c->err) : NULL;
  if (call_hook(c, "on_error", 3) != MS_OK)
    ms_report_text(c, MS_EV_WARNING, "%s", c->err ? c->err : "hook on_error failed");
  free(c->err);
  c->err = keep;
}

ms_status ms_config_command(ms_ctx *c, const char *name, const char *const *args, int nargs) {
  ms_status st = MS_OK;
  if (!push_fn(c, "commands", name)) return ms_fail(c, MS_EUSAGE, "unknown command '%s'", name);
  push_ctx(c, NULL);
  ms_ldb_push(c->L, c);
  lua_createtable(c->L, nargs, 0);
  for (int i = 0; i < nargs; i++) {
    lua_pushstring(c->L, args[i]);
    lua_rawseti(c->L, -2, i + 1);
  }
  char what[96];
  snprintf(what, sizeof what, "command %s", name);
  if (ms_lua_pcall(c->L, 3, 0) != LUA_OK) {
    st = ms_lua_fail(c, MS_EFAILED, what);
    ms_conn_recover(c);
  }
  return st;
}
