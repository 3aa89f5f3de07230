/* cli.h: the command line: options, environment defaults, help texts. */
#ifndef MS_CLI_H
#define MS_CLI_H

#include "ms.h"

typedef struct ms_cli {
  const char *command;     /* NULL when none was given */
  const char *args[64];    /* positional arguments after the command */
  int nargs;
  int help, version, lua;
  const char *config;      /* --config FILE */
  const char *env;         /* --env NAME / MOONSHIFT_ENV */
  ms_opts opts;
} ms_cli;

/* Parses argv (environment variables fill what the flags leave unset).
 * Returns MS_EUSAGE with the cause in c->err on a bad command line. */
ms_status ms_cli_parse(ms_ctx *c, int argc, char **argv, ms_cli *out) MS_MUST_CHECK;

/* Prints the general help, or a command's help; returns 0 if the command is
 * unknown. */
int ms_cli_help(const char *command);

/* 1 for a known command name. */
int ms_cli_known(const char *command);

#endif
