/* sqlrun.h: running the sections of a SQL migration file. */
#ifndef MS_SQLRUN_H
#define MS_SQLRUN_H

#include "ms.h"
#include "buf.h"
#include "source.h"
#include "tracker.h"

/* Validates the section for direction `down` of a SQL migration. What it
 * finds is kept with m (sqlscan.c): checking the same file again, or
 * running it, skips the passes already made. */
ms_status ms_sqlrun_check(ms_ctx *c, ms_migration *m, int down) MS_MUST_CHECK;

/* Runs the section and writes rec to the tracking table (in its transaction
 * for a transactional section, after it otherwise). An up record without a
 * checksum gets m's (ms_runner_sum), just before the tracking row is
 * written when the section runs in a transaction. */
ms_status ms_sqlrun_run(ms_ctx *c, ms_migration *m, const ms_record *rec) MS_MUST_CHECK;

/* 1 when the up section is marked out_of_order:ok. */
int ms_sqlrun_allows_late(ms_ctx *c, ms_migration *m);

#endif
