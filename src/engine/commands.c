/* commands.c: up, down, redo, status, version and new, each run inside the
 * session command.c opens for it (folder, connection, and for down and redo
 * the lock). up takes the lock only when something is pending, and re-reads
 * the tracking table under it. Uses session, plan, runner and report. */
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
#include "project.h"
#include "lbridge.h"
#include "lock.h"
#include "plan.h"
#include "report.h"
#include "step.h"
#include "session.h"
#include "source.h"
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
    ms_res_int(c, "version", newest);
  }
  ms_applied_free(&a);
  ms_res_line(c, "%s; the database is at version %s", lead, v);
}

/* --json: the database's version after a failed run (when it can be read). */
static void json_version(ms_ctx *c) {
  ms_applied a;
  if (!c->conn || !c->table_sql) return;
  char *keep = c->err ? strdup(c->err) : NULL;
  if (ms_tracker_load(c, &a) == MS_OK) {
    int64_t v = 0;
    for (size_t i = 0; i < a.n; i++) if (!a.v[i].failed_op) v = a.v[i].version;
    ms_res_int(c, "version", v);
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
    st = ms_step_run(c, p->v[i], down);
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
    ms_status st = ms_step_check(c, p->v[i], down);
    if (st != MS_OK) return st;
  }
  return MS_OK;
}

/* The plan cut to its first `limit` migrations (0: all). */
static void limit_plan(ms_plan *p, long limit) {
  if (limit > 0 && p->n > (size_t)limit) p->n = (size_t)limit;
}

/* The closing line of up or down (none for a dry run: the session says
 * that), or the version after a failure. */
static void finish_run(ms_ctx *c, ms_status st, const ms_applied *a, const ms_plan *p, size_t done, int down) {
  c->done = (long)done;
  if (st != MS_OK) { json_version(c); return; }
  if (c->opts.dry_run) return;
  char lead[64];
  if (done) snprintf(lead, sizeof lead, "%zu migration%s %s", done, done == 1 ? "" : "s", down ? "rolled back" : "applied");
  else snprintf(lead, sizeof lead, "%s", down ? "nothing to roll back" : "nothing to apply");
  int64_t newest;
  /* after an up that ran something the table is read again; else the newest is known */
  say_version(c, lead, !down && done ? NULL : newest_left(a, p, down ? done : 0, &newest));
}

ms_status ms_cmd_up(ms_ctx *c, ms_applied *a, long limit) {
  ms_plan p = {0};
  size_t done = 0;
  ms_status st = ms_plan_up(c, a, &p);
  limit_plan(&p, limit);
  /* nothing pending: answer without taking the lock */
  if (st == MS_OK && p.n > 0) {
    st = check_plan(c, &p, 0);
    ms_plan_free(&p);
    if (st == MS_OK) st = ms_session_lock(c, MS_CMD_UP_GUARDS, a);
    if (st == MS_OK) st = ms_plan_up(c, a, &p);
    limit_plan(&p, limit);
    if (st == MS_OK) st = check_plan(c, &p, 0);
    if (st == MS_OK) st = run_plan(c, &p, 0, &done);
  }
  finish_run(c, st, a, &p, done, 0);
  ms_plan_free(&p);
  return st;
}

ms_status ms_cmd_down(ms_ctx *c, ms_applied *a, long steps) {
  ms_plan p = {0};
  size_t done = 0;
  ms_status st = ms_plan_down(c, a, steps, &p);
  if (st == MS_OK) st = check_plan(c, &p, 1);
  if (st == MS_OK) st = run_plan(c, &p, 1, &done);
  finish_run(c, st, a, &p, done, 1);
  ms_plan_free(&p);
  return st;
}

ms_status ms_cmd_redo(ms_ctx *c, ms_applied *a) {
  ms_plan p = {0};
  ms_status st = ms_plan_down(c, a, 1, &p);
  if (st == MS_OK && p.n == 0) st = ms_fail(c, MS_EUSAGE, "nothing to redo: no migration is applied");
  if (st == MS_OK) st = ms_step_check(c, p.v[0], 1);
  if (st == MS_OK) st = ms_step_check(c, p.v[0], 0);
  if (st == MS_OK) st = ms_step_run(c, p.v[0], 1);
  if (st == MS_OK) st = ms_step_run(c, p.v[0], 0);
  c->done = st == MS_OK;
  if (st == MS_OK && !c->opts.dry_run) say_version(c, "redone", NULL);
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
static void status_row(ms_ctx *c, ms_buf *b, const char *v, const char *name, const char *kind, const char *state,
                       const char *at, int nw) {
  b->len = 0;
  column(b, v, 14);
  column(b, name, nw);
  column(b, kind, 4);
  column(b, state, 22);
  ms_buf_add(b, at, strlen(at));
  ms_res_text(c, b->data, b->len);
}

/* The --json form of one status line. */
static void status_json(ms_ctx *c, const ms_migration *m, const ms_applied_row *r) {
  const char *state = !r ? "pending" : r->failed_op ? "failed" : r->drift == MS_DRIFT_MODIFIED ? "modified"
                      : r->drift == MS_DRIFT_MISSING ? "missing" : "applied";
  ms_res_item(c, "migrations");
  ms_res_int(c, "version", m ? m->version : r->version);
  ms_res_str(c, "name", m ? m->name : r->name);
  ms_res_str(c, "kind", m ? (m->kind == MS_KIND_LUA ? "lua" : "sql") : r->kind);
  ms_res_str(c, "state", state);
  ms_res_str(c, "file", m ? m->path : NULL);
  ms_res_str(c, "applied_at", r ? r->applied_at : NULL);
  if (r) {
    ms_res_int(c, "duration_ms", r->duration_ms);
    ms_res_str(c, "applied_by", r->applied_by);
    ms_res_str(c, "checksum", r->checksum);
  }
  if (r && r->failed_op) {
    ms_res_str(c, "failed_op", r->failed_op);
    if (r->statements_done >= 0) {
      ms_res_int(c, "failed_statement", r->statements_done + 1);
      ms_res_int(c, "statement_count", r->statement_count);
    }
    ms_res_str(c, "error", r->error);
  }
  ms_res_end_item(c);
}

ms_status ms_cmd_status(ms_ctx *c, ms_applied *ap) {
  ms_applied a = *ap;
  ms_drift d = { 0, 0, { 0 } };
  ms_status st = ms_drift_check(c, &a, &d);
  ms_drift_free(&d);
  if (st != MS_OK) return st;
  const ms_source *s = c->src;
  int nw = 4;
  for (size_t i = 0; i < s->n; i++) if ((int)strlen(s->v[i].name) > nw) nw = (int)strlen(s->v[i].name);
  for (size_t i = 0; i < a.n; i++) if ((int)strlen(a.v[i].name) > nw) nw = (int)strlen(a.v[i].name);
  ms_buf line = {0};
  ms_res_batch(c, 1);
  status_row(c, &line, "version", "name", "kind", "state", "applied_at", nw);
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
      status_row(c, &line, v, m->name, m->kind == MS_KIND_LUA ? "lua" : "sql", state,
                 is_applied ? r->applied_at : "-", nw);
      if (is_applied && r->failed_op) { failed++; j++; }
      else if (is_applied) { applied++; modified += r->drift == MS_DRIFT_MODIFIED; j++; }
      else pending++;
      i++;
    } else {
      snprintf(v, sizeof v, "%" PRId64, r->version);
      status_json(c, NULL, r);
      status_row(c, &line, v, r->name, r->kind, r->failed_op ? "failed, file missing" : "applied, file missing",
                 r->applied_at, nw);
      applied++;
      missing++;
      j++;
    }
  }
  ms_res_batch(c, 0);
  ms_buf_free(&line);
  ms_res_list(c, "migrations");
  ms_res_int(c, "applied", (long long)applied);
  ms_res_int(c, "pending", (long long)pending);
  ms_res_int(c, "modified", (long long)modified);
  ms_res_int(c, "missing", (long long)missing);
  ms_res_int(c, "failed", (long long)failed);
  ms_res_str(c, "schema", c->table_schema);
  ms_res_str(c, "table", c->table_name);
  ms_res_int(c, "lock_key", c->lock_key);
  char extra[96] = "";
  if (modified) snprintf(extra, sizeof extra, ", %zu modified", modified);
  if (missing) snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %zu missing", missing);
  ms_res_line(c, "%zu applied, %zu pending%s%s (tracking table %s.%s, advisory lock key %" PRId64 ")",
         applied, pending, failed ? ", 1 failed" : "", extra,
         c->table_schema, c->table_name, c->lock_key);
  const ms_applied_row *f = ms_applied_failed(&a);
  if (f) {
    char v[32];
    ms_fmt_version(c, f->version, v, sizeof v);
    if (ms_applied_resumable(f))
      ms_res_line(c, "\nmigration %s %s failed up part way, at statement %d of %d; fix the cause and run up to "
             "resume there (or `moonshift repair %s` to start over, `moonshift force %s` to accept it). "
             "Its error:\n%s", v, f->name, f->statements_done + 1, f->statement_count, v, v,
             f->error ? f->error : "-");
    else
      ms_res_line(c, "\nmigration %s %s failed %s part way; run `moonshift repair %s` or `moonshift force %s` "
             "once its cause is fixed. Its error:\n%s", v, f->name, f->failed_op, v, v,
             f->error ? f->error : "-");
  }
  return MS_OK;
}

ms_status ms_cmd_version(ms_ctx *c, const ms_applied *a) {
  const ms_applied_row *f = ms_applied_failed(a);
  int64_t newest = 0;
  for (size_t i = 0; i < a->n; i++) if (!a->v[i].failed_op) newest = a->v[i].version;
  char v[32] = "0";
  if (newest) ms_fmt_version(c, newest, v, sizeof v);
  ms_res_int(c, "version", newest);
  if (f && f->version > newest) {
    char fv[32];
    ms_fmt_version(c, f->version, fv, sizeof fv);
    ms_res_int(c, "failed_version", f->version);
    ms_report_text(c, MS_EV_WARNING, "migration %s %s failed %s part way; the newest migration fully "
                   "applied is %s (see moonshift status)", fv, f->name, f->failed_op, v);
  }
  ms_res_line(c, "%s", v);
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

/* The next version fits in 64 bits only below the largest one. */
static ms_status check_room(ms_ctx *c, const ms_source *s) {
  const ms_migration *last = s->n ? &s->v[s->n - 1] : NULL;
  if (!last || last->version < INT64_MAX) return MS_OK;
  return ms_fail(c, MS_EUSAGE, "%s: the newest version is the largest a 64-bit version can be; no version "
                 "can follow it", last->path);
}

/* require("moonshift.templates")[kind](name), protected. */
static int l_template(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "moonshift.templates");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, lua_tostring(L, 1));
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  return 1;
}

static ms_status template_text(ms_ctx *c, const char *kind, const char *name, ms_buf *out) {
  lua_State *L = c->L;
  lua_pushcfunction(L, l_template);
  lua_pushstring(L, kind);
  lua_pushstring(L, name);
  if (ms_lua_pcall(L, 2, 1) != LUA_OK) return ms_lua_fail(c, MS_EFAILED, "template");
  size_t len;
  const char *t = lua_tolstring(L, -1, &len);
  ms_buf_add(out, t ? t : "", t ? len : 0);
  lua_pop(L, 1);
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
  if (st == MS_OK) st = ms_session_open(c, MS_SESS_FOLDER, NULL);
  if (st == MS_OK) st = check_room(c, c->src);
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
  if (st == MS_OK) ms_res_line(c, "created %s", path.data);
  free(s);
  ms_buf_free(&path);
  ms_buf_free(&text);
  return st;
}
