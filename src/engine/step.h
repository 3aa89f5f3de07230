/* step.h: one migration's protocol, whatever its kind: BEGIN, timeouts,
 * before_each, the body, after_each, the transaction's state, the lease
 * fence, the tracking row, COMMIT and RESET; the failure record of a
 * migration that ran part way outside a transaction; retries after a
 * lock_timeout. Each kind of migration provides only what differs, in a
 * table of operations (sqlrun.c, luarun.c), as Lua's libraries hand their C
 * functions over in luaL_Reg tables. */
#ifndef MS_STEP_H
#define MS_STEP_H

#include "ms.h"
#include "buf.h"
#include "checksum.h"
#include "source.h"
#include "tracker.h"

/* One migration being run in one direction. */
typedef struct ms_step {
  ms_migration *m;
  int down;
  ms_record rec;          /* the tracking change it makes */
  int tx;                 /* runs inside a transaction with its tracking row */
  int live;               /* the body really runs (not a dry run's listing) */
  int fast;               /* the kind may send the whole protocol itself (ops->fast) */
  const char *lock_timeout, *statement_timeout;   /* its own; NULL: the defaults */
  int done;               /* statements applied so far; -1: not counted (Lua) */
  int total;              /* statements in all (-1: not counted) */
  const char *hashes;     /* "{h1,...}" of the statements applied, or NULL */
  int tx_from;            /* outside a transaction: statements run before the last one that
                           * controls transactions (a BEGIN left open rolls back what follows) */
  void *body;             /* the kind's own state */
} ms_step;

typedef struct ms_step_ops {
  const char *kind;       /* "sql" or "lua", as the tracking table says */
  /* Validates m for direction down without touching the database. */
  ms_status (*check)(ms_ctx *c, ms_migration *m, int down);
  /* Prepares s->body and sets tx, fast, the timeouts and total. */
  ms_status (*open)(ms_ctx *c, ms_step *s);
  /* Runs the body (or, when !s->live, lists it); sets done and hashes. */
  ms_status (*body)(ms_ctx *c, ms_step *s);
  /* The whole protocol in one go (SQL: one pipelined round trip); NULL. */
  ms_status (*fast)(ms_ctx *c, ms_step *s);
  void (*close)(ms_ctx *c, ms_step *s);
  /* 1 when m opts in to running below the newest applied version. */
  int (*allows_late)(ms_ctx *c, ms_migration *m);
} ms_step_ops;

extern const ms_step_ops ms_sql_ops;   /* sqlrun.c */
extern const ms_step_ops ms_lua_ops;   /* luarun.c */

/* Checks that m can run in that direction without touching the database:
 * SQL sections parse and split, a Lua file loads and returns a valid table,
 * a down step exists. Returns MS_EUSAGE with file:line in c->err if not. */
ms_status ms_step_check(ms_ctx *c, ms_migration *m, int down) MS_MUST_CHECK;

/* Runs m up (down = 0) or down with its tracking change, reporting it
 * (MS_EV_START, MS_EV_DONE; a dry run's MS_EV_WOULD). On failure c->err
 * holds the report and nothing of m is recorded, but a failure part way
 * outside a transaction. */
ms_status ms_step_run(ms_ctx *c, ms_migration *m, int down) MS_MUST_CHECK;

/* Computes the checksum of m's file(s): "sha256-v1:" and the hex SHA-256 of
 * the normalised bytes (see checksum.h), the up file's then the down
 * file's for a pair. */
ms_status ms_step_checksum(ms_ctx *c, const ms_migration *m, char out[MS_CHECKSUM_LEN]) MS_MUST_CHECK;

/* m's checksum, computed on first use and kept in m->checksum. */
ms_status ms_step_sum(ms_ctx *c, ms_migration *m, const char **out) MS_MUST_CHECK;

/* 1 when m's file opts in to running below the newest applied version
 * (SQL: out_of_order:ok on its up marker; Lua: out_of_order = true). */
int ms_step_allows_late(ms_ctx *c, ms_migration *m);

/* For a kind's fast path, the statements of the protocol one at a time:
 * the i-th (0 to MS_STEP_PROLOGUE - 1) SET of the prologue into out (the
 * connection check, then the timeouts), returning 0 for a slot with none;
 * and the epilogue's lease fence and tracking row
 * (ms_step_fence_sql returns 0 without a lease). */
#define MS_STEP_PROLOGUE 3
int ms_step_prologue_sql(ms_ctx *c, const ms_step *s, int i, char *out, size_t n);
int ms_step_fence_sql(ms_ctx *c, ms_buf *b);
ms_status ms_step_track_sql(ms_ctx *c, ms_step *s, ms_buf *b) MS_MUST_CHECK;

#endif
