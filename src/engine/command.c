/* command.c: the table of commands (command.h): each one's session, its
 * positional arguments, and what a dry run of it would have done. Uses
 * session, commands, config and report. */
#include "command.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "commands.h"
#include "config.h"
#include "lbridge.h"
#include "mask.h"
#include "report.h"
#include "session.h"

#define SCAN (MS_SESS_FOLDER | MS_SESS_HASH)
#define READ (SCAN | MS_SESS_CONNECT | MS_SESS_LOAD)
#define WRITE (MS_SESS_FOLDER | MS_SESS_CONNECT | MS_SESS_LOCK)

typedef struct args { const char *const *v; int n; long count; } args;

typedef ms_status (*run_fn)(ms_ctx *c, ms_applied *a, const args *x);

typedef struct command {
  const char *name;
  unsigned session;
  int min, max;          /* positional arguments; max -1: any number */
  int counted;           /* the one argument is a count (1 or more) */
  const char *what;      /* usage of the arguments, for errors */
  const char *dry;       /* a dry run's migrations "would be ..."; NULL: no count */
  run_fn run;
} command;

static ms_status run_up(ms_ctx *c, ms_applied *a, const args *x) { return ms_cmd_up(c, a, x->count); }
static ms_status run_down(ms_ctx *c, ms_applied *a, const args *x) {
  return ms_cmd_down(c, a, x->n ? x->count : c->opts.has_to ? 0 : 1);
}
static ms_status run_redo(ms_ctx *c, ms_applied *a, const args *x) { (void)x; return ms_cmd_redo(c, a); }
static ms_status run_status(ms_ctx *c, ms_applied *a, const args *x) { (void)x; return ms_cmd_status(c, a); }
static ms_status run_log(ms_ctx *c, ms_applied *a, const args *x) { (void)a; (void)x; return ms_cmd_log(c); }
static ms_status run_check(ms_ctx *c, ms_applied *a, const args *x) { (void)x; return ms_cmd_check(c, a); }
static ms_status run_version(ms_ctx *c, ms_applied *a, const args *x) { (void)x; return ms_cmd_version(c, a); }
static ms_status run_new(ms_ctx *c, ms_applied *a, const args *x) {
  (void)a;
  return ms_cmd_new(c, x->v[0], c->opts.new_lua);
}
static ms_status run_accept(ms_ctx *c, ms_applied *a, const args *x) { return ms_cmd_accept(c, a, x->v, x->n); }
static ms_status run_unlock(ms_ctx *c, ms_applied *a, const args *x) { (void)a; (void)x; return ms_cmd_unlock(c); }
static ms_status run_repair(ms_ctx *c, ms_applied *a, const args *x) { return ms_cmd_repair(c, a, x->v[0]); }
static ms_status run_force(ms_ctx *c, ms_applied *a, const args *x) { return ms_cmd_force(c, a, x->v[0]); }
static ms_status run_wait(ms_ctx *c, ms_applied *a, const args *x) {
  (void)a; (void)x;
  ms_res_line(c, "the database server accepts connections");
  return MS_OK;
}
static ms_status run_baseline(ms_ctx *c, ms_applied *a, const args *x) { return ms_cmd_baseline(c, a, x->v[0]); }

static const command commands[] = {
  { "up", READ | MS_CMD_UP_GUARDS, 0, 1, 1, "a number of migrations to apply (1 or more)", "applied", run_up },
  { "down", SCAN | MS_SESS_CONNECT | MS_SESS_LOCK | MS_CMD_DOWN_GUARDS, 0, 1, 1,
    "a number of steps (1 or more)", "rolled back", run_down },
  { "redo", SCAN | MS_SESS_CONNECT | MS_SESS_LOCK | MS_SESS_NO_FAILED, 0, 0, 0, "", "redone", run_redo },
  { "status", READ, 0, 0, 0, "", NULL, run_status },
  { "log", MS_SESS_FOLDER | MS_SESS_CONNECT, 0, 0, 0, "", NULL, run_log },
  { "check", READ, 0, 0, 0, "", NULL, run_check },
  { "version", MS_SESS_FOLDER | MS_SESS_CONNECT | MS_SESS_LOAD, 0, 0, 0, "", NULL, run_version },
  { "new", 0, 1, 1, 0, "NAME [--lua]", NULL, run_new },
  { "accept", WRITE, 1, -1, 0, "VERSION...", NULL, run_accept },
  { "unlock", MS_SESS_CONNECT, 0, 0, 0, "", NULL, run_unlock },
  { "wait", MS_SESS_CONNECT, 0, 0, 0, "", NULL, run_wait },
  { "repair", WRITE, 1, 1, 0, "VERSION", NULL, run_repair },
  { "force", WRITE, 1, 1, 0, "VERSION", NULL, run_force },
  { "baseline", WRITE, 1, 1, 0, "VERSION", NULL, run_baseline },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL }
};

static const command *find(const char *name) {
  for (const command *k = commands; k->name; k++)
    if (strcmp(k->name, name) == 0) return k;
  return NULL;
}

int ms_command_known(const char *name) { return find(name) != NULL; }

/* Checks the arguments against k, before anything is opened. An argument
 * is shown masked: a URL given in the wrong place must not leak. */
static ms_status check_args(ms_ctx *c, const command *k, args *x) {
  ms_buf shown = {0};
  ms_status st = MS_OK;
  if (x->n > 0) ms_mask_argument(&shown, x->v[x->n > k->max && k->max >= 0 ? k->max : 0]);
  const char *arg = shown.data ? shown.data : "";
  if (x->n < k->min)
    st = ms_fail(c, MS_EUSAGE, "usage: moonshift %s %s", k->name, k->what);
  else if (k->max >= 0 && x->n > k->max && k->max == 0)
    st = ms_fail(c, MS_EUSAGE, "%s takes no arguments, not '%s' (see moonshift %s --help)", k->name, arg,
                 k->name);
  else if (k->max >= 0 && x->n > k->max)
    st = ms_fail(c, MS_EUSAGE, "%s takes at most %d argument%s (%s), not also '%s' (see moonshift %s "
                 "--help)", k->name, k->max, k->max == 1 ? "" : "s", k->what, arg, k->name);
  else if (k->counted && x->n == 1) {
    char *end;
    errno = 0;
    x->count = strtol(x->v[0], &end, 10);
    if (errno || *end || end == x->v[0] || x->count < 1 || x->v[0][0] == '+')
      st = ms_fail(c, MS_EUSAGE, "%s takes %s, not '%s'", k->name, k->what, arg);
  }
  ms_buf_free(&shown);
  return st;
}

/* A custom command of the config runs connected, under the lock. */
static ms_status run_custom(ms_ctx *c, const char *name, const char *const *v, int n) {
  ms_applied a = {0};
  ms_status st = ms_session_open(c, WRITE, &a);
  if (st == MS_OK) st = ms_config_command(c, name, v, n);
  ms_applied_free(&a);
  return ms_session_close(c, st);
}

ms_status ms_command_run(ms_ctx *c, const char *name, const char *const *v, int n) {
  const command *k = find(name);
  ms_lua_bind(c);
  if (!k && ms_config_has_command(c, name)) return run_custom(c, name, v, n);
  if (!k) {
    ms_buf shown = {0};
    ms_mask_argument(&shown, name);
    ms_status st = ms_fail(c, MS_EUSAGE, "unknown command '%s' (see moonshift --help)", shown.data ? shown.data : "?");
    ms_buf_free(&shown);
    return st;
  }
  args x = { v, n, 0 };
  ms_applied a = {0};
  c->done = 0;
  ms_status st = check_args(c, k, &x);
  if (st == MS_OK) st = ms_session_open(c, k->session, &a);
  if (st == MS_OK) st = k->run(c, &a, &x);
  ms_applied_free(&a);
  st = ms_session_close(c, st);
  if (st == MS_OK && c->opts.dry_run && (k->session & MS_SESS_LOCK || k->dry)) {
    if (k->dry)
      ms_res_line(c, "dry run: %ld migration%s would be %s; everything was rolled back, nothing changed",
                  c->done, c->done == 1 ? "" : "s", k->dry);
    else
      ms_res_line(c, "dry run: everything was rolled back, nothing changed");
  }
  return st;
}
