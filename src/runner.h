/* runner.h: applies or reverts one migration, atomically with its tracking
 * row where the migration runs in a transaction. */
#ifndef MS_RUNNER_H
#define MS_RUNNER_H

#include "ms.h"
#include "checksum.h"
#include "source.h"

/* Checks that m can run in that direction without touching the database:
 * SQL sections parse and split, a Lua file loads and returns a valid table,
 * a down step exists. Returns MS_EUSAGE with file:line in c->err if not. */
ms_status ms_runner_check(ms_ctx *c, ms_migration *m, int down) MS_MUST_CHECK;

/* Runs m up (down = 0) or down, records it, and prints one line. On failure
 * c->err holds the report and nothing of m is recorded. */
ms_status ms_runner_run(ms_ctx *c, ms_migration *m, int down) MS_MUST_CHECK;

/* Computes the checksum of m's file(s): "sha256-v1:" and the hex SHA-256 of
 * the normalised bytes (see checksum.h), the up file's then the down
 * file's for a pair. */
ms_status ms_runner_checksum(ms_ctx *c, const ms_migration *m, char out[MS_CHECKSUM_LEN]) MS_MUST_CHECK;

/* m's checksum, computed on first use and kept in m->checksum. */
ms_status ms_runner_sum(ms_ctx *c, ms_migration *m, const char **out) MS_MUST_CHECK;

/* 1 when m's file opts in to running below the newest applied version
 * (SQL: out_of_order:ok on its up marker; Lua: out_of_order = true). */
int ms_runner_allows_late(ms_ctx *c, ms_migration *m);

#endif
