/* lmodule.c: the Lua module `moonshift` (build/moonshift.so), so busted specs
 * and Lua programs can use the engine's parts directly: file-name parsing,
 * folder discovery, SQL markers, the statement splitter, checksums and
 * secret masking. Uses source, sqlfile, sqlsplit, checksum and mask. */
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

/* scan(dir) -> array of { version=, name=, kind=, path=, down_path= } or nil, err */
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
