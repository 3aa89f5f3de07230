/* lsplit.c: the Lua face of the splitter (sqlsplit.h) and of textpos.h:
 * ms.split, ms.split_classify, ms.split_charpos and ms.split_linecol,
 * registered by ms_lsplit_open into the moonshift module table. */
#include "lmodule.h"
#include "sqlsplit.h"
#include "textpos.h"

#include <lauxlib.h>
#include <lua.h>

static void set_str(lua_State *L, const char *k, const char *s, size_t n) {
  lua_pushlstring(L, s, n);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* ms.split(text) -> pieces | nil, message, line
 * pieces is an array, in input order, of tables:
 *   text         statement text from its first significant byte, ';' included
 *                ("" for an empty piece; the command line for meta_skip)
 *   piece        the whole piece: leading whitespace/comments, text, COPY data
 *                and its \. line; concatenating every piece gives back text
 *   offset       0-based byte offset of text in the input
 *   piece_offset 0-based byte offset of piece
 *   line, col    1-based line and byte column of text's first byte
 *   terminated   true if text ends with its own ';'
 *   class        "sql" | "txn" | "notx" | "addvalue" | "copy" | "meta_skip"
 *                | "empty"
 *   copy_data    for "copy": the inline data lines without the \. line
 *   block        true for a goose StatementBegin/StatementEnd block (one
 *                unit, possibly several statements: see ms_stmt.block)
 * On an error (unterminated quote/comment, meta-command, bad COPY data)
 * returns nil, the message and the 1-based line it points at.
 * Raises only on a bad argument or out of memory. */
static int l_split_split(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  ms_split s;
  ms_stmt st;
  lua_Integer i = 0;
  int r;
  ms_split_init(&s, text, len);
  lua_newtable(L);
  while ((r = ms_split_next(&s, &st)) == 1) {
    lua_createtable(L, 0, 10);
    set_str(L, "text", text + st.off, st.len);
    set_str(L, "piece", text + st.piece_off, st.piece_len);
    set_int(L, "offset", (lua_Integer)st.off);
    set_int(L, "piece_offset", (lua_Integer)st.piece_off);
    set_int(L, "line", (lua_Integer)st.line);
    set_int(L, "col", (lua_Integer)st.col);
    lua_pushboolean(L, st.terminated);
    lua_setfield(L, -2, "terminated");
    lua_pushstring(L, ms_split_classname(st.cls));
    lua_setfield(L, -2, "class");
    if (st.block) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "block");
    }
    if (st.cls == MS_CLASS_COPY && st.terminated)
      set_str(L, "copy_data", text + st.data_off, st.data_len);
    lua_rawseti(L, -2, ++i);
  }
  if (r < 0) {
    char msg[200];
    ms_split_errmsg(&s, msg, sizeof msg);
    luaL_pushfail(L);
    lua_pushstring(L, msg);
    lua_pushinteger(L, (lua_Integer)s.err_line);
    return 3;
  }
  return 1;
}

/* ms.split_classify(text) -> class name of one statement's text. */
static int l_split_classify(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_pushstring(L, ms_split_classname(ms_split_classify(text, len)));
  return 1;
}

/* ms.split_charpos(text, charpos) -> 0-based byte offset of the 1-based
 * UTF-8 character position charpos (as in PG_DIAG_STATEMENT_POSITION). */
static int l_split_charpos(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer pos = luaL_checkinteger(L, 2);
  lua_pushinteger(L, (lua_Integer)ms_textpos_char_to_byte(
                         text, len, pos < 1 ? 0UL : (unsigned long)pos));
  return 1;
}

/* ms.split_linecol(text, offset) -> line, col of a 0-based byte offset. */
static int l_split_linecol(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer off = luaL_checkinteger(L, 2);
  unsigned long line, col;
  ms_textpos_line_col(text, len, off < 0 ? 0 : (size_t)off, &line, &col);
  lua_pushinteger(L, (lua_Integer)line);
  lua_pushinteger(L, (lua_Integer)col);
  return 2;
}

static const luaL_Reg split_funcs[] = {
  {"split", l_split_split},
  {"split_classify", l_split_classify},
  {"split_charpos", l_split_charpos},
  {"split_linecol", l_split_linecol},
  {NULL, NULL}
};

void ms_lsplit_open(lua_State *L) {
  luaL_setfuncs(L, split_funcs, 0);
}
