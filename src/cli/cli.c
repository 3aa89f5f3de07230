/* cli.c: parses moonshift's command line (flags may come before or after the
 * command, as --flag VALUE or --flag=VALUE), applies the environment
 * defaults (DATABASE_URL, MOONSHIFT_DIR) and holds every help text. */
#include "cli.h"
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mask.h"

typedef struct cmd_help { const char *name, *usage, *text; } cmd_help;

static const cmd_help commands[] = {
  { "up", "moonshift up [N] [--to VERSION] [--allow-out-of-order] [--dry-run]",
    "Applies every pending migration in version order, each in its own transaction\n"
    "together with its tracking row; with N, only the next N of them. With --to, stops\n"
    "after VERSION. Exits at once, without taking the lock, when nothing is pending.\n"
    "--dry-run prints each statement with its file:line and rehearses transactional\n"
    "migrations (Lua ones too) inside one transaction that is rolled back; sections that\n"
    "run outside a transaction are listed, not run. Nothing in the database changes." },
  { "down", "moonshift down [N] [--to VERSION] [--dry-run]",
    "Rolls back the newest applied migration, or N of them, newest application first.\n"
    "With --to VERSION rolls back every migration above VERSION (--to 0: all)." },
  { "redo", "moonshift redo [--dry-run]", "Rolls back the newest applied migration and applies it again." },
  { "status", "moonshift status",
    "Lists every migration, one line each: version, name, kind, state, applied_at." },
  { "log", "moonshift log",
    "Prints the history table: every up, down, failure, accept, baseline, repair and force,\n"
    "with when, who, from which host, and how long it took." },
  { "check", "moonshift check [--at-least VERSION] [--at-most VERSION]",
    "For application start-up, init containers and CI: exits 0 only when the database is at\n"
    "the newest version with nothing pending, modified, missing or failed; otherwise prints\n"
    "one line per problem and exits with the most serious condition's code: 5 pending,\n"
    "6 modified, 7 missing, 8 failed. Never takes the lock, never changes anything.\n"
    "With --at-least and/or --at-most it is a version gate instead: exit 0 when the newest\n"
    "fully applied version lies in that range (pending migrations are fine), 9 when it is\n"
    "older than --at-least, 10 when it is newer than --at-most." },
  { "version", "moonshift version", "Prints the database's current version (0 when none is applied)." },
  { "wait", "moonshift wait [--timeout DURATION]",
    "For init containers: waits until the database server accepts connections (60s unless\n"
    "--timeout says otherwise), saying once that it waits; exits 3 when it never does.\n"
    "--wait does the same before any other command." },
  { "new", "moonshift new NAME [--lua]",
    "Creates the next migration file from a template: the next sequential number when\n"
    "the folder uses them, else a UTC timestamp. --lua writes a Lua migration." },
  { "accept", "moonshift accept VERSION...",
    "Records the current checksum of applied migrations whose files were edited on\n"
    "purpose, so that up stops refusing to run. The old and new checksums are printed." },
  { "unlock", "moonshift unlock",
    "With --lock=table: releases the lease row of a runner that is gone (its lease\n"
    "expired, or no session of it is connected). A live owner's lease is left alone." },
  { "repair", "moonshift repair VERSION",
    "Forgets the failed attempt of a migration that failed part way outside a transaction,\n"
    "so that the next up (or down) runs it again. Fix what it left behind first." },
  { "force", "moonshift force VERSION",
    "Accepts a migration as done without running it: a failed up is recorded as applied,\n"
    "a failed down as rolled back, and a pending migration as applied." },
  { "baseline", "moonshift baseline VERSION",
    "Records every migration up to VERSION as applied without running it: for a database\n"
    "that already has that schema (e.g. restored from the pg_dump used as migration 1)." },
  { NULL, NULL, NULL }
};

static const char *global_help =
  "moonshift: PostgreSQL schema migrations from SQL and Lua files\n"
  "\n"
  "usage: moonshift COMMAND [options]\n"
  "\n"
  "commands:\n"
  "  up        apply pending migrations\n"
  "  down      roll back migrations (default: one)\n"
  "  redo      roll back the newest migration and apply it again\n"
  "  status    list migrations and their state\n"
  "  version   print the database's current version\n"
  "  check     exit 0 only when the database is at the newest version (for start-up)\n"
  "  log       print the history of runs\n"
  "  wait      wait until the database server accepts connections (init containers)\n"
  "  new       create a migration file\n"
  "  accept    accept the edited file of an applied migration (new checksum)\n"
  "  baseline  record migrations up to a version as applied without running them\n"
  "  repair    forget a migration's failed attempt so it runs again\n"
  "  unlock    release the lease (--lock=table) of a runner that is gone\n"
  "  force     record a migration as applied (or a failed down as rolled back)\n"
  "\n"
  "options:\n"
  "  --config FILE        project config (default ./moonshift.lua when present)\n"
  "  --env NAME           environment of the config; env MOONSHIFT_ENV\n"
  "  --url URL            database (postgres:// URL or conninfo); env DATABASE_URL;\n"
  "                       else libpq's environment when it names one (PGHOST,\n"
  "                       PGHOSTADDR, PGPORT, PGDATABASE or PGSERVICE)\n"
  "  --dir DIR            migrations folder; env MOONSHIFT_DIR; default ./migrations\n"
  "  --table [S.]NAME     tracking table; default moonshift_migrations in the\n"
  "                       connection's current schema\n"
  "  --to VERSION         up: stop after VERSION; down: roll back above VERSION\n"
  "  --lock-timeout DUR   give up waiting for the migration lock (e.g. 30s, 5m);\n"
  "                       default: wait\n"
  "  --lock MODE          advisory (default: a session advisory lock) or table (a lease\n"
  "                       row, safe through PgBouncer in transaction pooling)\n"
  "  --lock-lease DUR     with --lock=table: how long a lease lasts unrenewed; 30s\n"
  "  --allow-out-of-order apply pending versions older than the newest applied one\n"
  "  --allow-modified     up: run although applied migrations' files changed\n"
  "  --retries N          rerun a migration stopped by its lock_timeout (55P03) up to\n"
  "                       N times, with growing pauses; default 5\n"
  "  --dry-run            up/down: print what would run, rehearse transactional\n"
  "                       migrations in a transaction that is rolled back\n"
  "  --lua-timeout DUR    stop a Lua up/down running longer than this (default: none)\n"
  "  --lua-memory SIZE    memory Lua may hold, e.g. 512MB (default 1GB)\n"
  "  --json               status, check, log, up, down: one JSON document on stdout\n"
  "                       (schema in docs/json.md) instead of text\n"
  "  -v, --verbose        more detail (statement durations, the lock holder's query)\n"
  "  -q, --quiet          no line naming the database a command works on\n"
  "  --wait               wait for the server to accept connections first (--timeout)\n"
  "  --timeout DUR        how long wait and --wait wait; default 60s\n"
  "  --at-least VERSION   check: fail (exit 9) unless the database is at VERSION or newer\n"
  "  --at-most VERSION    check: fail (exit 10) if the database is newer than VERSION\n"
  "  -h, --help           this help; moonshift COMMAND --help for a command\n"
  "  --version            print moonshift's version\n"
  "\n"
  "exit codes: 0 success, 1 a migration failed, 2 usage or migrations folder error,\n"
  "            3 cannot connect (or the connection was lost), 4 lock timeout;\n"
  "            check: 5 pending, 6 modified, 7 missing, 8 failed,\n"
  "            9 older than --at-least, 10 newer than --at-most\n";

int ms_cli_known(const char *command) {
  for (const cmd_help *h = commands; h->name; h++)
    if (strcmp(h->name, command) == 0) return 1;
  return 0;
}

int ms_cli_help(const char *command) {
  if (!command) { fputs(global_help, stdout); return 1; }
  for (const cmd_help *h = commands; h->name; h++) {
    if (strcmp(h->name, command) == 0) {
      printf("usage: %s\n\n%s\n\nSee moonshift --help for the options every command takes.\n",
             h->usage, h->text);
      return 1;
    }
  }
  return 0;
}

static int parse_version(const char *s, int64_t *out) {
  char *end;
  if (!*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

/* Options that take a value. */
static const char *const valued[] = { "url", "dir", "table", "to", "lock-timeout", "retries", "lock",
                                      "lock-lease", "config", "env", "lua-timeout", "lua-memory", "timeout",
                                      "at-least", "at-most", NULL };

static int takes_value(const char *name) {
  for (int i = 0; valued[i]; i++) if (strcmp(valued[i], name) == 0) return 1;
  return 0;
}

static ms_status parse_value(ms_ctx *c, ms_cli *o, const char *name, const char *v);

/* Sets option `name`; a refusal echoes the value masked, since a URL
 * given in the wrong place must not leak its password. */
static ms_status set_value(ms_ctx *c, ms_cli *o, const char *name, const char *v) {
  ms_status st = parse_value(c, o, name, v);
  const char *at = st != MS_OK && c->err && *v ? strstr(c->err, v) : NULL;
  if (at) {
    ms_buf b = {0}, shown = {0};
    ms_mask_argument(&shown, v);
    ms_buf_add(&b, c->err, (size_t)(at - c->err));
    ms_buf_puts(&b, shown.data);
    ms_buf_puts(&b, at + strlen(v));
    if (b.data) { free(c->err); c->err = strdup(b.data); }
    ms_buf_free(&b);
    ms_buf_free(&shown);
  }
  return st;
}

static ms_status parse_value(ms_ctx *c, ms_cli *o, const char *name, const char *v) {
  if (strcmp(name, "url") == 0) o->opts.url = v;
  else if (strcmp(name, "config") == 0) o->config = v;
  else if (strcmp(name, "env") == 0) o->env = v;
  else if (strcmp(name, "dir") == 0) o->opts.dir = v;
  else if (strcmp(name, "table") == 0) o->opts.table = v;
  else if (strcmp(name, "lua-timeout") == 0) {
    if (ms_duration_parse(v, &o->opts.lua_timeout) != 0)
      return ms_fail(c, MS_EUSAGE, "--lua-timeout takes a duration such as 10min, not '%s'", v);
  } else if (strcmp(name, "lua-memory") == 0) {
    if (ms_size_parse(v, &o->opts.lua_memory) != 0 || o->opts.lua_memory < MS_LUA_MEMORY_MIN)
      return ms_fail(c, MS_EUSAGE, "--lua-memory takes a size of at least 1MB, such as 512MB or 2GB, not '%s'", v);
  } else if (strcmp(name, "lock") == 0) {
    if (strcmp(v, "advisory") == 0) o->opts.lock_mode = MS_LOCK_ADVISORY;
    else if (strcmp(v, "table") == 0) o->opts.lock_mode = MS_LOCK_TABLE;
    else return ms_fail(c, MS_EUSAGE, "--lock takes advisory or table, not '%s'", v);
  } else if (strcmp(name, "lock-lease") == 0) {
    if (ms_duration_parse(v, &o->opts.lock_lease) != 0 || o->opts.lock_lease < MS_LEASE_MIN_SECONDS)
      return ms_fail(c, MS_EUSAGE, "--lock-lease takes a duration of at least 500ms, such as 30s, not '%s'", v);
  } else if (strcmp(name, "retries") == 0) {
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 100) return ms_fail(c, MS_EUSAGE, "--retries takes a number from 0 to 100, not '%s'", v);
    o->opts.retries = (int)n;
  } else if (strcmp(name, "to") == 0) {
    if (parse_version(v, &o->opts.to) != 0)
      return ms_fail(c, MS_EUSAGE, "--to takes a version (digits), not '%s'", v);
    o->opts.has_to = 1;
  } else if (strcmp(name, "at-least") == 0 || strcmp(name, "at-most") == 0) {
    int least = name[3] == 'l';
    if (parse_version(v, least ? &o->opts.at_least : &o->opts.at_most) != 0)
      return ms_fail(c, MS_EUSAGE, "--%s takes a version (digits), not '%s'", name, v);
    if (least) o->opts.has_at_least = 1; else o->opts.has_at_most = 1;
  } else if (strcmp(name, "timeout") == 0) {
    if (ms_duration_parse(v, &o->opts.timeout) != 0 || o->opts.timeout <= 0)
      return ms_fail(c, MS_EUSAGE, "--timeout takes a duration such as 60s or 5m, not '%s'", v);
  } else if (ms_duration_parse(v, &o->opts.lock_timeout) != 0) {
    return ms_fail(c, MS_EUSAGE, "--%s takes a duration such as 30s, 500ms or 5m, not '%s'", name, v);
  }
  return MS_OK;
}

static ms_status set_flag(ms_ctx *c, ms_cli *o, const char *name) {
  if (strcmp(name, "help") == 0 || strcmp(name, "h") == 0) o->help = 1;
  else if (strcmp(name, "version") == 0) o->version = 1;
  else if (strcmp(name, "verbose") == 0 || strcmp(name, "v") == 0) o->opts.verbose = 1;
  else if (strcmp(name, "lua") == 0) o->lua = o->opts.new_lua = 1;
  else if (strcmp(name, "wait") == 0) o->opts.wait = 1;
  else if (strcmp(name, "quiet") == 0 || strcmp(name, "q") == 0) o->opts.quiet = 1;
  else if (strcmp(name, "allow-out-of-order") == 0) o->opts.allow_out_of_order = 1;
  else if (strcmp(name, "dry-run") == 0) o->opts.dry_run = 1;
  else if (strcmp(name, "json") == 0) o->opts.json = 1;
  else if (strcmp(name, "allow-modified") == 0) o->opts.allow_modified = 1;
  else return ms_fail(c, MS_EUSAGE, "unknown option -%s%s (see moonshift --help)",
                      name[1] ? "-" : "", name);
  return MS_OK;
}

ms_status ms_cli_parse(ms_ctx *c, int argc, char **argv, ms_cli *o) {
  memset(o, 0, sizeof *o);
  o->opts.lock_timeout = -1;
  o->opts.retries = 5;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    ms_status st = MS_OK;
    if (a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9')) {
      char name[64];
      const char *p = a + (a[1] == '-' ? 2 : 1), *eq = strchr(p, '=');
      size_t n = eq ? (size_t)(eq - p) : strlen(p);
      if (n == 0 || n >= sizeof name) return ms_fail(c, MS_EUSAGE, "bad option '%s' (see moonshift --help)", a);
      memcpy(name, p, n);
      name[n] = '\0';
      if (takes_value(name)) {
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return ms_fail(c, MS_EUSAGE, "--%s needs a value (see moonshift --help)", name);
        st = set_value(c, o, name, v);
      } else if (eq) {
        return ms_fail(c, MS_EUSAGE, "--%s takes no value", name);
      } else {
        st = set_flag(c, o, name);
      }
    } else if (!o->command) {
      o->command = a;
    } else if (o->nargs < 64) {
      o->args[o->nargs++] = a;
    } else {
      return ms_fail(c, MS_EUSAGE, "too many arguments (see moonshift %s --help)", o->command);
    }
    if (st != MS_OK) return st;
  }
  if (!o->opts.url) o->opts.url = getenv("DATABASE_URL");
  if (!o->opts.dir) o->opts.dir = getenv("MOONSHIFT_DIR");
  if (!o->env) o->env = getenv("MOONSHIFT_ENV");
  /* --wait (and the wait command) wait up to --timeout, 60 s by default */
  if (o->opts.wait || (o->command && strcmp(o->command, "wait") == 0))
    o->opts.wait = o->opts.timeout > 0 ? o->opts.timeout : 60;
  o->opts.env = o->env;
  return MS_OK;
}
