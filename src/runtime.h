/* runtime.h: the Lua runtime library (lua/) compiled into the binary, and
 * the setup of a Lua state for moonshift. */
#ifndef MS_RUNTIME_H
#define MS_RUNTIME_H

#include <stddef.h>

struct lua_State;

typedef struct ms_embedded {
  const char *module;   /* "moonshift.db" */
  const char *path;     /* "lua/moonshift/db.lua" */
  const char *src;
  size_t len;
} ms_embedded;

/* Generated from lua/ by src/embed.lua; ends with a NULL module. */
extern const ms_embedded ms_embedded_files[];

/* Registers every embedded module in package.preload. Stack: [-0, +0];
 * may raise (memory). */
void ms_runtime_preload(struct lua_State *L);

/* Opens the standard libraries, the preloads and the db metatable in a new
 * state. Stack: [-0, +0]; may raise (memory). */
void ms_runtime_open(struct lua_State *L);

#endif
