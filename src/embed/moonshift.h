/* moonshift.h: the public C API, for a server that runs or verifies its
 * migrations at start-up. Link build/libmoonshift.a with
 *   $(pkg-config --libs lua5.4 libpq libcrypto jansson) -lm
 * Every call returns moonshift's exit-code status (0 success; README lists
 * the others) and leaves a JSON document describing the outcome (the
 * schema of `moonshift COMMAND --json`, docs/json.md) in moonshift_json().
 * Nothing is written to stdout or stderr. A handle is not thread-safe; use
 * one per thread (handles share no state). */
#ifndef MOONSHIFT_H
#define MOONSHIFT_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct moonshift moonshift;

typedef struct moonshift_options {
  const char *url;      /* postgres:// URL or conninfo; NULL: libpq's environment, only when it
                         * names a target (PGHOST, PGHOSTADDR, PGPORT, PGDATABASE, PGSERVICE) */
  const char *dir;      /* migrations folder; NULL: "migrations" */
  const char *table;    /* tracking table [schema.]name; NULL: moonshift_migrations */
  int lock_table;       /* nonzero: the pooler-safe lease lock (--lock=table) */
  double lock_timeout;  /* seconds to wait for the lock; 0 (or less): wait forever */
  double wait;          /* seconds each call waits for the server to accept connections
                         * (an application starting beside its database); 0: none */
} moonshift_options;

/* A handle with its own embedded Lua state; options are copied. NULL only
 * when memory runs out. */
moonshift *moonshift_open(const moonshift_options *options);

int moonshift_up(moonshift *m);               /* apply everything pending */
int moonshift_down(moonshift *m, int steps);  /* roll back steps (>= 1) */
int moonshift_status(moonshift *m);           /* describe every migration */
int moonshift_check(moonshift *m);            /* 0 only at the newest version */

/* The version gate of an application's start-up (`check --at-least A
 * --at-most B`): 0 when the newest fully applied version is in [A, B],
 * 9 (MOONSHIFT_TOO_OLD) when older than A, 10 (MOONSHIFT_TOO_NEW) when
 * newer than B. A or B < 0: no bound on that side. */
int moonshift_check_range(moonshift *m, long long at_least, long long at_most);
#define MOONSHIFT_TOO_OLD 9
#define MOONSHIFT_TOO_NEW 10

/* The last call's JSON document and error message (NULL when none); valid
 * until the next call on m. */
const char *moonshift_json(const moonshift *m);
const char *moonshift_error(const moonshift *m);

void moonshift_close(moonshift *m);

#ifdef __cplusplus
}
#endif
#endif
