/* session.h: the one way a command opens and closes its work: scan the
 * folder, hash its files, connect and say where, resolve the tracking table;
 * for commands that write: take the lock, open the dry run's transaction,
 * create the tables, read them under the lock and refuse failed or modified
 * migrations. Closing rolls the dry run back and releases the lock. */
#ifndef MS_SESSION_H
#define MS_SESSION_H

#include "ms.h"
#include "tracker.h"

enum {
  MS_SESS_FOLDER  = 1 << 0,  /* scan the migrations folder into c->src */
  MS_SESS_HASH    = 1 << 1,  /* and hash its files on workers meanwhile */
  MS_SESS_CONNECT = 1 << 2,  /* connect, report the target, resolve the tracking table */
  MS_SESS_LOAD    = 1 << 3,  /* read the tracking table into *a */
  MS_SESS_LOCK    = 1 << 4,  /* take the lock first (dry run: BEGIN; create the tables) */
  MS_SESS_NO_FAILED = 1 << 5,  /* refuse when a migration failed part way */
  MS_SESS_RESUME  = 1 << 6,  /*   except a failed up that up can resume */
  MS_SESS_NO_DRIFT = 1 << 7, /* refuse modified or missing files (unless --allow-modified) */
  MS_SESS_WARN_DRIFT = 1 << 8  /* only warn about them */
};

/* Opens what `what` asks for, in that order. *a (zeroed by the caller) holds
 * the tracking rows when MS_SESS_LOAD is set. On failure c->err says why;
 * ms_session_close must still be called. */
ms_status ms_session_open(ms_ctx *c, unsigned what, ms_applied *a) MS_MUST_CHECK;

/* For a command that decides late that it writes (up with something
 * pending): takes the lock, opens the dry run's transaction, creates the
 * tables and reads *a again under the lock, with the guards of `what`. */
ms_status ms_session_lock(ms_ctx *c, unsigned what, ms_applied *a) MS_MUST_CHECK;

/* Rolls back the dry run's transaction and releases the lock; returns st. */
ms_status ms_session_close(ms_ctx *c, ms_status st);

/* Releases everything the context owns (connection, lock, sources, the
 * hashing workers). Safe to call twice. */
void ms_ctx_release(ms_ctx *c);

#endif
