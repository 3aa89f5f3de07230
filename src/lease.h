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

/* Stops the renewer and deletes the lease row if still ours. */
void ms_lease_release(ms_ctx *c);

/* `moonshift unlock`. */
ms_status ms_cmd_unlock(ms_ctx *c) MS_MUST_CHECK;

#endif
