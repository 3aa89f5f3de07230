/* runner.c: applies or reverts one migration of either kind (sqlrun.c,
 * luarun.c), computing its checksum and printing the one line per migration
 * the user sees. */
#include "runner.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checksum.h"
#include "jsonout.h"
#include "luarun.h"
#include "pgerr.h"
#include "sqlrun.h"
#include "sumpool.h"
#include "tracker.h"

int ms_runner_allows_late(ms_ctx *c, ms_migration *m) {
  return m->kind == MS_KIND_LUA ? ms_luarun_allows_late(c, m) : ms_sqlrun_allows_late(c, m);
}

ms_status ms_runner_check(ms_ctx *c, ms_migration *m, int down) {
  return m->kind == MS_KIND_LUA ? ms_luarun_check(c, m, down) : ms_sqlrun_check(c, m, down);
}

ms_status ms_runner_checksum(ms_ctx *c, const ms_migration *m, char out[MS_CHECKSUM_LEN]) {
  const char *paths[2] = { m->path, m->down_path };
  int bad = 0, rc = ms_checksum_files(paths, 2, out, &bad, NULL);
  if (rc == ENOMEM) return ms_fail(c, MS_EFAILED, "out of memory");
  if (rc != 0) return ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", paths[bad], strerror(rc));
  return MS_OK;
}

ms_status ms_runner_sum(ms_ctx *c, ms_migration *m, const char **out) {
  char sum[MS_CHECKSUM_LEN];
  ms_sumpool_finish(c, 1);
  *out = m->checksum;
  if (m->checksum) return MS_OK;
  ms_status st = ms_runner_checksum(c, m, sum);
  if (st != MS_OK) return st;
  m->checksum = strdup(sum);
  *out = m->checksum;
  return m->checksum ? MS_OK : ms_fail(c, MS_EFAILED, "out of memory");
}

ms_status ms_runner_run(ms_ctx *c, ms_migration *m, int down) {
  const char *sum = "";
  /* while the folder is hashed on workers, a SQL migration asks for its
   * checksum only when it writes its tracking row (sqlrun.c), so a large
   * file's hashing overlaps its run */
  int later = !down && m->kind == MS_KIND_SQL && c->sumpool && !m->checksum;
  ms_status st = down || later ? MS_OK : ms_runner_sum(c, m, &sum);
  if (st != MS_OK) return st;
  ms_record rec = { down, m->version, m->name, m->kind == MS_KIND_LUA ? "lua" : "sql", later ? NULL : sum,
                    ms_now_ms() };
  if (c->opts.dry_run)
    ms_out("-- would %s %0*" PRId64 " %s (%s)", down ? "roll back" : "apply", m->vwidth, m->version,
           m->name, rec.kind);
  for (int attempt = 1;; attempt++) {
    c->sqlstate[0] = '\0';
    c->retry_safe = 0;
    st = m->kind == MS_KIND_LUA ? ms_luarun_run(c, m, &rec) : ms_sqlrun_run(c, m, &rec);
    if (st != MS_EFAILED || strcmp(c->sqlstate, MS_SQLSTATE_LOCK_NOT_AVAILABLE) != 0 || !c->retry_safe ||
        attempt > c->opts.retries || c->opts.dry_run)
      break;
    /* stopped by its lock_timeout and rolled back: wait, then try again */
    double delay = 500.0 * (1 << (attempt - 1 < 6 ? attempt - 1 : 6));
    delay = delay / 2 + (double)(rand() % 1000) / 1000.0 * delay / 2;
    fprintf(stderr, "moonshift: %0*" PRId64 " %s: a lock was not available within its lock_timeout "
            "(attempt %d of %d); retrying in %.1f s\n", m->vwidth, m->version, m->name, attempt,
            c->opts.retries + 1, delay / 1000);
    struct timespec ts = { (time_t)(delay / 1000), (long)((long)delay % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    rec.t0 = ms_now_ms();
  }
  if (st == MS_OK && c->opts.dry_run)
    ms_out("  then: %s version %" PRId64 " in %s.%s", down ? "delete" : "insert", m->version,
           c->table_schema, c->table_name);
  if (st == MS_OK) {
    ms_json_item(c, "migrations");
    ms_json_int(c, "version", m->version);
    ms_json_str(c, "name", m->name);
    ms_json_str(c, "kind", rec.kind);
    ms_json_str(c, "direction", down ? "down" : "up");
    ms_json_int(c, "duration_ms", (long long)(ms_now_ms() - rec.t0));
    if (c->opts.dry_run) ms_json_bool(c, "dry_run", 1);
    ms_json_end_item(c);
  }
  if (st == MS_OK && !c->opts.dry_run)
    ms_out("%s %0*" PRId64 " %s (%.0f ms)", down ? "reverted" : "applied", m->vwidth, m->version,
           m->name, ms_now_ms() - rec.t0);
  return st;
}
