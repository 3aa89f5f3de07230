/* lmodule.h: the pieces of the Lua module `moonshift` (lmodule.c), each
 * registering its functions into the module table on top of the stack.
 * Stack: [-0, +0]; may raise. */
#ifndef MS_LMODULE_H
#define MS_LMODULE_H

struct lua_State;

/* split(text) and friends (lsplit.c). */
void ms_lsplit_open(struct lua_State *L);

/* open{...}: a handle over the C API (lapi.c). */
void ms_lapi_open(struct lua_State *L);

#endif
