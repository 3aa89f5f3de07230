/* lock.h: the migration lock: a PostgreSQL session advisory lock, or with
 * --lock=table the lease of lease.c. */
#ifndef MS_LOCK_H
#define MS_LOCK_H

#include "ms.h"

/* The advisory lock key for a tracking table "schema.name": the first 8
 * bytes of SHA-256("moonshift:" schema "." name), big-endian, as int64. */
int64_t ms_lock_key(const char *schema, const char *name);

/* Takes the lock, polling pg_try_advisory_lock with backoff on a session
 * with no transaction open; prints who holds it while waiting. Returns
 * MS_ELOCK after opts.lock_timeout seconds (if >= 0). */
ms_status ms_lock_acquire(ms_ctx *c) MS_MUST_CHECK;

/* Appends (and returns 1) the statement that, run in a migration's
 * transaction just before its tracking row, raises MS_SQLSTATE_LOCK_LOST
 * unless this run still holds its lock (the advisory lock, or the lease),
 * so a run that lost it cannot record a migration. 0 without a lock. */
struct ms_buf;
int ms_lock_fence_sql(ms_ctx *c, struct ms_buf *b);

/* MS_ELOCK when the lock is no longer ours (a table lease taken over):
 * checked before each migration. */
ms_status ms_lock_check(ms_ctx *c) MS_MUST_CHECK;

/* Releases the lock if held (best effort; the server drops it with the
 * session anyway). */
void ms_lock_release(ms_ctx *c);

#endif
