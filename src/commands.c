/* commands.c: up, down, redo, status, version and new. Each reads the
 * migration folder first (folder errors exit before any connection), takes
 * the lock only when it will change something, and re-reads the tracking
 * table under the lock. Uses source, tracker, lock, plan and runner. */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "config.h"
#include "conn.h"
#include "drift.h"
#include "jsonout.h"
#include "project.h"
#include "lock.h"
#include "plan.h"
#include "runner.h"
#include "source.h"
#include "sumpool.h"
#include "tracker.h"

/* The newest version of a once the first `gone` migrations of p are rolled
 * back (0 when none is left), or NULL when out of memory. */
static const int64_t *newest_left(const ms_applied *a, const ms_plan *p, size_t gone, int64_t *newest) {
  char *out = calloc(a->n ? a->n : 1, 1);
  *newest = 0;
  if (!out) return NULL;
  for (size_t k = 0; k < gone; k++) {
    const ms_applied_row *r = ms_applied_find(a, p->v[k]->version);
    if (r) out[r - a->v] = 1;
  }
  for (size_t i = a->n; i-- > 0 && !*newest;)
    if (!out[i]) *newest = a->v[i].version;
  free(out);
  return newest;
}

/* The closing line, with the database's newest version: known (when the
 * caller can tell it without asking), else read again from the tracking
 * table. */
static void say_version(ms_ctx *c, const char *lead, const int64_t *known) {
  ms_applied a = {0};
  char v[32] = "0";
  if (known || ms_tracker_load(c, &a) == MS_OK) {
    int64_t newest = known ? *known : a.n ? a.v[a.n - 1].version : 0;
    if (newest) ms_fmt_version(c, newest, v, sizeof v);
    ms_json_int(c, "version", newest);
  }
  ms_applied_free(&a);
  ms_out("%s; the database is at version %s", lead, v);
}

/* A migration left failed part way blocks up, down and redo until the
 * operator decides with repair or force. */
static ms_status refuse_failed(ms_ctx *c, const ms_applied *a, int up) {
  const ms_applied_row *r = NULL;
  for (size_t i = 0; i < a->n && !r; i++)
    if (a->v[i].failed_op && !(up && ms_applied_resumable(&a->v[i]))) r = &a->v[i];
  if (!r) return MS_OK;
  char v[32], where[64] = "";
  ms_fmt_version(c, r->version, v, sizeof v);
  if (r->statements_done >= 0)
    snprintf(where, sizeof where, " at statement %d of %d", r->statements_done + 1, r->statement_count);
  return ms_fail(c, MS_EFAILED, "migration %s %s failed part way (%s%s, %s) and may have left "
                 "changes behind; nothing was run.\nfix the cause, then run `moonshift repair %s` to "
                 "run it again, or `moonshift force %s` to mark it %s\nits error was: %s", v, r->name,
                 r->failed_op, where, r->applied_at, v, v,
                 strcmp(r->failed_op, "up") == 0 ? "applied" : "rolled back", r->error ? r->error : "-");
}

/* up refuses to build on applied migrations whose files changed or went
 * missing, unless --allow-modified; down and status only report them. */
static ms_status refuse_drift(ms_ctx *c, ms_applied *a, int refuse) {
  ms_drift d;
  ms_status st = ms_drift_check(c, a, &d);
  if (st == MS_OK && (d.modified || d.missing)) {
    if (refuse && !c->opts.allow_modified)
      st = ms_fail(c, MS_EUSAGE, "applied migrations no longer match their files; nothing was run:%s\n"
                   "restore the files, or record deliberate edits with `moonshift accept VERSION...` "
                   "(or run anyway with --allow-modified)", d.list.data);
    else
      fprintf(stderr, "moonshift: warning: applied migrations no longer match their files:%s\n", d.list.data);
  }
  ms_drift_free(&d);
  return st;
}

/* --dry-run wraps the whole run in one transaction that is rolled back. */
static ms_status dry_begin(ms_ctx *c) {
  return c->opts.dry_run ? ms_conn_exec(c, "BEGIN") : MS_OK;
}

static ms_status dry_end(ms_ctx *c, ms_status st, size_t done, const char *what) {
  ms_conn_recover(c);
  if (st == MS_OK)
    ms_out("dry run: %zu migration%s would be %s; everything was rolled back, nothing changed",
           done, done == 1 ? "" : "s", what);
  return st;
}

/* --json: the database's version after a failed run (when it can be read). */
static void json_version(ms_ctx *c) {
  ms_applied a;
  if (!ms_json_on(c) || !c->conn || !c->table_sql) return;
  char *keep = c->err ? strdup(c->err) : NULL;
  if (ms_tracker_load(c, &a) == MS_OK) {
    int64_t v = 0;
    for (size_t i = 0; i < a.n; i++) if (!a.v[i].failed_op) v = a.v[i].version;
    ms_json_int(c, "version", v);
    ms_applied_free(&a);
  }
  free(c->err);
  c->err = keep;
}

/* Runs the plan in order, between the before_all and after_all hooks;
 * stops at the first failure. */
static ms_status run_steps(ms_ctx *c, const ms_plan *p, int down, size_t *done);

static ms_status run_plan(ms_ctx *c, const ms_plan *p, int down, size_t *done) {
  const char *dir = down ? "down" : "up";
  *done = 0;
  ms_status st = ms_hook_all(c, "before_all", dir, 1, 0);
  if (st == MS_OK) st = run_steps(c, p, down, done);
  ms_status after = ms_hook_all(c, "after_all", dir, st == MS_OK, (long)*done);
  return st != MS_OK ? st : after;
}

static ms_status run_steps(ms_ctx *c, const ms_plan *p, int down, size_t *done) {
  for (size_t i = 0; i < p->n; i++) {
    ms_status st = ms_lock_check(c);
    if (st != MS_OK) return st;
    st = ms_runner_run(c, p->v[i], down);
    if (st != MS_OK) {
      char v[32];
      char *why = strdup(c->err ? c->err : "");
      char *warn = NULL;
      if (!c->opts.dry_run && st != MS_ECONNECT)
        warn = ms_tracker_history(c, p->v[i]->version, p->v[i]->name, down ? "down failed" : "up failed",
                                  -1, why, NULL);
      if (st != MS_ECONNECT) ms_hook_error(c, p->v[i], down ? "down" : "up", why);
      ms_fmt_version(c, p->v[i]->version, v, sizeof v);
      st = ms_fail(c, st, "%s\nmigration %s %s failed; %zu before it in this run %s%s%s", why ? why : "",
                   v, p->v[i]->name, *done, down ? "were rolled back" : "stay applied",
                   warn ? "\n" : "", warn ? warn : "");
      free(warn);
      free(why);
      return st;
    }
    (*done)++;
  }
  return MS_OK;
}

static ms_status check_plan(ms_ctx *c, const ms_plan *p, int down) {
  for (size_t i = 0; i < p->n; i++) {
    ms_status st = ms_runner_check(c, p->v[i], down);
    if (st != MS_OK) return st;
  }
  return MS_OK;
}

ms_status ms_cmd_up(ms_ctx *c) {
  ms_applied a = {0};
  ms_plan p = {0};
  size_t done = 0;
  ms_status st = ms_project_scan(c);
  if (st == MS_OK) ms_sumpool_start(c);
  if (st == MS_OK) st = ms_project_connect(c);
  if (st == MS_OK) st = ms_tracker_load(c, &a);
  if (st == MS_OK) st = refuse_failed(c, &a, 1);
  if (st == MS_OK) st = refuse_drift(c, &a, 1);
  if (st == MS_OK) st = ms_plan_up(c, &a, &p);
  /* nothing pending: answer without taking the lock */
  if (st == MS_OK && p.n > 0) {
    st = check_plan(c, &p, 0);
    ms_applied_free(&a);
    ms_plan_free(&p);
    if (st == MS_OK) st = ms_lock_acquire(c);
    if (st == MS_OK) st = dry_begin(c);
    if (st == MS_OK) st = ms_tracker_ensure(c);
    if (st == MS_OK) st = ms_tracker_load(c, &a);
    if (st == MS_OK) st = refuse_failed(c, &a, 1);
    if (st == MS_OK) st = refuse_drift(c, &a, 1);
    if (st == MS_OK) st = ms_plan_up(c, &a, &p);
    if (st == MS_OK) st = check_plan(c, &p, 0);
    if (st == MS_OK) st = run_plan(c, &p, 0, &done);
  }
  if (c->opts.dry_run) st = dry_end(c, st, done, "applied");
  else if (st != MS_OK) json_version(c);
  else if (st == MS_OK) {
    char lead[64];
    snprintf(lead, sizeof lead, done ? "%zu migration%s applied" : "nothing to apply", done,
             done == 1 ? "" : "s");
    int64_t newest;
    say_version(c, lead, done ? NULL : newest_left(&a, &p, 0, &newest));
  }
  ms_applied_free(&a);
  ms_plan_free(&p);
  return st;
}

ms_status ms_cmd_down(ms_ctx *c, long steps) {
  ms_applied a = {0};
  ms_plan p = {0};
  size_t done = 0;
  ms_status st = ms_project_scan(c);
  if (st == MS_OK) ms_sumpool_start(c);
  if (st == MS_OK) st = ms_project_connect(c);
  if (st == MS_OK) st = ms_lock_acquire(c);
  if (st == MS_OK) st = dry_begin(c);
  if (st == MS_OK) st = ms_tracker_ensure(c);
  if (st == MS_OK) st = ms_tracker_load(c, &a);
  if (st == MS_OK) st = refuse_failed(c, &a, 0);
  if (st == MS_OK) st = refuse_drift(c, &a, 0);
  if (st == MS_OK) st = ms_plan_down(c, &a, steps, &p);
  if (st == MS_OK) st = check_plan(c, &p, 1);
  if (st == MS_OK) st = run_plan(c, &p, 1, &done);
  if (c->opts.dry_run) st = dry_end(c, st, done, "rolled back");
  else if (st != MS_OK) json_version(c);
  else if (st == MS_OK) {
    char lead[64];
    snprintf(lead, sizeof lead, done ? "%zu migration%s rolled back" : "nothing to roll back", done,
             done == 1 ? "" : "s");
    int64_t newest;
    say_version(c, lead, newest_left(&a, &p, done, &newest));
  }
  ms_applied_free(&a);
  ms_plan_free(&p);
  return st;
}

ms_status ms_cmd_redo(ms_ctx *c) {
  ms_applied a = {0};
  ms_plan p = {0};
  ms_status st = ms_project_scan(c);
  if (st == MS_OK) ms_sumpool_start(c);
  if (st == MS_OK) st = ms_project_connect(c);
  if (st == MS_OK) st = ms_lock_acquire(c);
  if (st == MS_OK) st = ms_tracker_ensure(c);
  if (st == MS_OK) st = ms_tracker_load(c, &a);
  if (st == MS_OK) st = refuse_failed(c, &a, 0);
  if (st == MS_OK) st = ms_plan_down(c, &a, 1, &p);
  if (st == MS_OK && p.n == 0) st = ms_fail(c, MS_EUSAGE, "nothing to redo: no migration is applied");
  if (st == MS_OK) st = ms_runner_check(c, p.v[0], 1);
  if (st == MS_OK) st = ms_runner_check(c, p.v[0], 0);
  if (st == MS_OK) st = ms_runner_run(c, p.v[0], 1);
  if (st == MS_OK) st = ms_runner_run(c, p.v[0], 0);
  if (st == MS_OK) say_version(c, "redone", NULL);
  ms_applied_free(&a);
  ms_plan_free(&p);
  return st;
}

static void row_state(const ms_applied_row *r, char *out, size_t n) {
  if (!r) snprintf(out, n, "pending");
  else if (r->drift == MS_DRIFT_MODIFIED) snprintf(out, n, "applied, modified");
  else if (!r->failed_op) snprintf(out, n, "applied");
  else if (r->statements_done >= 0)
    snprintf(out, n, "failed %s at %d/%d", r->failed_op, r->statements_done + 1, r->statement_count);
  else snprintf(out, n, "failed %s", r->failed_op);
}

/* Appends s padded with spaces to width w (and the two between columns). */
static void column(ms_buf *b, const char *s, int w) {
  size_t n = strlen(s);
  ms_buf_add(b, s, n);
  for (int i = (int)n; i < w; i++) ms_buf_add(b, " ", 1);
  ms_buf_add(b, "  ", 2);
}

/* One line of the status table (built by hand: status prints thousands). */
static void status_row(ms_buf *b, const char *v, const char *name, const char *kind, const char *state,
                       const char *at, int nw) {
  b->len = 0;
  column(b, v, 14);
  column(b, name, nw);
  column(b, kind, 4);
  column(b, state, 22);
  ms_buf_add(b, at, strlen(at));
  ms_out_line(b->data, b->len);
}

/* The --json form of one status line. */
static void status_json(ms_ctx *c, const ms_migration *m, const ms_applied_row *r) {
  const char *state = !r ? "pending" : r->failed_op ? "failed" : r->drift == MS_DRIFT_MODIFIED ? "modified"
                      : r->drift == MS_DRIFT_MISSING ? "missing" : "applied";
  ms_json_item(c, "migrations");
  ms_json_int(c, "version", m ? m->version : r->version);
  ms_json_str(c, "name", m ? m->name : r->name);
  ms_json_str(c, "kind", m ? (m->kind == MS_KIND_LUA ? "lua" : "sql") : r->kind);
  ms_json_str(c, "state", state);
  ms_json_str(c, "file", m ? m->path : NULL);
  ms_json_str(c, "applied_at", r ? r->applied_at : NULL);
  if (r) {
    ms_json_int(c, "duration_ms", r->duration_ms);
    ms_json_str(c, "applied_by", r->applied_by);
    ms_json_str(c, "checksum", r->checksum);
  }
  if (r && r->failed_op) {
    ms_json_str(c, "failed_op", r->failed_op);
    if (r->statements_done >= 0) {
      ms_json_int(c, "failed_statement", r->statements_done + 1);
      ms_json_int(c, "statement_count", r->statement_count);
    }
    ms_json_str(c, "error", r->error);
  }
  ms_json_end_item(c);
}

ms_status ms_cmd_status(ms_ctx *c) {
  ms_applied a = {0};
  ms_status st = ms_project_scan(c);
  if (st == MS_OK) ms_sumpool_start(c);
  if (st == MS_OK) st = ms_project_connect(c);
  if (st == MS_OK) st = ms_tracker_load(c, &a);
  ms_drift d = { 0, 0, { 0 } };
  if (st == MS_OK) st = ms_drift_check(c, &a, &d);
  ms_drift_free(&d);
  if (st != MS_OK) { ms_applied_free(&a); return st; }
  const ms_source *s = c->src;
  int nw = 4;
  for (size_t i = 0; i < s->n; i++) if ((int)strlen(s->v[i].name) > nw) nw = (int)strlen(s->v[i].name);
  for (size_t i = 0; i < a.n; i++) if ((int)strlen(a.v[i].name) > nw) nw = (int)strlen(a.v[i].name);
  ms_buf line = {0};
  ms_out_batch(1);
  status_row(&line, "version", "name", "kind", "state", "applied_at", nw);
  size_t i = 0, j = 0, applied = 0, pending = 0, missing = 0, failed = 0, modified = 0;
  while (i < s->n || j < a.n) {
    const ms_migration *m = i < s->n ? &s->v[i] : NULL;
    const ms_applied_row *r = j < a.n ? &a.v[j] : NULL;
    char v[32];
    if (m && (!r || m->version <= r->version)) {
      int is_applied = r && r->version == m->version;
      char state[64];
      ms_fmt_version(c, m->version, v, sizeof v);
      row_state(is_applied ? r : NULL, state, sizeof state);
      status_json(c, m, is_applied ? r : NULL);
      status_row(&line, v, m->name, m->kind == MS_KIND_LUA ? "lua" : "sql", state,
                 is_applied ? r->applied_at : "-", nw);
      if (is_applied && r->failed_op) { failed++; j++; }
      else if (is_applied) { applied++; modified += r->drift == MS_DRIFT_MODIFIED; j++; }
      else pending++;
      i++;
    } else {
      snprintf(v, sizeof v, "%" PRId64, r->version);
      status_json(c, NULL, r);
      status_row(&line, v, r->name, r->kind, r->failed_op ? "failed, file missing" : "applied, file missing",
                 r->applied_at, nw);
      applied++;
      missing++;
      j++;
    }
  }
  ms_out_batch(0);
  ms_buf_free(&line);
  ms_json_list(c, "migrations");
  ms_json_int(c, "applied", (long long)applied);
  ms_json_int(c, "pending", (long long)pending);
  ms_json_int(c, "modified", (long long)modified);
  ms_json_int(c, "missing", (long long)missing);
  ms_json_int(c, "failed", (long long)failed);
  ms_json_str(c, "schema", c->table_schema);
  ms_json_str(c, "table", c->table_name);
  ms_json_int(c, "lock_key", c->lock_key);
  char extra[96] = "";
  if (modified) snprintf(extra, sizeof extra, ", %zu modified", modified);
  if (missing) snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %zu missing", missing);
  ms_out("%zu applied, %zu pending%s%s (tracking table %s.%s, advisory lock key %" PRId64 ")",
         applied, pending, failed ? ", 1 failed" : "", extra,
         c->table_schema, c->table_name, c->lock_key);
  const ms_applied_row *f = ms_applied_failed(&a);
  if (f) {
    char v[32];
    ms_fmt_version(c, f->version, v, sizeof v);
    if (ms_applied_resumable(f))
      ms_out("\nmigration %s %s failed up part way, at statement %d of %d; fix the cause and run up to "
             "resume there (or `moonshift repair %s` to start over, `moonshift force %s` to accept it). "
             "Its error:\n%s", v, f->name, f->statements_done + 1, f->statement_count, v, v,
             f->error ? f->error : "-");
    else
      ms_out("\nmigration %s %s failed %s part way; run `moonshift repair %s` or `moonshift force %s` "
             "once its cause is fixed. Its error:\n%s", v, f->name, f->failed_op, v, v,
             f->error ? f->error : "-");
  }
  ms_applied_free(&a);
  return MS_OK;
}

ms_status ms_cmd_version(ms_ctx *c) {
  ms_applied a = {0};
  ms_status st = ms_project_scan(c);
  if (st == MS_OK) st = ms_project_connect(c);
  if (st == MS_OK) st = ms_tracker_load(c, &a);
  if (st != MS_OK) return st;
  char v[32] = "0";
  if (a.n) ms_fmt_version(c, a.v[a.n - 1].version, v, sizeof v);
  ms_out("%s", v);
  ms_applied_free(&a);
  return MS_OK;
}

/* Keeps letters, digits, '-' and '.'; everything else becomes one '_'. */
static char *slug(const char *name) {
  size_t n = strlen(name), w = 0;
  char *out = malloc(n + 1);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '.';
    if (ok) out[w++] = (char)ch;
    else if (w > 0 && out[w - 1] != '_') out[w++] = '_';
  }
  while (w > 0 && out[w - 1] == '_') w--;
  out[w] = '\0';
  return out;
}

/* Sequential numbering when the folder uses it (versions below 10^9),
 * else a UTC timestamp YYYYMMDDHHMMSS (kept above the newest version). */
static void next_version(const ms_source *s, char *out, size_t n) {
  const ms_migration *last = s->n ? &s->v[s->n - 1] : NULL;
  if (last && last->version < 1000000000) {
    snprintf(out, n, "%0*" PRId64, last->vwidth, last->version + 1);
    return;
  }
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, n, "%Y%m%d%H%M%S", &tm);
  if (last && strtoll(out, NULL, 10) <= last->version) snprintf(out, n, "%" PRId64, last->version + 1);
}

static ms_status template_text(ms_ctx *c, const char *kind, const char *name, ms_buf *out) {
  lua_State *L = c->L;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonshift.templates");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, kind);
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  size_t len;
  const char *t = lua_tolstring(L, -1, &len);
  ms_buf_add(out, t ? t : "", t ? len : 0);
  lua_pop(L, 2);
  return MS_OK;
}

ms_status ms_cmd_new(ms_ctx *c, const char *name, int lua) {
  const char *dir = ms_project_dir(c);
  char version[32];
  ms_buf path = {0}, text = {0};
  char *s = slug(name ? name : "");
  ms_status st = MS_OK;
  if (!s || !*s) st = ms_fail(c, MS_EUSAGE, "usage: moonshift new NAME [--lua] (NAME needs letters or digits)");
  if (st == MS_OK && mkdir(dir, 0777) != 0 && errno != EEXIST)
    st = ms_fail(c, MS_EUSAGE, "cannot create migrations folder %s: %s", dir, strerror(errno));
  if (st == MS_OK) st = ms_project_scan(c);
  if (st == MS_OK) {
    next_version(c->src, version, sizeof version);
    ms_buf_printf(&path, "%s/%s_%s.%s", dir, version, s, lua ? "lua" : "sql");
    st = template_text(c, lua ? "lua" : "sql", s, &text);
  }
  if (st == MS_OK) {
    int fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0 || write(fd, text.data, text.len) != (ssize_t)text.len)
      st = ms_fail(c, MS_EUSAGE, "cannot create %s: %s", path.data, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (st == MS_OK) ms_out("created %s", path.data);
  free(s);
  ms_buf_free(&path);
  ms_buf_free(&text);
  return st;
}
