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

/* MS_ELOCK when the lock is no longer ours (a table lease taken over):
 * checked before each migration. */
ms_status ms_lock_check(ms_ctx *c) MS_MUST_CHECK;

/* One attempt to take a lock: 1 when taken; a failed query sets *st. */
typedef int (*ms_lock_try)(ms_ctx *c, void *ud, ms_status *st);
/* Reports who holds it after waited_ms of waiting. */
typedef void (*ms_lock_who)(ms_ctx *c, void *ud, double waited_ms);

/* Polls try_take with growing pauses (20 ms doubling to 1 s, jittered),
 * reporting the holder after 2 s and every 5 s, until taken or
 * opts.lock_timeout passes (MS_ELOCK naming `what`). */
ms_status ms_lock_poll(ms_ctx *c, ms_lock_try try_take, ms_lock_who who, void *ud, const char *what) MS_MUST_CHECK;

/* Reports a lock wait: "waiting Ns for the migration WHAT" cut to fit 80
 * columns; detail (the holder's query, may be NULL) is shown with -v. */
void ms_lock_report_wait(ms_ctx *c, const char *what, double waited_ms, const char *detail);

/* Releases the lock if held (best effort; the server drops it with the
 * session anyway). */
void ms_lock_release(ms_ctx *c);

#endif
