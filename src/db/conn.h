/* conn.h: connecting to PostgreSQL and running internal queries. */
#ifndef MS_CONN_H
#define MS_CONN_H

#include "ms.h"
#include "buf.h"

struct pg_result;

/* Opens c->conn from c->opts.url (a postgres:// URL or a conninfo string) or
 * libpq's defaults, with application_name "moonshift" unless the user set
 * one. Returns MS_ECONNECT with a one-line cause (no password) on failure. */
ms_status ms_conn_open(ms_ctx *c) MS_MUST_CHECK;

/* Waits, polling with PQping, until the server accepts connections, for
 * at most `seconds`; says once that it waits. MS_ECONNECT when it never
 * does (MS_OK also when the parameters are unusable: connecting reports that). */
ms_status ms_conn_wait(ms_ctx *c, double seconds) MS_MUST_CHECK;

/* Opens another connection with the same settings (and fallback
 * application_name appname) into *out. */
ms_status ms_conn_connect(ms_ctx *c, const char *appname, struct pg_conn **out) MS_MUST_CHECK;

/* Runs sql (no parameters, one or more statements); on error fills c->err
 * with a one-line report and returns MS_EFAILED, or MS_ECONNECT when the
 * connection is gone. The result is cleared. */
ms_status ms_conn_exec(ms_ctx *c, const char *sql) MS_MUST_CHECK;

/* Runs a parameterised query and returns its result in *out (caller clears),
 * or an error status with c->err set and *out NULL. */
ms_status ms_conn_query(ms_ctx *c, const char *sql, int nparams, const char *const *params,
                        struct pg_result **out) MS_MUST_CHECK;

/* Sets c->err from a failed result r (not cleared) and returns MS_EFAILED,
 * or MS_ECONNECT when the connection is gone. */
ms_status ms_conn_report(ms_ctx *c, const struct pg_result *r);

/* Returns the status for a failed result: MS_ECONNECT when the connection is
 * gone, else MS_EFAILED. */
ms_status ms_conn_failure(const ms_ctx *c);

/* Routes the server's notices to stderr (on, the default after connecting)
 * or drops them (off: around statements whose notices are expected). */
void ms_conn_notices(ms_ctx *c, int on);

/* Writes the SET that makes the server check every second, while a
 * migration's statement runs, that moonshift is still connected (PostgreSQL
 * 14+; returns 0 before), so a killed runner's statement is cancelled and
 * its transaction rolled back instead of running on. local: SET LOCAL. */
int ms_conn_watch_sql(ms_ctx *c, int local, char *out, size_t n);

/* 1 when moonshift was told it runs through a transaction pooler
 * (--lock=table): session-level SET would leak to other clients there. */
int ms_conn_pooled(const ms_ctx *c);

/* The session's user and role back to what it connected as, one statement
 * each (NULL-terminated): a SET ROLE or SET SESSION AUTHORIZATION in a
 * migration survives RESET ALL, and the tracking row must be written as
 * moonshift's own user. */
extern const char *const ms_conn_identity_sql[];

/* Outside a transaction: opens one in which moonshift acts as the user it
 * connected as, whatever role a migration set (SET LOCAL, so the
 * migration's settings are back after it); ms_conn_as_self_end commits it
 * (st MS_OK) or rolls it back, and returns st or the commit's failure. */
ms_status ms_conn_as_self_begin(ms_ctx *c) MS_MUST_CHECK;
ms_status ms_conn_as_self_end(ms_ctx *c, ms_status st) MS_MUST_CHECK;

/* After a failure: rolls back an open transaction and resets session
 * settings, so the next migration starts clean. Best effort. */
void ms_conn_recover(ms_ctx *c);

#endif
