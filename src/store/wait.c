/* wait.c: waiting for the migration lock, whichever kind (wait.h): the
 * polling loop with its growing, jittered pauses, the 80-column report of a
 * wait, and whether a session holds the advisory lock. Uses conn and report. */
#include "wait.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "conn.h"
#include "report.h"

/* Reports a wait on one line that fits 80 columns with the "moonshift: "
 * prefix, and the holder's whole query as the event's detail (-v). */
void ms_wait_report(ms_ctx *c, const char *what, double waited_ms, const char *detail) {
  char line[70];
  snprintf(line, sizeof line, "waiting %.0fs for the migration %s", waited_ms / 1000, what);
  ms_event e = { .kind = MS_EV_WAITING, .text = line, .detail = detail, .ms = waited_ms };
  ms_report(c, &e);
}

ms_status ms_wait_poll(ms_ctx *c, ms_lock_try try_take, ms_lock_who who, void *ud, const char *what) {
  double start = ms_now_ms(), next_report = start + 2000;
  long delay = 20;
  for (;;) {
    ms_status st = MS_OK;
    int got = try_take(c, ud, &st);
    if (st != MS_OK) return st;
    if (got) return MS_OK;
    double now = ms_now_ms();
    if (c->opts.lock_timeout >= 0 && now - start >= c->opts.lock_timeout * 1000)
      return ms_fail(c, MS_ELOCK, "could not take the migration %s within %gs; another moonshift run "
                     "holds it", what, c->opts.lock_timeout);
    if (now >= next_report) {
      who(c, ud, now - start);
      next_report = now + 5000;
    }
    ms_sleep_ms(delay + rand() % (delay / 2 + 1));
    if (delay < 1000) delay *= 2;
  }
}


int ms_wait_advisory_held(ms_ctx *c, ms_status *st) {
  char key[24];
  const char *params[1] = { key };
  snprintf(key, sizeof key, "%" PRId64, c->lock_key);
  PGresult *r = NULL;
  *st = ms_conn_query(c, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' "
                      "AND granted AND objsubid = 1 AND classid = (($1::bigint >> 32) & 4294967295)::oid "
                      "AND objid = ($1::bigint & 4294967295)::oid", 1, params, &r);
  int held = *st == MS_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
  PQclear(r);
  return held;
}
