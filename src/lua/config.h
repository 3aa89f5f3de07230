/* config.h: the project config, moonshift.lua, and its hooks and commands. */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

#include "ms.h"

/* Loads path (--config), or ./moonshift.lua when it exists, for environment
 * env (--env / MOONSHIFT_ENV; may be NULL), and fills every option still
 * unset after the command line and the environment variables. Without a
 * config file nothing changes. MS_EUSAGE with "file:line: ..." on errors. */
ms_status ms_config_load(ms_ctx *c, const char *path, const char *env) MS_MUST_CHECK;

/* The same for a config already read: text[0..len) as the file path. */
ms_status ms_config_load_text(ms_ctx *c, const char *path, const char *text, size_t len,
                              const char *env) MS_MUST_CHECK;

/* 1 when the config defines command `name`. */
int ms_config_has_command(ms_ctx *c, const char *name);

/* Appends the config's commands to out for --help (nothing without a
 * config or commands). */
struct ms_buf;
void ms_config_help(ms_ctx *c, struct ms_buf *out);

/* Runs custom command `name` with its arguments, inside the session
 * command.c opened (connected, under the migration lock); errors are
 * reported like a migration's. */
ms_status ms_config_command(ms_ctx *c, const char *name, const char *const *args, int nargs) MS_MUST_CHECK;

/* Hooks. Each pushes nothing and leaves the stack as it was; a hook that
 * raises makes them return MS_EFAILED with the hook named in c->err.
 * migration may be NULL for before_all/after_all. */
struct ms_migration;
ms_status ms_hook_all(ms_ctx *c, const char *hook, const char *direction, int ok, long count) MS_MUST_CHECK;
ms_status ms_hook_each(ms_ctx *c, const char *hook, const struct ms_migration *m, const char *direction,
                       double duration_ms) MS_MUST_CHECK;
void ms_hook_error(ms_ctx *c, const struct ms_migration *m, const char *direction, const char *error);

/* 1 when before_each or after_each hooks exist (they need statement-by-
 * statement sending, to run between BEGIN and the migration's SQL). */
int ms_hook_has_each(ms_ctx *c);

/* The config's lib_path (folder of shared Lua helpers), or NULL. */
const char *ms_config_lib_path(ms_ctx *c);

#endif
