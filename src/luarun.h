/* luarun.h: loading and running Lua migrations. */
#ifndef MS_LUARUN_H
#define MS_LUARUN_H

#include "ms.h"
#include "source.h"
#include "tracker.h"

/* Loads m (once) into a fresh environment and validates the table it
 * returns; with down set, also requires a down function. MS_EUSAGE on any
 * problem, naming the file. */
ms_status ms_luarun_check(ms_ctx *c, ms_migration *m, int down) MS_MUST_CHECK;

/* Calls up(db) or down(db) (in a transaction unless transaction = false)
 * and writes rec to the tracking table. */
ms_status ms_luarun_run(ms_ctx *c, ms_migration *m, const ms_record *rec) MS_MUST_CHECK;

/* 1 when the migration's table says out_of_order = true. */
int ms_luarun_allows_late(ms_ctx *c, ms_migration *m);

#endif
