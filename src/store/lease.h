/* lease.h: the pooler-safe migration lock (--lock=table): a lease row with
 * an owner and an expiry, renewed while the run is alive. */
#ifndef MS_LEASE_H
#define MS_LEASE_H

#include "ms.h"

struct ms_buf;

/* Takes the lease, waiting (polling with backoff, printing the holder) while
 * another live owner holds it; an expired lease is taken over. Starts a
 * thread that renews it on its own connection. MS_ELOCK after
 * opts.lock_timeout. */
ms_status ms_lease_acquire(ms_ctx *c) MS_MUST_CHECK;

/* MS_ELOCK (with c->err) when the renewer found the lease taken over or
 * could not renew it in time: the run must stop before the next migration. */
ms_status ms_lease_check(ms_ctx *c) MS_MUST_CHECK;

/* Appends (and returns 1) the statement that, run in a migration's
 * transaction just before its tracking row, raises unless this run still
 * holds the lease: a run whose lease was taken over (it stalled, or died
 * with its transaction already sent) cannot commit. 0 without a lease. */
int ms_lease_fence_sql(ms_ctx *c, struct ms_buf *b);

/* 1 when a live lease (unexpired, anyone's) exists: the advisory runner
 * waits for it. *st says whether a query failed. */
int ms_lease_live(ms_ctx *c, ms_status *st);

/* Stops the renewer and deletes the lease row if still ours. */
void ms_lease_release(ms_ctx *c);

/* The lease table beside the tracking table, quoted and qualified (caller
 * frees; NULL when out of memory). */
char *ms_lease_table_sql(ms_ctx *c);

/* Reads the lease row of table: its owner, whether it expired, its expiry
 * as text and the lease length in ms. Returns 0 when there is none (or the
 * table is missing); *st says whether the query failed. */
int ms_lease_read(ms_ctx *c, const char *table, ms_status *st, char *owner, size_t n,
                  int *expired, char *expiry, size_t en, double *lease_ms);

#endif
