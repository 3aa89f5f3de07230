/* command.h: every command by name, with the session it needs and the
 * arguments it takes: the CLI, the C API and the Lua module all run
 * commands through ms_command_run, so none can skip a step. */
#ifndef MS_COMMAND_H
#define MS_COMMAND_H

#include "ms.h"

/* Runs command `name` (a built-in or one of the config's commands) with
 * its positional arguments: checks them (MS_EUSAGE for ones it does not
 * take, a secret never echoed), opens its session, runs it, closes the
 * session, and for a dry run says that everything was rolled back. */
ms_status ms_command_run(ms_ctx *c, const char *name, const char *const *args, int nargs) MS_MUST_CHECK;

/* 1 when name is a built-in command. */
int ms_command_known(const char *name);

#endif
