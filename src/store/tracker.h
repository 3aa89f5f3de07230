/* tracker.h: the tracking table (default moonshift_migrations), always
 * referenced schema-qualified so a migration that changes search_path cannot
 * redirect it. */
#ifndef MS_TRACKER_H
#define MS_TRACKER_H

#include "ms.h"
#include "buf.h"

typedef struct ms_applied_row {
  int64_t version;
  char *name, *kind, *checksum, *applied_at, *applied_by;  /* applied_at: UTC, to the second */
  int duration_ms;
  double applied_epoch;  /* applied_at in seconds since 1970 (to the microsecond), for ordering */
  char at[24];           /* what applied_at points to */
  char *failed_op;     /* "up" or "down" when a non-transactional run failed part way, else NULL */
  int statements_done, statement_count;  /* progress of that run (-1 when unknown) */
  char *error;         /* its error */
  char *statement_hashes;  /* "{h1,h2,...}": hashes of the statements it applied, or NULL */
  int drift;           /* set by ms_drift_check: MS_DRIFT_* */
} ms_applied_row;

/* The rows' strings point into the query result the list owns. */
typedef struct ms_applied {
  ms_applied_row *v;   /* sorted by version */
  size_t n;
  void *res;           /* the PGresult holding the strings */
} ms_applied;

/* Resolves the table from opts.table ([schema.]name; without a schema, the
 * connection's current_schema() at start) and fills c->table_*. */
ms_status ms_tracker_resolve(ms_ctx *c) MS_MUST_CHECK;

/* Reads the applied rows; a missing table reads as none. */
ms_status ms_tracker_load(ms_ctx *c, ms_applied *out) MS_MUST_CHECK;
void ms_applied_free(ms_applied *a);
const ms_applied_row *ms_applied_find(const ms_applied *a, int64_t version);

/* Creates the schema and table when missing (call under the lock). */
ms_status ms_tracker_ensure(ms_ctx *c) MS_MUST_CHECK;

/* The first row left failed by a non-transactional run, or NULL. */
const ms_applied_row *ms_applied_failed(const ms_applied *a);

/* Writes (outside any transaction) that m failed part way in direction op,
 * after `done` of `total` statements (-1: unknown), with its error. */
ms_status ms_tracker_mark_failed(ms_ctx *c, int64_t version, const char *name, const char *kind,
                                 const char *checksum, const char *op, int done, int total,
                                 const char *hashes, const char *error) MS_MUST_CHECK;

/* 1 when a failed attempt can be resumed by up: an up of a SQL section run
 * statement by statement, with the hashes of the statements it applied. */
int ms_applied_resumable(const ms_applied_row *r);

/* What to write in the tracking table once a migration has run. */
typedef struct ms_record {
  int down;              /* 1: forget the version; 0: record it */
  int64_t version;
  const char *name, *kind, *checksum;
  double t0;             /* ms_now_ms() when the migration started */
} ms_record;

/* Appends the SQL that records (INSERT) or forgets (DELETE) a migration,
 * values escaped with libpq. Inside the migration's transaction the
 * duration is measured by the server since BEGIN; outside, from r->t0. */
void ms_tracker_record_sql(ms_ctx *c, ms_buf *b, const ms_record *r, int in_tx);

/* The number of tracking rows other than `version`'s, and whether the
 * history table is still there (-1 into *rows when either table is gone):
 * taken before and after a migration that runs outside a transaction,
 * which could drop or rewrite them. */
ms_status ms_tracker_census(ms_ctx *c, int64_t version, long *rows) MS_MUST_CHECK;

/* After a transactional migration failed: 1 when another runner has
 * meanwhile recorded it as applied (down: as rolled back), so nothing of
 * this attempt stayed and the work is done. c->err is left as it was. */
int ms_tracker_done_elsewhere(ms_ctx *c, int64_t version, int down);

/* Appends a history row outside any transaction (failures, repair, force,
 * unlock). Best effort: c->err is left as it was, and a failure comes back
 * as a warning text (caller frees) to show after the run's own outcome;
 * NULL when the row was written. version < 0 / duration < 0 / NULL
 * strings are stored as NULL. */
char *ms_tracker_history(ms_ctx *c, int64_t version, const char *name, const char *action,
                         long duration_ms, const char *error, const char *detail);

/* The same for a successful command: a failure is printed as a warning. */
void ms_tracker_history_note(ms_ctx *c, int64_t version, const char *name, const char *action,
                             const char *detail);

#endif
