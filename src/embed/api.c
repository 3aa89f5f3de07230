/* api.c: the public C API of moonshift.h. Each call runs one command on a
 * fresh run context inside a protected Lua call (as main does), through
 * ms_command_run, with the handle's own reporter: the --json document,
 * captured instead of printed (nothing is written to stdout or stderr).
 * Uses command, jsondoc and runtime. */
#include "moonshift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "command.h"
#include "jsondoc.h"
#include "runtime.h"
#include "session.h"

struct moonshift {
  lua_State *L;
  ms_alloc alloc;
  char *url, *dir, *table;
  int lock_table;
  double lock_timeout;
  double wait;
  char *json, *err;
};

typedef struct call {
  moonshift *m;
  const char *command;
  int steps;
  long long at_least, at_most;   /* check's version gate; < 0: none */
  ms_status st;
} call;

static int l_api_call(lua_State *L) {
  call *k = lua_touserdata(L, 1);
  moonshift *m = k->m;
  ms_ctx c;
  memset(&c, 0, sizeof c);
  c.L = L;
  c.alloc = &m->alloc;
  c.opts.lua_memory = m->alloc.limit;
  c.config_ref = LUA_NOREF;
  c.command = k->command;
  c.opts.url = m->url;
  c.opts.dir = m->dir;
  c.opts.table = m->table;
  c.opts.lock_mode = m->lock_table ? MS_LOCK_TABLE : MS_LOCK_ADVISORY;
  c.opts.lock_timeout = m->lock_timeout;
  c.opts.lock_lease = 30;
  c.opts.retries = 5;
  c.opts.json = 1;
  c.opts.quiet = 1;
  c.opts.wait = m->wait;
  c.opts.has_at_least = k->at_least >= 0;
  c.opts.at_least = k->at_least;
  c.opts.has_at_most = k->at_most >= 0;
  c.opts.at_most = k->at_most;
  ms_jsondoc doc;
  ms_jsondoc_init(&doc, k->command, NULL);
  c.rep = &doc.rep;
  char steps[24];
  snprintf(steps, sizeof steps, "%d", k->steps);
  const char *args[1] = { steps };
  k->st = ms_command_run(&c, k->command, args, k->steps > 0 ? 1 : 0);
  m->json = ms_jsondoc_take(&doc, &c, k->st);
  m->err = k->st != MS_OK && c.err ? strdup(c.err) : NULL;
  c.rep = NULL;
  ms_ctx_release(&c);
  return 0;
}

static int run_gated(moonshift *m, const char *command, int steps, long long at_least, long long at_most) {
  call k = { m, command, steps, at_least, at_most, MS_EFAILED };
  free(m->json);
  free(m->err);
  m->json = m->err = NULL;
  lua_pushcfunction(m->L, l_api_call);
  lua_pushlightuserdata(m->L, &k);
  if (lua_pcall(m->L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(m->L, -1);
    m->err = strdup(msg ? msg : "internal error");
    lua_pop(m->L, 1);
    return MS_EFAILED;
  }
  return k.st;
}

static int l_api_open(lua_State *L) {
  ms_runtime_open(L);
  return 0;
}

moonshift *moonshift_open(const moonshift_options *o) {
  moonshift *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->alloc.limit = (size_t)1 << 30;
  m->L = ms_runtime_newstate(&m->alloc, NULL);
  m->lock_timeout = -1;
  if (o) {
    m->url = o->url ? strdup(o->url) : NULL;
    m->dir = o->dir ? strdup(o->dir) : NULL;
    m->table = o->table ? strdup(o->table) : NULL;
    m->lock_table = o->lock_table;
    m->lock_timeout = o->lock_timeout > 0 ? o->lock_timeout : -1;
    m->wait = o->wait > 0 ? o->wait : 0;
  }
  if (!m->L) { moonshift_close(m); return NULL; }
  lua_pushcfunction(m->L, l_api_open);
  if (lua_pcall(m->L, 0, 0, 0) != LUA_OK) { moonshift_close(m); return NULL; }
  return m;
}

static int run(moonshift *m, const char *command, int steps) { return run_gated(m, command, steps, -1, -1); }

int moonshift_up(moonshift *m) { return run(m, "up", 0); }
int moonshift_check_range(moonshift *m, long long at_least, long long at_most) {
  return run_gated(m, "check", 0, at_least, at_most);
}
int moonshift_down(moonshift *m, int steps) { return run(m, "down", steps > 0 ? steps : 1); }
int moonshift_status(moonshift *m) { return run(m, "status", 0); }
int moonshift_check(moonshift *m) { return run(m, "check", 0); }
const char *moonshift_json(const moonshift *m) { return m->json; }
const char *moonshift_error(const moonshift *m) { return m->err; }

void moonshift_close(moonshift *m) {
  if (!m) return;
  if (m->L) lua_close(m->L);
  free(m->url);
  free(m->dir);
  free(m->table);
  free(m->json);
  free(m->err);
  free(m);
}
