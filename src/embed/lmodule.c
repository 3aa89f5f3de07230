/* lmodule.c: the Lua module `moonshift` (build/moonshift.so), so busted specs
 * and Lua programs can use the engine's parts directly: file-name parsing,
 * folder discovery, SQL markers of every format read, the statement
 * splitter, checksums and secret masking. Uses source, sqlfile, sqlsplit,
 * checksum and mask. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "checksum.h"
#include "lmodule.h"
#include "mask.h"
#include "runtime.h"
#include "source.h"
#include "sqlfile.h"
#include "sqlsplit.h"

int luaopen_moonshift(lua_State *L);

static const char *role_name(ms_name_role r) {
  static const char *const names[] = { "ignored", "single", "up", "down", "bad" };
  return names[r];
}

/* parse_name(fname) -> { role=, version=, kind=, name=, why= } */
static int l_parse_name(lua_State *L) {
  const char *f = luaL_checkstring(L, 1);
  ms_name nm;
  ms_name_parse(f, &nm);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, role_name(nm.role));
  lua_setfield(L, -2, "role");
  if (nm.role != MS_NAME_IGNORED && nm.role != MS_NAME_BAD) {
    lua_pushinteger(L, nm.version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, nm.kind == MS_KIND_LUA ? "lua" : "sql");
    lua_setfield(L, -2, "kind");
    lua_pushlstring(L, f + nm.name_off, nm.name_len);
    lua_setfield(L, -2, "name");
  }
  if (nm.why) { lua_pushstring(L, nm.why); lua_setfield(L, -2, "why"); }
  return 1;
}

/* scan(dir) -> array of { version=, name=, kind=, path=, down_path=,
 * folder=, no_transaction= } or nil, err; folder and no_transaction are
 * present (true) only for a diesel migration folder and its metadata. */
static int l_scan(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  ms_ctx c;
  ms_source s;
  memset(&c, 0, sizeof c);
  memset(&s, 0, sizeof s);
  if (ms_source_scan(&c, dir, &s) != MS_OK) {
    lua_pushnil(L);
    lua_pushstring(L, c.err ? c.err : "scan failed");
    free(c.err);
    return 2;
  }
  lua_createtable(L, (int)s.n, 0);
  for (size_t i = 0; i < s.n; i++) {
    const ms_migration *m = &s.v[i];
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, m->version); lua_setfield(L, -2, "version");
    lua_pushstring(L, m->name); lua_setfield(L, -2, "name");
    lua_pushstring(L, m->kind == MS_KIND_LUA ? "lua" : "sql"); lua_setfield(L, -2, "kind");
    lua_pushstring(L, m->path); lua_setfield(L, -2, "path");
    if (m->down_path) { lua_pushstring(L, m->down_path); lua_setfield(L, -2, "down_path"); }
    if (m->folder) { lua_pushboolean(L, 1); lua_setfield(L, -2, "folder"); }
    if (m->no_transaction) { lua_pushboolean(L, 1); lua_setfield(L, -2, "no_transaction"); }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  ms_source_free(&s);
  return 1;
}

static void push_section(lua_State *L, const char *text, const ms_section *sec) {
  if (!sec->present) { lua_pushnil(L); return; }
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, text + sec->off, sec->len); lua_setfield(L, -2, "sql");
  lua_pushinteger(L, sec->line); lua_setfield(L, -2, "line");
  lua_pushboolean(L, sec->transaction); lua_setfield(L, -2, "transaction");
  lua_pushinteger(L, (lua_Integer)sec->off); lua_setfield(L, -2, "offset");
}

/* sections(text [, path [, as_down]]) -> { up=, down= } or nil, err */
static int l_sections(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *path = luaL_optstring(L, 2, "(text)");
  ms_sqlfile sf;
  ms_buf err = {0};
  if (ms_sqlfile_parse(path, text, len, lua_toboolean(L, 3), &sf, &err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err.data ? err.data : "bad markers");
    ms_buf_free(&err);
    return 2;
  }
  lua_createtable(L, 0, 2);
  push_section(L, text, &sf.up); lua_setfield(L, -2, "up");
  push_section(L, text, &sf.down); lua_setfield(L, -2, "down");
  return 1;
}

/* The lookup of read_sql: a string value of the table at stack index idx,
 * kept alive by the table (raw access, no metamethod). */
typedef struct env_table {
  lua_State *L;
  int idx;
} env_table;

static const char *table_lookup(void *ud, const char *name, size_t len) {
  env_table *t = ud;
  const char *v = NULL;
  lua_pushlstring(t->L, name, len);
  if (lua_rawget(t->L, t->idx) == LUA_TSTRING) v = lua_tostring(t->L, -1);
  lua_pop(t->L, 1);
  return v;
}

/* Pushes the table of one section for read_sql, or nil; returns 0, or -1
 * with err set when its ENVSUB text fails. Stack: [-0, +1]. */
static int push_read(lua_State *L, const char *path, const char *text, const ms_section *sec,
                     int env, ms_buf *err) {
  if (!sec->present) { lua_pushnil(L); return 0; }
  ms_buf sent = {0};
  env_table t = { L, env };
  int rc = ms_sqlfile_text(path, text, sec, env ? table_lookup : ms_envsub_getenv, &t, &sent, err);
  lua_createtable(L, 0, 9);
  lua_pushlstring(L, text + sec->off, sec->len); lua_setfield(L, -2, "sql");
  lua_pushlstring(L, sent.data ? sent.data : "", sent.len); lua_setfield(L, -2, "text");
  ms_buf_free(&sent);
  lua_pushinteger(L, sec->line); lua_setfield(L, -2, "line");
  lua_pushinteger(L, sec->marker_line); lua_setfield(L, -2, "marker_line");
  lua_pushinteger(L, (lua_Integer)sec->off); lua_setfield(L, -2, "offset");
  lua_pushboolean(L, sec->transaction); lua_setfield(L, -2, "transaction");
  lua_pushboolean(L, sec->empty); lua_setfield(L, -2, "empty");
  lua_pushboolean(L, sec->envsub); lua_setfield(L, -2, "envsub");
  lua_pushboolean(L, sec->out_of_order); lua_setfield(L, -2, "out_of_order");
  return rc;
}

/* read_sql(text [, path [, as_down [, env]]]) -> { format=, up=, down= } or
 * nil, err. Each section: sql (its bytes in the file), text (what is sent:
 * goose ENVSUB applied, from the table env, else the process environment),
 * line, marker_line, offset, transaction, empty, envsub, out_of_order. */
static int l_read_sql(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *path = luaL_optstring(L, 2, "(text)");
  int env = lua_istable(L, 4) ? 4 : 0;
  ms_sqlfile sf;
  ms_buf err = {0};
  int rc = ms_sqlfile_parse(path, text, len, lua_toboolean(L, 3), &sf, &err);
  if (rc == 0) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, ms_format_name(sf.format));
    lua_setfield(L, -2, "format");
    rc = push_read(L, path, text, &sf.up, env, &err);
    lua_setfield(L, -2, "up");
    if (rc == 0) rc = push_read(L, path, text, &sf.down, env, &err);
    lua_setfield(L, -2, "down");
  }
  if (rc != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err.data ? err.data : "bad markers");
  }
  ms_buf_free(&err);
  return rc != 0 ? 2 : 1;
}

static int l_sha256(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  char hex[65];
  ms_sha256 *h = ms_sha256_new();
  if (!h) return luaL_error(L, "out of memory");
  ms_sha256_add(h, s, len);
  ms_sha256_hex(h, hex);
  lua_pushstring(L, hex);
  return 1;
}

static int l_mask(lua_State *L) {
  ms_buf b = {0};
  ms_mask_secrets(&b, luaL_checkstring(L, 1));
  lua_pushstring(L, b.data ? b.data : "");
  ms_buf_free(&b);
  return 1;
}

static const luaL_Reg funcs[] = {
  { "parse_name", l_parse_name },
  { "scan", l_scan },
  { "sections", l_sections },
  { "read_sql", l_read_sql },
  { "sha256", l_sha256 },
  { "mask_secrets", l_mask },
  { NULL, NULL }
};

int luaopen_moonshift(lua_State *L) {
  ms_runtime_preload(L);
  luaL_newlib(L, funcs);
  ms_lsplit_open(L);
  ms_lapi_open(L);
  return 1;
}
