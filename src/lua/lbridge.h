/* lbridge.h: the one way C calls into user Lua code (migrations, config,
 * hooks): protected calls with a traceback, and loading a user file as text
 * into its own environment. */
#ifndef MS_LBRIDGE_H
#define MS_LBRIDGE_H

#include "ms.h"

/* Calls the function below nargs arguments under a traceback handler.
 * Returns LUA_OK or an error code with the error value (a traceback string,
 * or an SQL error table with a "traceback" field) on top. */
int ms_lua_pcall(struct lua_State *L, int nargs, int nresults);

/* Pops the error value left by ms_lua_pcall and stores it as c->err, prefixed
 * with `what` when given. Returns code (MS_ECONNECT when the connection is
 * gone). */
ms_status ms_lua_fail(ms_ctx *c, ms_status code, const char *what);

/* Loads path as a text chunk named "@path" with env (the table on top of the
 * stack, popped) as its _ENV, and pushes the chunk. Returns MS_EUSAGE with
 * "path:line: message" for syntax errors; then nothing is pushed. */
ms_status ms_lua_loadfile(ms_ctx *c, const char *path) MS_MUST_CHECK;

/* Starts (on) or stops the time guard of opts.lua_timeout around a call
 * into a migration: past the deadline, the running Lua code raises "ran
 * longer than its lua_timeout". No-op without a timeout. */
void ms_lua_guard(ms_ctx *c, int on);

/* Binds c to its Lua state (the state's extra space), so C functions that
 * Lua calls (moonshift.sys.report, the time guard) find the run context. */
void ms_lua_bind(ms_ctx *c);

/* The context bound to L, or NULL. */
ms_ctx *ms_lua_bound(struct lua_State *L);

#endif
