/* ldb.h: the `db` object handed to Lua migrations (exec, query, quoting and
 * the helpers of lua/moonshift/db.lua and catalog.lua), and the small
 * `moonshift.sys` module (isatty, now, sleep) of the migration environment. */
#ifndef MS_LDB_H
#define MS_LDB_H

#include "ms.h"

/* Creates the db metatable (its methods: require("moonshift.db").methods
 * applied to the C methods) and registers moonshift.sys in package.preload.
 * Stack: [-0, +0]; may raise. */
void ms_ldb_open(struct lua_State *L);

/* Registers `moonshift.sys` (isatty, now, sleep) in package.preload.
 * Stack: [-0, +0]; may raise. */
void ms_ldb_preload(struct lua_State *L);

/* Pushes a db object bound to c's connection. Stack: [-0, +1]; may raise. */
void ms_ldb_push(struct lua_State *L, ms_ctx *c);

/* 1 when the value at idx is an SQL error raised by db methods. */
int ms_ldb_is_sqlerror(struct lua_State *L, int idx);

#endif
