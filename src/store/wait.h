/* wait.h: waiting for the migration lock (advisory or lease): polling,
 * reporting the wait, and whether the advisory lock is held, so that the
 * two kinds of lock exclude each other. */
#ifndef MS_WAIT_H
#define MS_WAIT_H

#include "ms.h"

/* One attempt to take a lock: 1 when taken; a failed query sets *st. */
typedef int (*ms_lock_try)(ms_ctx *c, void *ud, ms_status *st);
/* Reports who holds it after waited_ms of waiting. */
typedef void (*ms_lock_who)(ms_ctx *c, void *ud, double waited_ms);

/* Polls try_take with growing pauses (20 ms doubling to 1 s, jittered),
 * reporting the holder after 2 s and every 5 s, until taken or
 * opts.lock_timeout passes (MS_ELOCK naming `what`). */
ms_status ms_wait_poll(ms_ctx *c, ms_lock_try try_take, ms_lock_who who, void *ud, const char *what) MS_MUST_CHECK;

/* Reports a lock wait: "waiting Ns for the migration WHAT" cut to fit 80
 * columns; detail (the holder's query, may be NULL) is shown with -v. */
void ms_wait_report(ms_ctx *c, const char *what, double waited_ms, const char *detail);

/* 1 when some session holds the advisory migration lock of c->lock_key
 * (the advisory runner's); *st says whether the query failed. */
int ms_wait_advisory_held(ms_ctx *c, ms_status *st);

#endif
