/* jsonout.c: the --json document, built with jansson (never by string
 * concatenation) and printed once when the command ends. */
#include "jsonout.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

typedef struct doc { json_t *root, *item; } doc;

void ms_json_begin(ms_ctx *c, const char *command) {
  if (!c->opts.json || c->json) return;
  doc *d = calloc(1, sizeof *d);
  if (!d) return;
  d->root = json_object();
  json_object_set_new(d->root, "command", json_string(command));
  c->json = d;
  ms_out_quiet(1);
}

int ms_json_on(const ms_ctx *c) { return c->json != NULL; }

static json_t *target(ms_ctx *c) {
  doc *d = c->json;
  return d ? (d->item ? d->item : d->root) : NULL;
}

void ms_json_str(ms_ctx *c, const char *key, const char *v) {
  json_t *t = target(c);
  if (t) json_object_set_new(t, key, v ? json_string(v) : json_null());
}

void ms_json_int(ms_ctx *c, const char *key, long long v) {
  json_t *t = target(c);
  if (t) json_object_set_new(t, key, json_integer(v));
}

void ms_json_bool(ms_ctx *c, const char *key, int v) {
  json_t *t = target(c);
  if (t) json_object_set_new(t, key, json_boolean(v));
}

static json_t *list_of(doc *d, const char *list) {
  json_t *a = json_object_get(d->root, list);
  if (!a) {
    a = json_array();
    json_object_set_new(d->root, list, a);
  }
  return a;
}

void ms_json_list(ms_ctx *c, const char *list) {
  if (c->json) list_of(c->json, list);
}

void ms_json_item(ms_ctx *c, const char *list) {
  doc *d = c->json;
  if (!d) return;
  d->item = json_object();
  json_array_append_new(list_of(d, list), d->item);
}

void ms_json_end_item(ms_ctx *c) {
  doc *d = c->json;
  if (d) d->item = NULL;
}

char *ms_json_take(ms_ctx *c, ms_status st) {
  doc *d = c->json;
  if (!d) return NULL;
  d->item = NULL;
  json_object_set_new(d->root, "ok", json_boolean(st == MS_OK));
  json_object_set_new(d->root, "exit_code", json_integer(st));
  json_object_set_new(d->root, "error", st != MS_OK && c->err ? json_string(c->err) : json_null());
  char *text = json_dumps(d->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(d->root);
  free(d);
  c->json = NULL;
  return text;
}

void ms_json_finish(ms_ctx *c, ms_status st) {
  char *text = ms_json_take(c, st);
  if (text) printf("%s\n", text);
  fflush(stdout);
  free(text);
}
