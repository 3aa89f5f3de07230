/* ms.h: moonshift's shared vocabulary: exit codes, the run context that owns
 * the connection, the Lua state and the last error message, and the options
 * the CLI (or an embedding program) fills in. Every unit includes it. */
#ifndef MS_H
#define MS_H

#include <stddef.h>
#include <stdint.h>

struct lua_State;
struct pg_conn;

#include "attr.h"

/* Exit codes, documented in README.md. Status-returning ms_ functions return
 * one of these; only main turns them into the process exit code. */
typedef enum ms_status {
  MS_OK = 0,        /* success */
  MS_EFAILED = 1,   /* a migration (or hook, or command) failed */
  MS_EUSAGE = 2,    /* bad command line, or a migration folder/file error */
  MS_ECONNECT = 3,  /* cannot connect, or the connection was lost */
  MS_ELOCK = 4,     /* the lock could not be taken within --lock-timeout */
  /* moonshift check: the most serious condition found */
  MS_ECHECK_PENDING = 5,   /* migrations are pending */
  MS_ECHECK_MODIFIED = 6,  /* an applied migration's file changed */
  MS_ECHECK_MISSING = 7,   /* an applied migration's file is gone */
  MS_ECHECK_FAILED = 8,    /* a migration failed part way and awaits repair/force */
  /* moonshift check --at-least / --at-most: the version gate */
  MS_ECHECK_TOO_OLD = 9,   /* older than the schema the application needs */
  MS_ECHECK_TOO_NEW = 10   /* newer than any schema the application knows */
} ms_status;

enum { MS_LOCK_AUTO = 0, MS_LOCK_ADVISORY = 1, MS_LOCK_TABLE = 2 };

typedef struct ms_opts {
  const char *url;          /* --url / DATABASE_URL; NULL: libpq defaults */
  const char *dir;          /* --dir / MOONSHIFT_DIR; default "migrations" */
  const char *table;        /* --table [schema.]name */
  int verbose;              /* -v */
  int64_t to;               /* --to VERSION */
  int has_to;
  double lock_timeout;      /* seconds; < 0 waits forever */
  int lock_mode;            /* MS_LOCK_AUTO, MS_LOCK_ADVISORY or MS_LOCK_TABLE (--lock) */
  double lock_lease;        /* --lock-lease: seconds a table lease lasts unrenewed (0: unset) */
  int allow_out_of_order;   /* --allow-out-of-order */
  int dry_run;              /* --dry-run: rehearse in a transaction, roll back */
  int allow_modified;       /* --allow-modified: run although applied files changed */
  int retries;              /* --retries: reruns after lock_timeout (55P03) */
  double lua_timeout;       /* --lua-timeout: seconds a Lua up/down may run; 0: no limit */
  size_t lua_memory;        /* --lua-memory: bytes Lua may hold; 0: unset (1 GiB) */
  int json;                 /* --json: one JSON document instead of text */
  const char *lock_timeout_default;       /* for migrations that set none */
  const char *statement_timeout_default;
  const char *env;          /* --env / MOONSHIFT_ENV: the config's environment, or NULL */
  int quiet;                /* --quiet: no target line */
  int new_lua;              /* new --lua */
  double wait;              /* --wait / wait: seconds to wait for the server (0: none) */
  double timeout;           /* --timeout: for wait and --wait (0: 60 s) */
  int64_t at_least, at_most; /* check --at-least / --at-most (has_* when given) */
  int has_at_least, has_at_most;
} ms_opts;

struct ms_source;
struct ms_reporter;

/* The run context. It owns everything that must be released on any exit path:
 * main wraps it in a userdata whose __gc calls ms_ctx_release (session.h). */
typedef struct ms_ctx {
  struct lua_State *L;
  struct pg_conn *conn;
  ms_opts opts;
  char *err;                /* last error message, owned; NULL when none */
  char *table_schema;       /* tracking table schema, resolved once */
  char *table_name;         /* tracking table name */
  char *table_sql;          /* quoted "schema"."name" for SQL text */
  char *history_name;       /* the history table beside it */
  char *history_sql;        /* quoted, qualified */
  char host[256];           /* this machine's name, for the history */
  char sqlstate[6];         /* SQLSTATE of the last failed migration statement */
  int retry_safe;           /* that failure left nothing behind: it may be rerun */
  const struct ms_reporter *rep; /* where events and results go (report.h); NULL: nowhere */
  void *lease;              /* the table lease and its renewer (lease.c) */
  struct ms_alloc *alloc;   /* the Lua state's allocator accounting (runtime.c) */
  double lua_deadline;      /* ms_now_ms() past which Lua code is stopped; 0: none */
  int config_ref;           /* registry ref of the resolved config, or LUA_NOREF (-2) */
  const char *command;      /* the command being run (for hooks' ctx) */
  int64_t lock_key;
  int locked;
  long done;                /* migrations the command ran (for the dry run's summary) */
  int in_tx_body;           /* a migration's body runs inside its transaction (db refuses COMMIT) */
  int dry_open;             /* the dry run's transaction is open (session.c) */
  struct ms_source *src;    /* the discovered migrations */
  const struct ms_migration *current; /* the migration running now, or NULL */
  struct ms_sumpool *sumpool; /* their checksums being computed (sumpool.c), or NULL */
} ms_ctx;

/* Sets ctx->err to the formatted message (replacing the previous one) and
 * returns code, so callers can write `return ms_fail(c, MS_EUSAGE, ...)`. */
ms_status ms_fail(ms_ctx *c, ms_status code, const char *fmt, ...) MS_PRINTF(3, 4);

/* The migrations folder in use (--dir, MOONSHIFT_DIR, or "migrations"). */
const char *ms_project_dir(const ms_ctx *c);

/* With -v: an MS_EV_INFO event with the formatted text (statement
 * durations); nothing otherwise. */
void ms_verbose(ms_ctx *c, const char *fmt, ...) MS_PRINTF(2, 3);

/* Milliseconds since an arbitrary origin (monotonic). */
double ms_now_ms(void);

/* Fills out with n - 1 random hex digits from the OS (/dev/urandom) and a
 * NUL; returns 0, or -1 when it cannot be read. */
int ms_random_hex(char *out, size_t n);

/* Sleeps ms milliseconds. */
void ms_sleep_ms(long ms);

#endif
