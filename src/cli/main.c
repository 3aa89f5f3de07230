/* main.c: moonshift's entry point. Where the line runs: the C core owns what
 * must be exact (file discovery and ordering, transactions, the tracking
 * table, the advisory lock, statement splitting, libpq); the Lua runtime in
 * lua/ owns what is policy-shaped and user-facing (the db API sugar, catalog
 * helpers, migration environments, templates). The whole program runs inside
 * one protected Lua call, so no Lua error can escape; only main picks the
 * exit code. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "cli.h"
#include "command.h"
#include "config.h"
#include "jsondoc.h"
#include "runtime.h"
#include "session.h"
#include "textout.h"

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

/* --json, looked for in argv itself: a command line that does not parse
 * still answers with a document. */
static int wants_json(int argc, char **argv) {
  for (int i = 1; i < argc; i++) if (strcmp(argv[i], "--json") == 0) return 1;
  return 0;
}

/* The help texts: moonshift's and the config's commands. */
static ms_status help(ms_ctx *c, const ms_cli *cli) {
  if (!cli->help && cli->opts.json) return ms_fail(c, MS_EUSAGE, "no command given");
  if (cli->command && !ms_cli_help(cli->command) && !ms_config_has_command(c, cli->command))
    return ms_fail(c, MS_EUSAGE, "unknown command '%s' (see moonshift --help)", cli->command);
  if (!cli->command) {
    ms_buf more = {0};
    ms_cli_help(NULL);
    ms_config_help(c, &more);
    if (more.data) fputs(more.data, stdout);
    ms_buf_free(&more);
  }
  return cli->help ? MS_OK : ms_fail(c, MS_EUSAGE, "no command given");
}

/* A failed write to stdout or stderr fails the command. */
static ms_status check_output(ms_ctx *c, ms_status st) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    ms_status bad = ms_fail(c, MS_EFAILED, "cannot write the output: %s", strerror(errno));
    if (st == MS_OK) { print_error(c); st = bad; }
  }
  if (fflush(stderr) != 0 || ferror(stderr)) st = st == MS_OK ? MS_EFAILED : st;
  return st;
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
  ms_textout text;
  ms_jsondoc doc;
  ms_status st = ms_cli_parse(c, a->argc, a->argv, &cli);
  int json = st == MS_OK ? cli.opts.json : wants_json(a->argc, a->argv);
  ms_textout_init(&text, cli.opts.quiet, cli.opts.verbose);
  c->rep = &text.rep;
  if (json) {
    ms_jsondoc_init(&doc, cli.command, &text.rep);
    c->rep = &doc.rep;
  }
  if (st == MS_OK) {
    c->opts = cli.opts;
    if (!cli.version) st = ms_config_load(c, cli.config, cli.env);
    if (c->opts.lock_lease <= 0) c->opts.lock_lease = 30;
    if (c->opts.lua_memory == 0) c->opts.lua_memory = (size_t)1 << 30;
    c->alloc->limit = c->opts.lua_memory;
  }
  if (st == MS_OK && cli.version) printf("moonshift %s\n", MS_VERSION);
  else if (st == MS_OK && (cli.help || !cli.command)) st = help(c, &cli);
  else if (st == MS_OK) {
    c->command = cli.command;
    st = ms_command_run(c, cli.command, cli.args, cli.nargs);
  }
  if (st != MS_OK) print_error(c);
  if (json) {
    char *out = ms_jsondoc_take(&doc, c, st);
    if (out) printf("%s\n", out);
    free(out);
  }
  st = check_output(c, st);
  c->rep = NULL;
  ms_ctx_release(c);
  lua_pushinteger(L, st);
  return 1;
}

/* Lua's panic function: the last words of a bug (nothing runs unprotected). */
static int l_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "moonshift: internal error (unprotected Lua error): %s\n", msg ? msg : "?");
  return 0;
}

/* The message handler of the protected main: a traceback for the report. */
static int l_msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  luaL_traceback(L, L, msg ? msg : "(no message)", 1);
  return 1;
}

/* SIGBUS: a migration file moonshift has mapped was cut short under it
 * (truncated while being read). Nothing can be trusted past that point: say
 * so and exit 2 at once; the server rolls back the open transaction when
 * the connection closes, and the lock goes with the session. */
static void on_sigbus(int sig) {
  static const char msg[] = "moonshift: a migration file was truncated or replaced while moonshift was "
                            "reading it; the run stopped, and the migration in progress was rolled back "
                            "(unless it ran outside a transaction): check the folder and run again\n";
  (void)sig;
  ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)n;
  _exit(MS_EUSAGE);
}

int main(int argc, char **argv) {
  main_args a = { argc, argv, NULL };
  signal(SIGPIPE, SIG_IGN);
  struct sigaction bus;
  memset(&bus, 0, sizeof bus);
  bus.sa_handler = on_sigbus;
  sigaction(SIGBUS, &bus, NULL);
  ms_alloc alloc = { 0, 0 };
  lua_State *L = ms_runtime_newstate(&alloc, l_panic);
  if (!L) {
    fprintf(stderr, "moonshift: out of memory\n");
    return MS_EFAILED;
  }
  a.alloc = &alloc;
  lua_pushcfunction(L, l_msghandler);
  lua_pushcfunction(L, l_main);
  lua_pushlightuserdata(L, &a);
  int rc = lua_pcall(L, 1, 1, 1);
  int status = MS_EFAILED;
  if (rc == LUA_OK) status = (int)lua_tointeger(L, -1);
  else fprintf(stderr, "moonshift: internal error: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return status;
}
