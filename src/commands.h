/* commands.h: the CLI commands, each a status-returning function over the
 * run context (options in c->opts). */
#ifndef MS_COMMANDS_H
#define MS_COMMANDS_H

#include "ms.h"

ms_status ms_cmd_up(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_cmd_down(ms_ctx *c, long steps) MS_MUST_CHECK;   /* steps <= 0: use --to */
ms_status ms_cmd_redo(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_cmd_status(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_cmd_version(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_cmd_new(ms_ctx *c, const char *name, int lua) MS_MUST_CHECK;

/* repair.c: the tracking table without running migrations. */
ms_status ms_cmd_repair(ms_ctx *c, const char *version) MS_MUST_CHECK;
ms_status ms_cmd_force(ms_ctx *c, const char *version) MS_MUST_CHECK;
ms_status ms_cmd_baseline(ms_ctx *c, const char *version) MS_MUST_CHECK;
/* check.c */
ms_status ms_cmd_log(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_cmd_check(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_cmd_accept(ms_ctx *c, const char *const *versions, int n) MS_MUST_CHECK;

#endif
