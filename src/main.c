/* main.c: moonshift's entry point. Where the line runs: the C core owns what
 * must be exact (file discovery and ordering, transactions, the tracking
 * table, the advisory lock, statement splitting, libpq); the Lua runtime in
 * lua/ owns what is policy-shaped and user-facing (the db API sugar, catalog
 * helpers, migration environments, templates). The whole program runs inside
 * one protected Lua call, so no Lua error can escape; only main picks the
 * exit code. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "jsonout.h"
#include "lease.h"
#include "runtime.h"

#define MS_VERSION "0.1.0"
#define CTX_MT "moonshift.ctx"

typedef struct main_args { int argc; char **argv; ms_alloc *alloc; } main_args;

static int l_ctx_gc(lua_State *L) {
  ms_ctx_release(luaL_checkudata(L, 1, CTX_MT));
  return 0;
}

/* Prints c->err: "moonshift: " before the first line, later lines as they are. */
static void print_error(const ms_ctx *c) {
  const char *msg = c->err ? c->err : "failed";
  fprintf(stderr, "moonshift: %s\n", msg);
}

static ms_status dispatch(ms_ctx *c, const ms_cli *cli) {
  const char *cmd = cli->command;
  if (strcmp(cmd, "up") == 0) return ms_cmd_up(c);
  if (strcmp(cmd, "down") == 0) {
    long steps = 1;
    if (cli->nargs > 0) {
      char *end;
      steps = strtol(cli->args[0], &end, 10);
      if (*end || steps < 1)
        return ms_fail(c, MS_EUSAGE, "down takes a number of steps (1 or more), not '%s'", cli->args[0]);
    } else if (c->opts.has_to) {
      steps = 0;
    }
    return ms_cmd_down(c, steps);
  }
  if (strcmp(cmd, "redo") == 0) return ms_cmd_redo(c);
  if (strcmp(cmd, "status") == 0) return ms_cmd_status(c);
  if (strcmp(cmd, "log") == 0) return ms_cmd_log(c);
  if (strcmp(cmd, "check") == 0) return ms_cmd_check(c);
  if (strcmp(cmd, "version") == 0) return ms_cmd_version(c);
  const char *arg = cli->nargs > 0 ? cli->args[0] : NULL;
  if (strcmp(cmd, "repair") == 0) return ms_cmd_repair(c, arg);
  if (strcmp(cmd, "unlock") == 0) return ms_cmd_unlock(c);
  if (strcmp(cmd, "force") == 0) return ms_cmd_force(c, arg);
  if (strcmp(cmd, "baseline") == 0) return ms_cmd_baseline(c, arg);
  if (strcmp(cmd, "accept") == 0) return ms_cmd_accept(c, cli->args, cli->nargs);
  if (strcmp(cmd, "new") == 0)
    return ms_cmd_new(c, cli->nargs > 0 ? cli->args[0] : NULL, cli->lua);
  if (ms_config_has_command(c, cmd)) return ms_config_command(c, cmd, cli->args, cli->nargs);
  return ms_fail(c, MS_EUSAGE, "unknown command '%s' (see moonshift --help)", cmd);
}

static int l_main(lua_State *L) {
  main_args *a = lua_touserdata(L, 1);
  ms_runtime_open(L);
  ms_ctx *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->L = L;
  c->alloc = a->alloc;
  luaL_newmetatable(L, CTX_MT);
  lua_pushcfunction(L, l_ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  ms_cli cli;
  ms_status st = ms_cli_parse(c, a->argc, a->argv, &cli);
  if (st == MS_OK) {
    c->opts = cli.opts;
    if (!cli.version) st = ms_config_load(c, cli.config, cli.env);
    if (c->opts.lock_lease <= 0) c->opts.lock_lease = 30;
    if (c->opts.lua_memory == 0) c->opts.lua_memory = (size_t)1 << 30;
    c->alloc->limit = c->opts.lua_memory;
  }
  if (st == MS_OK) {
    if (cli.version) printf("moonshift %s\n", MS_VERSION);
    else if (cli.help || !cli.command) {
      if (!ms_cli_help(cli.command) && !ms_config_has_command(c, cli.command))
        st = ms_fail(c, MS_EUSAGE, "unknown command '%s' (see moonshift --help)", cli.command);
      else if (!cli.command) ms_config_help(c);
      if (!cli.help && st == MS_OK) st = ms_fail(c, MS_EUSAGE, "no command given");
    } else {
      ms_json_begin(c, cli.command);
      c->command = cli.command;
      st = dispatch(c, &cli);
    }
  }
  if (st != MS_OK) print_error(c);
  ms_json_finish(c, st);
  ms_ctx_release(c);
  lua_pushinteger(L, st);
  return 1;
}

static int l_panic_handler(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  luaL_traceback(L, L, msg ? msg : "(no message)", 1);
  return 1;
}

int main(int argc, char **argv) {
  main_args a = { argc, argv, NULL };
  signal(SIGPIPE, SIG_IGN);
  ms_alloc alloc = { 0, 0 };
  lua_State *L = ms_runtime_newstate(&alloc);
  if (!L) {
    fprintf(stderr, "moonshift: out of memory\n");
    return MS_EFAILED;
  }
  a.alloc = &alloc;
  lua_pushcfunction(L, l_panic_handler);
  lua_pushcfunction(L, l_main);
  lua_pushlightuserdata(L, &a);
  int rc = lua_pcall(L, 1, 1, 1);
  int status = MS_EFAILED;
  if (rc == LUA_OK) status = (int)lua_tointeger(L, -1);
  else fprintf(stderr, "moonshift: internal error: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return status;
}
