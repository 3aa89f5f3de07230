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

/* The allocator of moonshift's Lua states: counts what Lua holds and
 * refuses to go past limit (0: no limit), so a migration that allocates
 * without bound gets Lua's "not enough memory" error instead of the
 * machine's memory. */
typedef struct ms_alloc { size_t used, limit; } ms_alloc;

/* A new Lua state using a's accounting (a must outlive it), or NULL. panic
 * (may be NULL) is called, before Lua aborts, for an error outside any
 * protected call: everything runs protected, so only a bug gets there. */
struct lua_State *ms_runtime_newstate(ms_alloc *a, int (*panic)(struct lua_State *L));

/* Registers every embedded module in package.preload. Stack: [-0, +0];
 * may raise (memory). */
void ms_runtime_preload(struct lua_State *L);

/* Opens the standard libraries and the preloads in a new state (the db
 * metatable follows on first use, ldb.c). Stack: [-0, +0]; may raise (memory). */
void ms_runtime_open(struct lua_State *L);

#endif
