/* commands.h: the commands, each a status-returning function over the run
 * context (options in c->opts) and the tracking rows its session read.
 * command.c opens the session each one needs (command.h) and closes it. */
#ifndef MS_COMMANDS_H
#define MS_COMMANDS_H

#include "ms.h"
#include "session.h"
#include "tracker.h"

/* What up refuses: failed migrations (unless up can resume them) and
 * applied files that changed; what down and redo refuse. */
#define MS_CMD_UP_GUARDS (MS_SESS_NO_FAILED | MS_SESS_RESUME | MS_SESS_NO_DRIFT)
#define MS_CMD_DOWN_GUARDS (MS_SESS_NO_FAILED | MS_SESS_WARN_DRIFT)

/* commands.c */
ms_status ms_cmd_up(ms_ctx *c, ms_applied *a, long limit) MS_MUST_CHECK;    /* limit 0: all */
ms_status ms_cmd_down(ms_ctx *c, ms_applied *a, long steps) MS_MUST_CHECK;  /* steps <= 0: use --to */
ms_status ms_cmd_redo(ms_ctx *c, ms_applied *a) MS_MUST_CHECK;
ms_status ms_cmd_status(ms_ctx *c, ms_applied *a) MS_MUST_CHECK;
ms_status ms_cmd_version(ms_ctx *c, const ms_applied *a) MS_MUST_CHECK;
ms_status ms_cmd_new(ms_ctx *c, const char *name, int lua) MS_MUST_CHECK;

/* repair.c: the tracking table without running migrations (under the lock). */
ms_status ms_cmd_repair(ms_ctx *c, const ms_applied *a, const char *version) MS_MUST_CHECK;
ms_status ms_cmd_force(ms_ctx *c, const ms_applied *a, const char *version) MS_MUST_CHECK;
ms_status ms_cmd_baseline(ms_ctx *c, const ms_applied *a, const char *version) MS_MUST_CHECK;
ms_status ms_cmd_accept(ms_ctx *c, const ms_applied *a, const char *const *versions, int n) MS_MUST_CHECK;
ms_status ms_cmd_unlock(ms_ctx *c) MS_MUST_CHECK;

/* check.c: read-only. */
ms_status ms_cmd_log(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_cmd_check(ms_ctx *c, ms_applied *a) MS_MUST_CHECK;

#endif
