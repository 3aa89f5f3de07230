/* jsondoc.c: the --json document of jsondoc.h, built with jansson (never by
 * string concatenation). */
#include "jsondoc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "source.h"

static json_t *target(ms_jsondoc *d) { return d->item ? d->item : d->root; }

static json_t *list_of(ms_jsondoc *d, const char *list) {
  json_t *a = json_object_get(d->root, list);
  if (!a) {
    a = json_array();
    json_object_set_new(d->root, list, a);
  }
  return a;
}

static void doc_str(void *ud, const char *key, const char *v) {
  ms_jsondoc *d = ud;
  json_object_set_new(target(d), key, v ? json_string(v) : json_null());
}

static void doc_num(void *ud, const char *key, long long v) {
  ms_jsondoc *d = ud;
  json_object_set_new(target(d), key, json_integer(v));
}

static void doc_bool(void *ud, const char *key, int v) {
  ms_jsondoc *d = ud;
  json_object_set_new(target(d), key, json_boolean(v));
}

static void doc_item(void *ud, const char *list) {
  ms_jsondoc *d = ud;
  d->item = json_object();
  json_array_append_new(list_of(d, list), d->item);
}

static void doc_end_item(void *ud) { ((ms_jsondoc *)ud)->item = NULL; }

static void doc_list(void *ud, const char *list) { list_of(ud, list); }

static json_t *text_of(const ms_event *e) {
  if (!e->text) return json_null();
  return json_stringn(e->text, e->len ? e->len : strlen(e->text));
}

static void doc_event(void *ud, const ms_event *e) {
  ms_jsondoc *d = ud;
  const ms_migration *m = e->migration;
  json_t *o;
  switch (e->kind) {
  case MS_EV_DONE:
    if (!m) break;
    o = json_object();
    json_object_set_new(o, "version", json_integer(m->version));
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "kind", json_string(m->kind == MS_KIND_LUA ? "lua" : "sql"));
    json_object_set_new(o, "direction", json_string(e->down ? "down" : "up"));
    json_object_set_new(o, "duration_ms", json_integer((json_int_t)e->ms));
    if (e->dry_run) json_object_set_new(o, "dry_run", json_true());
    if (e->empty) json_object_set_new(o, "empty", json_true());
    json_array_append_new(list_of(d, "migrations"), o);
    break;
  case MS_EV_LOG:
    o = json_object();
    json_object_set_new(o, "version", m ? json_integer(m->version) : json_null());
    json_object_set_new(o, "name", m ? json_string(m->name) : json_null());
    json_object_set_new(o, "text", text_of(e));
    json_array_append_new(list_of(d, "log"), o);
    break;
  case MS_EV_WARNING:
    json_array_append_new(list_of(d, "warnings"), text_of(e));
    break;
  case MS_EV_TARGET:
    if (!e->target) break;
    o = json_object();
    json_object_set_new(o, "host", json_string(e->target->host));
    json_object_set_new(o, "port", json_string(e->target->port));
    json_object_set_new(o, "dbname", json_string(e->target->dbname));
    json_object_set_new(o, "user", json_string(e->target->user));
    json_object_set_new(d->root, "database", o);
    break;
  default:
    break;
  }
  /* what a person watching should still see goes to the side channel */
  int side = e->kind == MS_EV_TARGET || e->kind == MS_EV_INFO || e->kind == MS_EV_WARNING ||
             e->kind == MS_EV_WAITING || e->kind == MS_EV_DRAW || e->kind == MS_EV_NOTICE;
  if (side && d->side && d->side->event) d->side->event(d->side->ud, e);
}

void ms_jsondoc_init(ms_jsondoc *d, const char *command, const ms_reporter *side) {
  memset(d, 0, sizeof *d);
  d->root = json_object();
  json_object_set_new(d->root, "command", command ? json_string(command) : json_null());
  d->side = side;
  d->rep.ud = d;
  d->rep.event = doc_event;
  d->rep.str = doc_str;
  d->rep.num = doc_num;
  d->rep.boolean = doc_bool;
  d->rep.item = doc_item;
  d->rep.end_item = doc_end_item;
  d->rep.list = doc_list;
}

/* Reads "file:line[:col]: " at the start of msg into o. */
static void add_position(json_t *o, const char *msg) {
  const char *colon = strchr(msg, ':'), *nl = strchr(msg, '\n');
  if (!colon || colon == msg || (nl && colon > nl) || colon[1] < '0' || colon[1] > '9') return;
  for (const char *p = msg; p < colon; p++) if (*p == ' ') return;
  char *end;
  long line = strtol(colon + 1, &end, 10);
  if (*end != ':') return;
  json_object_set_new(o, "file", json_stringn(msg, (size_t)(colon - msg)));
  json_object_set_new(o, "line", json_integer(line));
  if (end[1] >= '0' && end[1] <= '9') {
    long col = strtol(end + 1, &end, 10);
    if (*end == ':') json_object_set_new(o, "column", json_integer(col));
  }
}

static json_t *error_object(const ms_ctx *c, ms_status st) {
  json_t *o = json_object();
  const char *msg = c->err ? c->err : "failed";
  json_object_set_new(o, "exit_code", json_integer(st));
  json_object_set_new(o, "message", json_string(msg));
  json_object_set_new(o, "file", json_null());
  json_object_set_new(o, "line", json_null());
  json_object_set_new(o, "column", json_null());
  add_position(o, msg);
  json_object_set_new(o, "sqlstate", c->sqlstate[0] ? json_string(c->sqlstate) : json_null());
  return o;
}

char *ms_jsondoc_take(ms_jsondoc *d, const ms_ctx *c, ms_status st) {
  json_t *root = d->root;
  if (!root) return NULL;
  json_object_set_new(root, "ok", json_boolean(st == MS_OK));
  json_object_set_new(root, "exit_code", json_integer(st));
  json_object_set_new(root, "error", st != MS_OK ? error_object(c, st) : json_null());
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  ms_jsondoc_free(d);
  return text;
}

void ms_jsondoc_free(ms_jsondoc *d) {
  json_decref(d->root);
  d->root = d->item = NULL;
}
